import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { WardError } from '../errors.js';
import { systemClock, type Clock } from '../session/clock.js';

export type OutboxKind = 'posture' | 'set';

export interface OutboxItem {
  readonly id: number;
  readonly kind: OutboxKind;
  /** Items with the same key supersede each other: only the newest is kept (latest posture). */
  readonly coalesceKey: string | null;
  readonly body: string;
  readonly createdAt: number;
  readonly attempts: number;
}

export interface DeadLetter extends OutboxItem {
  readonly reason: string;
  readonly failedAt: number;
}

export interface OutboxStats {
  readonly pending: number;
  readonly deadLetters: number;
  /** Items superseded by a newer item with the same key (never SETs). */
  readonly coalesced: number;
  /** Items refused because the queue was full (the caller got an `outbox-full` error). */
  readonly refused: number;
}

export class OutboxError extends WardError<'outbox-full' | 'outbox-corrupt' | 'outbox-closed'> {}

export interface OutboxOptions {
  /**
   * Bound on pending items. The policy when full: superseded posture reports are already
   * coalesced away; a new item beyond the bound is REFUSED with `outbox-full` (counted in
   * `stats().refused`), never silently dropped, and nothing already queued is evicted.
   */
  readonly maxItems?: number;
  readonly clock?: Clock;
}

export const DEFAULT_OUTBOX_MAX_ITEMS = 1_000;
const MAX_BODY_CHARS = 256 * 1024;

/**
 * A crash-safe, ordered queue of what the agent owes the broker: posture reports and outgoing
 * Security Event Tokens. SQLite in WAL mode with `synchronous=FULL`: an `enqueue` that returned has
 * been fsynced and survives a power cut or SIGKILL; a write interrupted half-way is rolled back by
 * SQLite's journal, so a reader never sees half an item.
 */
export class Outbox {
  readonly #db: Database.Database;
  readonly #maxItems: number;
  readonly #clock: Clock;
  #closed = false;

  private constructor(db: Database.Database, options: OutboxOptions) {
    this.#db = db;
    this.#maxItems = options.maxItems ?? DEFAULT_OUTBOX_MAX_ITEMS;
    this.#clock = options.clock ?? systemClock;
  }

  static open(path: string, options: OutboxOptions = {}): Outbox {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    let db: Database.Database;
    try {
      db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('busy_timeout = 2000');
      db.exec(`
        CREATE TABLE IF NOT EXISTS outbox (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          kind TEXT NOT NULL CHECK (kind IN ('posture', 'set')),
          coalesce_key TEXT,
          body TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          attempts INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX IF NOT EXISTS outbox_key ON outbox (coalesce_key);
        CREATE TABLE IF NOT EXISTS dead_letters (
          id INTEGER PRIMARY KEY,
          kind TEXT NOT NULL,
          coalesce_key TEXT,
          body TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          attempts INTEGER NOT NULL,
          reason TEXT NOT NULL,
          failed_at INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
      `);
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(String(check));
    } catch (err) {
      throw new OutboxError('outbox-corrupt', `the outbox database at ${path} cannot be used: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
        hint: 'Move the file aside; the agent starts a new queue and re-sends its current posture.',
      });
    }
    return new Outbox(db, options);
  }

  #assertOpen(): void {
    if (this.#closed) throw new OutboxError('outbox-closed', 'the outbox is closed');
  }

  #bump(name: string, by = 1): void {
    this.#db.prepare('INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value').run(name, by);
  }

  /** Queue an item; returns its id once it is durable. Throws `outbox-full` at the bound. */
  enqueue(kind: OutboxKind, body: string, options: { coalesceKey?: string } = {}): number {
    this.#assertOpen();
    if (body.length > MAX_BODY_CHARS) throw new RangeError(`outbox item too large (${body.length} characters)`);
    const key = kind === 'set' ? null : (options.coalesceKey ?? null); // SETs are never coalesced
    const tx = this.#db.transaction((): number => {
      if (key !== null) {
        const removed = this.#db.prepare('DELETE FROM outbox WHERE coalesce_key = ?').run(key).changes;
        if (removed > 0) this.#bump('coalesced', removed);
      }
      const pending = (this.#db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n;
      if (pending >= this.#maxItems) {
        this.#bump('refused');
        return -1;
      }
      return Number(
        this.#db.prepare('INSERT INTO outbox (kind, coalesce_key, body, created_at) VALUES (?, ?, ?, ?)').run(kind, key, body, this.#clock.now()).lastInsertRowid,
      );
    });
    const id = tx.immediate();
    if (id < 0) {
      throw new OutboxError('outbox-full', `the outbox holds ${this.#maxItems} undelivered items; the broker has been unreachable too long`, {
        hint: 'Check the network and the broker; queued items are kept and sent in order when it is back.',
      });
    }
    return id;
  }

