import type Database from 'better-sqlite3';
import type { LoginThrottleStore, ThrottleRow } from './login-throttle-store.js';
import { writeTransaction } from './write-transaction.js';

type Row = Record<string, unknown>;

const toRow = (r: Row): ThrottleRow => ({
  key: String(r.key),
  failures: Number(r.failures),
  lastFailureAtMs: Number(r.last_failure_at),
  lockedUntilMs: Number(r.locked_until),
  hardLocked: Number(r.hard_locked) === 1,
});

/** The `login_throttle` and `totp_last_step` tables (migration 8) behind {@link LoginThrottleStore}. */
export function sqliteLoginThrottle(db: Database.Database): LoginThrottleStore {
  const get = db.prepare('SELECT * FROM login_throttle WHERE key = ?');
  const upsert = db.prepare(
    `INSERT INTO login_throttle (key, failures, last_failure_at, locked_until, hard_locked) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, last_failure_at = excluded.last_failure_at,
       locked_until = excluded.locked_until, hard_locked = excluded.hard_locked`,
  );
  const remove = db.prepare('DELETE FROM login_throttle WHERE key = ?');
  const purgeQuiet = db.prepare('DELETE FROM login_throttle WHERE last_failure_at < ? AND hard_locked = 0 AND locked_until <= ?');
  const count = db.prepare('SELECT COUNT(*) AS n FROM login_throttle');
  const dropOldest = db.prepare('DELETE FROM login_throttle WHERE key IN (SELECT key FROM login_throttle ORDER BY hard_locked, last_failure_at LIMIT ?)');
  // A later step only: a replayed code, or an older one still inside the ±1 step window, changes nothing.
  const useStep = db.prepare(
    `INSERT INTO totp_last_step (username, step, used_at) VALUES (?, ?, ?)
     ON CONFLICT (username) DO UPDATE SET step = excluded.step, used_at = excluded.used_at WHERE excluded.step > totp_last_step.step`,
  );
  const putTx = writeTransaction(db, (rows: readonly ThrottleRow[]) => {
    for (const r of rows) upsert.run(r.key, r.failures, r.lastFailureAtMs, r.lockedUntilMs, r.hardLocked ? 1 : 0);
  });
  const purgeTx = writeTransaction(db, (quietSinceMs: number, nowMs: number, maxRows: number) => {
    let removed = purgeQuiet.run(quietSinceMs, nowMs).changes;
    const n = Number((count.get() as { n: number }).n);
    if (n > maxRows) removed += dropOldest.run(n - maxRows).changes;
    return removed;
  });
  return {
    get: (key) => {
      const r = get.get(key) as Row | undefined;
      return r ? toRow(r) : undefined;
    },
    put: (rows) => putTx(rows),
    delete: (key) => remove.run(key).changes > 0,
    purge: (quietSinceMs, nowMs, maxRows) => purgeTx(quietSinceMs, nowMs, maxRows),
    useTotpStep: (username, step, nowMs) => useStep.run(username, step, nowMs).changes === 1,
  };
}
