import { MemorySetQueue, type PollRequest, type PollResponse } from '../sdk/index.js';
import type { Logger } from '../../main/core/log.js';

/** Unacknowledged SETs kept per device; beyond it the oldest go (counted, logged). */
export const POLL_QUEUE_MAX_PER_DEVICE = 200;
/** How long `POST /ssf/poll` without `returnImmediately` waits for a SET (below the 30 s request timeout). */
export const LONG_POLL_MS = 25_000;

/**
 * The transmitter side of RFC 8936 for the agents: one SDK {@link MemorySetQueue} per device, fed
 * with every SET the broker addresses to that device (the same SET, same `jti`, that goes down
 * its event channel). The poll endpoint only ever answers a device from its own queue.
 *
 * In memory: SETs not yet acknowledged when the broker stops are not polled after a restart
 * (the event log replays them over the event channel instead).
 */
export class DeviceSetQueues {
  readonly #queues = new Map<string, MemorySetQueue>();

  constructor(private readonly deps: { log: Logger; longPollMs?: number; maxPerDevice?: number }) {}

  #queue(deviceId: string): MemorySetQueue {
    let queue = this.#queues.get(deviceId);
    if (!queue) {
      queue = new MemorySetQueue({ longPollMs: this.deps.longPollMs ?? LONG_POLL_MS, maxPending: this.deps.maxPerDevice ?? POLL_QUEUE_MAX_PER_DEVICE });
      this.#queues.set(deviceId, queue);
    }
    return queue;
  }

  enqueue(deviceId: string, jti: string, set: string): void {
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
