import { DARWIN_COMMANDS, XPROTECT_PLISTS } from '../../probes/darwin.js';
import { targetsFromReads, type ProbeRead, type SafetyNetOnly, type StateLocation } from '../probe-reads.js';
import { configTargets, type WatchTarget, type WatchTargetContext } from '../watch-target.js';

/**
 * Configuration profiles (MDM) land here as `<payload domain>.plist`, and `defaults`,
 * socketfilterfw and the screen saver read a managed value before the user's own.
 */
const MANAGED_PREFERENCES: StateLocation = { kind: 'dir', path: '/Library/Managed Preferences' };
const opaque = (what: string): StateLocation => ({ kind: 'opaque', what });

/**
 * What every macOS probe asks (`DARWIN_COMMANDS`, `XPROTECT_PLISTS` in probes/darwin.ts) and where
 * the answer lives. The paths come from Apple's and vendors' public documentation; this project
 * has not observed them on a Mac. `test/unit/core/posture/watchers/coverage.test.ts` runs every
 * macOS probe and fails if it asks something that is not listed here.
 */
export const DARWIN_PROBE_READS: readonly ProbeRead[] = [
  { request: { exec: DARWIN_COMMANDS.swVers }, checks: ['os-version'], state: [{ kind: 'file', path: '/System/Library/CoreServices/SystemVersion.plist' }] },
  {
    request: { exec: DARWIN_COMMANDS.softwareUpdate },
    checks: ['os-updates'],
    // macOS records each background check's findings (LastRecommendedUpdatesAvailable, RecommendedUpdates) here.
    state: [{ kind: 'file', path: '/Library/Preferences/com.apple.SoftwareUpdate.plist' }, opaque("Apple's software update catalog")],
  },
  { request: { exec: DARWIN_COMMANDS.fdesetup }, checks: ['disk-encryption'], state: [opaque('FileVault state of the APFS volume')] },
  {
    request: { exec: DARWIN_COMMANDS.firewall },
    checks: ['firewall'],
    state: [{ kind: 'file', path: '/Library/Preferences/com.apple.alf.plist' }, MANAGED_PREFERENCES],
  },
  {
    request: { exec: DARWIN_COMMANDS.screenLock },
    checks: ['screen-lock'],
    state: [opaque("the login session's screen-lock delay"), MANAGED_PREFERENCES],
  },
  {
    request: { exec: DARWIN_COMMANDS.pmset },
    checks: ['screen-lock'],
    // Newer releases name the file after the hardware UUID; older ones keep it in SystemConfiguration.
    state: [
      { kind: 'prefix', path: '/Library/Preferences/com.apple.PowerManagement.' },
      { kind: 'file', path: '/Library/Preferences/SystemConfiguration/com.apple.PowerManagement.plist' },
    ],
  },
  {
    request: { exec: DARWIN_COMMANDS.screensaverIdle },
    checks: ['screen-lock'],
    state: [{ kind: 'prefix', path: 'Library/Preferences/ByHost/com.apple.screensaver.', home: true }, MANAGED_PREFERENCES],
  },
  // `spctl --master-disable` / `--master-enable` rewrite this file.
  { request: { exec: DARWIN_COMMANDS.gatekeeper }, checks: ['antivirus'], state: [{ kind: 'file', path: '/var/db/SystemPolicy-prefs.plist' }] },
  ...XPROTECT_PLISTS.map((file): ProbeRead => ({ request: { file }, checks: ['antivirus'], state: [{ kind: 'file', path: file }] })),
  {
    request: { exec: DARWIN_COMMANDS.falcon },
    checks: ['edr'],
    state: [{ kind: 'dir', path: '/Applications' }, opaque('the running state of an EDR agent')],
  },
  {
    request: { exec: DARWIN_COMMANDS.sentinel },
    checks: ['edr'],
    state: [{ kind: 'file', path: '/usr/local/bin/sentinelctl' }, opaque('the running state of an EDR agent')],
  },
  {
    request: { exec: DARWIN_COMMANDS.mdatp },
    checks: ['edr'],
    state: [{ kind: 'file', path: '/usr/local/bin/mdatp' }, opaque('the running state of an EDR agent')],
  },
  {
    request: { exec: DARWIN_COMMANDS.updatePrefs },
    checks: ['auto-update'],
    state: [{ kind: 'file', path: '/Library/Preferences/com.apple.SoftwareUpdate.plist' }, MANAGED_PREFERENCES],
  },
  { request: { exec: DARWIN_COMMANDS.sip }, checks: ['secure-boot'], state: [opaque('System Integrity Protection (NVRAM)')] },
  {
    request: { exec: DARWIN_COMMANDS.remoteLogin },
    checks: ['remote-login'],
    // launchd's enable/disable overrides: `systemsetup -setremotelogin` flips com.openssh.sshd here.
    state: [{ kind: 'file', path: '/var/db/com.apple.xpc.launchd/disabled.plist' }],
  },
  { request: { exec: DARWIN_COMMANDS.processes }, checks: ['required-processes', 'forbidden-processes'], state: [opaque('the process table')] },
  {
    request: { exec: DARWIN_COMMANDS.certificates },
    checks: ['certificates'],
    state: [{ kind: 'file', path: DARWIN_COMMANDS.certificates[1][3] }],
  },
];

/** The macOS places no watch covers, and why the safety net is enough there. */
export const DARWIN_SAFETY_NET_ONLY: readonly SafetyNetOnly[] = [
  {
    location: '/System/Library/CoreServices/SystemVersion.plist',
    why: 'On the read-only system volume: it changes only when an OS update installs, which restarts the Mac and the agent (a full snapshot at start).',
  },
  {
    location: "Apple's software update catalog",
    why: "Asked over the network; os-updates re-runs when com.apple.SoftwareUpdate.plist changes (macOS writes it after each background check) and in the 15-minute pass.",
  },
  {
    location: 'FileVault state of the APFS volume',
    why: "Kept in the volume's own metadata, not a file; re-read every 60 s.",
  },
  {
    location: "the login session's screen-lock delay",
    why: 'sysadminctl asks the login session; Apple documents no file for it since macOS 10.13. A lock event from the shell re-checks it at once, otherwise every 60 s.',
  },
  {
    location: 'the running state of an EDR agent',
    why: "Held by the agent's daemon; installing or removing the agent is watched, its health is re-read every 60 s.",
  },
  {
    location: 'System Integrity Protection (NVRAM)',
    why: 'Changes only from recoveryOS and takes effect after a restart, which restarts the agent.',
  },
  { location: 'the process table', why: 'Kernel state: starting or ending a process changes no file. Re-read every 60 s, as on Linux.' },
];

/** macOS: every watchable place in `DARWIN_PROBE_READS`, plus the configured required files. */
export function darwinWatchTargets(ctx: WatchTargetContext): WatchTarget[] {
  return [...targetsFromReads(DARWIN_PROBE_READS, DARWIN_SAFETY_NET_ONLY, ctx), ...configTargets(ctx.config)];
}
