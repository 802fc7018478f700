import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemorySetQueue, type PollRequest } from '../../../../broker/sdk/index.js';
import { SetPoller, type SetError } from '../../../../main/core/broker/set-poller.js';
import { ManualClock } from './support/manual-clock.js';
import { pollTransmitter, until } from './support/poll-transmitter.js';

/**
 * The poll receiver against a real RFC 8936 transmitter on 127.0.0.1 (the SDK's MemorySetQueue
 * behind node:http), on a clock the test moves by hand.
 */
let server: Server;
let url: URL;
let queue: MemorySetQueue;
let requests: PollRequest[];
/** When set, the server answers this instead of polling the queue. */
let override: { status: number; body: string } | undefined;

beforeEach(async () => {
  queue = new MemorySetQueue({ longPollMs: 50 });
  requests = [];
  override = undefined;
  server = createServer(
    pollTransmitter(
      () => queue,
      (request) => {
        requests.push(request);
        return override;
      },
    ),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/ssf/poll`);
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});


function poller(clock: ManualClock, process: (jti: string, set: string) => Promise<SetError | undefined>): SetPoller {
  return new SetPoller({ url, fetch: (i, init) => fetch(i, init), process, clock, returnImmediately: true, intervalMs: 1_000, random: () => 0 });
}

describe('SetPoller (RFC 8936 receiver, manual clock)', () => {
  it('acknowledges handled SETs on the next poll, reports refused ones in setErrs, and is not sent them again', async () => {
    const clock = new ManualClock();
    queue.enqueue('a', 'set-a');
    queue.enqueue('b', 'set-b');
    queue.enqueue('c', 'set-c');
    const handled: string[] = [];
    const p = poller(clock, async (jti) => {
      handled.push(jti);
      return jti === 'b' ? { err: 'invalid_key', description: 'the signature does not verify' } : undefined;
    });
    p.start();
    clock.advance(0);
    await until(() => handled.length === 3);
    await until(() => p.pendingReplies.acks === 2);
    expect(p.pendingReplies).toEqual({ acks: 2, errors: 1 });
    expect(clock.pendingDelays).toEqual([1_000]);
    clock.advance(999);
    expect(requests).toHaveLength(1);
    clock.advance(1);
    await until(() => requests.length === 2);
    expect(requests[1]).toMatchObject({ ack: ['a', 'c'], setErrs: { b: { err: 'invalid_key' } } });
    await until(() => p.pendingReplies.acks === 0 && p.pendingReplies.errors === 0);
    expect(queue.size).toBe(0);
    expect(queue.errors.get('b')).toEqual({ err: 'invalid_key', description: 'the signature does not verify' });
    expect(handled).toEqual(['a', 'b', 'c']); // nothing delivered twice
    await p.stop();
  });

  it('backs off on the injected clock when the broker fails, and keeps its acknowledgements for the next poll', async () => {
    const clock = new ManualClock();
    queue.enqueue('a', 'set-a');
    const failures: number[] = [];
    const p = poller(clock, async () => undefined);
    p.on('failed', (_reason, delayMs) => failures.push(delayMs));
    p.start();
    clock.advance(0);
    await until(() => p.pendingReplies.acks === 1);
    override = { status: 503, body: '{"err":"unavailable","description":"down"}' };
    clock.advance(1_000);
    await until(() => failures.length === 1);
    expect(failures).toEqual([500]); // 1 s base, full jitter with random() = 0 → half of it
    clock.advance(499);
    expect(requests).toHaveLength(2);
    override = undefined;
    clock.advance(1);
    await until(() => requests.length === 3);
    expect(requests[1]?.ack).toEqual(['a']);
    expect(requests[2]?.ack).toEqual(['a']);
    await until(() => p.pendingReplies.acks === 0);
    await p.stop();
  });

  it('sends what it still owes on stop (maxEvents 0) and acknowledges SETs handled elsewhere', async () => {
    const clock = new ManualClock();
    queue.enqueue('a', 'set-a');
    queue.enqueue('sse-1', 'set-from-the-channel');
    const p = poller(clock, async () => undefined);
    const processed: string[] = [];
    p.on('processed', (jti) => processed.push(jti));
    p.acknowledge('sse-1');
    p.start();
    clock.advance(0);
    await until(() => processed.includes('a'));
    expect(requests[0]?.ack).toEqual(['sse-1']);
    await p.stop();
    expect(requests.at(-1)).toEqual({ maxEvents: 0, returnImmediately: true, ack: ['a'] });
    expect(queue.size).toBe(0);
    expect(p.isRunning).toBe(false);
  });

  it('survives any answer from the transmitter: a bad answer is a failed poll, never an exception (fast-check)', async () => {
    const answer = fc.oneof(
      fc.record({ status: fc.constantFrom(200, 400, 401, 500, 503), body: fc.string({ maxLength: 200 }) }),
      fc.record({ status: fc.constant(200), body: fc.jsonValue().map((v) => JSON.stringify(v)) }),
      fc.record({
        status: fc.constant(200),
        body: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ minLength: 1, maxLength: 20 }), { maxKeys: 4 }).map((sets) => JSON.stringify({ sets })),
      }),
    );
    await fc.assert(
      fc.asyncProperty(answer, async (a) => {
        const clock = new ManualClock();
        override = a;
        let outcome: 'failed' | 'ok' | undefined;
        const seen: string[] = [];
        const p = poller(clock, async (jti) => {
          seen.push(jti);
          if (jti.length % 2 === 0) throw new Error('handler bug');
          return undefined;
        });
        p.on('failed', () => (outcome = 'failed'));
        const before = requests.length;
        p.start();
        clock.advance(0);
        await until(() => outcome !== undefined || (requests.length > before && clock.pendingDelays.length > 0));
        outcome ??= 'ok';
        // A handler that throws is reported, not fatal: each SET ends up acknowledged or refused.
        if (outcome === 'ok') expect(p.pendingReplies.acks + p.pendingReplies.errors).toBe(seen.length);
        override = { status: 200, body: '{"sets":{}}' };
        await p.stop();
      }),
      { numRuns: 40 },
    );
  });
});
