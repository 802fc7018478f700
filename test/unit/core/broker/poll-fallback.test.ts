import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemorySetQueue } from '../../../../broker/sdk/index.js';
import { EventChannel } from '../../../../main/core/broker/event-channel.js';
import { PollFallback, type SignalTransport } from '../../../../main/core/broker/poll-fallback.js';
import { SetPoller } from '../../../../main/core/broker/set-poller.js';
import { ManualClock } from './support/manual-clock.js';
import { pollTransmitter, until } from './support/poll-transmitter.js';

/**
 * The choice between the event channel and polling, with the real EventChannel and SetPoller
 * against a real server on 127.0.0.1 (SSE on /events, RFC 8936 on /poll), on a hand-moved clock.
 */
type SseMode = 'refuse' | 'buffer' | 'ok';
let server: Server;
let base: string;
let sseMode: SseMode;
let polls: number;
const streams: ServerResponse[] = [];
const queue = new MemorySetQueue({ longPollMs: 20 });

const poll = pollTransmitter(
  () => queue,
  () => {
    polls++;
    return undefined;
  },
);

beforeEach(async () => {
  sseMode = 'refuse';
  polls = 0;
  streams.length = 0;
  server = createServer((req, res) => {
    if (req.url === '/events') {
      if (sseMode === 'refuse') {
        res.writeHead(502).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (sseMode === 'ok') res.write('event: ready\ndata: {}\n\n');
      else res.flushHeaders(); // the headers pass the proxy; the events do not
      streams.push(res);
      return;
    }
    poll(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});


function setup(clock: ManualClock) {
  const channel = new EventChannel({ url: new URL('/events', base), fetch: (i, init) => fetch(i, init), accessToken: async () => undefined, clock, baseDelayMs: 100, maxDelayMs: 100, idleTimeoutMs: 1_000, random: () => 1 });
  const poller = new SetPoller({ url: new URL('/poll', base), fetch: (i, init) => fetch(i, init), process: async () => undefined, clock, returnImmediately: true, intervalMs: 500 });
  const fallback = new PollFallback({ channel, poller, clock, failuresBeforePoll: 2, healthyAfterMs: 5_000 });
  const transports: SignalTransport[] = [];
  fallback.on('transport', (t) => transports.push(t));
  return { channel, poller, fallback, transports };
}

describe('PollFallback (real event channel and poller, manual clock)', () => {
  it('polls after two failed connections, and goes back to the channel once it has stayed up', async () => {
    const clock = new ManualClock();
    const { channel, poller, fallback, transports } = setup(clock);
    channel.start();
    await until(() => channel.status === 'waiting');
    expect(fallback.transport).toBe('event-channel'); // one failure is not enough
    clock.advance(100);
    await until(() => transports.length === 1);
    expect(transports).toEqual(['poll']);
    expect(poller.isRunning).toBe(true);
    clock.advance(0);
    await until(() => polls === 1);

    sseMode = 'ok';
    clock.advance(100); // the channel's reconnect (and the poller's next short poll are both due later)
    await until(() => channel.status === 'open');
    clock.advance(4_999);
    expect(fallback.transport).toBe('poll'); // a connection must prove itself first
    clock.advance(1);
    await until(() => transports.length === 2);
    expect(transports).toEqual(['poll', 'event-channel']);
    await until(() => !poller.isRunning);
    channel.stop();
  });

  it('treats a stream that opens but delivers nothing (a buffering proxy) as failed', async () => {
    const clock = new ManualClock();
    sseMode = 'buffer';
    const { channel, transports } = setup(clock);
    channel.start();
    await until(() => channel.status === 'open');
    clock.advance(1_000); // idle timeout: nothing came through
    await until(() => channel.status === 'waiting');
    clock.advance(100);
    await until(() => streams.length === 2 && channel.status === 'open');
    clock.advance(1_000);
    await until(() => transports.length === 1);
    expect(transports).toEqual(['poll']);
    channel.stop();
    await until(() => transports.length === 2); // stopping the channel stops polling too
  });

  it('polls at once when an open stream stays silent past the first-event timeout, and keeps the stream', async () => {
    const clock = new ManualClock();
    sseMode = 'buffer';
    const channel = new EventChannel({ url: new URL('/events', base), fetch: (i, init) => fetch(i, init), accessToken: async () => undefined, clock, idleTimeoutMs: 60_000 });
    const poller = new SetPoller({ url: new URL('/poll', base), fetch: (i, init) => fetch(i, init), process: async () => undefined, clock, returnImmediately: true });
    const fallback = new PollFallback({ channel, poller, clock, failuresBeforePoll: 2, firstEventTimeoutMs: 2_000 });
    channel.start();
    await until(() => channel.status === 'open');
    clock.advance(1_999);
    expect(fallback.transport).toBe('event-channel');
    clock.advance(1);
    expect(fallback.transport).toBe('poll');
    expect(poller.isRunning).toBe(true);
    expect(channel.status).toBe('open'); // the stream stays: if the proxy lets it through, it takes over again
    channel.stop();
    await until(() => !poller.isRunning);
  });

  it('does not poll when a long-lived working connection drops once', async () => {
    const clock = new ManualClock();
    sseMode = 'ok';
    const { channel, fallback } = setup(clock);
    channel.start();
    await until(() => channel.status === 'open' && streams.length === 1);
    clock.advance(900);
    streams[0]!.write(': keepalive\n\n');
    await new Promise((r) => setTimeout(r, 50));
    clock.advance(900);
    streams[0]!.write(': keepalive\n\n');
    await new Promise((r) => setTimeout(r, 50));
    clock.advance(4_000);
    streams[0]!.end();
    await until(() => channel.status === 'waiting');
    sseMode = 'refuse';
    clock.advance(100);
    await until(() => channel.status === 'waiting' && streams.length === 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(fallback.transport).toBe('event-channel'); // one refused reconnect after a healthy stream
    channel.stop();
  });
});
