import { randomUUID } from 'node:crypto';
import type { Logger } from '../../main/core/log.js';
import { buildSet, CAEP_EVENT_TYPES, pushSet, type BuildSetInput, type CaepEventName, type JwsSigner, type SubjectId } from '../sdk/index.js';
import type { DeviceSetQueues } from './device-set-queues.js';
import { BrokerError } from './errors.js';
import type { EventHub } from './events.js';
import { WARD_CLIENT_ID } from './oidc/provider.js';
import type { DeadLetter, PushQueueStore, SetOutboxStore, StagedSet } from './storage/storage.js';

/** SETs kept for the push receiver at most; when full, the oldest become dead letters (logged). */
export const PUSH_QUEUE_MAX = 10_000;
/** Dead letters kept at most; beyond that the oldest are dropped for good (logged). */
export const PUSH_DEAD_LETTERS_MAX = 10_000;
/** Attempts per SET on retryable failures (5xx, 429, network) before it becomes a dead letter. */
export const PUSH_MAX_ATTEMPTS = 12;
const PUSH_BASE_DELAY_MS = 500;
const PUSH_MAX_DELAY_MS = 5 * 60_000;
const PUSH_TIMEOUT_MS = 5_000;
const MAX_ERROR_CHARS = 600;

export interface PushReceiverConfig {
  readonly url: string;
  readonly authorizationHeader?: string | undefined;
}

/** Delay before attempt `attempts + 1`: 0.5 s doubling per failure, at most 5 min. */
export function pushBackoffMs(attempts: number): number {
  return Math.min(PUSH_MAX_DELAY_MS, PUSH_BASE_DELAY_MS * 2 ** Math.max(0, attempts - 1));
}

/** Run `fn` after `ms`; returns a cancel function. Injected with the clock in tests. */
export type Schedule = (fn: () => void, ms: number) => () => void;

const realSchedule: Schedule = (fn, ms) => {
  const timer = setTimeout(fn, ms).unref();
  return () => clearTimeout(timer);
};

interface EmitOptions {
  readonly deviceId?: string | undefined;
  readonly txn?: string | undefined;
}

/** A SET staged with the change it reports: `stage` inside that change's transaction, `send` after it commits. */
export interface StagedEmit {
  stage(): void;
  send(): void;
}

interface SignedSets {
  readonly type: string;
  readonly device?: { readonly id: string; readonly jti: string; readonly set: string };
  readonly push?: { readonly receiver: string; readonly set: string };
}

/**
 * Emits CAEP Security Event Tokens (RFC 8417): to the device's event channel (audience
 * `ward-agent`, through the event log, so an agent that was away gets it on reconnect) and, when
 * configured, to a push receiver (RFC 8935, audience = its URL).
 *
 * Nothing is lost on the way (docs/broker-server.md, "Shared Signals delivery"):
 * - a SET reporting a state change can be staged in that change's own transaction
 *   ({@link staged}): the `set_outbox` row is turned into signed SETs once the change commits,
 *   and again at the next start ({@link resumeStaged}) if the broker stopped before that;
 * - the push queue is in SQLite: a SET is durable before `emit` returns, and one the broker had
 *   not delivered when it stopped is delivered after it starts again. Delivery is strictly in
 *   order (the head of the queue is retried before anything behind it), with
 *   {@link pushBackoffMs} between attempts, up to {@link PUSH_MAX_ATTEMPTS};
 * - a SET the receiver refuses for good (4xx other than 429), that runs out of attempts, that the
 *   full queue pushes out, or that was queued for another receiver URL becomes a dead letter,
 *   which an admin can list, resend (back to its place in the queue) or drop. At most
 *   {@link PUSH_DEAD_LETTERS_MAX} are kept; beyond that the oldest go, logged.
 */
export class SignalEmitter {
  #cancelTimer: (() => void) | undefined;
  #draining: Promise<void> | undefined;
  #stopped = false;
  /** Emits still signing: `stop` waits for them, so a SET emitted before shutdown is logged and queued. */
  readonly #emitting = new Set<Promise<void>>();
  readonly #schedule: Schedule;

  constructor(
    private readonly deps: {
      signer: JwsSigner;
      issuer: string;
      hub: EventHub;
      log: Logger;
      queue: PushQueueStore;
      /** Staged SETs (`set_outbox`); with `transaction`, the storage they share. */
      outbox: SetOutboxStore;
      transaction: <T>(fn: () => T) => T;
      pushReceiver?: PushReceiverConfig | undefined;
      now: () => number;
      /** Default: `setTimeout` (tests inject one driven by their clock). */
      schedule?: Schedule | undefined;
      /** The devices' RFC 8936 poll queues: each device SET also waits there, same `jti`. */
      deviceSets?: DeviceSetQueues | undefined;
    },
  ) {
    this.#schedule = deps.schedule ?? realSchedule;
    const receiver = deps.pushReceiver;
    if (receiver) {
      // A SET's audience is the receiver URL it was made for: one queued for another URL cannot go here.
      const moved = deps.queue.deadLetterOtherReceivers(receiver.url, deps.now(), PUSH_DEAD_LETTERS_MAX);
      if (moved.deadLettered > 0) deps.log.warn({ deadLettered: moved.deadLettered }, 'SETs queued for a previous push receiver URL are now dead letters (ward-broker push dead-letters)');
      this.#logDropped(moved.dropped);
      if (deps.queue.head(receiver.url)) deps.log.info({ queued: deps.queue.size() }, 'delivering SETs queued before the restart');
    } else if (deps.queue.size() > 0) {
      deps.log.warn({ queued: deps.queue.size() }, 'SETs are queued but no push receiver is configured any more: they are kept, not sent');
    }
    this.#kick();
  }

