import { performance } from 'node:perf_hooks';

/** How a {@link GroupCommit} paces its commits and runs them. */
export interface GroupCommitOptions {
  /** Minimum spacing of commits while writes keep arriving, in ms. */
  readonly intervalMs: number;
  /** A batch this full commits at once, without waiting for the interval. */
  readonly maxBatch: number;
  /** Run the writes as one transaction, in order; throw to fail them all. */
  readonly commit: (writes: readonly (() => void)[]) => void;
  /** A commit failed: answer the error each of its writers' promises rejects with. */
  readonly failed: (err: unknown, writes: number) => Error;
}

interface Pending {
  readonly write: () => void;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Group commit: queued writes share one transaction, and each writer's promise settles once its
 * write is committed (or the commit failed). A write after a quiet spell commits on the next
 * event-loop turn; while commits keep coming, the next one waits until `intervalMs` after the
 * last, gathering every write that arrived meanwhile. A commit costs about as much as the writes
 * it carries (a WAL frame per touched page), so batching halves the storage cost per posture
 * report at 2,000 reports/s for at most that interval of added latency.
 *
 * A batch never holds more than `maxBatch` writes. A full one commits at once, in a microtask:
 * after the code that queued its last write has run to its first `await` (the broker's
 * ingestion updates its caches there), before the next I/O callback. Batches commit in the order
 * they were filled. Without that bound a backlog (hundreds of requests read in one turn of
 * the event loop after a stall) would all wait for one commit at the end of the turn, each
 * report's objects alive until then: long enough to be copied by a scavenge or two and promoted,
 * so that every scavenge costs more and the backlog grows instead of draining.
 *
 * @example
 * ```ts
 * const commits = new GroupCommit({ intervalMs: 2, maxBatch: 16, commit: (w) => db.transaction(() => w.forEach((f) => f())), failed: (err) => new Error('not stored', { cause: err }) });
 * await commits.write(() => insert.run(row));
 * ```
 */
export class GroupCommit {
  /** Full batches waiting for their microtask, oldest first (committed before `#batch`). */
  readonly #ready: Pending[][] = [];
  #batch: Pending[] = [];
  /** `performance.now()` of the last commit (pacing, not a wall clock). */
  #lastCommitMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: GroupCommitOptions) {
    if (!(options.intervalMs >= 0) || !Number.isInteger(options.maxBatch) || options.maxBatch < 1) {
      throw new RangeError('a group commit needs intervalMs ≥ 0 and an integer maxBatch ≥ 1');
    }
  }

  /** Queue `write` for the next commit; the promise settles once that commit has run. */
  write(write: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#batch.push({ write, resolve, reject });
      if (this.#batch.length === this.options.maxBatch) {
        this.#ready.push(this.#batch);
        this.#batch = [];
        queueMicrotask(() => this.#commitReady());
        return;
      }
      if (this.#batch.length !== 1) return;
      const waitMs = this.#lastCommitMs + this.options.intervalMs - performance.now();
      if (waitMs > 0) setTimeout(() => this.flush(), waitMs);
      else setImmediate(() => this.flush());
    });
  }

  /** How many writes wait for a commit. */
  get pending(): number {
    return this.#ready.reduce((n, b) => n + b.length, this.#batch.length);
  }

  /** Commit everything queued now, in order (at shutdown, or when a timer fires). */
  flush(): void {
    this.#commitReady();
    const batch = this.#batch;
    if (batch.length === 0) return;
    this.#batch = [];
    this.#commit(batch);
  }

  #commitReady(): void {
    for (let batch = this.#ready.shift(); batch; batch = this.#ready.shift()) this.#commit(batch);
  }

  #commit(batch: readonly Pending[]): void {
    this.#lastCommitMs = performance.now();
    try {
      this.options.commit(batch.map((p) => p.write));
    } catch (err) {
      const error = this.options.failed(err, batch.length);
      for (const p of batch) p.reject(error);
      return;
    }
    for (const p of batch) p.resolve();
  }
}
