import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import os from 'node:os';
import { describeError, truncate } from '../../errors.js';
import { ExecError, isExecError } from '../../exec/exec-error.js';
import type { ExecOptions, ExecResult } from '../../exec/host.js';
import { outcome, type CheckContext, type CheckOutcome } from '../check.js';
import { aptValue, parseAptConfigDump, parseDpkgStatus, periodicEnabled } from '../parsers/linux/apt-config.js';
import { parseAptSimulate, type AptSimulation } from '../parsers/linux/apt-simulate.js';
import { parseDnfCheckUpdate } from '../parsers/linux/dnf-check-update.js';
import { parseIptablesInput, parseNftRuleset, parseUfwConf, parseUfwStatus } from '../parsers/linux/firewall.js';
import { chainTo, encryptedLayers, parseLsblkJson, type BlockDevice } from '../parsers/linux/lsblk.js';
import { mountFor, OPAQUE_FILESYSTEMS, parseMountInfo, type MountEntry } from '../parsers/linux/mountinfo.js';
import { endOfLife, EOL_SOURCES } from '../parsers/linux/os-eol.js';
import { parseOsRelease } from '../parsers/linux/os-release.js';
import { ParseError } from '../parsers/linux/parse-error.js';
import { parsePemCertificates } from '../parsers/linux/pem.js';
import { parseProcNetTcp, type TcpListener } from '../parsers/linux/proc-net-tcp.js';
import { parseGsettingsList, parseGVariant, parseKscreenlockerrc } from '../parsers/linux/screen-lock.js';
import { parseMdatpHealth, parseMokutilSbState, parseSecureBootVar } from '../parsers/linux/security-tools.js';
import { processProbeMemo, type ProbeAnswer } from '../probe-cache.js';
import type { DeviceFacts } from '../snapshot.js';
import type { CertificateInfo, PostureProbes, ProcessInfo } from './probes.js';

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * In replay, a request the bundle never recorded is not a fact about the machine: let it reach
 * the engine, which reports the check as an `error` naming the missing command or file.
 */
function throwIfNotRecorded(err: unknown): void {
  if (isExecError(err, 'not-recorded')) throw err;
}

async function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    throwIfNotRecorded(error);
    return { ok: false, error };
  }
}

const QUICK_MS = 2_500;

function run(ctx: CheckContext, command: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return ctx.host.run(command, args, { timeoutMs: QUICK_MS, signal: ctx.signal, ...options });
}

/** What went wrong asking the host, as a short phrase ("not installed", "needs root"…). */
function problem(err: unknown): string {
  throwIfNotRecorded(err);
  if (err instanceof ExecError) {
    switch (err.code) {
      case 'not-found':
        return `${err.target} is not installed or does not exist`;
      case 'permission-denied':
        return `permission denied for ${err.target}`;
      case 'timeout':
        return `${err.target} did not answer in time`;
      default:
        return err.message;
    }
  }
  return describeError(err);
}

/** A command refused for lack of privileges (nft, iptables, ufw print this and exit non-zero). */
function deniedByOs(err: unknown): boolean {
  if (isExecError(err, 'permission-denied')) return true;
  return isExecError(err, 'exit') && /permission denied|operation not permitted|must be root|need to be root/i.test(`${err.stdout ?? ''}${err.stderr ?? ''}`);
}

function unparsable(err: ParseError): CheckOutcome {
  return outcome.error(`${err.message}; the output is kept as evidence`, { output: err.excerpt });
}

/** os-release(5): /etc/os-release, falling back to /usr/lib/os-release. */
export async function linuxOsRelease(ctx: CheckContext): Promise<Record<string, string>> {
  try {
    return parseOsRelease(await ctx.host.readFile('/etc/os-release'));
  } catch {
    return parseOsRelease(await ctx.host.readFile('/usr/lib/os-release'));
  }
}

type PackageFamily = 'apt' | 'dnf';

function packageFamily(release: Readonly<Record<string, string>>): PackageFamily | undefined {
  const ids = `${release.ID ?? ''} ${release.ID_LIKE ?? ''}`.toLowerCase().split(/\s+/);
  if (ids.some((id) => id === 'debian' || id === 'ubuntu')) return 'apt';
  if (ids.some((id) => id === 'fedora' || id === 'rhel' || id === 'centos')) return 'dnf';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The process table: one /proc walk shared by every check that asks at the same moment
// ---------------------------------------------------------------------------------------------

/**
 * Read /proc directly: one recorded call instead of hundreds of file reads. Synchronous on
 * purpose: /proc answers from kernel memory in microseconds, while 2 × N queued async reads would
 * sit in libuv's four-thread pool in front of every other probe's file reads.
 */
function readProcTable(): Promise<ProcessInfo[]> {
  const rows: ProcessInfo[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let name: string;
    try {
      name = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      continue; // exited while we looked
    }
    let exe: string | null = null;
    try {
      exe = readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
    } catch {
      // kernel threads and other users' processes (without root) have no readable exe
    }
    rows.push({ pid: Number(pid), name, exe });
  }
  return Promise.resolve(rows.sort((a, b) => a.pid - b.pid));
}

/**
 * Share one in-flight read between the checks of a snapshot: they all start in the same tick, so
 * the antivirus, EDR, required- and forbidden-process checks walk /proc once. Nothing is kept
 * once the read settles, so the next snapshot always sees the processes of that moment.
 */
function sharedWhileInFlight<T>(read: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | undefined;
  return () => {
    if (!inFlight) {
      inFlight = read().finally(() => {
        inFlight = undefined;
      });
    }
    return inFlight;
  };
}

const procTable = sharedWhileInFlight(readProcTable);

function listProcesses(ctx: CheckContext): Promise<ProcessInfo[]> {
  return ctx.host.call('linux.processes', procTable, { signal: ctx.signal, timeoutMs: QUICK_MS });
}

/** Is this process running from where its package installs it (not a renamed copy elsewhere)? */
const runsFrom = (p: ProcessInfo, dirs: readonly string[]): boolean => p.exe !== null && dirs.some((d) => p.exe?.startsWith(d));

// ---------------------------------------------------------------------------------------------
// os-version
// ---------------------------------------------------------------------------------------------

async function osVersion(ctx: CheckContext): Promise<CheckOutcome> {
  let release: Record<string, string>;
  try {
    release = await linuxOsRelease(ctx);
  } catch (err) {
    return outcome.unknown(`neither /etc/os-release nor /usr/lib/os-release could be read: ${problem(err)}`);
  }
  const verdict = endOfLife(release, ctx.now());
  const base = { id: release.ID ?? null, versionId: release.VERSION_ID ?? null, name: release.PRETTY_NAME ?? release.NAME ?? null };
  if (verdict.state === 'unknown') return outcome.unknown(verdict.why, base);
  const observed = { ...base, table: verdict.entry.name, source: EOL_SOURCES[verdict.entry.id] };
  switch (verdict.state) {
    case 'supported':
      return outcome.pass(
        verdict.phase === 'lts'
          ? `${verdict.entry.name} is in long-term support until ${verdict.until} (regular security support ended ${verdict.entry.securityEnd})`
          : `${verdict.entry.name} receives security updates until ${verdict.until}`,
        { ...observed, supportedUntil: verdict.until, phase: verdict.phase },
      );
    case 'subscription':
      return outcome.unknown(
        `${verdict.entry.name}'s standard support ended ${verdict.entry.securityEnd}; security updates continue until ${verdict.until} only with a paid subscription (Ubuntu Pro / RHEL ELS), which Ward does not check`,
        { ...observed, standardSupportEnded: verdict.entry.securityEnd, extendedUntil: verdict.until },
      );
    case 'ended':
      return outcome.fail(`${verdict.entry.name} stopped receiving security updates on ${verdict.ended}`, { ...observed, ended: verdict.ended });
  }
}

// ---------------------------------------------------------------------------------------------
// os-updates
// ---------------------------------------------------------------------------------------------

interface AptState {
  /** Package index files in /var/lib/apt/lists. */
  readonly lists: number;
  /** When the newest of them was written (ms since the epoch), null when there are none. */
  readonly newestListMs: number | null;
  /**
   * Changes whenever the package lists, the dpkg database apt uses or APT_CONFIG (its path and
   * its file) change; null when APT_CONFIG makes apt read files Ward does not watch.
   */
  readonly fingerprint: string | null;
}

function statOrNull(path: string): { size: number; mtimeMs: number } | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

const stamp = (path: string): string => {
  const s = statOrNull(path);
  return `${path}:${s?.size ?? '-'}:${s?.mtimeMs ?? '-'}`;
};

/**
 * The dpkg status file apt uses, as set by the flat `Key "value";` lines of the APT_CONFIG file;
 * null when that file does more (scopes, #include, #clear, other Dir::State paths), since apt
 * would then read files Ward cannot name without running apt-config.
 */
function aptConfigStatusFile(file: string): string | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return '/var/lib/dpkg/status';
  }
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('//'));
  if (lines.some((l) => !/^\S+ ".*";$/.test(l))) return null;
  const config = parseAptConfigDump(lines.join('\n'));
  const keys = [...config.keys()].map((k) => k.toLowerCase());
  if (keys.some((k) => k === 'dir' || k === 'dir::state' || (k.startsWith('dir::state::') && k !== 'dir::state::status'))) return null;
  const status = [...config].filter(([k]) => k.toLowerCase() === 'dir::state::status').map(([, v]) => v[v.length - 1]);
  return status[status.length - 1] ?? '/var/lib/dpkg/status';
}

