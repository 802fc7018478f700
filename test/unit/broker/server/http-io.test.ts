import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendJson, sendJsonText } from '../../../../broker/server/http/http-io.js';

// The answers' headers are built as a flat list for writeHead (http-io.ts): a real server and
// fetch check what a client receives.
describe('sendJson / sendJsonText headers', () => {
  let server: Server;
  let url = '';
  let nextHeaders: Record<string, string> = {};
  let nextText = '{}';
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/json') sendJson(res, 201, { a: 'é' }, nextHeaders);
      else sendJsonText(res, 200, nextText, nextHeaders);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('sends the security headers, the JSON type and the byte length of the body', async () => {
    nextHeaders = {};
    const res = await fetch(`${url}/json`);
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength('{"a":"é"}')));
    expect(await res.json()).toEqual({ a: 'é' });
  });

  it('extra headers are added, and replace a default of the same name (any case) instead of repeating it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom('dpop-nonce', 'www-authenticate', 'Cache-Control', 'x-extra'), fc.stringMatching(/^[!-~]{1,20}$/), { maxKeys: 4 }),
        fc.string({ maxLength: 50 }),
        async (headers, value) => {
          nextHeaders = headers;
          nextText = JSON.stringify({ value });
          const res = await fetch(`${url}/text`);
          expect(await res.json()).toEqual({ value });
          for (const [name, v] of Object.entries(headers)) expect(res.headers.get(name)).toBe(v);
          if (!('Cache-Control' in headers)) expect(res.headers.get('cache-control')).toBe('no-store');
          expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(nextText)));
        },
      ),
      { numRuns: 40 },
    );
  });
});
