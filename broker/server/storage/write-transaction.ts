import type Database from 'better-sqlite3';

/**
 * `fn` as a write transaction that takes SQLite's writer lock when it begins (`BEGIN IMMEDIATE`),
 * waiting up to the connection's `busy_timeout` for it. Every storage transaction that writes
 * goes through this.
 *
 * Why not better-sqlite3's default (`BEGIN`, deferred): such a transaction reads first and asks
 * for the writer lock at its first write. If another connection holds the lock then, SQLite
 * answers SQLITE_BUSY at once and never calls the busy handler, because a transaction that has
 * already read cannot wait without risking a deadlock. The WAL checkpointer's thread holds the
 * writer lock while it runs a TRUNCATE or RESTART checkpoint (wal-checkpoint-worker.mjs), and
 * TRUNCATE runs when the broker has been idle: the first enrollment after a quiet second could
 * fail with a 500.
 *
 * @example
 * ```ts
 * const spend = writeTransaction(db, (id: string) => (byId.get(id) ? remove.run(id).changes : 0));
 * spend('challenge-1'); // waits for a checkpoint that holds the lock instead of throwing SQLITE_BUSY
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- better-sqlite3's own bound on a transaction's function
export function writeTransaction<F extends (...args: any[]) => unknown>(db: Database.Database, fn: F): Database.Transaction<F>['immediate'] {
  return db.transaction(fn).immediate;
}