function readAptState(): Promise<AptState> {
  const dir = '/var/lib/apt/lists';
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => /_(Packages|Sources|InRelease|Release)(\.\w+)?$/.test(n));
  } catch {
    // no lists directory: apt has never been updated here
  }
  const stats = names.map((n) => ({ n, s: statOrNull(`${dir}/${n}`) }));
  const packages = stats.filter(({ n }) => /_Packages(\.\w+)?$/.test(n));
  const newest = packages.reduce<number | null>((max, { s }) => (s && (max === null || s.mtimeMs > max) ? s.mtimeMs : max), null);
  const aptConfig = process.env.APT_CONFIG ?? '';
  const status = aptConfig ? aptConfigStatusFile(aptConfig) : '/var/lib/dpkg/status';
  if (status === null) return Promise.resolve({ lists: packages.length, newestListMs: newest, fingerprint: null });
  const parts = stats.map(({ n, s }) => `${n}:${s?.size ?? '-'}:${s?.mtimeMs ?? '-'}`);
  parts.push(`dpkg=${stamp(status)}`, `APT_CONFIG=${aptConfig ? stamp(aptConfig) : ''}`);
  return Promise.resolve({ lists: packages.length, newestListMs: newest, fingerprint: parts.join('|') });
}

/**
 * `apt-get -s upgrade` re-reads every package list (5 s on a Debian 12 image without apt's binary
 * cache). Its answer only changes when the lists, the dpkg database or the apt configuration
 * change, so it is kept in `ctx.memo` (memory, and for the CLI Ward's state directory) per
 * fingerprint of those and of the command line; a reused answer says so, and from when.
 */
const APT_SIMULATE_MEMO = 'apt-get-simulate-upgrade';

/** Forget answers kept in this process's memory (tests that change the package state call this). */
export function clearLinuxProbeCaches(): void {
  processProbeMemo.clear();
}

const reusedFrom = (answer: ProbeAnswer): string =>
  `answer reused from ${answer.at}${answer.from === 'file' ? ", kept in Ward's probe cache" : ''}`;

const APT_SIMULATE_ARGS = ['-s', '-o', 'Debug::NoLocking=1', 'upgrade'] as const;
const STALE_LISTS_DAYS = 14;

async function aptUpdates(ctx: CheckContext): Promise<CheckOutcome> {
  const state = await ctx.host.call('linux.apt-state', readAptState, { signal: ctx.signal, timeoutMs: QUICK_MS });
  if (state.lists === 0) {
    return outcome.unknown('there are no package lists in /var/lib/apt/lists, so pending updates cannot be known: run `sudo apt-get update`', { lists: 0 });
  }
  const command = ['apt-get', ...APT_SIMULATE_ARGS].join(' ');
  const key = state.fingerprint === null ? null : `${command}|${state.fingerprint}`;
  const kept = key === null ? undefined : await ctx.memo?.get(APT_SIMULATE_MEMO, key);
  let sim: AptSimulation;
  let extraEvidence: CheckOutcome['extraEvidence'];
  try {
    if (kept?.value.stdout !== undefined) {
      sim = parseAptSimulate(kept.value.stdout);
      extraEvidence = [
        {
          kind: 'exec',
          source: `${command} (${reusedFrom(kept)}; package lists, dpkg status and APT_CONFIG unchanged since)`,
          exitCode: 0,
          excerpt: truncate(kept.value.stdout, 1024),
        },
      ];
    } else {
      let result: ExecResult;
      try {
        result = await run(ctx, 'apt-get', APT_SIMULATE_ARGS, { timeoutMs: 28_000 });
      } catch (err) {
        return outcome.unknown(`apt-get could not simulate an upgrade: ${problem(err)}`);
      }
      sim = parseAptSimulate(result.stdout);
      if (key !== null) await ctx.memo?.set(APT_SIMULATE_MEMO, key, { stdout: result.stdout }, ctx.now().toISOString());
    }
  } catch (err) {
    if (err instanceof ParseError) return unparsable(err);
    throw err;
  }
  const ageDays = state.newestListMs === null ? null : Math.floor((ctx.now().getTime() - state.newestListMs) / 86_400_000);
  const observed = {
    manager: 'apt',
    pending: sim.upgradable.length,
    security: sim.securityCount,
    heldBack: sim.heldBack,
    securityPackages: sim.upgradable.filter((p) => p.security).slice(0, 50).map((p) => `${p.name} ${p.candidate}`),
    listsAgeDays: ageDays,
  };
  const withEvidence = (o: CheckOutcome): CheckOutcome => (extraEvidence ? { ...o, extraEvidence } : o);
  if (sim.securityCount > 0) {
    return withEvidence(outcome.fail(`${sim.securityCount} security updates (of ${sim.upgradable.length} pending) are not installed`, observed));
  }
  if (ageDays !== null && ageDays > STALE_LISTS_DAYS) {
    return withEvidence(
      outcome.unknown(`no security update is pending in package lists that are ${ageDays} days old; run \`sudo apt-get update\` for a current answer`, observed),
    );
  }
  const rest = sim.upgradable.length ? `; ${sim.upgradable.length} other updates are pending` : '';
  return withEvidence(outcome.pass(`no security updates are pending${rest}`, observed));
}

