import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closeIdleSockets } from '../../../../broker/server/http/idle-sockets.js';

// A real server and raw client sockets: when does the server close a keep-alive connection?
const IDLE_MS = 300;
const TICK_MS = 50;

let server: Server | undefined;
let stop: (() => void) | undefined;

afterEach(async () => {
  stop?.();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
});

async function start(handler: (path: string, answer: () => void) => void): Promise<number> {
  server = createServer((req, res) => handler(req.url ?? '/', () => res.end('ok')));
  server.keepAliveTimeout = 0;
  stop = closeIdleSockets(server, { idleMs: IDLE_MS, tickMs: TICK_MS });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function open(port: number): Promise<{ socket: Socket; closedAt: Promise<number>; answers: () => number; lastAnswerAt: () => number }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => resolve({ socket, closedAt, answers: () => count, lastAnswerAt: () => at }));
    let count = 0;
    let at = 0;
    socket.on('data', (chunk: Buffer) => {
      count += chunk.toString().split('HTTP/1.1 200').length - 1;
      at = performance.now();
    });
    const closedAt = new Promise<number>((done) => socket.once('close', () => done(performance.now())));
  });
}

const request = (path: string): string => `GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`;

describe('closeIdleSockets', () => {
  it('closes a keep-alive connection idle for the timeout, not before', async () => {
    const port = await start((_path, answer) => answer());
    const c = await open(port);
    c.socket.write(request('/'));
    await expect.poll(c.answers).toBe(1);
    const idle = (await c.closedAt) - c.lastAnswerAt();
    expect(idle).toBeGreaterThanOrEqual(IDLE_MS - 5); // timers may fire a few ms early against performance.now()
    expect(idle).toBeLessThan(IDLE_MS + 20 * TICK_MS); // one tick late at most, and slack for a loaded CI machine
  });

  it('keeps a connection whose requests keep coming, however long in all', async () => {
    const port = await start((_path, answer) => answer());
    const c = await open(port);
    let closed = false;
    void c.closedAt.then(() => (closed = true));
    for (let i = 0; i < 8; i++) {
      c.socket.write(request('/'));
      await expect.poll(c.answers).toBe(i + 1);
      await new Promise((r) => setTimeout(r, IDLE_MS / 3));
    }
    expect(closed).toBe(false); // ~800 ms, more than twice the idle timeout
    c.socket.destroy();
  });

  it('never closes a connection with a request in progress, pipelined ones included', async () => {
    const port = await start((path, answer) => setTimeout(answer, path === '/slow' ? 3 * IDLE_MS : 0));
    const c = await open(port);
    c.socket.write(request('/') + request('/slow'));
    await expect.poll(c.answers).toBe(1);
    const raced = await Promise.race([c.closedAt.then(() => 'closed'), new Promise((r) => setTimeout(() => r('open'), 2 * IDLE_MS))]);
    expect(raced).toBe('open'); // the slow one is still in progress
    await expect.poll(c.answers, { timeout: 3 * IDLE_MS }).toBe(2);
    expect((await c.closedAt) - c.lastAnswerAt()).toBeGreaterThanOrEqual(IDLE_MS - 5);
  });
});
