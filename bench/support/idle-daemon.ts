import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AGENT_ENTRY, DAEMON_NODE_FLAGS, buildAgentBundle, freshAgentBundle } from '../../bin/agent-bundle.mjs';
import { CookieJar, signInInBrowser } from '../../test/integration/broker/helpers.js';
import { startKeyring } from '../../test/support/keyring.js';
import { percentile, round } from '../stats.js';

const TICKS_PER_SECOND = 100; // Linux USER_HZ

export interface ProcSample {
  readonly cpuSeconds: number;
  readonly rssMb: number;
}

export function procSample(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime + stime, plus cutime + cstime: the commands the probes run count against the agent too.
  const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { cpuSeconds: ticks / TICKS_PER_SECOND, rssMb: rssKb / 1024 };
}

/** Private (not shared with other processes) memory, MB: what the process alone costs. */
function privateMb(pid: number): number {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(rollup)?.[1] ?? 0);
  return (kb('Private_Clean') + kb('Private_Dirty')) / 1024;
}

/** Proportional set size, MB: shared pages split between the processes that map them. */
function pssMb(pid: number): number {
  return Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0) / 1024;
}

export interface IdleFigures {
  readonly idleSeconds: number;
  /** Signed in (tokens in the keychain, at least one DPoP refresh done): what a real user runs. */
  readonly idleRssMb: number;
  readonly idlePeakRssMb: number;
  readonly idleCpuPercent: number;
  /** Launcher (when there is one) + daemon, sum of Pss from smaps_rollup, signed in: the honest total. */
  readonly idleTotalPssMb: number;
  /** The same daemon before sign-in (enrolled only), sampled over its own window. */
  readonly idleRssNotSignedInMb: number;
  readonly idlePeakRssNotSignedInMb: number;
  readonly idleCpuNotSignedInPercent: number;
  readonly idleTotalPssNotSignedInMb: number;
  /** Token refreshes the daemon did before (and during) the signed-in window. */
  readonly refreshesBeforeWindow: number;
  readonly refreshesInWindow: number;
  readonly accessTokenTtlSeconds: number;
  /** A bare `node` with the same flags, sampled over the same seconds. */
  readonly bareNodeRssMb: number;
  /** On Node < 22.15 the launcher stays as the daemon's parent (no process.execve). */
  readonly launcherRssMb: number | undefined;
  readonly launcherPrivateMb: number | undefined;
  readonly daemonFlags: string;
  readonly fromBundle: boolean;
}

function childPid(pid: number): number | undefined {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  return children.length ? Number(children[0]) : undefined;
}

function waitFor(proc: ChildProcess, pattern: RegExp, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let seen = '';
    proc.stdout?.on('data', (c: Buffer) => {
      seen += c.toString();
      if (pattern.test(seen)) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`${what} exited with ${code}: ${seen.slice(-500)}`)));
  });
}

interface Window {
  readonly rssMb: number;
  readonly peakRssMb: number;
  readonly cpuPercent: number;
  readonly totalPssMb: number;
  readonly bareNodeRssMb: number;
  readonly seconds: number;
}

/** Sample the daemon (and the launcher, and a bare node) from /proc once a second for `seconds`. */
async function sampleWindow(pids: { daemon: number; launcher: number | undefined; bare: number }, seconds: number): Promise<Window> {
  const start = procSample(pids.daemon);
  const startedAt = performance.now();
  let peak = start.rssMb;
  const rss: number[] = [];
  const pss: number[] = [];
  const bareRss: number[] = [];
  while (performance.now() - startedAt < seconds * 1000) {
    await new Promise((r) => setTimeout(r, 1_000));
    const s = procSample(pids.daemon);
    rss.push(s.rssMb);
    peak = Math.max(peak, s.rssMb);
    pss.push(pssMb(pids.daemon) + (pids.launcher === undefined ? 0 : pssMb(pids.launcher)));
    bareRss.push(procSample(pids.bare).rssMb);
  }
  const end = procSample(pids.daemon);
  const wallSeconds = (performance.now() - startedAt) / 1000;
  return {
    seconds: round(wallSeconds, 1),
    rssMb: round(percentile(rss, 50), 1),
    peakRssMb: round(peak, 1),
    cpuPercent: round(((end.cpuSeconds - start.cpuSeconds) / wallSeconds) * 100, 3),
    totalPssMb: round(percentile(pss, 50), 1),
    bareNodeRssMb: round(percentile(bareRss, 50), 1),
  };
}