async function dnfUpdates(ctx: CheckContext): Promise<CheckOutcome> {
  let result: ExecResult;
  try {
    // -C: the metadata cache only, never the network; exit 100 means updates are available.
    result = await run(ctx, 'dnf', ['-C', '-q', 'check-update', '--security'], { timeoutMs: 20_000, okExitCodes: [0, 100] });
  } catch (err) {
    return outcome.unknown(`dnf could not list security updates from its cache: ${problem(err)}`);
  }
  const updates = parseDnfCheckUpdate(result.stdout);
  const observed = { manager: 'dnf', security: updates.length, securityPackages: updates.slice(0, 50).map((u) => `${u.name} ${u.version}`) };
  if (result.exitCode === 100) {
    return outcome.fail(`${updates.length || 'some'} security updates are not installed`, observed);
  }
  return outcome.pass('dnf lists no pending security updates', observed);
}

async function osUpdates(ctx: CheckContext): Promise<CheckOutcome> {
  const release = await linuxOsRelease(ctx).catch(() => ({}) as Record<string, string>);
  switch (packageFamily(release)) {
    case 'apt':
      return aptUpdates(ctx);
    case 'dnf':
      return dnfUpdates(ctx);
    default:
      return outcome.unsupported(`Ward reads pending updates with apt or dnf; ${release.PRETTY_NAME ?? 'this distribution'} uses neither`);
  }
}

// ---------------------------------------------------------------------------------------------
// disk-encryption
// ---------------------------------------------------------------------------------------------

interface VolumeVerdict {
  readonly path: string;
  readonly mountPoint: string | null;
  readonly source: string | null;
  readonly fsType: string | null;
  readonly encrypted: boolean | null;
  readonly layers: readonly string[];
  readonly why: string;
}

function volumeVerdict(path: string, mount: MountEntry | undefined, devices: Settled<BlockDevice[]>): VolumeVerdict {
  const base = { path, mountPoint: mount?.mountPoint ?? null, source: mount?.source ?? null, fsType: mount?.fsType ?? null, layers: [] };
  if (!mount) return { ...base, encrypted: null, why: `no mount holds ${path}` };
  if (OPAQUE_FILESYSTEMS.has(mount.fsType) || !mount.source.startsWith('/dev/')) {
    return {
      ...base,
      encrypted: null,
      why: `${path} is on a ${mount.fsType} filesystem (${mount.source}): the disk under it (a container's host, a network server or memory) cannot be seen from here`,
    };
  }
  if (!devices.ok) return { ...base, encrypted: null, why: `lsblk could not list block devices: ${problem(devices.error)}` };
  const sourceNames = new Set([mount.source, mount.source.replace(/^\/dev\/(mapper\/)?/, '')]);
  const chain = chainTo(
    devices.value,
    (d) => d.mountpoints.includes(mount.mountPoint) || d.majMin === mount.device || sourceNames.has(d.name) || (d.kname !== null && sourceNames.has(d.kname)),
  );
  if (!chain) return { ...base, encrypted: null, why: `${mount.source} (mounted at ${mount.mountPoint}) is not in lsblk's device tree` };
  const layers = encryptedLayers(chain).map((d) => `${d.name} (${d.type === 'crypt' ? 'dm-crypt' : 'LUKS'})`);
  const route = chain.map((d) => `${d.name}:${d.type}`).join(' → ');
  return layers.length
    ? { ...base, encrypted: true, layers, why: `${path} is on ${route}, encrypted by ${layers.join(', ')}` }
    : { ...base, encrypted: false, layers, why: `${path} is on ${route} with no dm-crypt/LUKS layer` };
}

async function diskEncryption(ctx: CheckContext): Promise<CheckOutcome> {
  const [mountinfo, lsblk] = await Promise.all([
    settle(ctx.host.readFile('/proc/self/mountinfo', { signal: ctx.signal })),
    settle(run(ctx, 'lsblk', ['-J', '-o', 'NAME,KNAME,MAJ:MIN,TYPE,FSTYPE,MOUNTPOINT'])),
  ]);
  if (!mountinfo.ok) return outcome.unknown(`the mount table could not be read: ${problem(mountinfo.error)}`);
  const mounts = parseMountInfo(mountinfo.value);
  let devices: Settled<BlockDevice[]>;
  if (lsblk.ok) {
    try {
      devices = { ok: true, value: parseLsblkJson(lsblk.value.stdout) };
    } catch (err) {
      if (err instanceof ParseError) return unparsable(err);
      throw err;
    }
  } else devices = lsblk;
  const root = mountFor(mounts, '/');
  const home = mountFor(mounts, '/home');
  const volumes = [volumeVerdict('/', root, devices)];
  if (home && home !== root) volumes.push(volumeVerdict('/home', home, devices));
  const observed = { volumes, homeOnRoot: home === root };
  const plain = volumes.filter((v) => v.encrypted === false);
  const unknown = volumes.filter((v) => v.encrypted === null);
  if (plain.length) return outcome.fail(plain.map((v) => v.why).join('; '), observed);
  if (unknown.length) return outcome.unknown(unknown.map((v) => v.why).join('; '), observed);
  return outcome.pass(volumes.map((v) => v.why).join('; ') + (home === root ? ' (/home is on /)' : ''), observed);
}

// ---------------------------------------------------------------------------------------------
// firewall
// ---------------------------------------------------------------------------------------------

interface FirewallLayer {
  readonly name: string;
  /** Is it loaded and enforcing? null: could not be read. */
  readonly active: boolean | null;
  /** Does it drop or reject unsolicited inbound traffic by default? */
  readonly defaultDeny: boolean | null;
  readonly detail: string;
}

async function ufwLayer(ctx: CheckContext): Promise<FirewallLayer | undefined> {
  const conf = await settle(ctx.host.readFile('/etc/ufw/ufw.conf', { signal: ctx.signal }));
  if (!conf.ok) return undefined; // ufw is not installed
  const { enabled } = parseUfwConf(conf.value);
  if (enabled !== true) return { name: 'ufw', active: false, defaultDeny: null, detail: 'ufw.conf: ENABLED=no' };
  const status = await settle(run(ctx, 'ufw', ['status', 'verbose']));
  if (status.ok) {
    const s = parseUfwStatus(status.value.stdout);
    const deny = s.defaultIncoming === null ? null : s.defaultIncoming === 'deny' || s.defaultIncoming === 'reject';
    return { name: 'ufw', active: s.active, defaultDeny: deny, detail: `ufw status: ${s.active ? 'active' : 'inactive'}, incoming ${s.defaultIncoming ?? 'not shown'}` };
  }
  // `ufw status` needs root; the unit state and /etc/default/ufw do not.
  const [unit, defaults] = await Promise.all([
    settle(run(ctx, 'systemctl', ['is-active', 'ufw'], { okExitCodes: 'any' })),
    settle(ctx.host.readFile('/etc/default/ufw', { signal: ctx.signal })),
  ]);
  const active = unit.ok ? unit.value.stdout.trim() === 'active' : null;
  const policy = defaults.ok ? (/^DEFAULT_INPUT_POLICY="?(\w+)"?/m.exec(defaults.value)?.[1] ?? null) : null;
  return {
    name: 'ufw',
    active,
    defaultDeny: policy === null ? null : policy === 'DROP' || policy === 'REJECT',
    detail: `ufw.conf ENABLED=yes, ufw.service ${unit.ok ? unit.value.stdout.trim() : 'unknown'}, DEFAULT_INPUT_POLICY ${policy ?? 'unknown'}`,
  };
}

