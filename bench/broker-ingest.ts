import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBrokerBundle, freshBrokerBundle } from '../bin/agent-bundle.mjs';
import type { PostureSnapshot } from '../main/core/posture/snapshot.js';
import type { LoopStats } from '../broker/server/loop-stats.js';
import type { IngestLoadRequest, IngestLoadResult, Transport } from './support/ingest-devices.js';

/**
 * End-to-end ingestion over loopback, three processes: the real `ward-broker serve` (one JS
 * thread: HTTP, DPoP proof and report verification, policy evaluation, SQLite writes), the
 * simulated devices (`bench/support/ingest-devices.ts`: enrollment, pre-signed reports and
 * proofs, HTTP client) and this orchestrator, which only starts both and collects the figures.
 * Two phases against the same broker: a closed loop for the maximum throughput, then an open
 * loop at a fixed offered rate for the latency (see `ingest-devices.ts`).
 */
export async function measureIngestOverLoopback(options: {
  snapshot: PostureSnapshot;
  closed: IngestLoadRequest['closed'];
  open: IngestLoadRequest['open'];
  /** Ask the broker for its event-loop delay and GC pauses over the open loop (`WARD_BROKER_LOOP_STATS`). */
  loopStats?: boolean;
  /** Pin the broker to one CPU and the devices to another (see {@link pinning}); default: when possible. */
  pin?: boolean;
  /** Run the broker's TypeScript through tsx instead of the compiled bundle it ships as (`--broker-from-source`). */
  fromSource?: boolean;
  /** Let the devices busy-poll their send schedule (`IngestLoadRequest.spin`); default: when pinned, since it takes a whole CPU. */
  spin?: boolean;
  /** How the devices send (`IngestLoadRequest.transport`); default: the report stream, as the agent sends. */
  transport?: Transport;
}): Promise<IngestLoadResult & { openLoopStats?: LoopStats; pinned: string; brokerBuild: string; devicesSpin: boolean; transport: Transport; hostVerifyPerSecond: { before: number; after: number } }> {
  // Every request of the open loop is signed and held before it starts: ~5.6 KB each, 2,000 a
  // second at the default rate, so 300 s is ~3.4 GB in the device process.
  if (!(options.open.seconds > 0 && options.open.seconds <= 300)) throw new Error('--open-seconds must be more than 0 and at most 300');
  const dataDir = mkdtempSync(join(tmpdir(), 'ward-bench-broker-'));
  // WARD_BENCH_BROKER_NODE_ARGS: extra node flags for the broker child, e.g. `--cpu-prof --cpu-prof-dir=DIR`.
  const nodeArgs = (process.env.WARD_BENCH_BROKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // The broker as it is deployed: `ward-broker` from its compiled bundle (built now if the
  // sources changed since), unless asked for the sources or for another checkout's broker
  // (WARD_BENCH_BROKER_DIR, e.g. an older commit, for a before/after comparison against the same
  // simulated devices; that checkout's launcher decides how its broker runs).
  const otherCheckout = process.env.WARD_BENCH_BROKER_DIR !== undefined;
  if (!options.fromSource && !otherCheckout && !freshBrokerBundle()) await buildBrokerBundle();
  const brokerBuild = otherCheckout ? `the broker of ${process.env.WARD_BENCH_BROKER_DIR}` : options.fromSource ? 'broker from source (tsx)' : 'broker from its compiled bundle (npm run build:broker)';
  const pin = options.pin === false ? undefined : pinning();
  const devicesSpin = pin !== undefined && options.spin !== false;
  const transport = options.transport ?? 'stream';
  const brokerArgv = [process.execPath, ...nodeArgs, 'bin/ward-broker.mjs', 'serve', '--data', dataDir, '--port', '0'];
  if (pin) brokerArgv.unshift(pin.taskset, '-c', pin.brokerCpu);
  const broker = spawn(brokerArgv[0] as string, brokerArgv.slice(1), {
    cwd: process.env.WARD_BENCH_BROKER_DIR ?? process.cwd(),
    env: { ...process.env, WARD_LOG_LEVEL: 'warn', ...(options.loopStats ? { WARD_BROKER_LOOP_STATS: '1' } : {}), ...(options.fromSource ? { WARD_BROKER_FROM_SOURCE: '1' } : {}) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let devices: ChildProcess | undefined;
  let unpinSelf: (() => void) | undefined; // restores this process's CPU affinity at the end
  // The device process signals the broker as its open loop starts and ends; each signal prints a
  // `loop-stats` line with the figures since the previous one: the second covers the open loop.
  const loopStats: LoopStats[] = [];
  broker.stdout?.on('data', (chunk: Buffer) => {
    for (const m of chunk.toString().matchAll(/^loop-stats (.*)$/gm)) loopStats.push(JSON.parse(m[1] ?? '{}') as LoopStats);
  });
  try {
    const url = await listeningUrl(broker);
    if (broker.pid === undefined) throw new Error('the broker has no pid');
    const adminToken = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    const policy = benchPolicy(options.snapshot);
    const set = await fetch(`${url}/admin/policy`, { method: 'PUT', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(policy) });
    if (!set.ok) throw new Error(`the broker refused the bench policy: HTTP ${set.status} ${await set.text()}`);
    const request: IngestLoadRequest = {
      url,
      adminToken,
      brokerPid: broker.pid,
      snapshot: options.snapshot,
      closed: options.closed,
      open: options.open,
      spin: devicesSpin,
      transport,
      signalBroker: options.loopStats === true,
    };
    const hostBefore = hostSpeed(pin);
    // --expose-gc: the devices settle their heap once, after signing and before the open loop's clock.
    devices = fork('bin/run-ts.mjs', ['bench/support/ingest-devices.ts'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [...process.execArgv, '--expose-gc'] });
    // All its threads (V8's, libuv's), and any it starts later, on the devices' CPU; this
    // orchestrator too (idle, but its own GC and tsx's threads must not take the broker's CPU).
    if (pin && devices.pid !== undefined) {
      execFileSync(pin.taskset, ['-a', '-p', '-c', pin.devicesCpu, String(devices.pid)], { stdio: 'ignore' });
      unpinSelf = pinSelf(pin, pin.devicesCpu);
    }
    const pinned = pin ? `broker (all its threads) on CPU ${pin.brokerCpu}, devices and this bench on CPU ${pin.devicesCpu}` : 'not pinned';
    const answer = new Promise<IngestLoadResult>((resolve, reject) => {
      devices?.on('message', (m: { ready?: true; result?: IngestLoadResult; error?: string }) => {
        if (m.ready) devices?.send(request);
        else if (m.result) resolve(m.result);
        else reject(new Error(m.error ?? 'the device process failed'));
      });
      devices?.once('exit', (code) => reject(new Error(`the device process exited (${code}) without an answer`)));
    });
    const result = await answer;
    const hostVerifyPerSecond = { before: hostBefore, after: hostSpeed(pin) };
    if (!options.loopStats) return { ...result, pinned, brokerBuild, devicesSpin, transport, hostVerifyPerSecond };
    for (let waited = 0; loopStats.length < 2 && waited < 2000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    return { ...result, pinned, brokerBuild, devicesSpin, transport, hostVerifyPerSecond, ...(loopStats[1] ? { openLoopStats: loopStats[1] } : {}) };
  } finally {
    unpinSelf?.();
    devices?.kill('SIGTERM');
    broker.kill('SIGTERM');
    await new Promise((r) => (broker.exitCode === null ? broker.once('exit', r) : r(null)));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * The policy the broker evaluates every report against: one rule per check the snapshot carries
 * (a fleet policy covers them all), expecting `pass`; every other one `block` with a 7-day grace,
 * the rest `warn`. On a machine where some checks fail, reports are answered `warn` with their
 * failures recorded in the history, as in a real deployment (with no policy the broker would skip
 * evaluation and write no failures, and the bench would measure less than a broker does).
 */
export function benchPolicy(snapshot: PostureSnapshot): Record<string, unknown> {
  return {
    schemaVersion: 1,
    name: 'bench: every check must pass',
    reportOnly: false,
    rules: snapshot.checks.map((check, i) => ({
      id: `rule-${check.id}`,
      check: check.id,
      expect: { status: 'pass' },
      ...(i % 2 === 0 ? { severity: 'block', graceSeconds: 7 * 24 * 3600 } : { severity: 'warn' }),
    })),
  };
}

/**
 * The issue's goal is ingestion "on one core": with `taskset` (Linux, util-linux) and two CPUs or
 * more, the broker process runs on one CPU (its JS thread and every helper thread: GC, libuv,
 * the WAL checkpoint worker) and the simulated devices on another, so the devices' signing and
 * sending neither borrow the broker's CPU nor lend it a second one. `WARD_BENCH_CPUS=a,b` picks
 * the two CPUs (default `0,1`). Undefined when that is not possible (the bench then says "not pinned").
 */
function pinning(): { taskset: string; brokerCpu: string; devicesCpu: string } | undefined {
  if (process.platform !== 'linux' || availableParallelism() < 2) return undefined;
  const taskset = ['/usr/bin/taskset', '/bin/taskset'].find((path) => {
    try {
      execFileSync(path, ['-p', String(process.pid)], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
  if (!taskset) return undefined;
  const [brokerCpu = '0', devicesCpu = '1'] = (process.env.WARD_BENCH_CPUS ?? '0,1').split(',').map((c) => c.trim());
  if (!/^\d+$/.test(brokerCpu) || !/^\d+$/.test(devicesCpu) || brokerCpu === devicesCpu) throw new Error('WARD_BENCH_CPUS must name two different CPUs, e.g. 0,1');
  return { taskset, brokerCpu, devicesCpu };
}

/**
 * Pin this process (all its threads) to `cpu`; returns the function that restores its affinity
 * as it was.
 */
function pinSelf(pin: NonNullable<ReturnType<typeof pinning>>, cpu: string): () => void {
  const mask = /affinity mask:\s*([0-9a-f]+)/i.exec(execFileSync(pin.taskset, ['-p', String(process.pid)], { encoding: 'utf8' }))?.[1];
  if (!mask) return () => undefined;
  execFileSync(pin.taskset, ['-a', '-p', '-c', cpu, String(process.pid)], { stdio: 'ignore' });
  return () => execFileSync(pin.taskset, ['-a', '-p', mask, String(process.pid)], { stdio: 'ignore' });
}

/**
 * Run `measure` with this process on the broker's CPU alone, when pinning is possible: the SDK
 * half of the bench measures verification "on one core" as the ingestion half does. Says where
 * it ran.
 */
export async function onBrokerCpu<T>(measure: () => Promise<T>): Promise<{ result: T; pinned: string }> {
  const pin = pinning();
  if (!pin) return { result: await measure(), pinned: 'not pinned' };
  const unpin = pinSelf(pin, pin.brokerCpu);
  try {
    return { result: await measure(), pinned: `this process (all its threads) on CPU ${pin.brokerCpu}` };
  } finally {
    unpin();
  }
}

/**
 * The host's speed in this run: raw `node:crypto` ES256 verifications of a 4 KiB message per
 * second, for one second, on the broker's CPU before the devices start and after they end (the
 * broker idle both times). This VM's CPU was seen to run 20-30 % slower for minutes at a time
 * (`openssl speed ecdsap256`: ~16,000 verifies/s instead of ~20,000), which moves every figure
 * here; this one tells which state a run met, at its two ends.
 */
function hostSpeed(pin: ReturnType<typeof pinning>): number {
  const script = [
    "const c = require('node:crypto');",
    "const { privateKey, publicKey } = c.generateKeyPairSync('ec', { namedCurve: 'P-256' });",
    "const data = Buffer.alloc(4096, 7); const o = { key: publicKey, dsaEncoding: 'ieee-p1363' };",
    "const sig = c.sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });",
    "for (let i = 0; i < 500; i++) c.verify('sha256', data, o, sig);",
    'let n = 0; const t = performance.now();',
    "while (performance.now() - t < 1000) { c.verify('sha256', data, o, sig); n++; }",
    'process.stdout.write(String(Math.round((n * 1000) / (performance.now() - t))));',
  ].join('\n');
  const argv = [process.execPath, '-e', script];
  if (pin) argv.unshift(pin.taskset, '-c', pin.brokerCpu);
  return Number(execFileSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' }));
}

function listeningUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the broker did not start within 30 s')), 30_000);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the broker exited (${code}) before listening`)));
  });
}
