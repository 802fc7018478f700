/** Requests per {@link WireQueue} chunk. */
export const WIRE_CHUNK = 100;

/**
 * One device's signed requests for the open loop, in order, packed into a few large buffers (one
 * per {@link WIRE_CHUNK} requests): a long run holds 100,000s of requests, and as many small
 * Buffer objects in the old generation would make the load generator's own mark-compacts long
 * (a pause there counts as latency). A chunk is let go once its last request is taken.
 */
export class WireQueue {
  readonly #chunks: (Buffer | undefined)[] = [];
  readonly #ends: Uint32Array[] = [];

  add(wires: readonly Buffer[]): void {
    const ends = new Uint32Array(wires.length);
    let end = 0;
    for (const [i, wire] of wires.entries()) ends[i] = end += wire.length;
    this.#chunks.push(Buffer.concat(wires, end));
    this.#ends.push(ends);
  }

  /** Request `k`; requests are taken in order, each once. */
  take(k: number): Buffer {
    const c = Math.floor(k / WIRE_CHUNK);
    const i = k % WIRE_CHUNK;
    const chunk = this.#chunks[c];
    const ends = this.#ends[c];
    if (!chunk || !ends || i >= ends.length) throw new Error(`no pre-signed request ${k}`);
    const wire = chunk.subarray(i === 0 ? 0 : ends[i - 1], ends[i]);
    if (i === ends.length - 1) this.#chunks[c] = undefined;
    return wire;
  }
}