async function firewalldLayer(ctx: CheckContext): Promise<FirewallLayer | undefined> {
  const state = await settle(run(ctx, 'firewall-cmd', ['--state'], { okExitCodes: 'any' }));
  if (!state.ok) return isExecError(state.error, 'not-found') ? undefined : { name: 'firewalld', active: null, defaultDeny: null, detail: problem(state.error) };
  const running = state.value.stdout.trim() === 'running';
  // firewalld's zones reject what no service or port opens; that is its design, not a setting.
  return { name: 'firewalld', active: running, defaultDeny: running ? true : null, detail: `firewall-cmd --state: ${state.value.stdout.trim() || state.value.stderr.trim()}` };
}

async function nftLayer(ctx: CheckContext): Promise<FirewallLayer | undefined> {
  const res = await settle(run(ctx, 'nft', ['list', 'ruleset']));
  if (!res.ok) {
    if (isExecError(res.error, 'not-found')) return undefined;
    return { name: 'nftables', active: null, defaultDeny: null, detail: deniedByOs(res.error) ? 'nft list ruleset needs root' : problem(res.error) };
  }
  const chains = parseNftRuleset(res.value.stdout);
  const denying = chains.filter((c) => c.policy === 'drop' || c.endsInDrop);
  return {
    name: 'nftables',
    active: chains.length > 0,
    defaultDeny: denying.length > 0,
    detail: chains.length
      ? chains.map((c) => `${c.table} ${c.chain}: policy ${c.policy}${c.endsInDrop ? ', ends in drop' : ''}`).join('; ')
      : 'no chain on the input hook',
  };
}

async function iptablesLayer(ctx: CheckContext): Promise<FirewallLayer | undefined> {
  const res = await settle(run(ctx, 'iptables', ['-S', 'INPUT']));
  if (!res.ok) {
    if (isExecError(res.error, 'not-found')) return undefined;
    return { name: 'iptables', active: null, defaultDeny: null, detail: deniedByOs(res.error) ? 'iptables -S needs root' : problem(res.error) };
  }
  const input = parseIptablesInput(res.value.stdout);
  if (input.policy === null) return { name: 'iptables', active: null, defaultDeny: null, detail: 'iptables -S INPUT printed no policy line' };
  const deny = input.policy === 'DROP' || input.policy === 'REJECT' || input.endsInDrop;
  return {
    name: 'iptables',
    active: deny || input.ruleCount > 0,
    defaultDeny: deny,
    detail: `INPUT policy ${input.policy}, ${input.ruleCount} rules${input.endsInDrop ? ', ends in DROP/REJECT' : ''}`,
  };
}

/**
 * iptables-nft keeps its rules in nftables, so `nft list ruleset` already shows them; only a
 * legacy iptables (or an unreadable nft) needs its own `iptables -S`. Debian's and Ubuntu's
 * alternatives link says which one `iptables` is.
 */
async function iptablesIfSeparate(ctx: CheckContext, nft: FirewallLayer | undefined): Promise<FirewallLayer | undefined> {
  if (nft?.active !== null && nft !== undefined) {
    const target = await settle(ctx.host.readLink('/etc/alternatives/iptables'));
    if (target.ok && target.value.endsWith('-nft')) return undefined;
  }
  return iptablesLayer(ctx);
}

async function firewall(ctx: CheckContext): Promise<CheckOutcome> {
  const [ufw, firewalld, nft] = await Promise.all([ufwLayer(ctx), firewalldLayer(ctx), nftLayer(ctx)]);
  const iptables = await iptablesIfSeparate(ctx, nft);
  const layers = [ufw, firewalld, nft, iptables].filter((l): l is FirewallLayer => l !== undefined);
  const observed = { layers };
  const enforcing = layers.filter((l) => l.active === true && l.defaultDeny === true);
  if (enforcing.length) {
    return outcome.pass(`inbound traffic is dropped by default: ${enforcing.map((l) => `${l.name} (${l.detail})`).join('; ')}`, observed);
  }
  if (layers.length === 0) return outcome.unknown('no firewall tool (ufw, firewalld, nft, iptables) is installed to ask', observed);
  // The kernel's own tables are the ground truth: when one could be read, its answer stands.
  const kernelRead = layers.some((l) => (l.name === 'nftables' || l.name === 'iptables') && l.active !== null);
  const undecided = layers.filter((l) => l.active === null || (l.active === true && l.defaultDeny === null));
  if (kernelRead && !layers.some((l) => l.active === true && l.defaultDeny === null)) {
    return outcome.fail(`no firewall drops unsolicited inbound traffic: ${layers.map((l) => `${l.name}: ${l.detail}`).join('; ')}`, observed);
  }
  return outcome.unknown(`the firewall state could not be read: ${undecided.map((l) => `${l.name}: ${l.detail}`).join('; ')}`, observed);
}

// ---------------------------------------------------------------------------------------------
// screen-lock
// ---------------------------------------------------------------------------------------------

const GIO_MODULE_DIRS = [
  '/usr/lib/x86_64-linux-gnu/gio/modules', '/usr/lib/aarch64-linux-gnu/gio/modules', '/usr/lib64/gio/modules', '/usr/lib/gio/modules',
];

/**
 * Without a settings backend gsettings silently answers from the schema's defaults, which would
 * be presented as the user's choice. Only trust it when a real backend is there: an explicit
 * GSETTINGS_BACKEND, or the dconf module that GNOME sessions use.
 */
async function gsettingsBackend(ctx: CheckContext): Promise<string | null> {
  const explicit = ctx.host.env('GSETTINGS_BACKEND');
  if (explicit && explicit !== 'memory') return explicit;
  if (explicit === 'memory') return null;
  for (const dir of GIO_MODULE_DIRS) {
    const entries = await settle(ctx.host.readDir(dir));
    if (entries.ok && entries.value.some((e) => e.startsWith('libdconfsettings'))) return 'dconf';
  }
  return null;
}

async function gnomeScreenLock(ctx: CheckContext, desktop: string): Promise<CheckOutcome> {
  const backend = await gsettingsBackend(ctx);
  if (!backend) {
    return outcome.unknown(
      `the ${desktop} session's settings backend (dconf) is not installed, so gsettings would print GNOME's schema defaults rather than your settings`,
      { desktop },
    );
  }
  const [saver, idle] = await Promise.all([
    settle(run(ctx, 'gsettings', ['list-recursively', 'org.gnome.desktop.screensaver'])),
    settle(run(ctx, 'gsettings', ['get', 'org.gnome.desktop.session', 'idle-delay'])),
  ]);
  if (!saver.ok || !idle.ok) {
    return outcome.unknown(`gsettings could not read the GNOME screen-lock settings: ${problem(saver.ok ? (idle as { error: unknown }).error : saver.error)}`, { desktop, backend });
  }
  const keys = parseGsettingsList(saver.value.stdout, 'org.gnome.desktop.screensaver');
  const lockEnabled = keys.get('lock-enabled');
  const lockDelay = keys.get('lock-delay');
  const idleDelay = parseGVariant(idle.value.stdout);
  const activation = keys.get('idle-activation-enabled');
  if (typeof lockEnabled !== 'boolean' || typeof idleDelay !== 'number') {
    return unparsable(new ParseError('the GNOME screen-lock settings from gsettings', `${saver.value.stdout}\n${idle.value.stdout}`));
  }
  const delaySeconds = idleDelay + (typeof lockDelay === 'number' ? lockDelay : 0);
  const max = ctx.config.maxScreenLockDelaySeconds;
  const observed = {
    desktop,
    backend,
    lockEnabled,
    idleDelaySeconds: idleDelay,
    lockDelaySeconds: typeof lockDelay === 'number' ? lockDelay : null,
    idleActivationEnabled: typeof activation === 'boolean' ? activation : null,
    effectiveLockSeconds: idleDelay === 0 ? null : delaySeconds,
    maxAllowedSeconds: max,
  };
  if (!lockEnabled) return outcome.fail('GNOME automatic screen lock is off (org.gnome.desktop.screensaver lock-enabled is false)', observed);
  if (activation === false) return outcome.fail('GNOME never starts the screen saver when idle (idle-activation-enabled is false), so the screen never locks by itself', observed);
  if (idleDelay === 0) return outcome.fail('the screen never blanks when idle (org.gnome.desktop.session idle-delay is 0), so it never locks by itself', observed);
  if (delaySeconds > max) return outcome.fail(`the screen locks after ${delaySeconds} s idle, more than the allowed ${max} s`, observed);
  return outcome.pass(`GNOME locks the screen after ${delaySeconds} s idle (allowed: ${max} s)`, observed);
}

