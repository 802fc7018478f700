import { hash } from 'node:crypto';

/** Width of a generation in seconds: an entry is forgotten at most this long after it expires. */
export const GENERATION_SECONDS = 10;
const INITIAL_SLOTS = 1024;

interface Generation {
  /** `floor(expiresAt / GENERATION_SECONDS)` of every entry in it. */
  readonly id: number;
  /** Open addressing, linear probing: a fingerprint per slot, 0 for an empty one. */
  slots: Float64Array;
  count: number;
}

/**
 * The set of DPoP proofs (`jkt:jti`) the broker has accepted and must refuse again until their
 * `iat` window ends, kept off the JavaScript heap: each entry is a 52-bit SHA-256 fingerprint in
 * a `Float64Array`, grouped in generations by expiry time, and a generation is dropped whole once
 * every entry in it has expired. A `Map` of strings cost ~200 bytes of heap per proof, kept for
 * 60 s and so promoted to the old generation: at 2,000 proofs/s that was about half of what the
 * broker promoted, and what brought its mark-compacts (docs/broker-server.md, "Performance").
 *
 * Fingerprints can collide (two different proofs with the same 52 bits, about 1 in 10^10 per
 * check with 200,000 remembered): a collision can only refuse a proof as a replay, never accept a
 * replayed one. Bounded: at `maxEntries` the oldest generation is forgotten early, as the `Map`'s
 * oldest entries were.
 *
 * @example
 * ```ts
 * const seen = new ReplaySet(200_000);
 * const fp = ReplaySet.fingerprint(`${jkt}:${jti}`);
 * if (seen.has(fp, nowSeconds)) refuse();
 * seen.add(fp, iat + 60, nowSeconds);
 * ```
 */
export class ReplaySet {
  readonly #generations = new Map<number, Generation>();
  #size = 0;

  constructor(private readonly maxEntries: number) {}

  /** A non-zero 52-bit fingerprint of `key` (SHA-256). */
  static fingerprint(key: string): number {
    return Number.parseInt(hash('sha256', key, 'hex').slice(0, 13), 16) || 1;
  }

  /** How many entries are remembered (expired ones included until their generation is dropped). */
  get size(): number {
    return this.#size;
  }

  /** Whether `fp` is remembered (in any generation not yet dropped at `nowSeconds`). */
  has(fp: number, nowSeconds: number): boolean {
    this.#expire(nowSeconds);
    for (const generation of this.#generations.values()) if (find(generation.slots, fp) >= 0) return true;
    return false;
  }

  /** Remember `fp` until at least `expiresAt` (seconds). */
  add(fp: number, expiresAt: number, nowSeconds: number): void {
    this.#expire(nowSeconds);
    while (this.#size >= this.maxEntries && this.#generations.size > 0) this.#dropOldest();
    const id = Math.floor(expiresAt / GENERATION_SECONDS);
    let generation = this.#generations.get(id);
    if (!generation) {
      generation = { id, slots: new Float64Array(INITIAL_SLOTS), count: 0 };
      this.#generations.set(id, generation);
    }
    if ((generation.count + 1) * 2 > generation.slots.length) generation.slots = grown(generation.slots);
    const slot = find(generation.slots, fp);
    if (slot >= 0) return; // already there
    generation.slots[-slot - 1] = fp;
    generation.count++;
    this.#size++;
  }

  /** Drop the generations whose every entry has expired by `nowSeconds`. */
  #expire(nowSeconds: number): void {
    for (const [id, generation] of this.#generations) {
      if ((id + 1) * GENERATION_SECONDS <= nowSeconds) {
        this.#generations.delete(id);
        this.#size -= generation.count;
      }
    }
  }

  #dropOldest(): void {
    let oldest: Generation | undefined;
    for (const generation of this.#generations.values()) if (!oldest || generation.id < oldest.id) oldest = generation;
    if (!oldest) return;
    this.#generations.delete(oldest.id);
    this.#size -= oldest.count;
  }
}

/** The slot holding `fp` (≥ 0), or `-(empty slot) - 1` where it would go. */
function find(slots: Float64Array, fp: number): number {
  const mask = slots.length - 1;
  for (let i = fp % slots.length, probes = 0; probes < slots.length; i = (i + 1) & mask, probes++) {
    const value = slots[i] as number;
    if (value === fp) return i;
    if (value === 0) return -i - 1;
  }
  throw new Error('replay set table is full'); // unreachable: tables are kept at most half full
}

/** The same fingerprints in a table twice the size. */
function grown(slots: Float64Array): Float64Array {
  const next = new Float64Array(slots.length * 2);
  for (const fp of slots) if (fp !== 0) next[-find(next, fp) - 1] = fp;
  return next;
}
