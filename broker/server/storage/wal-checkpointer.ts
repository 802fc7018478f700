import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { Logger } from '../../../main/core/log.js';

/** What the worker reports after each checkpoint (the row of `PRAGMA wal_checkpoint`). */
export interface CheckpointResult {
  readonly mode: 'PASSIVE' | 'RESTART' | 'TRUNCATE';
  /** 1 when the checkpoint could not run to completion (another checkpoint or a writer held a lock). */
  readonly busy: number;
  /** Frames in the WAL, and how many of them are now in the database file. */
  readonly log: number;
  readonly checkpointed: number;
}

export interface WalCheckpointerOptions {
  /** How often the worker checkpoints (default 1,000 ms). */
  readonly intervalMs?: number;
  /** When a tick ends with more than this in the WAL, the worker runs a RESTART checkpoint, which pauses commits (default 16 MB). */
  readonly hardLimitBytes?: number;
  /** After this long without a word from the worker, checkpoint on the main connection again (default 10 × interval, at least 5 s). */
  readonly silenceMs?: number;
  /** Called after each checkpoint the worker reports (tests and diagnostics). */
  readonly onCheckpoint?: (result: CheckpointResult) => void;
}

/** SQLite's own default: auto-checkpoint once the WAL holds 1,000 pages (~4 MB). */
const AUTO_CHECKPOINT_PAGES = 1000;

/**
 * Runs the broker's WAL checkpoints on a worker thread instead of inside its commits.
 *
 * With SQLite's auto-checkpoint, the commit that pushes the WAL past 1,000 pages copies them into
 * the database file and fsyncs it, synchronously, on the event loop: at 2,000 reports/s (≈ 11 MB
 * of WAL a second) that is a stall of several milliseconds a few times a second, in every
 * request queued behind it. Here the main connection never checkpoints
 * (`wal_autocheckpoint = 0`); a worker with its own connection runs `wal_checkpoint(PASSIVE)`
 * every interval (it takes no lock writers need, so commits go on meanwhile), with catch-up
 * rounds until one finds no new frame, and `wal_checkpoint(TRUNCATE)` once the broker is idle
 * (every frame copied, none added since the last tick), which shrinks the WAL file to zero. The
 * main connection's next commit after a complete checkpoint starts the WAL over from its
 * beginning, and `journal_size_limit` cuts the file back then, so under steady load the WAL
 * holds about one interval of writes. The bound: a tick that ends with more than
 * `hardLimitBytes` in the WAL runs `wal_checkpoint(RESTART)`, which pauses the broker's commits
 * while it copies what is left and makes the next commit start the WAL over.
 *
 * If the worker fails, exits, or says nothing for `silenceMs`, the main connection goes back to
 * auto-checkpointing (logged once): nothing is lost either way, since every commit is in the WAL
 * and a checkpoint only moves it. Durability is the same as before: with `synchronous = NORMAL`
 * the WAL is synced at checkpoints, now the worker's.
 *
 * @example
 * ```ts
 * const checkpointer = new WalCheckpointer(db, '/var/lib/ward-broker/broker.db', log);
 * // ... serve ...
 * await checkpointer.stop();
 * db.close(); // the last connection: SQLite checkpoints and removes the WAL
 * ```
 */
export class WalCheckpointer {
  readonly #db: Database.Database;
  readonly #log: Logger;
  readonly #worker: Worker;
  readonly #silenceMs: number;
  readonly #onCheckpoint: ((result: CheckpointResult) => void) | undefined;
  readonly #exited: Promise<void>;
  #watchdog: NodeJS.Timeout;
  #stopping = false;
  #fellBack = false;

  constructor(db: Database.Database, file: string, log: Logger, options: WalCheckpointerOptions = {}) {
    const intervalMs = options.intervalMs ?? 1000;
    this.#db = db;
    this.#log = log;
    this.#silenceMs = options.silenceMs ?? Math.max(5000, 10 * intervalMs);
    this.#onCheckpoint = options.onCheckpoint;
    db.pragma('wal_autocheckpoint = 0');
    this.#worker = new Worker(new URL('./wal-checkpoint-worker.mjs', import.meta.url), {
      workerData: { file, intervalMs, hardLimitBytes: options.hardLimitBytes ?? 16 * 1024 * 1024 },
    });
    // The broker's server keeps the process alive; a checkpointer alone must not.
    this.#worker.unref();
    this.#exited = new Promise((resolve) => this.#worker.once('exit', () => resolve()));
    this.#worker.on('message', (m: { type: 'checkpoint' } & CheckpointResult | { type: 'error'; message: string }) => {
      this.#watchdog.refresh();
      if (m.type === 'error') this.#fallBack(m.message);
      else this.#onCheckpoint?.(m);
    });
    this.#worker.on('error', (err) => this.#fallBack(err.message));
    this.#worker.on('exit', (code) => {
      clearTimeout(this.#watchdog);
      if (!this.#stopping) this.#fallBack(`the checkpoint worker exited (${code})`);
    });
    this.#watchdog = setTimeout(() => this.#fallBack(`no checkpoint from the worker for ${this.#silenceMs} ms`), this.#silenceMs);
    this.#watchdog.unref();
  }

  /** True once checkpoints are back on the main connection. */
  get fellBack(): boolean {
    return this.#fellBack;
  }

  #fallBack(reason: string): void {
    if (this.#fellBack || this.#stopping) return;
    this.#fellBack = true;
    clearTimeout(this.#watchdog);
    this.#db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
    this.#log.warn({ reason }, 'WAL checkpoints are back on the main connection');
    void this.#worker.terminate();
  }

  /** Stop the worker and wait until its thread (and its connection) is gone. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#watchdog);
    this.#worker.postMessage('stop');
    // A worker stuck in a checkpoint (a slow disk) is ended rather than waited for: it only moves
    // frames that are safe in the WAL, and SQLite finishes or redoes that on the next open.
    const stuck = setTimeout(() => void this.#worker.terminate(), 5000);
    await this.#exited;
    clearTimeout(stuck);
  }
}
