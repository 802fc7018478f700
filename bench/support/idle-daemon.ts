import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AGENT_ENTRY, DAEMON_NODE_FLAGS, buildAgentBundle, freshAgentBundle } from '../../bin/agent-bundle.mjs';
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

export interface IdleFigures {
  readonly idleSeconds: number;
  readonly idleRssMb: number;
  readonly idlePeakRssMb: number;
  readonly idleCpuPercent: number;
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

/**
 * The headless agent exactly as `ward daemon` ships: `node bin/ward.mjs daemon`, which runs the
 * compiled bundle (built here first, as `npm run build:agent` does) with the daemon's V8 flags;
 * enrolled with `ward enroll` against `brokerUrl`, its key in a real gnome-keyring on a private
 * D-Bus. After `settleSeconds` its RSS and CPU are sampled from /proc once a second for
 * `idleSeconds`, beside a bare `node` with the same flags.
 */
export async function measureIdleDaemon(options: { brokerUrl: string; enrollmentToken: string; idleSeconds: number; settleSeconds?: number }): Promise<IdleFigures> {
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
  const procs: ChildProcess[] = [];
  try {
    const enroll = spawn(process.execPath, ['bin/ward.mjs', 'enroll', '--broker', options.brokerUrl, '--token', options.enrollmentToken], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => enroll.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ward enroll exited with ${code}`)))));
    if (!freshAgentBundle()) await buildAgentBundle(); // a source file changed meanwhile (shared checkout)

    const launcher = spawn(process.execPath, ['bin/ward.mjs', 'daemon', '--log-level', 'warn'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push(launcher);
    await waitFor(launcher, /loopback API on/, 'ward daemon');
    const bare = spawn(process.execPath, [...DAEMON_NODE_FLAGS, '-e', "process.stdout.write('ready\\n'); setInterval(() => {}, 1000)"], { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push(bare);
    await waitFor(bare, /ready/, 'bare node');
    // The launcher execs the daemon in place where Node has process.execve; else the daemon is its child.
    const daemonPid = childPid(launcher.pid!) ?? launcher.pid!;
    const hasLauncher = daemonPid !== launcher.pid;
    const cmdline = readFileSync(`/proc/${daemonPid}/cmdline`, 'utf8').split('\0');
    const daemonFlags = cmdline.filter((a) => a.startsWith('--') && a !== '--log-level').join(' ');
    const fromBundle = cmdline.includes(AGENT_ENTRY);

    await new Promise((r) => setTimeout(r, (options.settleSeconds ?? 10) * 1000)); // start-up work settles (first report, channel)
    const start = procSample(daemonPid);
    const startedAt = performance.now();
    let peak = start.rssMb;
    const rss: number[] = [];
    const bareRss: number[] = [];
    while (performance.now() - startedAt < options.idleSeconds * 1000) {
      await new Promise((r) => setTimeout(r, 1_000));
      const s = procSample(daemonPid);
      rss.push(s.rssMb);
      peak = Math.max(peak, s.rssMb);
      bareRss.push(procSample(bare.pid!).rssMb);
    }
    const end = procSample(daemonPid);
    const wallSeconds = (performance.now() - startedAt) / 1000;
    return {
      idleSeconds: round(wallSeconds, 1),
      idleRssMb: round(percentile(rss, 50), 1),
      idlePeakRssMb: round(peak, 1),
      idleCpuPercent: round(((end.cpuSeconds - start.cpuSeconds) / wallSeconds) * 100, 3),
      bareNodeRssMb: round(percentile(bareRss, 50), 1),
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
