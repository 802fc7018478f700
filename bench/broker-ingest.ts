import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PostureSnapshot } from '../main/core/posture/snapshot.js';
import type { IngestLoadRequest, IngestLoadResult } from './support/ingest-devices.js';

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
}): Promise<IngestLoadResult> {
  // Reports and proofs are signed before the open phase starts: keep the whole phase well inside
  // the broker's 60 s DPoP iat window.
  if (options.open.seconds > 30) throw new Error('--open-seconds must be at most 30 (pre-signed proofs must stay within the 60 s DPoP window)');
  const dataDir = mkdtempSync(join(tmpdir(), 'ward-bench-broker-'));
  // WARD_BENCH_BROKER_NODE_ARGS: extra node flags for the broker child, e.g. `--cpu-prof --cpu-prof-dir=DIR`.
  const nodeArgs = (process.env.WARD_BENCH_BROKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // WARD_BENCH_BROKER_DIR: run the broker of another checkout (e.g. an older commit, for a
  // before/after comparison against the same simulated devices).
  const broker = spawn(process.execPath, [...nodeArgs, 'bin/ward-broker.mjs', 'serve', '--data', dataDir, '--port', '0'], {
    cwd: process.env.WARD_BENCH_BROKER_DIR ?? process.cwd(),
    env: { ...process.env, WARD_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let devices: ChildProcess | undefined;
  try {
    const url = await listeningUrl(broker);
    if (broker.pid === undefined) throw new Error('the broker has no pid');
    const request: IngestLoadRequest = {
      url,
      adminToken: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(),
      brokerPid: broker.pid,
      snapshot: options.snapshot,
      closed: options.closed,
      open: options.open,
    };
    devices = fork('bin/run-ts.mjs', ['bench/support/ingest-devices.ts'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const answer = new Promise<IngestLoadResult>((resolve, reject) => {
      devices?.on('message', (m: { ready?: true; result?: IngestLoadResult; error?: string }) => {
        if (m.ready) devices?.send(request);
        else if (m.result) resolve(m.result);
        else reject(new Error(m.error ?? 'the device process failed'));
      });
      devices?.once('exit', (code) => reject(new Error(`the device process exited (${code}) without an answer`)));
    });
    return await answer;
  } finally {
    devices?.kill('SIGTERM');
    broker.kill('SIGTERM');
    await new Promise((r) => (broker.exitCode === null ? broker.once('exit', r) : r(null)));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function listeningUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the broker did not start within 30 s')), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`the broker exited (${code}) before listening`)));
  });
}
