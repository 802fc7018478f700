import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import { backoffDelayMs, systemClock, type Clock, type TimerHandle } from '../session/clock.js';
import type { Outbox, OutboxItem } from './outbox.js';

/** What sending one item came to. */
export type DeliveryResult = { readonly kind: 'delivered' } | { readonly kind: 'retry'; readonly reason: string } | { readonly kind: 'rejected'; readonly reason: string };

export interface OutboxDelivererOptions {
  readonly outbox: Outbox;
  readonly send: (item: OutboxItem) => Promise<DeliveryResult>;
  readonly clock?: Clock;
  readonly log?: Logger;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly random?: () => number;
}

export interface OutboxDelivererEvents {
  delivered: [item: OutboxItem];
  'dead-letter': [item: OutboxItem, reason: string];
  'retry-scheduled': [item: OutboxItem, delayMs: number, reason: string];
}

/**
 * Sends the outbox in order. A transient failure (broker down, 5xx, network) keeps the item at
 * the head and retries with exponential backoff and full jitter; a refusal the broker will never
 * change its mind on (a 4xx other than 408/429) moves the item to the dead letters with the
 * reason, and an event says so — the queue never wedges and nothing disappears unannounced.
 */
export class OutboxDeliverer extends EventEmitter<OutboxDelivererEvents> {
  readonly #o: OutboxDelivererOptions;
  readonly #clock: Clock;
  #timer: TimerHandle | undefined;
  #running = false;
  #draining = false;
  #failures = 0;
  #inFlight: Promise<void> = Promise.resolve();

  constructor(options: OutboxDelivererOptions) {
    super();
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  start(): void {
    this.#running = true;
    this.kick();
  }

  /** Stop; resolves once a send in flight has finished (the outbox can then be closed). */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
  }

  /** Something was queued or the broker is back: try now instead of waiting for the backoff. */
  kick(): void {
    if (!this.#running) return;
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    void this.#drain();
  }

  /** Resolves when the queue is empty (or a retry is scheduled). For the CLI and tests. */
  async drainOnce(): Promise<void> {
    await this.#drain();
  }

  #drain(): Promise<void> {
    if (this.#draining) return this.#inFlight;
    this.#inFlight = this.#drainLoop();
    return this.#inFlight;
  }

  async #drainLoop(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (;;) {
        if (!this.#running) return;
        const item = this.#o.outbox.peek();
        if (!item) {
          this.#failures = 0;
          return;
        }
        let result: DeliveryResult;
        try {
          result = await this.#o.send(item);
        } catch (err) {
          result = { kind: 'retry', reason: err instanceof Error ? err.message.slice(0, 200) : 'send failed' };
        }
        if (!this.#running) return; // stopped while sending: the item stays queued for next time
        if (result.kind === 'delivered') {
          this.#o.outbox.ack(item.id);
          this.#failures = 0;
          this.emit('delivered', item);
          continue;
        }
        if (result.kind === 'rejected') {
          this.#o.outbox.deadLetter(item.id, result.reason);
          this.#o.log?.warn({ mod: 'outbox', id: item.id, kind: item.kind, reason: result.reason }, 'the broker refused a queued item; kept as a dead letter');
          this.emit('dead-letter', item, result.reason);
          continue;
        }
        this.#o.outbox.recordAttempt(item.id);
        const delayMs = backoffDelayMs(this.#failures++, {
          baseMs: this.#o.baseDelayMs ?? 500,
          maxMs: this.#o.maxDelayMs ?? 60_000,
          ...(this.#o.random ? { random: this.#o.random } : {}),
        });
        this.#o.log?.debug({ mod: 'outbox', id: item.id, delayMs, reason: result.reason }, 'delivery failed; retrying later');
        this.emit('retry-scheduled', item, delayMs, result.reason);
        this.#timer = this.#clock.setTimeout(() => {
          this.#timer = undefined;
          void this.#drain();
        }, delayMs);
        return;
      }
    } finally {
      this.#draining = false;
    }
  }
}

/** Sort an HTTP answer into deliver / retry / reject. */
export function classifyHttpStatus(status: number): DeliveryResult {
  if (status >= 200 && status < 300) return { kind: 'delivered' };
  if (status === 408 || status === 425 || status === 429 || status >= 500) return { kind: 'retry', reason: `HTTP ${status}` };
  if (status === 401) return { kind: 'retry', reason: 'HTTP 401 (token being refreshed)' };
  return { kind: 'rejected', reason: `HTTP ${status}` };
}