async function kdeScreenLock(ctx: CheckContext, desktop: string): Promise<CheckOutcome> {
  const home = ctx.host.env('HOME');
  const configHome = ctx.host.env('XDG_CONFIG_HOME') ?? (home ? `${home}/.config` : undefined);
  const files = ['/etc/xdg/kscreenlockerrc', ...(configHome ? [`${configHome}/kscreenlockerrc`] : [])];
  const reads = await Promise.all(files.map((f) => settle(ctx.host.readFile(f, { signal: ctx.signal }))));
  const blocked = reads.find((r) => !r.ok && !isExecError(r.error, 'not-found'));
  if (blocked && !blocked.ok) return outcome.unknown(`kscreenlockerrc could not be read: ${problem(blocked.error)}`, { desktop });
  // Later files override earlier ones, as KDE's config cascade does; unset keys keep KDE's defaults.
  let autolock: boolean | null = null;
  let timeoutMinutes: number | null = null;
  for (const r of reads) {
    if (!r.ok) continue;
    const parsed = parseKscreenlockerrc(r.value);
    autolock = parsed.autolock ?? autolock;
    timeoutMinutes = parsed.timeoutMinutes ?? timeoutMinutes;
  }
  const setBy = autolock === null && timeoutMinutes === null ? 'KDE defaults (no kscreenlockerrc sets Autolock or Timeout)' : 'kscreenlockerrc';
  const effectiveAutolock = autolock ?? true;
  const seconds = (timeoutMinutes ?? 5) * 60;
  const max = ctx.config.maxScreenLockDelaySeconds;
  const observed = { desktop, autolock: effectiveAutolock, timeoutMinutes: timeoutMinutes ?? 5, setBy, maxAllowedSeconds: max };
  if (!effectiveAutolock) return outcome.fail('KDE does not lock the screen automatically (Autolock=false)', observed);
  if (seconds === 0) return outcome.fail('KDE screen locking has no idle timeout (Timeout=0)', observed);
  if (seconds > max) return outcome.fail(`KDE locks the screen after ${seconds} s idle, more than the allowed ${max} s`, observed);
  return outcome.pass(`KDE locks the screen after ${seconds} s idle (from ${setBy}; allowed: ${max} s)`, observed);
}

async function screenLock(ctx: CheckContext): Promise<CheckOutcome> {
  const desktop = ctx.host.env('XDG_CURRENT_DESKTOP') ?? '';
  const names = desktop.toLowerCase().split(':').filter(Boolean);
  if (names.length === 0) {
    const display = ctx.host.env('WAYLAND_DISPLAY') ?? ctx.host.env('DISPLAY');
    return outcome.unknown(
      display
        ? `a display (${display}) is set but XDG_CURRENT_DESKTOP is not, so Ward cannot tell which desktop's screen-lock settings apply`
        : 'no graphical session is visible to Ward (XDG_CURRENT_DESKTOP, WAYLAND_DISPLAY and DISPLAY are unset): screen lock is a desktop-session setting',
      { desktop: null },
    );
  }
  if (names.some((n) => n === 'gnome' || n === 'ubuntu' || n === 'unity' || n === 'pop')) return gnomeScreenLock(ctx, desktop);
  if (names.includes('kde')) return kdeScreenLock(ctx, desktop);
  return outcome.unsupported(`Ward reads the screen-lock settings of GNOME and KDE; this session's desktop is ${desktop}`, { desktop });
}

// ---------------------------------------------------------------------------------------------
// antivirus and EDR
// ---------------------------------------------------------------------------------------------

async function mdatpHealth(ctx: CheckContext): Promise<Settled<Map<string, string>>> {
  const res = await settle(run(ctx, 'mdatp', ['health'], { okExitCodes: 'any' }));
  return res.ok ? { ok: true, value: parseMdatpHealth(res.value.stdout) } : res;
}

const CLAMD_DIRS = ['/usr/sbin/', '/usr/bin/', '/usr/local/sbin/', '/usr/local/bin/'];
const MDATP_DIR = '/opt/microsoft/mdatp/';

async function antivirus(ctx: CheckContext): Promise<CheckOutcome> {
  const [procs, mdatp] = await Promise.all([settle(listProcesses(ctx)), mdatpHealth(ctx)]);
  if (!procs.ok) return outcome.error(`could not list processes: ${problem(procs.error)}`);
  const clamd = procs.value.filter((p) => p.name === 'clamd');
  const genuineClamd = clamd.filter((p) => runsFrom(p, CLAMD_DIRS));
  const impostors = clamd.filter((p) => !runsFrom(p, CLAMD_DIRS)).map((p) => `${p.pid} ${p.exe ?? '(executable unreadable)'}`);
  const freshclam = procs.value.some((p) => p.name === 'freshclam');
  const defender = mdatp.ok
    ? { installed: true, healthy: mdatp.value.get('healthy') ?? null, realTimeProtection: mdatp.value.get('real_time_protection_enabled') ?? null }
    : { installed: !isExecError(mdatp.error, 'not-found'), healthy: null, realTimeProtection: null, problem: problem(mdatp.error) };
  const observed = {
    clamav: { running: genuineClamd.map((p) => ({ pid: p.pid, exe: p.exe })), freshclamRunning: freshclam, ignored: impostors },
    defender,
  };
  if (defender.realTimeProtection === 'true') return outcome.pass('Microsoft Defender real-time protection is on (mdatp health)', observed);
  if (genuineClamd.length) {
    return outcome.pass(`ClamAV's daemon is running (${genuineClamd.map((p) => p.exe).join(', ')})${freshclam ? ' with freshclam updating signatures' : ''}`, observed);
  }
  if (defender.installed && defender.realTimeProtection === 'false') return outcome.fail('Microsoft Defender is installed but real-time protection is off', observed);
  if (defender.installed && !mdatp.ok) return outcome.unknown(`Microsoft Defender is installed but mdatp health failed: ${defender.problem ?? ''}`, observed);
  const note = impostors.length ? `; a process named clamd runs from outside the packaged locations (${impostors.join(', ')}) and is not counted` : '';
  return outcome.fail(`no antivirus is running (looked for ClamAV's clamd and Microsoft Defender)${note}`, observed);
}

