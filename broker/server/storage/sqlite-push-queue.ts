import type Database from 'better-sqlite3';
import type { DeadLetter, PushFailure, PushQueueStore, QueuedSet, SetOutboxStore, StagedSet } from './storage.js';
import { writeTransaction } from './write-transaction.js';

type Row = Record<string, unknown>;

const str = (v: unknown): string => String(v);
const num = (v: unknown): number => Number(v);
const nullable = <T>(v: unknown, f: (v: unknown) => T): T | null => (v === null || v === undefined ? null : f(v));

const toQueued = (r: Row): QueuedSet => ({
  id: num(r.id),
  receiver: str(r.receiver),
  type: str(r.type),
  setJwt: str(r.set_jwt),
  createdAtMs: num(r.created_at),
  attempts: num(r.attempts),
  nextAttemptAtMs: num(r.next_attempt_at),
});

const toDeadLetter = (r: Row): DeadLetter => ({
  id: num(r.id),
  queueId: num(r.queue_id),
  receiver: str(r.receiver),
  type: str(r.type),
  setJwt: str(r.set_jwt),
  createdAtMs: num(r.created_at),
  attempts: num(r.attempts),
  lastStatus: nullable(r.last_status, num),
  lastError: str(r.last_error),
  deadAtMs: num(r.dead_at),
});

/**
 * The `push_queue` (migration 3) and `push_dead_letters` (migration 7) tables behind
 * {@link PushQueueStore}. Every move between the two is one transaction: a SET is in exactly one.
 */
