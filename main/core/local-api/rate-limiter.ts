import { systemClock, type Clock } from '../session/clock.js';

const MAX_KEYS = 1_000;

/**
 * Token buckets per key (a browser origin, a client role): `perMinute` requests a minute with a
 * burst of a tenth of that (at least 5). Bounded: the least recently used key is forgotten.
 */
export class RateLimiter {
  readonly #clock: Clock;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(options: { clock?: Clock } = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  take(key: string, perMinute: number): boolean {
    const now = this.#clock.now();
    const burst = Math.max(5, Math.ceil(perMinute / 10));
    const bucket = this.#buckets.get(key) ?? { tokens: burst, at: now };
    this.#buckets.delete(key);
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) * perMinute) / 60_000);
    bucket.at = now;
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    if (this.#buckets.size >= MAX_KEYS) this.#buckets.delete(this.#buckets.keys().next().value as string);
    this.#buckets.set(key, bucket);
    return allowed;
  }
}
