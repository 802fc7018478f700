import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WIRE_CHUNK, WireQueue } from '../../../bench/support/wire-queue.js';

describe('WireQueue (the open loop’s packed pre-signed requests)', () => {
  it('gives back every request, byte for byte, in order', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { minLength: 1, maxLength: 3 * WIRE_CHUNK + 7 }), (requests) => {
        const queue = new WireQueue();
        const buffers = requests.map((r) => Buffer.from(r));
        for (let k = 0; k < buffers.length; k += WIRE_CHUNK) queue.add(buffers.slice(k, k + WIRE_CHUNK));
        for (const [k, expected] of buffers.entries()) expect(queue.take(k).equals(expected)).toBe(true);
        expect(() => queue.take(buffers.length)).toThrow(/no pre-signed request/);
      }),
      { numRuns: 50 },
    );
  });
});