const sleep = (ms: number): Promise<unknown> => new Promise((r) => setTimeout(r, ms));

/** The access token's expiry as `ward status --json` shows it (a separate CLI process, over the loopback API). */
async function tokenExpiry(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const status = spawn(process.execPath, ['bin/ward.mjs', 'status', '--json'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  status.stdout.on('data', (c: Buffer) => (out += c.toString()));
  await new Promise((r) => status.once('exit', r));
  const parsed = JSON.parse(out) as { status?: { expiresAt?: string | null } };
  return parsed.status?.expiresAt ?? undefined;
}

/**
 * Sign the running daemon in as a user would with `ward login`: the CLI asks the daemon, the
 * daemon prints the authorization URL (no browser here), and the bench plays the browser through
 * the broker's real login and consent pages (the integration tests' `signInInBrowser`).
 */
async function signInDaemon(daemon: ChildProcess, env: NodeJS.ProcessEnv, user: { username: string; password: string }): Promise<void> {
  let browsing: Promise<unknown> | undefined;
  const onData = (chunk: Buffer): void => {
    const url = /(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)/.exec(chunk.toString())?.[1];
    if (url && !browsing) browsing = signInInBrowser(new CookieJar(), url, new URL(url).searchParams.get('redirect_uri')!, user).then((callback) => fetch(callback));
  };
  daemon.stderr?.on('data', onData);
  try {
    const login = spawn(process.execPath, ['bin/ward.mjs', 'login'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    login.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise((r) => login.once('exit', r));
    await browsing;
    if (code !== 0 || !out.includes('Signed in')) throw new Error(`ward login exited with ${String(code)}`);
  } finally {
    daemon.stderr?.off('data', onData);
  }
}

/**
 * The headless agent exactly as `ward daemon` ships: `node bin/ward.mjs daemon`, which runs the
 * compiled bundle (built here first, as `npm run build:agent` does) with the daemon's V8 flags;
 * enrolled with `ward enroll` against `brokerUrl`, its key in a real gnome-keyring on a private
 * D-Bus. After `settleSeconds` its RSS and CPU are sampled from /proc once a second for
 * `idleSeconds`, beside a bare `node` with the same flags. Then it is signed in (`ward login`
 * through the broker's pages), waits for its first DPoP token refresh (the broker must issue
 * access tokens living `signIn.accessTokenTtlSeconds`; the agent refreshes 30 s before expiry),
 * settles again and is sampled for another `idleSeconds`: the signed-in figure is `idleRssMb`.
 */
export async function measureIdleDaemon(options: {
  brokerUrl: string;
  enrollmentToken: string;
  idleSeconds: number;
  settleSeconds?: number;
  signIn: { username: string; password: string; accessTokenTtlSeconds: number };
}): Promise<IdleFigures> {
  await buildAgentBundle();
  const dir = mkdtempSync(join(tmpdir(), 'ward-bench-idle-'));
  const keyring = await startKeyring();
  const env = {
    PATH: process.env.PATH,
    HOME: keyring.home,
    DBUS_SESSION_BUS_ADDRESS: keyring.busAddress,
    WARD_STATE_DIR: join(dir, 'state'),
    XDG_CONFIG_HOME: join(dir, 'config'),
  };
  const settleMs = (options.settleSeconds ?? 10) * 1000;
  const procs: ChildProcess[] = [];
  try {
    const enroll = spawn(process.execPath, ['bin/ward.mjs', 'enroll', '--broker', options.brokerUrl, '--token', options.enrollmentToken], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => enroll.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ward enroll exited with ${code}`)))));
    if (!freshAgentBundle()) await buildAgentBundle(); // a source file changed meanwhile (shared checkout)

    const launcher = spawn(process.execPath, ['bin/ward.mjs', 'daemon', '--log-level', 'warn'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(launcher);
    launcher.stderr.pipe(process.stderr); // warn-level log (redacted) and the sign-in URL
    await waitFor(launcher, /loopback API on/, 'ward daemon');
    const bare = spawn(process.execPath, [...DAEMON_NODE_FLAGS, '-e', "process.stdout.write('ready\\n'); setInterval(() => {}, 1000)"], { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push(bare);
    await waitFor(bare, /ready/, 'bare node');
    // The launcher execs the daemon in place where Node has process.execve; else the daemon is its child.
    const daemonPid = childPid(launcher.pid!) ?? launcher.pid!;
    const hasLauncher = daemonPid !== launcher.pid;
    const pids = { daemon: daemonPid, launcher: hasLauncher ? launcher.pid! : undefined, bare: bare.pid! };
    const cmdline = readFileSync(`/proc/${daemonPid}/cmdline`, 'utf8').split('\0');
    const daemonFlags = cmdline.filter((a) => a.startsWith('--') && a !== '--log-level').join(' ');
    const fromBundle = cmdline.includes(AGENT_ENTRY);

    await sleep(settleMs); // start-up work settles (first report, channel)
    const enrolled = await sampleWindow(pids, options.idleSeconds);

    // Signed in: the token exchange and every refresh go through openid-client (global fetch).
    await signInDaemon(launcher, env, options.signIn);
    const signedInExpiry = await tokenExpiry(env);
    if (!signedInExpiry) throw new Error('ward status shows no token after sign-in');
    const refreshDueMs = Date.parse(signedInExpiry) - Date.now() - Math.max(30_000, (options.signIn.accessTokenTtlSeconds * 1000) / 5);
    await sleep(Math.max(0, refreshDueMs));
    let beforeWindow = signedInExpiry;
    for (let i = 0; i < 30 && beforeWindow === signedInExpiry; i++) {
      await sleep(2_000);
      beforeWindow = (await tokenExpiry(env)) ?? signedInExpiry;
    }
    if (beforeWindow === signedInExpiry) throw new Error('the daemon did not refresh its tokens');
    await sleep(settleMs);
    const signedIn = await sampleWindow(pids, options.idleSeconds);
    const afterWindow = await tokenExpiry(env);
    return {
      idleSeconds: signedIn.seconds,
      idleRssMb: signedIn.rssMb,
      idlePeakRssMb: signedIn.peakRssMb,
      idleCpuPercent: signedIn.cpuPercent,
      idleTotalPssMb: signedIn.totalPssMb,
      idleRssNotSignedInMb: enrolled.rssMb,
      idlePeakRssNotSignedInMb: enrolled.peakRssMb,
      idleCpuNotSignedInPercent: enrolled.cpuPercent,
      idleTotalPssNotSignedInMb: enrolled.totalPssMb,
      refreshesBeforeWindow: 1,
      refreshesInWindow: afterWindow === beforeWindow ? 0 : 1,
      accessTokenTtlSeconds: options.signIn.accessTokenTtlSeconds,
      bareNodeRssMb: signedIn.bareNodeRssMb,
      launcherRssMb: hasLauncher ? round(procSample(launcher.pid!).rssMb, 1) : undefined,
      launcherPrivateMb: hasLauncher ? round(privateMb(launcher.pid!), 1) : undefined,
      daemonFlags,
      fromBundle,
    };
  } finally {
    for (const proc of procs) {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
    }
    await keyring.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}
