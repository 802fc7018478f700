import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CheckpointResult } from '../../../../../broker/server/storage/wal-checkpointer.js';
import { SqliteStorage } from '../../../../../broker/server/storage/sqlite-storage.js';
import { createLogger, silentLogger } from '../../../../../main/core/log.js';

let dir: string;
let file: string;
let storage: SqliteStorage;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ward-wal-checkpointer-'));
  file = join(dir, 'broker.db');
  storage = new SqliteStorage(file);
});
afterEach(() => {
  storage.close();
  rmSync(dir, { recursive: true, force: true });
});

const VALUE = 'x'.repeat(4000);
/** `count` commits of about one 4 KB page each (a report's verdict is about that size). */
function write(count: number, from = 0): void {
  for (let i = from; i < from + count; i++) storage.setMeta(`k${i}`, `${VALUE}${i}`);
}
const walBytes = (): number => (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0);

/** Resolves with the first checkpoint the worker reports that `matches`. */
function checkpointWhere(results: CheckpointResult[], matches: (r: CheckpointResult) => boolean): Promise<CheckpointResult> {
  return new Promise((resolve) => {
    const poll = (): void => {
      const found = results.find(matches);
      if (found) resolve(found);
      else setTimeout(poll, 10);
    };
    poll();
  });
}

describe('WalCheckpointer (real SQLite, a real worker thread)', () => {
  it('checkpoints the WAL on the worker, truncates it once writes stop, and loses nothing', async () => {
    const results: CheckpointResult[] = [];
    // The RESTART bound out of the way (the next test covers it): here only PASSIVE and the idle TRUNCATE.
    const checkpointer = storage.checkpointInWorker(silentLogger(), { intervalMs: 50, hardLimitBytes: 1024 ** 3, onCheckpoint: (r) => results.push(r) });
    // 3,000 pages: without the worker and with auto-checkpoint off nothing would ever copy them.
    write(3000);
    const passive = await checkpointWhere(results, (r) => r.mode === 'PASSIVE' && r.checkpointed > 0);
    expect(passive.checkpointed).toBeGreaterThan(0);
    // Once writes stop, only the worker's TRUNCATE can bring the file to zero bytes (the broker
    // connection never checkpoints): wait for both. (A TRUNCATE can also come in a pause between
    // two commits, so the first one seen may be older than the last write.)
    await checkpointWhere(results, (r) => r.mode === 'TRUNCATE' && walBytes() === 0);
    expect(results.filter((r) => r.mode === 'TRUNCATE').at(-1)).toMatchObject({ busy: 0, log: 0, checkpointed: 0 });
    expect(checkpointer.fellBack).toBe(false);
    await checkpointer.stop();
    storage.close();
    storage = new SqliteStorage(file);
    expect(storage.getMeta('k0')).toBe(`${VALUE}0`);
    expect(storage.getMeta('k2999')).toBe(`${VALUE}2999`);
  });

  it('keeps the WAL bounded while commits go on without a pause', async () => {
    const results: CheckpointResult[] = [];
    // The RESTART bound at 8 MB, so that a loaded machine, where the catch-up rounds lose more
    // often, still holds the WAL under the assertion's 16 MB.
    const checkpointer = storage.checkpointInWorker(silentLogger(), { intervalMs: 20, hardLimitBytes: 8 * 1024 * 1024, onCheckpoint: (r) => results.push(r) });
    let largest = 0;
    // 12,000 rows (~48 MB of WAL) in commits of 8 every 2 ms or so, as the broker's group commit does.
    for (let i = 0; i < 12_000; i += 8) {
      storage.transaction(() => write(8, i));
      largest = Math.max(largest, walBytes());
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    // After RESTARTs the WAL reads as empty but keeps its size; idle, the worker still truncates it.
    await checkpointWhere(results, (r) => r.mode === 'TRUNCATE' && walBytes() === 0);
    await checkpointer.stop();
    // Without checkpoints (or with PASSIVE ones that never catch up) the WAL would hold it all.
    expect(largest).toBeLessThan(16 * 1024 * 1024);
    expect(results.some((r) => r.checkpointed > 0)).toBe(true);
    expect(storage.getMeta('k11999')).toBe(`${VALUE}11999`);
  });

  it('stops cleanly: afterwards the broker connection is the last one, so closing it removes the WAL', async () => {
    const checkpointer = storage.checkpointInWorker(silentLogger(), { intervalMs: 50 });
    write(500);
    expect(existsSync(`${file}-wal`)).toBe(true);
    await checkpointer.stop();
    storage.close();
    expect(existsSync(`${file}-wal`)).toBe(false);
  });

  it('goes back to checkpointing on the main connection when the worker falls silent, and says so', async () => {
    const lines: string[] = [];
    const destination = new PassThrough();
    destination.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
    const checkpointer = storage.checkpointInWorker(createLogger({ level: 'warn', destination }), { intervalMs: 60_000, silenceMs: 50 });
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(checkpointer.fellBack).toBe(true);
    expect(lines.join('')).toContain('WAL checkpoints are back on the main connection');
    // SQLite's auto-checkpoint (1,000 pages) is back: 5,000 pages never leave more than ~1,000 in the WAL.
    write(5000);
    expect(walBytes()).toBeLessThan(8 * 1024 * 1024);
    expect(storage.getMeta('k4999')).toBe(`${VALUE}4999`);
    await checkpointer.stop();
  });
});
