import { EDR_SERVICES, powershellArgs, WIN32_COMMANDS, WIN32_SCRIPTS, type Win32Script } from '../../probes/win32.js';
import { targetsFromReads, type ProbeRead, type SafetyNetOnly, type StateLocation } from '../probe-reads.js';
import { configTargets, type WatchTarget, type WatchTargetContext } from '../watch-target.js';

const ps = (script: Win32Script): ProbeRead['request'] => ({ exec: ['powershell', powershellArgs(WIN32_SCRIPTS[script])] });
const reg = (key: string): StateLocation => ({ kind: 'registry', key });
const opaque = (what: string): StateLocation => ({ kind: 'opaque', what });

const FIREWALL_STATE = [
  reg('HKLM\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy'),
  reg('HKLM\\SOFTWARE\\Policies\\Microsoft\\WindowsFirewall'),
];
const BITLOCKER_STATE = [opaque('BitLocker volume state (WMI Win32_EncryptableVolume)')];

/**
 * What every Windows probe asks (`WIN32_SCRIPTS`, `WIN32_COMMANDS` in probes/win32.ts) and where the
 * answer lives: the registry, WMI and the service control manager, none of which fs.watch sees.
 * `SystemDrive` (an environment variable of the agent itself) is fixed for the agent's life.
 */
export const WIN32_PROBE_READS: readonly ProbeRead[] = [
  { request: ps('osVersion'), checks: ['os-version'], state: [reg('HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion')] },
  { request: ps('hotfixes'), checks: ['os-updates'], state: [opaque('installed updates (WMI Win32_QuickFixEngineering)')] },
  { request: ps('bitlocker'), checks: ['disk-encryption'], state: BITLOCKER_STATE },
  // The engine's fake host answers SystemDrive as unset, so the fallback runs on `C:`.
  { request: { exec: WIN32_COMMANDS.manageBde('C:') }, checks: ['disk-encryption'], state: BITLOCKER_STATE },
  { request: ps('firewall'), checks: ['firewall'], state: FIREWALL_STATE },
  { request: { exec: WIN32_COMMANDS.netshFirewall }, checks: ['firewall'], state: FIREWALL_STATE },
  {
    request: ps('screenLock'),
    checks: ['screen-lock'],
    state: [
      reg('HKCU\\Control Panel\\Desktop'),
      reg('HKCU\\Software\\Policies\\Microsoft\\Windows\\Control Panel\\Desktop'),
      reg('HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System'),
    ],
  },
  { request: ps('defender'), checks: ['antivirus'], state: [opaque('Microsoft Defender status (MSFT_MpComputerStatus)')] },
  ...EDR_SERVICES.map((s): ProbeRead => ({ request: { exec: WIN32_COMMANDS.scQuery(s.service) }, checks: ['edr'], state: [opaque('service state (service control manager)')] })),
  {
    request: ps('updatePolicy'),
    checks: ['auto-update'],
    state: [reg('HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU'), reg('HKLM\\SOFTWARE\\Microsoft\\WindowsUpdate\\UX\\Settings')],
  },
  { request: ps('secureBoot'), checks: ['secure-boot'], state: [opaque('UEFI Secure Boot state (firmware)')] },
  { request: ps('sshd'), checks: ['remote-login'], state: [opaque('service state (service control manager)')] },
  { request: ps('processes'), checks: ['required-processes', 'forbidden-processes'], state: [opaque('the process table')] },
  {
    request: ps('certificates'),
    checks: ['certificates'],
    state: [reg('HKLM\\SOFTWARE\\Microsoft\\SystemCertificates'), reg('HKCU\\Software\\Microsoft\\SystemCertificates')],
  },
];

const REGISTRY_WHY =
  'A registry value: fs.watch cannot see the registry, and Ward has no RegNotifyChangeKeyValue helper yet. Re-read every 60 s (the safety net).';

/** The Windows places no watch covers, and why the safety net is the answer there today. */
export const WIN32_SAFETY_NET_ONLY: readonly SafetyNetOnly[] = [
  ...[
    'HKLM\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy',
    'HKLM\\SOFTWARE\\Policies\\Microsoft\\WindowsFirewall',
    'HKCU\\Control Panel\\Desktop',
    'HKCU\\Software\\Policies\\Microsoft\\Windows\\Control Panel\\Desktop',
    'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System',
    'HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU',
    'HKLM\\SOFTWARE\\Microsoft\\WindowsUpdate\\UX\\Settings',
    'HKLM\\SOFTWARE\\Microsoft\\SystemCertificates',
    'HKCU\\Software\\Microsoft\\SystemCertificates',
  ].map((location) => ({ location, why: REGISTRY_WHY })),
  {
    location: 'HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion',
    why: 'Changes when an update installs, which ends in a restart in most cases (a full snapshot when the agent starts); otherwise every 60 s.',
  },
  {
    location: 'installed updates (WMI Win32_QuickFixEngineering)',
    why: 'WMI, no file; os-updates is a recency rule counted in days, re-run in the 15-minute pass.',
  },
  { location: 'BitLocker volume state (WMI Win32_EncryptableVolume)', why: 'WMI, no file; re-read every 60 s.' },
  { location: 'Microsoft Defender status (MSFT_MpComputerStatus)', why: "Held by Defender's service; re-read every 60 s." },
  { location: 'service state (service control manager)', why: 'Held by the service control manager; re-read every 60 s.' },
  { location: 'UEFI Secure Boot state (firmware)', why: 'Firmware setting: changes only across a restart, which restarts the agent.' },
  { location: 'the process table', why: 'Kernel state: starting or ending a process changes no file. Re-read every 60 s.' },
];

/** Windows: nothing the probes read is a file, so only the configured required files are watched. */
export function win32WatchTargets(ctx: WatchTargetContext): WatchTarget[] {
  return [...targetsFromReads(WIN32_PROBE_READS, WIN32_SAFETY_NET_ONLY, ctx), ...configTargets(ctx.config)];
}