interface EdrAgent {
  readonly name: string;
  readonly processes: readonly string[];
  readonly dirs: readonly string[];
}

const EDR_AGENTS: readonly EdrAgent[] = [
  { name: 'CrowdStrike Falcon', processes: ['falcon-sensor', 'falcon-sensor-bpf'], dirs: ['/opt/CrowdStrike/'] },
  { name: 'SentinelOne', processes: ['sentinel-agent', 's1-agent', 's1-orchestrator'], dirs: ['/opt/sentinelone/'] },
  { name: 'Microsoft Defender for Endpoint', processes: ['wdavdaemon'], dirs: [MDATP_DIR] },
];

async function edr(ctx: CheckContext): Promise<CheckOutcome> {
  const procs = await settle(listProcesses(ctx));
  if (!procs.ok) return outcome.error(`could not list processes: ${problem(procs.error)}`);
  const agents = EDR_AGENTS.map((a) => {
    const named = procs.value.filter((p) => a.processes.includes(p.name));
    return {
      agent: a.name,
      running: named.filter((p) => runsFrom(p, a.dirs)).map((p) => ({ pid: p.pid, exe: p.exe })),
      unverified: named.filter((p) => !runsFrom(p, a.dirs)).map((p) => ({ pid: p.pid, exe: p.exe })),
    };
  });
  const running = agents.filter((a) => a.running.length > 0);
  // Falcon in reduced-functionality mode runs but does not protect: ask its CLI when it runs.
  let falconRfm: string | null = null;
  if (running.some((a) => a.agent === 'CrowdStrike Falcon')) {
    const rfm = await settle(run(ctx, 'falconctl', ['-g', '--rfm-state']));
    falconRfm = rfm.ok ? (/rfm-state=(true|false)/.exec(rfm.value.stdout)?.[1] ?? null) : null;
  }
  const observed = { agents, falconReducedFunctionality: falconRfm };
  const protecting = running.filter((a) => !(a.agent === 'CrowdStrike Falcon' && falconRfm === 'true'));
  if (protecting.length) return outcome.pass(`running: ${protecting.map((a) => `${a.agent} (${a.running.map((p) => p.exe).join(', ')})`).join('; ')}`, observed);
  if (running.length) return outcome.fail('CrowdStrike Falcon runs in reduced-functionality mode (falconctl -g --rfm-state)', observed);
  const unverified = agents.filter((a) => a.unverified.length > 0);
  if (unverified.some((a) => a.unverified.some((p) => p.exe === null))) {
    return outcome.unknown(`a process named like an EDR agent runs but its executable could not be read: ${unverified.map((a) => a.agent).join(', ')}`, observed);
  }
  const note = unverified.length ? `; processes with agent names run from elsewhere and are not counted (${unverified.map((a) => a.unverified.map((p) => p.exe).join(', ')).join('; ')})` : '';
  return outcome.fail(`no EDR agent is running (looked for ${EDR_AGENTS.map((a) => a.name).join(', ')})${note}`, observed);
}

// ---------------------------------------------------------------------------------------------
// auto-update
// ---------------------------------------------------------------------------------------------

const DPKG_STATUS_FORMAT = '${db:Status-Abbrev}|${Version}\n';

function dpkgQuery(ctx: CheckContext, pkg: string, admindir?: string): Promise<ExecResult> {
  const args = [...(admindir ? [`--admindir=${admindir}`] : []), '-W', `-f=${DPKG_STATUS_FORMAT}`, pkg];
  return run(ctx, 'dpkg-query', args, { okExitCodes: [0, 1] });
}

/**
 * What apt-config and dpkg-query say only changes with APT's configuration files or the dpkg
 * database; both commands parse all of it (50–60 ms each), so the answer is kept per fingerprint
 * of those files. With APT_CONFIG set, apt may read files Ward does not watch: nothing is cached.
 */
function readAptConfigState(): Promise<string | null> {
  if (process.env.APT_CONFIG) return Promise.resolve(null);
  const parts: string[] = [];
  const add = (path: string): void => {
    try {
      const s = statSync(path);
      parts.push(`${path}:${s.size}:${s.mtimeMs}`);
    } catch {
      parts.push(`${path}:-`);
    }
  };
  add('/etc/apt/apt.conf');
  add('/etc/apt/apt.conf.d');
  try {
    for (const name of readdirSync('/etc/apt/apt.conf.d').sort()) add(`/etc/apt/apt.conf.d/${name}`);
  } catch {
    // no fragments directory
  }
  add('/var/lib/dpkg/status');
  return Promise.resolve(parts.join('|'));
}

interface AptConfigAnswer {
  readonly dump: string;
  readonly dpkg: string;
  readonly dpkgArgs: string;
}
const APT_CONFIG_MEMO = 'apt-config-dump+dpkg-query';

async function readAptConfigAnswer(ctx: CheckContext): Promise<AptConfigAnswer | CheckOutcome> {
  const [dump, pkg] = await Promise.all([settle(run(ctx, 'apt-config', ['dump'])), settle(dpkgQuery(ctx, 'unattended-upgrades'))]);
  if (!dump.ok) return outcome.unknown(`apt-config could not show APT's configuration: ${problem(dump.error)}`);
  const config = parseAptConfigDump(dump.value.stdout);
  if (config.size === 0) return unparsable(new ParseError('the output of apt-config dump', dump.value.stdout));
  // APT_CONFIG can point apt at another dpkg database; ask dpkg about the one apt uses.
  const status = aptValue(config, 'Dir::State::status') ?? '/var/lib/dpkg/status';
  const installed = status === '/var/lib/dpkg/status' ? pkg : await settle(dpkgQuery(ctx, 'unattended-upgrades', status.replace(/\/[^/]*$/, '') || '/'));
  if (!installed.ok) return outcome.unknown(`dpkg-query could not tell whether unattended-upgrades is installed: ${problem(installed.error)}`);
  return { dump: dump.value.stdout, dpkg: installed.value.stdout, dpkgArgs: installed.value.args.join(' ') };
}

async function aptAutoUpdate(ctx: CheckContext): Promise<CheckOutcome> {
  const fingerprint = await ctx.host.call('linux.apt-config-state', readAptConfigState, { signal: ctx.signal, timeoutMs: QUICK_MS });
  const kept = fingerprint === null ? undefined : await ctx.memo?.get(APT_CONFIG_MEMO, fingerprint);
  const { dump, dpkg, dpkgArgs } = kept?.value ?? {};
  if (kept && dump !== undefined && dpkg !== undefined && dpkgArgs !== undefined) {
    const unchanged = `${reusedFrom(kept)}; APT configuration and dpkg status unchanged since`;
    return {
      ...aptAutoUpdateVerdict({ dump, dpkg, dpkgArgs }),
      extraEvidence: [
        { kind: 'exec', source: `apt-config dump (${unchanged})`, exitCode: 0, excerpt: truncate(dump, 1024) },
        { kind: 'exec', source: `dpkg-query ${dpkgArgs} (${unchanged})`, exitCode: 0, excerpt: truncate(dpkg, 1024) },
      ],
    };
  }
  const answer = await readAptConfigAnswer(ctx);
  if ('status' in answer) return answer;
  if (fingerprint !== null) await ctx.memo?.set(APT_CONFIG_MEMO, fingerprint, { ...answer }, ctx.now().toISOString());
  return aptAutoUpdateVerdict(answer);
}

