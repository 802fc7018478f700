import { randomUUID } from 'node:crypto';
import type { Logger } from '../../main/core/log.js';
import { buildSet, pushSet, type BuildSetInput, type CaepEventName, type JwsSigner, type SubjectId } from '../sdk/index.js';
import type { DeviceSetQueues } from './device-set-queues.js';
import type { EventHub } from './events.js';
import { WARD_CLIENT_ID } from './oidc/provider.js';
import type { PushQueueStore } from './storage/storage.js';

/** SETs kept for the push receiver at most; when full, the oldest is dropped (logged). */
export const PUSH_QUEUE_MAX = 10_000;
/** Attempts per SET on retryable failures (5xx, 429, network) before it is given up (logged). */
export const PUSH_MAX_ATTEMPTS = 12;
const PUSH_BASE_DELAY_MS = 500;
const PUSH_MAX_DELAY_MS = 5 * 60_000;
const PUSH_TIMEOUT_MS = 5_000;

export interface PushReceiverConfig {
  readonly url: string;
  readonly authorizationHeader?: string | undefined;
}

/** Delay before attempt `attempts + 1`: 0.5 s doubling per failure, at most 5 min. */
export function pushBackoffMs(attempts: number): number {
  return Math.min(PUSH_MAX_DELAY_MS, PUSH_BASE_DELAY_MS * 2 ** Math.max(0, attempts - 1));
}

/**
 * Emits CAEP Security Event Tokens (RFC 8417): to the device's event channel (audience
 * `ward-agent`, through the event log, so an agent that was away gets it on reconnect) and, when
 * configured, to a push receiver (RFC 8935, audience = its URL).
 *
 * The push queue is in SQLite: a SET is durable before `emit` returns, and one the broker had not
 * delivered when it stopped is delivered after it starts again. Delivery is strictly in order (the
 * head of the queue is retried before anything behind it), with {@link pushBackoffMs} between
 * attempts, up to {@link PUSH_MAX_ATTEMPTS}; a SET the receiver refuses for good (4xx other than
 * 429) is dropped at once. At most {@link PUSH_QUEUE_MAX} SETs wait; beyond that the oldest go.
 */
export class SignalEmitter {
  #timer: NodeJS.Timeout | undefined;
  #draining: Promise<void> | undefined;
  #stopped = false;
  /** Emits still signing: `stop` waits for them, so a SET emitted before shutdown is logged and queued. */
  readonly #emitting = new Set<Promise<void>>();

  constructor(
    private readonly deps: {
      signer: JwsSigner;
      issuer: string;
      hub: EventHub;
      log: Logger;
      queue: PushQueueStore;
      pushReceiver?: PushReceiverConfig | undefined;
      now: () => number;
      /** The devices' RFC 8936 poll queues: each device SET also waits there, same `jti`. */
      deviceSets?: DeviceSetQueues | undefined;
    },
  ) {
    const receiver = deps.pushReceiver;
    if (receiver) {
      // A SET's audience is the receiver URL it was made for: one queued for another URL is void.
      const dropped = deps.queue.removeOtherReceivers(receiver.url);
      if (dropped > 0) deps.log.warn({ dropped }, 'dropped queued SETs made for a previous push receiver URL');
      if (deps.queue.head(receiver.url)) deps.log.info({ queued: deps.queue.size() }, 'delivering SETs queued before the restart');
    } else if (deps.queue.size() > 0) {
      deps.log.warn({ queued: deps.queue.size() }, 'SETs are queued but no push receiver is configured any more: they are kept, not sent');
    }
    this.#kick();
  }

  emit<N extends CaepEventName>(type: N, subject: SubjectId, event: BuildSetInput<N>['event'], options: { deviceId?: string; txn?: string } = {}): Promise<void> {
    const emitting = this.#emit(type, subject, event, options);
    this.#emitting.add(emitting);
    void emitting.then(
      () => this.#emitting.delete(emitting),
      () => this.#emitting.delete(emitting),
    );
    return emitting;
  }

  async #emit<N extends CaepEventName>(type: N, subject: SubjectId, event: BuildSetInput<N>['event'], options: { deviceId?: string; txn?: string }): Promise<void> {
    const now = new Date(this.deps.now());
    const base = { type, subject, event, issuer: this.deps.issuer, now, ...(options.txn ? { txn: options.txn } : {}) };
    if (options.deviceId) {
      const jti = randomUUID();
      const set = await buildSet({ ...base, audience: WARD_CLIENT_ID, jti }, this.deps.signer);
      this.deps.hub.send(options.deviceId, 'caep', set);
      this.deps.deviceSets?.enqueue(options.deviceId, jti, set);
    }
    const receiver = this.deps.pushReceiver;
    if (receiver) {
      const set = await buildSet({ ...base, audience: receiver.url }, this.deps.signer);
      const { dropped } = this.deps.queue.enqueue(receiver.url, type, set, this.deps.now(), PUSH_QUEUE_MAX);
      if (dropped > 0) this.deps.log.error({ dropped, max: PUSH_QUEUE_MAX }, 'push queue full: dropped the oldest SETs');
      this.#kick();
    }
  }

  /** Resolves when the queue is empty or its head is waiting for a retry (tests, `close`). */
  async flush(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  /** Stop delivering (broker shutdown): waits for an attempt in flight; the rest stays queued. */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.#emitting]);
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.flush();
  }

  #kick(): void {
    if (this.#stopped || this.#draining || !this.deps.pushReceiver) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
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
        this.#timer = setTimeout(() => this.#kick(), waitMs).unref();
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
        log.error({ type: head.type, attempts }, 'gave up pushing a SET');
        queue.remove(head.id);
        continue;
      }
      queue.recordAttempt(head.id, attempts, this.deps.now() + pushBackoffMs(attempts));
    }
  }
}
