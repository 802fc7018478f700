/**
 * How long the broker's group commits block its event loop, with SQLite's auto-checkpoint on the
 * main connection (`inline`, as before the WAL checkpointer) or with checkpoints on the worker
 * thread (`worker`, as the broker runs now):
 *
 *   node bin/run-ts.mjs bench/support/wal-commit-stalls.ts inline|worker [seconds]
 *
 * Writes at the bench's 2,000 reports/s: every 2 ms one commit of four ~5.6 KB rows (a report's
 * verdict, over 200 devices) plus four history rows, on a fresh database in a temp directory.
 * Prints the distribution of commit durations (wall time on the event loop).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStorage } from '../../broker/server/storage/sqlite-storage.js';
import { silentLogger } from '../../main/core/log.js';
import { percentile, round } from '../stats.js';

const mode = process.argv[2] === 'inline' ? 'inline' : 'worker';
const seconds = Number(process.argv[3] ?? 10);
const dir = mkdtempSync(join(tmpdir(), 'ward-wal-stalls-'));
const storage = new SqliteStorage(join(dir, 'broker.db'));
const checkpointer = mode === 'worker' ? storage.checkpointInWorker(silentLogger()) : undefined;
const verdict = 'x'.repeat(5600);
const durations: number[] = [];
let n = 0;
const end = performance.now() + seconds * 1000;
await new Promise<void>((resolve) => {
  const commit = (): void => {
    const t = performance.now();
    storage.transaction(() => {
      for (let i = 0; i < 4; i++, n++) {
        storage.setMeta(`device-${n % 200}`, `${verdict}${n}`);
        storage.addHistory({ deviceId: `device-${n % 200}`, atMs: Date.now(), outcome: 'accepted', seq: n, status: 'allow', reason: null, failures: [] });
      }
    });
    durations.push(performance.now() - t);
    if (performance.now() < end) setTimeout(commit, 2);
    else resolve();
  };
  commit();
});
await checkpointer?.stop();
storage.close();
rmSync(dir, { recursive: true, force: true });
const over = (ms: number): number => durations.filter((d) => d > ms).length;
console.log(
  `${mode}: ${durations.length} commits, p50 ${round(percentile(durations, 50))} ms, p99 ${round(percentile(durations, 99))} ms, p99.9 ${round(percentile(durations, 99.9))} ms, max ${round(percentile(durations, 100))} ms, ${over(2)} over 2 ms, ${over(5)} over 5 ms`,
);