function aptAutoUpdateVerdict(answer: AptConfigAnswer): CheckOutcome {
  const config = parseAptConfigDump(answer.dump);
  const status = aptValue(config, 'Dir::State::status') ?? '/var/lib/dpkg/status';
  const { installed: isInstalled, version } = parseDpkgStatus(answer.dpkg);
  const upgrade = aptValue(config, 'APT::Periodic::Unattended-Upgrade');
  const lists = aptValue(config, 'APT::Periodic::Update-Package-Lists');
  const observed = {
    manager: 'apt',
    unattendedUpgradesInstalled: isInstalled,
    unattendedUpgradesVersion: version,
    unattendedUpgrade: upgrade ?? null,
    updatePackageLists: lists ?? null,
    dpkgStatus: status,
  };
  if (!isInstalled) return outcome.fail('the unattended-upgrades package is not installed', observed);
  if (!periodicEnabled(upgrade)) return outcome.fail(`APT::Periodic::Unattended-Upgrade is ${upgrade === undefined ? 'not set' : `"${upgrade}"`}, so updates are not installed automatically`, observed);
  if (!periodicEnabled(lists)) return outcome.fail(`APT::Periodic::Update-Package-Lists is ${lists === undefined ? 'not set' : `"${lists}"`}, so unattended-upgrades never sees new updates`, observed);
  return outcome.pass(`unattended-upgrades ${version ?? ''} is installed and APT runs it (Unattended-Upgrade "${upgrade}", Update-Package-Lists "${lists}")`, observed);
}

const DNF_TIMERS = ['dnf-automatic-install.timer', 'dnf-automatic.timer', 'dnf5-automatic.timer'] as const;

async function dnfAutoUpdate(ctx: CheckContext): Promise<CheckOutcome> {
  const [timers, conf] = await Promise.all([
    settle(run(ctx, 'systemctl', ['is-active', ...DNF_TIMERS], { okExitCodes: 'any' })),
    settle(ctx.host.readFile('/etc/dnf/automatic.conf', { signal: ctx.signal })),
  ]);
  if (!timers.ok) return outcome.unknown(`systemctl could not report the dnf-automatic timers: ${problem(timers.error)}`);
  const states = timers.value.stdout.split('\n').map((s) => s.trim());
  const active = DNF_TIMERS.filter((_t, i) => states[i] === 'active');
  const applyUpdates = conf.ok ? (/^\s*apply_updates\s*=\s*(\S+)/m.exec(conf.value)?.[1]?.toLowerCase() ?? null) : null;
  const observed = { manager: 'dnf', activeTimers: active, applyUpdates };
  if (active.includes('dnf-automatic-install.timer')) return outcome.pass('dnf-automatic-install.timer is active: updates are downloaded and installed', observed);
  if (active.length && (applyUpdates === 'yes' || applyUpdates === 'true' || applyUpdates === '1')) {
    return outcome.pass(`${active.join(', ')} is active and automatic.conf sets apply_updates = ${applyUpdates}`, observed);
  }
  if (active.length) return outcome.fail(`${active.join(', ')} is active but only downloads or reports updates (apply_updates = ${applyUpdates ?? 'not set'})`, observed);
  return outcome.fail('no dnf-automatic timer is active', observed);
}

async function autoUpdate(ctx: CheckContext): Promise<CheckOutcome> {
  const release = await linuxOsRelease(ctx).catch(() => ({}) as Record<string, string>);
  switch (packageFamily(release)) {
    case 'apt':
      return aptAutoUpdate(ctx);
    case 'dnf':
      return dnfAutoUpdate(ctx);
    default:
      return outcome.unsupported(`Ward reads automatic-update settings for apt and dnf; ${release.PRETTY_NAME ?? 'this distribution'} uses neither`);
  }
}

// ---------------------------------------------------------------------------------------------
// secure-boot
// ---------------------------------------------------------------------------------------------

const EFI_GLOBAL = '8be4df61-93ca-11d2-aa0d-00e098032b8c';

async function secureBoot(ctx: CheckContext): Promise<CheckOutcome> {
  const efi = await settle(ctx.host.readDir('/sys/firmware/efi'));
  if (!efi.ok) {
    if (!isExecError(efi.error, 'not-found')) return outcome.unknown(`/sys/firmware/efi could not be read: ${problem(efi.error)}`);
    const firmware = await settle(ctx.host.readDir('/sys/firmware'));
    if (!firmware.ok || firmware.value.length === 0) {
      return outcome.unknown('/sys/firmware is hidden (as in a container), so how this machine booted cannot be seen from here', { efi: false });
    }
    return outcome.fail(
      `this kernel was not started through UEFI (/sys/firmware/efi is absent while /sys/firmware shows ${firmware.value.join(', ')}): it booted from legacy BIOS or a hypervisor's direct kernel boot, where Secure Boot does not exist`,
      { efi: false, firmware: firmware.value },
    );
  }
  const variable = await settle(ctx.host.readFile(`/sys/firmware/efi/efivars/SecureBoot-${EFI_GLOBAL}`, { signal: ctx.signal }));
  const enabled = variable.ok ? parseSecureBootVar(variable.value) : null;
  if (enabled !== null) {
    const setup = await settle(ctx.host.readFile(`/sys/firmware/efi/efivars/SetupMode-${EFI_GLOBAL}`, { signal: ctx.signal }));
    const setupMode = setup.ok ? parseSecureBootVar(setup.value) : null;
    const observed = { efi: true, secureBoot: enabled, setupMode, source: 'efivars' };
    return enabled
      ? outcome.pass('the SecureBoot EFI variable is 1: the firmware enforces Secure Boot', observed)
      : outcome.fail(`the SecureBoot EFI variable is 0: Secure Boot is off${setupMode ? ' (the firmware is in Setup Mode)' : ''}`, observed);
  }
  const mok = await settle(run(ctx, 'mokutil', ['--sb-state'], { okExitCodes: 'any' }));
  if (!mok.ok) {
    const why = variable.ok ? 'the SecureBoot EFI variable has an unexpected size' : `the SecureBoot EFI variable could not be read (${problem(variable.error)})`;
    return outcome.unknown(`${why}, and mokutil is not available: ${problem(mok.error)}`, { efi: true });
  }
  const state = parseMokutilSbState(`${mok.value.stdout}\n${mok.value.stderr}`);
  const observed = { efi: true, secureBoot: state.enabled, setupMode: state.setupMode, source: 'mokutil' };
  if (state.enabled === true) return outcome.pass('mokutil --sb-state: SecureBoot enabled', observed);
  if (state.enabled === false) return outcome.fail(`mokutil --sb-state: SecureBoot disabled${state.setupMode ? ' (Setup Mode)' : ''}`, observed);
  return unparsable(new ParseError('the output of mokutil --sb-state', `${mok.value.stdout}${mok.value.stderr}`));
}

// ---------------------------------------------------------------------------------------------
// remote-login
// ---------------------------------------------------------------------------------------------