export function sqlitePushQueue(db: Database.Database): PushQueueStore {
  const p = (sql: string) => db.prepare(sql);
  const insert = p('INSERT INTO push_queue (receiver, type, set_jwt, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?)');
  const count = p('SELECT COUNT(*) AS n FROM push_queue');
  const oldest = p('SELECT * FROM push_queue ORDER BY id LIMIT ?');
  const head = p('SELECT * FROM push_queue WHERE receiver = ? ORDER BY id LIMIT 1');
  const byId = p('SELECT * FROM push_queue WHERE id = ?');
  const attempt = p('UPDATE push_queue SET attempts = ?, next_attempt_at = ? WHERE id = ?');
  const remove = p('DELETE FROM push_queue WHERE id = ?');
  const others = p('SELECT * FROM push_queue WHERE receiver <> ? ORDER BY id');
  const restore = p('INSERT INTO push_queue (id, receiver, type, set_jwt, created_at, attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, 0, ?)');
  const bury = p(
    'INSERT INTO push_dead_letters (queue_id, receiver, type, set_jwt, created_at, attempts, last_status, last_error, dead_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const deadCount = p('SELECT COUNT(*) AS n FROM push_dead_letters');
  const dropOldestDead = p('DELETE FROM push_dead_letters WHERE id IN (SELECT id FROM push_dead_letters ORDER BY id LIMIT ?)');
  const deadList = p('SELECT * FROM push_dead_letters ORDER BY id LIMIT ?');
  const deadById = p('SELECT * FROM push_dead_letters WHERE id = ?');
  const deleteDead = p('DELETE FROM push_dead_letters WHERE id = ?');

  /** Move one queued row to the dead letters (inside the caller's transaction). */
  const buryRow = (row: QueuedSet, attempts: number, failure: PushFailure, nowMs: number): void => {
    bury.run(row.id, row.receiver, row.type, row.setJwt, row.createdAtMs, attempts, failure.lastStatus, failure.lastError, nowMs);
    remove.run(row.id);
  };
  const trimDead = (max: number): number => {
    const over = num((deadCount.get() as Row).n) - max;
    return over > 0 ? dropOldestDead.run(over).changes : 0;
  };

  return {
    enqueue: (receiver, type, setJwt, nowMs, limits) =>
      writeTransaction(db, () => {
        const over = num((count.get() as Row).n) - limits.maxQueued + 1;
        const full = over > 0 ? (oldest.all(over) as Row[]).map(toQueued) : [];
        for (const row of full) buryRow(row, row.attempts, { lastStatus: null, lastError: 'queue-full: the push queue was full' }, nowMs);
        const dropped = full.length > 0 ? trimDead(limits.maxDeadLetters) : 0;
        return { id: Number(insert.run(receiver, type, setJwt, nowMs, nowMs).lastInsertRowid), deadLettered: full.length, dropped };
      })(),
    head: (receiver) => {
      const row = head.get(receiver) as Row | undefined;
      return row ? toQueued(row) : undefined;
    },
    recordAttempt: (id, attempts, nextAttemptAtMs) => {
      attempt.run(attempts, nextAttemptAtMs, id);
    },
    remove: (id) => {
      remove.run(id);
    },
    deadLetterOtherReceivers: (receiver, nowMs, maxDeadLetters) =>
      writeTransaction(db, () => {
        const rows = (others.all(receiver) as Row[]).map(toQueued);
        const failure = { lastStatus: null, lastError: 'receiver-changed: queued for a push receiver URL no longer configured' };
        for (const row of rows) buryRow(row, row.attempts, failure, nowMs);
        return { deadLettered: rows.length, dropped: rows.length > 0 ? trimDead(maxDeadLetters) : 0 };
      })(),
    size: () => num((count.get() as Row).n),
    deadLetter: (id, attempts, failure, nowMs, maxDeadLetters) =>
      writeTransaction(db, () => {
        const row = byId.get(id) as Row | undefined;
        if (!row) return { dropped: 0 };
        buryRow(toQueued(row), attempts, failure, nowMs);
        return { dropped: trimDead(maxDeadLetters) };
      })(),
    deadLetters: (limit) => (deadList.all(limit) as Row[]).map(toDeadLetter),
    deadLetterCount: () => num((deadCount.get() as Row).n),
    getDeadLetter: (id) => {
      const row = deadById.get(id) as Row | undefined;
      return row ? toDeadLetter(row) : undefined;
    },
    resend: (ids, nowMs) =>
      writeTransaction(db, () => {
        const moved: number[] = [];
        for (const id of ids) {
          const row = deadById.get(id) as Row | undefined;
          if (!row) continue;
          const dead = toDeadLetter(row);
          // AUTOINCREMENT never hands an id out twice, so the SET's old place is still free.
          restore.run(byId.get(dead.queueId) ? null : dead.queueId, dead.receiver, dead.type, dead.setJwt, dead.createdAtMs, nowMs);
          deleteDead.run(id);
          moved.push(id);
        }
        return moved;
      })(),
    dropDeadLetter: (id) => deleteDead.run(id).changes > 0,
  };
}

/** The `set_outbox` table (migration 7) behind {@link SetOutboxStore}. */
export function sqliteSetOutbox(db: Database.Database): SetOutboxStore {
  const insert = db.prepare('INSERT INTO set_outbox (type, subject, event, device_id, txn, created_at) VALUES (?, ?, ?, ?, ?, ?)');
  const all = db.prepare('SELECT * FROM set_outbox ORDER BY id');
  const remove = db.prepare('DELETE FROM set_outbox WHERE id = ?');
  return {
    add: (s) => Number(insert.run(s.type, JSON.stringify(s.subject), JSON.stringify(s.event), s.deviceId, s.txn, s.createdAtMs).lastInsertRowid),
    pending: () =>
      (all.all() as Row[]).map(
        (r): StagedSet => ({
          id: num(r.id),
          type: str(r.type),
          subject: JSON.parse(str(r.subject)) as unknown,
          event: JSON.parse(str(r.event)) as unknown,
          deviceId: nullable(r.device_id, str),
          txn: nullable(r.txn, str),
          createdAtMs: num(r.created_at),
        }),
      ),
    remove: (id) => {
      remove.run(id);
    },
  };
}
