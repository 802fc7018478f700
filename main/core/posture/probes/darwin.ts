import { isExecError } from '../../exec/exec-error.js';
import { outcome, type CheckContext, type CheckOutcome } from '../check.js';
import { interpretCsrutilStatus } from '../parsers/darwin/csrutil.js';
import { parseFalconctlStats, parseMdatpHealth, parseSentinelctlStatus, type AgentHealth } from '../parsers/darwin/edr-agents.js';
import { interpretFdesetupStatus } from '../parsers/darwin/fdesetup.js';
import { parseFindCertificate } from '../parsers/darwin/certificates.js';
import { parseBundleVersion, parseSpctlStatus } from '../parsers/darwin/gatekeeper.js';
import { MACOS_TABLE_DATE, MACOS_TABLE_SOURCE, macosReleaseOf } from '../parsers/darwin/macos-releases.js';
import { parsePsList } from '../parsers/darwin/ps.js';
import { parseRemoteLogin } from '../parsers/darwin/remote-login.js';
import { evaluateMacScreenLock, parsePmsetDisplaySleep, parseScreensaverIdleTime, parseSysadminctlScreenLock } from '../parsers/darwin/screen-lock.js';
import { interpretFirewallGlobalState } from '../parsers/darwin/socketfilterfw.js';
import { interpretSoftwareUpdatePrefs } from '../parsers/darwin/software-update-prefs.js';
import { parseSoftwareUpdateList } from '../parsers/darwin/softwareupdate.js';
import { parseSwVers } from '../parsers/darwin/sw-vers.js';
import { parseSystemProfiler } from '../parsers/darwin/system-profiler.js';
import type { ParseResult } from '../parsers/parse-result.js';
import type { DeviceFacts } from '../snapshot.js';
import { allOutput, edrVerdict, guarded, outcomeFromFailure, outcomeFromParse, runProbe, type AgentReport } from './probe-helpers.js';
import type { CertificateInfo, PostureProbes, ProcessInfo } from './probes.js';

/**
 * Every command the macOS probes run, by allow-list name and exact arguments. The replay bundles
 * in test/fixtures/bundles are built from this table, so a probe and its bundle cannot drift apart.
 */
export const DARWIN_COMMANDS = {
  swVers: ['sw_vers', []],
  softwareUpdate: ['softwareupdate', ['-l']],
  fdesetup: ['fdesetup', ['status']],
  firewall: ['socketfilterfw', ['--getglobalstate']],
  screenLock: ['sysadminctl', ['-screenLock', 'status']],
  pmset: ['pmset', ['-g']],
  screensaverIdle: ['defaults', ['-currentHost', 'read', 'com.apple.screensaver', 'idleTime']],
  gatekeeper: ['spctl', ['--status']],
  falcon: ['falconctl', ['stats']],
  sentinel: ['sentinelctl', ['status']],
  mdatp: ['mdatp', ['health']],
  updatePrefs: ['defaults', ['read', '/Library/Preferences/com.apple.SoftwareUpdate']],
  sip: ['csrutil', ['status']],
  remoteLogin: ['systemsetup', ['-getremotelogin']],
  processes: ['ps', ['-axo', 'pid=,comm=']],
  hardware: ['system_profiler', ['SPSoftwareDataType', 'SPHardwareDataType']],
  certificates: ['security', ['find-certificate', '-a', '-Z', '/Library/Keychains/System.keychain']],
} as const satisfies Record<string, readonly [string, readonly string[]]>;

/** XProtect's bundle moved out of /System in macOS 10.15. */
export const XPROTECT_PLISTS = [
  '/Library/Apple/System/Library/CoreServices/XProtect.bundle/Contents/Info.plist',
  '/System/Library/CoreServices/XProtect.bundle/Contents/Info.plist',
] as const;

type Command = (typeof DARWIN_COMMANDS)[keyof typeof DARWIN_COMMANDS];
const shown = (c: Command): string => [c[0], ...c[1]].join(' ');

/** Run a command and parse its combined output; a failed run or parse becomes the thrown-away verdict. */
async function read<T>(ctx: CheckContext, command: Command, parse: (text: string) => ParseResult<T>, timeoutMs?: number): Promise<ParseResult<T>> {
  const result = await runProbe(ctx, command, timeoutMs ? { timeoutMs } : {});
  return parse(allOutput(result));
}