/** Socket inodes held by processes named sshd: a server on another port still counts. */
async function readSshdSockets(): Promise<{ pid: number; exe: string | null; inodes: number[] }[]> {
  const sshd = (await procTable()).filter((p) => p.name === 'sshd');
  return sshd.map((p) => {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${p.pid}/fd`);
    } catch {
      // exited, or another user's process without root
    }
    const inodes: number[] = [];
    for (const fd of fds) {
      try {
        const socket = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${p.pid}/fd/${fd}`))?.[1];
        if (socket) inodes.push(Number(socket));
      } catch {
        // closed while we looked
      }
    }
    return { pid: p.pid, exe: p.exe, inodes };
  });
}

const SSH_PORT = 22;

async function remoteLogin(ctx: CheckContext): Promise<CheckOutcome> {
  const [tcp, tcp6, sshd] = await Promise.all([
    settle(ctx.host.readFile('/proc/net/tcp', { signal: ctx.signal, maxBytes: 16 * 1024 * 1024 })),
    settle(ctx.host.readFile('/proc/net/tcp6', { signal: ctx.signal, maxBytes: 16 * 1024 * 1024 })),
    settle(ctx.host.call('linux.sshd-sockets', readSshdSockets, { signal: ctx.signal, timeoutMs: QUICK_MS })),
  ]);
  if (!tcp.ok) return outcome.unknown(`the socket table /proc/net/tcp could not be read: ${problem(tcp.error)}`);
  // tcp6 is absent when IPv6 is disabled: that is an empty table, not a problem.
  if (!tcp6.ok && !isExecError(tcp6.error, 'not-found')) return outcome.unknown(`/proc/net/tcp6 could not be read: ${problem(tcp6.error)}`);
  const listeners = [...parseProcNetTcp(tcp.value), ...(tcp6.ok ? parseProcNetTcp(tcp6.value) : [])];
  const sshdSockets = new Map<number, number>();
  for (const s of sshd.ok ? sshd.value : []) for (const inode of s.inodes) sshdSockets.set(inode, s.pid);
  const ssh = listeners.filter((l) => l.port === SSH_PORT || sshdSockets.has(l.inode));
  const describe = (l: TcpListener): string => `${l.address}:${l.port}${sshdSockets.has(l.inode) ? ` (sshd pid ${sshdSockets.get(l.inode)})` : ''}`;
  const exposed = ssh.filter((l) => !l.loopbackOnly);
  const observed = {
    listening: listeners.length,
    sshListeners: ssh.map((l) => ({ address: l.address, port: l.port, loopbackOnly: l.loopbackOnly, sshdPid: sshdSockets.get(l.inode) ?? null })),
    sshdProcesses: sshd.ok ? sshd.value.map((s) => s.pid) : null,
  };
  if (exposed.length) return outcome.fail(`an SSH server accepts connections from the network on ${exposed.map(describe).join(', ')}`, observed);
  if (!sshd.ok) return outcome.unknown(`no listener on port ${SSH_PORT}, but sshd's sockets could not be read: ${problem(sshd.error)}`, observed);
  if (ssh.length) return outcome.pass(`SSH listens only on loopback (${ssh.map(describe).join(', ')}), not on the network`, observed);
  return outcome.pass(`no TCP listener on port ${SSH_PORT} and none owned by sshd (${listeners.length} listening sockets inspected)`, observed);
}

// ---------------------------------------------------------------------------------------------
// certificates
// ---------------------------------------------------------------------------------------------

export const DEFAULT_CERTIFICATE_PATHS = ['/etc/ssl/certs/ca-certificates.crt', '/usr/local/share/ca-certificates'] as const;
const MAX_CERT_FILES_PER_DIR = 500;
const isCertFile = (name: string): boolean => /\.(crt|pem|cer)$/i.test(name);

async function certificatesIn(ctx: CheckContext, path: string): Promise<CertificateInfo[]> {
  const read = async (file: string): Promise<CertificateInfo[]> =>
    parsePemCertificates(await ctx.host.readFile(file, { signal: ctx.signal, maxBytes: 8 * 1024 * 1024 }), file).certificates;
  if (isCertFile(path)) return read(path);
  const entries = (await ctx.host.readDir(path)).filter(isCertFile).slice(0, MAX_CERT_FILES_PER_DIR);
  const found = await Promise.all(entries.map((e) => read(`${path.replace(/\/$/, '')}/${e}`).catch(() => [] as CertificateInfo[])));
  return found.flat();
}

async function listCertificates(ctx: CheckContext): Promise<CertificateInfo[]> {
  const configured = ctx.config.requiredCertificates.flatMap((r) => r.paths ?? []);
  const paths = configured.length ? [...new Set(configured)] : [...DEFAULT_CERTIFICATE_PATHS];
  const results = await Promise.all(paths.map((p) => settle(certificatesIn(ctx, p))));
  const failures = results.filter((r): r is { ok: false; error: unknown } => !r.ok);
  // A missing optional location is normal; every location failing means nothing was inspected.
  if (failures.length === results.length) {
    throw new ExecError('not-found', paths.join(', '), `no certificate location could be read: ${failures.map((f) => problem(f.error)).join('; ')}`);
  }
  return results.flatMap((r) => (r.ok ? r.value : []));
}

// ---------------------------------------------------------------------------------------------
// device facts
// ---------------------------------------------------------------------------------------------

/** DMI strings that vendors leave in place of a real value. */
const DMI_PLACEHOLDERS = /^(to be filled by o\.?e\.?m\.?|default string|system (product name|manufacturer|serial number)|not specified|not applicable|none|0+|0123456789|n\/a|x+)$/i;
const VIRTUAL_VENDORS = /qemu|kvm|vmware|virtualbox|innotek|xen|bochs|parallels|amazon ec2|google compute engine|microsoft corporation virtual|openstack|hyper-v/i;

async function deviceFacts(ctx: CheckContext): Promise<DeviceFacts> {
  const dmi = (field: string): Promise<string | null> =>
    ctx.host
      .readFile(`/sys/class/dmi/id/${field}`, { maxBytes: 4096 })
      .then((v) => (v.trim() && !DMI_PLACEHOLDERS.test(v.trim()) ? v.trim() : null))
      .catch(() => null);
  const [release, node, vendor, model, serial, uuid, cpuinfo] = await Promise.all([
    linuxOsRelease(ctx).catch(() => ({}) as Record<string, string>),
    ctx.host.call('node.os', () => Promise.resolve({ release: os.release(), arch: os.arch(), hostname: os.hostname() })),
    dmi('sys_vendor'),
    dmi('product_name'),
    dmi('product_serial'),
    dmi('product_uuid'),
    ctx.host.readFile('/proc/cpuinfo', { maxBytes: 4 * 1024 * 1024 }).catch(() => null),
  ]);
  const hypervisorFlag = cpuinfo === null ? null : /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo);
  const virtual = VIRTUAL_VENDORS.test(`${vendor ?? ''} ${model ?? ''}`) ? true : hypervisorFlag;
  return {
    os: {
      platform: 'linux',
      name: release.NAME ?? 'Linux',
      version: release.VERSION_ID ?? release.VERSION ?? 'unknown',
      build: release.BUILD_ID ?? null,
      kernel: node.release,
      arch: node.arch,
    },
    hostname: node.hostname,
    hardware: { vendor, model, serial, uuid, virtual },
    agentVersion: ctx.agentVersion,
  };
}

export const linuxProbes: PostureProbes = {
  osVersion,
  osUpdates,
  diskEncryption,
  firewall,
  screenLock,
  antivirus,
  edr,
  autoUpdate,
  secureBoot,
  remoteLogin,
  listProcesses,
  listCertificates,
  deviceFacts,
};
