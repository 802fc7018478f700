import { MemorySetQueue, type PollRequest, type PollResponse } from '../sdk/index.js';
import type { Logger } from '../../main/core/log.js';
import type { DeviceSetQueueStore } from './storage/storage.js';

/** Unacknowledged SETs kept per device; beyond it the oldest go (counted, logged). */
export const POLL_QUEUE_MAX_PER_DEVICE = 200;
/** How long `POST /ssf/poll` without `returnImmediately` waits for a SET (below the 30 s request timeout). */
export const LONG_POLL_MS = 25_000;
/** SETs older than this are dropped from the poll queues, acknowledged or not. */
export const POLL_QUEUE_RETENTION_MS = 7 * 86_400_000;
const PURGE_EVERY_MS = 3_600_000;

/**
 * The transmitter side of RFC 8936 for the agents: one SDK {@link MemorySetQueue} per device, fed
 * with every SET the broker addresses to that device (the same SET, same `jti`, that goes down
 * its event channel). The poll endpoint only ever answers a device from its own queue.
 *
 * The SETs live in storage (SQLite), so what a device has not acknowledged is still polled after a
 * broker restart; only the long-poll waiters and the record of `setErrs` are in memory. Each
 * device keeps at most {@link POLL_QUEUE_MAX_PER_DEVICE} SETs, none older than
 * {@link POLL_QUEUE_RETENTION_MS}.
 */
export class DeviceSetQueues {
  readonly #queues = new Map<string, MemorySetQueue>();
  #purgedAtMs = 0;

  constructor(private readonly deps: { store: DeviceSetQueueStore; log: Logger; now: () => number; longPollMs?: number; maxPerDevice?: number }) {}

  #queue(deviceId: string): MemorySetQueue {
    let queue = this.#queues.get(deviceId);
    if (!queue) {
      queue = new MemorySetQueue({
        longPollMs: this.deps.longPollMs ?? LONG_POLL_MS,
        maxPending: this.deps.maxPerDevice ?? POLL_QUEUE_MAX_PER_DEVICE,
        store: this.deps.store.forDevice(deviceId),
      });
      this.#queues.set(deviceId, queue);
    }
    return queue;
  }

  enqueue(deviceId: string, jti: string, set: string): void {
    const nowMs = this.deps.now();
    if (nowMs - this.#purgedAtMs >= PURGE_EVERY_MS) {
      this.#purgedAtMs = nowMs;
      const purged = this.deps.store.purgeBefore(nowMs - POLL_QUEUE_RETENTION_MS);
      if (purged > 0) this.deps.log.info({ purged }, 'dropped SETs left unpolled past the retention');
    }
    const queue = this.#queue(deviceId);
    const before = queue.evicted;
    queue.enqueue(jti, set);
    if (queue.evicted > before) this.deps.log.warn({ deviceId, evicted: queue.evicted }, 'poll queue full: dropped the oldest unacknowledged SET');
  }

  /** Apply the device's acknowledgements and errors, then answer (long-polling unless asked not to). */
  async poll(deviceId: string, request: PollRequest, signal: AbortSignal): Promise<PollResponse> {
    for (const [jti, error] of Object.entries(request.setErrs ?? {})) {
      // Never the SET itself: the agent's description of why it refused it.
      this.deps.log.warn({ deviceId, jti, err: error.err, description: error.description.slice(0, 200) }, 'a device refused a SET it polled');
    }
    return this.#queue(deviceId).poll(request, signal);
  }

  /** SETs a device refused (from its `setErrs`), by jti. */
  refused(deviceId: string): ReadonlyMap<string, { err: string; description: string }> {
    return this.#queues.get(deviceId)?.errors ?? new Map();
  }

  pending(deviceId: string): number {
    return this.#queues.get(deviceId)?.size ?? 0;
  }
}
