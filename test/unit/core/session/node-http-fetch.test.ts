import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventChannel } from '../../../../main/core/broker/event-channel.js';
import type { SseMessage } from '../../../../main/core/broker/sse-parser.js';
import { headerRecord } from '../../../../main/core/session/header-record.js';
import { createNodeHttpFetch, nodeHttpFetch } from '../../../../main/core/session/node-http-fetch.js';

/** A real HTTP server on 127.0.0.1: echoes requests, streams SSE, answers slowly on demand. */
let server: ReturnType<typeof createServer>;
let base: string;
const sse: ServerResponse[] = [];

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

beforeAll(async () => {
  server = createServer((req, res) => {
    void (async () => {
      if (req.url === '/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(': hello\n\n');
        sse.push(res);
        return;
      }
      if (req.url === '/slow') return; // never answers: the client aborts
      const body = await readBody(req);
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.setHeader('x-multi', ['one', 'two']);
      res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, headers: req.headers, body }));
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

type Echo = { method: string; headers: Record<string, string>; body: string };

describe('nodeHttpFetch (real HTTP server)', () => {
  it('sends method, headers and a string body, and reads status, headers and JSON', async () => {
    const res = await nodeHttpFetch(`${base}/echo`, { method: 'POST', headers: { 'Content-Type': 'application/jwt', DPoP: 'proof' }, body: 'eyJ.x.y' });
    expect(res.status).toBe(200);
    expect(res.ok).toBe(true);
    expect(res.headers.get('Content-Type')).toBe('application/json');
    expect(res.headers.get('x-multi')).toBe('one, two');
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(res.headers.get('absent')).toBeNull();
    const echo = (await res.json()) as Echo;
    expect(echo).toMatchObject({ method: 'POST', body: 'eyJ.x.y', headers: { 'content-type': 'application/jwt', dpop: 'proof', 'content-length': '7' } });
    expect(res.bodyUsed).toBe(true);
    await expect(res.text()).rejects.toThrow(/already been read/);
  });

  it('takes headers as a Headers object or pairs, and form bodies', async () => {
    const fromHeaders = (await (await nodeHttpFetch(`${base}/echo`, { headers: new Headers({ 'X-A': '1' }) })).json()) as Echo;
    expect(fromHeaders.headers['x-a']).toBe('1');
    const form = (await (await nodeHttpFetch(`${base}/echo`, { method: 'POST', headers: [['X-B', '2']], body: new URLSearchParams({ grant_type: 'x y' }) })).json()) as Echo;
    expect(form).toMatchObject({ body: 'grant_type=x+y', headers: { 'x-b': '2', 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8' } });
  });

  it('returns an error status as a response, and a clone reads the same body as the original', async () => {
    const res = await nodeHttpFetch(`${base}/missing`);
    expect(res.status).toBe(404);
    expect(res.ok).toBe(false);
    const copy = res.clone();
    expect(((await copy.json()) as Echo).method).toBe('GET');
    expect(((await res.json()) as Echo).method).toBe('GET');
  });

  it('fails with a TypeError when nothing listens, and with the abort reason when aborted', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await expect(nodeHttpFetch(`http://127.0.0.1:${port}/`)).rejects.toThrow(TypeError);
    await expect(nodeHttpFetch('file:///etc/passwd')).rejects.toThrow(/unsupported URL scheme/);

    const abort = new AbortController();
    const pending = nodeHttpFetch(`${base}/slow`, { signal: abort.signal });
    abort.abort(new Error('idle timeout'));
    await expect(pending).rejects.toThrow('idle timeout');
  });

  it('fails a request whose connection stays silent longer than the inactivity timeout', async () => {
    await expect(createNodeHttpFetch({ inactivityTimeoutMs: 50 })(`${base}/slow`)).rejects.toMatchObject({ cause: { message: /no data from .* for 50 ms/ } });
  });

  it('carries the event channel: SSE messages stream through the body', async () => {
    const channel = new EventChannel({ url: new URL(`${base}/events`), fetch: nodeHttpFetch, accessToken: async () => undefined, baseDelayMs: 10, maxDelayMs: 20 });
    const got: SseMessage[] = [];
    channel.on('message', (m) => got.push(m));
    channel.start();
    try {
      while (sse.length === 0) await new Promise((r) => setTimeout(r, 5));
      sse[0]!.write('id: 1\nevent: verdict\ndata: {"compliant":false}\n\n');
      while (got.length === 0) await new Promise((r) => setTimeout(r, 5));
      expect(got[0]).toMatchObject({ id: '1', event: 'verdict', data: '{"compliant":false}' });
    } finally {
      channel.stop();
    }
  });

  it('does not load undici: neither the request nor the response touches fetch, Headers or Response', async () => {
    // A fresh process: this one (vitest) has loaded undici long ago.
    const script = `
      const { nodeHttpFetch } = await import(${JSON.stringify(new URL('../../../../main/core/session/node-http-fetch.ts', import.meta.url).href)});
      const res = await nodeHttpFetch(${JSON.stringify(`${base}/echo`)}, { method: 'POST', headers: { a: 'b' }, body: 'x' });
      await res.clone().json(); await res.text();
      process.stdout.write(JSON.stringify({ status: res.status, undici: process.moduleLoadList.some((m) => m.includes('undici')) }));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 30_000 });
    expect(JSON.parse(stdout)).toEqual({ status: 200, undici: false });
  });
});

describe('headerRecord', () => {
  it('lower-cases names and joins repeated ones, from any HeadersInit', () => {
    expect(headerRecord({ DPoP: 'p', Accept: 'x' })).toEqual({ dpop: 'p', accept: 'x' });
    expect(headerRecord([['A', '1'], ['a', '2']])).toEqual({ a: '1, 2' });
    expect(headerRecord(new Headers({ Authorization: 'DPoP t' }))).toEqual({ authorization: 'DPoP t' });
    expect(headerRecord(undefined)).toEqual({});
    expect(headerRecord({ __proto__: 'x' } as never)).toEqual({});
    expect(headerRecord([['__proto__', 'x']])['__proto__']).toBe('x');
  });

  it('never throws on arbitrary records and pairs, and keeps every value', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string(), fc.string())), (pairs) => {
        const record = headerRecord(pairs);
        for (const [name, value] of pairs) expect(record[name.toLowerCase()]).toContain(value);
      }),
    );
  });
});