async function readXProtectVersion(ctx: CheckContext): Promise<{ version: string | null; problem: string | null }> {
  let problem = 'XProtect was not found';
  for (const path of XPROTECT_PLISTS) {
    try {
      const version = parseBundleVersion(await ctx.host.readFile(path, { signal: ctx.signal }));
      if (version.ok) return { version: version.value, problem: null };
      problem = version.reason;
    } catch (err) {
      if (!isExecError(err, 'not-found')) problem = outcomeFromFailure(err, `reading ${path}`).reason;
    }
  }
  return { version: null, problem };
}

async function agentReport(ctx: CheckContext, agent: string, command: Command, parse: (t: string) => ParseResult<AgentHealth>): Promise<AgentReport> {
  try {
    const health = await read(ctx, command, parse);
    if (health.ok) return { agent, state: health.value.healthy ? 'healthy' : 'unhealthy', detail: health.value.detail };
    return { agent, state: 'undetermined', detail: health.reason };
  } catch (err) {
    if (isExecError(err, 'not-found')) return { agent, state: 'absent', detail: `${agent} is not installed` };
    return { agent, state: 'undetermined', detail: outcomeFromFailure(err, shown(command)).reason };
  }
}

export const darwinProbes: PostureProbes = {
  osVersion: (ctx) =>
    guarded(shown(DARWIN_COMMANDS.swVers), async () => {
      const vers = await read(ctx, DARWIN_COMMANDS.swVers, parseSwVers);
      if (!vers.ok) return outcomeFromParse(vers);
      const { productVersion, buildVersion } = vers.value;
      const release = macosReleaseOf(productVersion);
      const observed = { productVersion, build: buildVersion, release: release?.name ?? null, endOfSupport: release?.endOfSupport ?? null, tableDate: MACOS_TABLE_DATE, tableSource: MACOS_TABLE_SOURCE };
      if (!release) return outcome.unknown(`macOS ${productVersion} is not in Ward's table of releases (as of ${MACOS_TABLE_DATE})`, observed);
      const today = ctx.now().toISOString().slice(0, 10);
      if (release.endOfSupport && release.endOfSupport < today) {
        return outcome.fail(`${release.name} (${productVersion}) got its last security update on ${release.endOfSupport}`, observed);
      }
      if (release.endOfSupport) return outcome.pass(`${release.name} (${productVersion}) receives security updates until ${release.endOfSupport}`, observed);
      return outcome.pass(`${release.name} (${productVersion}) was receiving security updates when Ward's table was written (${MACOS_TABLE_DATE})`, observed);
    }),

  osUpdates: (ctx) =>
    guarded(shown(DARWIN_COMMANDS.softwareUpdate), async () => {
      // softwareupdate may ask Apple's servers: give it most of the check's budget.
      const list = await read(ctx, DARWIN_COMMANDS.softwareUpdate, parseSoftwareUpdateList, 9_000);
      if (!list.ok) return outcomeFromParse(list);
      const { updates } = list.value;
      const recommended = updates.filter((u) => u.recommended);
      const observed = { pending: updates, recommendedCount: recommended.length };
      if (recommended.length) return outcome.fail(`${recommended.length} recommended update(s) pending: ${recommended.map((u) => u.title).join(', ')}`, observed);
      if (updates.length) return outcome.pass(`no recommended updates pending (${updates.length} optional)`, observed);
      return outcome.pass('no updates pending', observed);
    }),

  diskEncryption: (ctx) =>
    guarded(shown(DARWIN_COMMANDS.fdesetup), async () => interpretFdesetupStatus(allOutput(await runProbe(ctx, DARWIN_COMMANDS.fdesetup)))),

  firewall: (ctx) =>
    guarded(shown(DARWIN_COMMANDS.firewall), async () => interpretFirewallGlobalState(allOutput(await runProbe(ctx, DARWIN_COMMANDS.firewall)))),

  screenLock: (ctx) =>
    guarded(`${shown(DARWIN_COMMANDS.screenLock)} / ${shown(DARWIN_COMMANDS.pmset)}`, async () => {
      const idle = read(ctx, DARWIN_COMMANDS.screensaverIdle, parseScreensaverIdleTime).catch(() => undefined);
      const [lock, display, saver] = await Promise.all([
        read(ctx, DARWIN_COMMANDS.screenLock, parseSysadminctlScreenLock),
        read(ctx, DARWIN_COMMANDS.pmset, parsePmsetDisplaySleep),
        idle,
      ]);
      if (!lock.ok) return outcomeFromParse(lock);
      if (!display.ok) return outcomeFromParse(display);
      return evaluateMacScreenLock({
        lock: lock.value,
        displaySleepMinutes: display.value,
        // The idle time is optional: without it, display sleep is an upper bound (see evaluateMacScreenLock).
        screensaverIdleSeconds: saver?.ok ? saver.value : undefined,
        maxSeconds: ctx.config.maxScreenLockDelaySeconds,
      });
    }),

  antivirus: (ctx) =>
    guarded(shown(DARWIN_COMMANDS.gatekeeper), async () => {
      const [gatekeeper, xprotect] = await Promise.all([read(ctx, DARWIN_COMMANDS.gatekeeper, parseSpctlStatus), readXProtectVersion(ctx)]);
      const observed = { gatekeeper: gatekeeper.ok ? gatekeeper.value : null, xprotectVersion: xprotect.version };
      if (!gatekeeper.ok) return outcomeFromParse(gatekeeper, observed);
      if (!gatekeeper.value) return outcome.fail('Gatekeeper is off: apps are not checked before they open', observed);
      const xp = xprotect.version ? `XProtect ${xprotect.version} is installed` : `XProtect's version could not be read (${xprotect.problem ?? 'unknown'})`;
      return outcome.pass(`Gatekeeper is on; ${xp}`, observed);
    }),

  edr: async (ctx) =>
    edrVerdict(
      await Promise.all([
        agentReport(ctx, 'CrowdStrike Falcon', DARWIN_COMMANDS.falcon, parseFalconctlStats),
        agentReport(ctx, 'SentinelOne', DARWIN_COMMANDS.sentinel, parseSentinelctlStatus),
        agentReport(ctx, 'Microsoft Defender for Endpoint', DARWIN_COMMANDS.mdatp, parseMdatpHealth),
      ]),
    ),

  autoUpdate: (ctx) =>
    guarded(shown(DARWIN_COMMANDS.updatePrefs), async () => {
      const r = await runProbe(ctx, DARWIN_COMMANDS.updatePrefs);
      return interpretSoftwareUpdatePrefs(allOutput(r), r.exitCode);
    }),

  secureBoot: (ctx) => guarded(shown(DARWIN_COMMANDS.sip), async () => interpretCsrutilStatus(allOutput(await runProbe(ctx, DARWIN_COMMANDS.sip)))),

  remoteLogin: (ctx) =>
    guarded(shown(DARWIN_COMMANDS.remoteLogin), async (): Promise<CheckOutcome> => {
      const on = await read(ctx, DARWIN_COMMANDS.remoteLogin, parseRemoteLogin);
      if (!on.ok) return outcomeFromParse(on);
      return on.value
        ? outcome.fail('Remote Login (SSH) is on', { remoteLogin: true })
        : outcome.pass('Remote Login (SSH) is off', { remoteLogin: false });
    }),

  async listProcesses(ctx): Promise<ProcessInfo[]> {
    const rows = await read(ctx, DARWIN_COMMANDS.processes, parsePsList);
    if (!rows.ok) throw new Error(rows.reason);
    return rows.value;
  },

  async listCertificates(ctx): Promise<CertificateInfo[]> {
    const keychain = DARWIN_COMMANDS.certificates[1][3];
    const certs = await read(ctx, DARWIN_COMMANDS.certificates, (t) => parseFindCertificate(t, keychain));
    if (!certs.ok) throw new Error(certs.reason);
    return certs.value;
  },

  async deviceFacts(ctx): Promise<DeviceFacts> {
    const hw = await read(ctx, DARWIN_COMMANDS.hardware, parseSystemProfiler).catch(() => undefined);
    const facts = hw?.ok ? hw.value : undefined;
    return {
      os: {
        platform: 'darwin',
        name: facts?.osName ?? 'macOS',
        version: facts?.osVersion ?? 'unknown',
        build: facts?.osBuild ?? null,
        kernel: facts?.kernel ?? null,
        arch: facts?.arch ?? 'unknown',
      },
      hostname: facts?.computerName ?? 'unknown',
      hardware: {
        vendor: facts?.chip?.startsWith('Apple') ? 'Apple' : null,
        model: facts?.modelIdentifier ?? facts?.modelName ?? null,
        serial: facts?.serial ?? null,
        uuid: facts?.hardwareUuid ?? null,
        virtual: facts?.virtual ?? null,
      },
      agentVersion: ctx.agentVersion,
    };
  },
};
