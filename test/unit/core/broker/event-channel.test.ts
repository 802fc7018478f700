import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventChannel } from '../../../../main/core/broker/event-channel.js';
import type { SseMessage } from '../../../../main/core/broker/sse-parser.js';

/** A real SSE server on 127.0.0.1 that the test can drop, refuse and feed. */
let server: ReturnType<typeof createServer>;
let url: URL;
const connections: Array<{ res: ServerResponse; lastEventId: string | undefined }> = [];
let refuseWith: number | undefined;

beforeEach(async () => {
  connections.length = 0;
  refuseWith = undefined;
  server = createServer((req, res) => {
    if (refuseWith) {
      res.writeHead(refuseWith, { 'www-authenticate': 'DPoP error="invalid_token"' }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(': hello\n\n');
    connections.push({ res, lastEventId: req.headers['last-event-id'] as string | undefined });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/events`);
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const until = async (predicate: () => boolean): Promise<void> => {
  while (!predicate()) await new Promise((r) => setTimeout(r, 5));
};

describe('EventChannel (real SSE server)', () => {
  it('delivers events, reconnects after a drop with Last-Event-ID, and keeps delivering', async () => {
    const channel = new EventChannel({ url, fetch: (i, init) => fetch(i, init), accessToken: async () => undefined, baseDelayMs: 10, maxDelayMs: 20 });
    const got: SseMessage[] = [];
    channel.on('message', (m) => got.push(m));
    channel.start();
    await until(() => connections.length === 1);
    connections[0]!.res.write('id: 41\nevent: challenge\ndata: {"nonce":"one"}\n\n');
    await until(() => got.length === 1);
    connections[0]!.res.destroy(); // the broker restarts or the network drops
    await until(() => connections.length === 2);
    expect(connections[1]!.lastEventId).toBe('41');
    connections[1]!.res.write('id: 42\nevent: caep\ndata: x.y.z\n\n');
    await until(() => got.length === 2);
    expect(got.map((m) => m.event)).toEqual(['challenge', 'caep']);
    channel.stop();
    expect(channel.status).toBe('closed');
  });

  it('reports a refused token and keeps trying with backoff', async () => {
    refuseWith = 401;
    const channel = new EventChannel({ url, fetch: (i, init) => fetch(i, init), accessToken: async () => 'token', baseDelayMs: 10, maxDelayMs: 20 });
    const refusals: number[] = [];
    channel.on('unauthorized', (status) => refusals.push(status));
    channel.start();
    await until(() => refusals.length >= 2);
    refuseWith = undefined;
    await until(() => connections.length === 1);
    await until(() => channel.status === 'open');
    channel.stop();
    expect(refusals[0]).toBe(401);
  });

  it('treats a silent connection as dropped', async () => {
    const channel = new EventChannel({ url, fetch: (i, init) => fetch(i, init), accessToken: async () => undefined, baseDelayMs: 10, maxDelayMs: 20, idleTimeoutMs: 50 });
    const reasons: string[] = [];
    channel.on('status', (s, detail) => s === 'waiting' && reasons.push(detail ?? ''));
    channel.start();
    await until(() => connections.length >= 2);
    channel.stop();
    expect(reasons[0]).toBe('idle');
  });
});