  /**
   * The next posture-report sequence number, durably incremented: the broker refuses a `seq` that
   * does not increase, so it must survive restarts and never be handed out twice.
   */
  nextSeq(): number {
    this.#assertOpen();
    return this.#db.transaction((): number => {
      this.#bump('seq');
      return (this.#db.prepare("SELECT value FROM counters WHERE name = 'seq'").get() as { value: number }).value;
    }).immediate();
  }

  /** The oldest pending item (delivery is strictly in order). */
  peek(): OutboxItem | undefined {
    this.#assertOpen();
    const row = this.#db.prepare('SELECT id, kind, coalesce_key, body, created_at, attempts FROM outbox ORDER BY id LIMIT 1').get() as
      | { id: number; kind: OutboxKind; coalesce_key: string | null; body: string; created_at: number; attempts: number }
      | undefined;
    return row && { id: row.id, kind: row.kind, coalesceKey: row.coalesce_key, body: row.body, createdAt: row.created_at, attempts: row.attempts };
  }

  /** Every pending item, oldest first. */
  pending(): OutboxItem[] {
    this.#assertOpen();
    return (this.#db.prepare('SELECT id, kind, coalesce_key, body, created_at, attempts FROM outbox ORDER BY id').all() as Array<{
      id: number;
      kind: OutboxKind;
      coalesce_key: string | null;
      body: string;
      created_at: number;
      attempts: number;
    }>).map((r) => ({ id: r.id, kind: r.kind, coalesceKey: r.coalesce_key, body: r.body, createdAt: r.created_at, attempts: r.attempts }));
  }

  ack(id: number): void {
    this.#assertOpen();
    this.#db.prepare('DELETE FROM outbox WHERE id = ?').run(id);
  }

  recordAttempt(id: number): void {
    this.#assertOpen();
    this.#db.prepare('UPDATE outbox SET attempts = attempts + 1 WHERE id = ?').run(id);
  }

  /** Move an item the broker refused for good out of the queue, keeping it and the reason. */
  deadLetter(id: number, reason: string): void {
    this.#assertOpen();
    this.#db.transaction(() => {
      this.#db
        .prepare(
          'INSERT INTO dead_letters (id, kind, coalesce_key, body, created_at, attempts, reason, failed_at) SELECT id, kind, coalesce_key, body, created_at, attempts, ?, ? FROM outbox WHERE id = ?',
        )
        .run(reason.slice(0, 1000), this.#clock.now(), id);
      this.#db.prepare('DELETE FROM outbox WHERE id = ?').run(id);
    }).immediate();
  }

  deadLetters(): DeadLetter[] {
    this.#assertOpen();
    return (this.#db.prepare('SELECT * FROM dead_letters ORDER BY id').all() as Array<Record<string, unknown>>).map((r) => ({
      id: r.id as number,
      kind: r.kind as OutboxKind,
      coalesceKey: r.coalesce_key as string | null,
      body: r.body as string,
      createdAt: r.created_at as number,
      attempts: r.attempts as number,
      reason: r.reason as string,
      failedAt: r.failed_at as number,
    }));
  }

  /** A durable number kept beside the queue (e.g. the broker event channel's last event id). */
  counter(name: string): number | undefined {
    this.#assertOpen();
    return (this.#db.prepare('SELECT value FROM counters WHERE name = ?').get(name) as { value: number } | undefined)?.value;
  }

  setCounter(name: string, value: number): void {
    this.#assertOpen();
    this.#db.prepare('INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value').run(name, value);
  }

  stats(): OutboxStats {
    this.#assertOpen();
    const counter = (name: string): number => (this.#db.prepare('SELECT value FROM counters WHERE name = ?').get(name) as { value: number } | undefined)?.value ?? 0;
    return {
      pending: (this.#db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n,
      deadLetters: (this.#db.prepare('SELECT COUNT(*) AS n FROM dead_letters').get() as { n: number }).n,
      coalesced: counter('coalesced'),
      refused: counter('refused'),
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}