  emit<N extends CaepEventName>(type: N, subject: SubjectId, event: BuildSetInput<N>['event'], options: EmitOptions = {}): Promise<void> {
    return this.#track(
      this.#sign(type, subject, event, options, this.deps.now()).then((signed) => {
        this.#deliver(signed);
        this.#kick();
      }),
    );
  }

  /**
   * A SET that must not be lost if the broker stops right after the change it reports: call
   * `stage()` inside the transaction that stores the change (it writes a `set_outbox` row), and
   * `send()` once that transaction committed (it signs, logs and queues the SETs and removes the
   * row, in one transaction). A row left behind is emitted by {@link resumeStaged} at startup.
   */
  staged<N extends CaepEventName>(type: N, subject: SubjectId, event: BuildSetInput<N>['event'], options: EmitOptions = {}): StagedEmit {
    let row: StagedSet | undefined;
    return {
      stage: () => {
        const set = { type, subject, event, deviceId: options.deviceId ?? null, txn: options.txn ?? null, createdAtMs: this.deps.now() };
        row = { id: this.deps.outbox.add(set), ...set };
      },
      send: () => {
        if (row) void this.#track(this.#emitStaged(row));
      },
    };
  }

  /** Emit the SETs staged before the broker last stopped, oldest first; returns how many there were. */
  async resumeStaged(): Promise<number> {
    const rows = this.deps.outbox.pending();
    if (rows.length > 0) this.deps.log.info({ staged: rows.length }, 'emitting SETs staged before the broker stopped');
    for (const row of rows) await this.#track(this.#emitStaged(row));
    return rows.length;
  }

  #track(emitting: Promise<void>): Promise<void> {
    this.#emitting.add(emitting);
    void emitting.then(
      () => this.#emitting.delete(emitting),
      () => this.#emitting.delete(emitting),
    );
    return emitting;
  }

  async #emitStaged(row: StagedSet): Promise<void> {
    try {
      if (!Object.hasOwn(CAEP_EVENT_TYPES, row.type)) throw new Error(`unknown CAEP event ${row.type}`);
      const options = { deviceId: row.deviceId ?? undefined, txn: row.txn ?? undefined };
      const signed = await this.#sign(row.type as CaepEventName, row.subject as SubjectId, row.event as never, options, row.createdAtMs);
      this.deps.transaction(() => {
        this.#deliver(signed);
        this.deps.outbox.remove(row.id);
      });
      this.#kick();
    } catch (err) {
      // The row stays: the next start emits it.
      this.deps.log.error({ err: err instanceof Error ? err.message : String(err), type: row.type, staged: row.id }, 'could not emit a staged SET: it is emitted again at the next start');
    }
  }

  async #sign<N extends CaepEventName>(type: N, subject: SubjectId, event: BuildSetInput<N>['event'], options: EmitOptions, atMs: number): Promise<SignedSets> {
    const base = { type, subject, event, issuer: this.deps.issuer, now: new Date(atMs), ...(options.txn ? { txn: options.txn } : {}) };
    const jti = randomUUID();
    const receiver = this.deps.pushReceiver;
    const [device, push] = await Promise.all([
      options.deviceId ? buildSet({ ...base, audience: WARD_CLIENT_ID, jti }, this.deps.signer) : undefined,
      receiver ? buildSet({ ...base, audience: receiver.url }, this.deps.signer) : undefined,
    ]);
    return {
      type,
      ...(options.deviceId && device ? { device: { id: options.deviceId, jti, set: device } } : {}),
      ...(receiver && push ? { push: { receiver: receiver.url, set: push } } : {}),
    };
  }

  /** Log, queue for polling and queue for pushing: synchronous, so it can share a transaction. */
  #deliver(signed: SignedSets): void {
    if (signed.device) {
      this.deps.hub.send(signed.device.id, 'caep', signed.device.set);
      this.deps.deviceSets?.enqueue(signed.device.id, signed.device.jti, signed.device.set);
    }
    if (signed.push) {
      const limits = { maxQueued: PUSH_QUEUE_MAX, maxDeadLetters: PUSH_DEAD_LETTERS_MAX };
      const { deadLettered, dropped } = this.deps.queue.enqueue(signed.push.receiver, signed.type, signed.push.set, this.deps.now(), limits);
      if (deadLettered > 0) this.deps.log.error({ deadLettered, max: PUSH_QUEUE_MAX }, 'push queue full: the oldest SETs are now dead letters');
      this.#logDropped(dropped);
    }
  }

  #logDropped(dropped: number): void {
    if (dropped > 0) this.deps.log.error({ dropped, max: PUSH_DEAD_LETTERS_MAX }, 'too many dead letters: dropped the oldest for good');
  }

  // ---- dead letters (admin) ------------------------------------------------------------------

  /** The dead letters, oldest first, and how many there are in all. */
  deadLetters(limit: number): { total: number; deadLetters: DeadLetter[] } {
    return { total: this.deps.queue.deadLetterCount(), deadLetters: this.deps.queue.deadLetters(limit) };
  }

  /**
   * Put dead letters back in the push queue, each at its old place (so in order, ahead of SETs
   * queued after it), due now with a fresh count of attempts. `all`: every dead letter made for
   * the configured receiver (`left`: those made for another URL, which stay).
   */
  resend(which: readonly number[] | 'all'): { resent: number[]; left: number } {
    const receiver = this.deps.pushReceiver;
    if (!receiver) throw new BrokerError('conflict', 'No push receiver is configured (pushReceiver in the config): there is nowhere to resend to.');
    const { queue } = this.deps;
    let ids: number[];
    if (which === 'all') {
      ids = queue
        .deadLetters(PUSH_DEAD_LETTERS_MAX)
        .filter((d) => d.receiver === receiver.url)
        .map((d) => d.id);
    } else {
      ids = [...new Set(which)];
      for (const id of ids) {
        const dead = queue.getDeadLetter(id);
        if (!dead) throw new BrokerError('not-found', `There is no dead letter ${id} (ward-broker push dead-letters).`);
        if (dead.receiver !== receiver.url) {
          throw new BrokerError('conflict', `Dead letter ${id} was made for another push receiver URL (its audience): it cannot be sent to the configured one. Drop it.`);
        }
      }
    }
    if (queue.size() + ids.length > PUSH_QUEUE_MAX) {
      throw new BrokerError('conflict', `The push queue cannot take ${ids.length} more SETs (at most ${PUSH_QUEUE_MAX}): resend fewer, or wait for it to drain.`);
    }
    const resent = queue.resend(ids, this.deps.now());
    if (resent.length > 0) this.deps.log.info({ resent: resent.length }, 'dead letters put back in the push queue');
    this.#kick();
    return { resent, left: queue.deadLetterCount() };
  }

  /** Delete a dead letter for good. */
  dropDeadLetter(id: number): void {
    if (!this.deps.queue.dropDeadLetter(id)) throw new BrokerError('not-found', `There is no dead letter ${id} (ward-broker push dead-letters).`);
    this.deps.log.info({ id }, 'dead letter dropped by an admin');
  }

  // ---- delivery ------------------------------------------------------------------------------

  /** Resolves when the queue is empty or its head is waiting for a retry (tests, `close`). */
  async flush(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  /** Stop delivering (broker shutdown): waits for an attempt in flight; the rest stays queued. */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.#emitting]);
    this.#stopped = true;
    this.#cancelTimer?.();
    await this.flush();
  }

  #kick(): void {
    if (this.#stopped || this.#draining || !this.deps.pushReceiver) return;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.#draining = this.#drain(this.deps.pushReceiver).finally(() => {
      this.#draining = undefined;
    });
  }

  async #drain(receiver: PushReceiverConfig): Promise<void> {
    const { queue, log } = this.deps;
    for (;;) {
      if (this.#stopped) return;
      const head = queue.head(receiver.url);
      if (!head) return;
      const waitMs = head.nextAttemptAtMs - this.deps.now();
      if (waitMs > 0) {
        this.#cancelTimer = this.#schedule(() => this.#kick(), waitMs);
        return;
      }
      const result = await pushSet(receiver.url, head.setJwt, {
        ...(receiver.authorizationHeader ? { authorization: receiver.authorizationHeader } : {}),
        timeoutMs: PUSH_TIMEOUT_MS,
      });
      if (result.ok) {
        queue.remove(head.id);
        continue;
      }
      const attempts = head.attempts + 1;
      log.warn({ type: head.type, status: result.status, err: result.err, attempt: attempts }, 'push receiver refused or missed a SET');
      if (!result.retryable || attempts >= PUSH_MAX_ATTEMPTS) {
        // The receiver's own words (never our credentials), bounded.
        const failure = { lastStatus: result.status, lastError: `${result.err}: ${result.description}`.slice(0, MAX_ERROR_CHARS) };
        const { dropped } = queue.deadLetter(head.id, attempts, failure, this.deps.now(), PUSH_DEAD_LETTERS_MAX);
        log.error({ type: head.type, attempts, status: result.status }, 'gave up pushing a SET: kept as a dead letter (ward-broker push dead-letters)');
        this.#logDropped(dropped);
        continue;
      }
      queue.recordAttempt(head.id, attempts, this.deps.now() + pushBackoffMs(attempts));
    }
  }
}
