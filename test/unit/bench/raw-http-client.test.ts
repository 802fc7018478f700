import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawConnection, ResponseParser, serializeRequest } from '../../../bench/support/raw-http-client.js';

// The load generator's HTTP client (bench/support/raw-http-client.ts): its answer parser must
// frame answers exactly, however the bytes are split, and refuse what it cannot frame.

function answer(status: number, body: string, extra = ''): Buffer {
  return Buffer.from(`HTTP/1.1 ${status} X\r\ncontent-type: application/json\r\n${extra}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, 'utf8');
}

/** Split `bytes` at the given cut points (sorted, deduplicated, inside the buffer). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    parts.push(bytes.subarray(from, p));
    from = p;
  }
  parts.push(bytes.subarray(from));
  return parts.filter((p) => p.length > 0);
}

describe('ResponseParser', () => {
  it('frames consecutive answers exactly, however the bytes arrive', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 100, max: 599 }), fc.string({ maxLength: 300 })), { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (answers, cuts) => {
          const parser = new ResponseParser();
          const got = split(Buffer.concat(answers.map(([s, b]) => answer(s, b))), cuts).flatMap((chunk) => parser.push(chunk));
          expect(got.map((r) => [r.status, r.body.toString('utf8')])).toEqual(answers);
        },
      ),
    );
  });

  it('never throws anything but an Error on arbitrary bytes, and never returns an answer it did not frame', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const parser = new ResponseParser();
        try {
          for (const r of parser.push(Buffer.from(bytes))) {
            expect(r.status).toBeGreaterThanOrEqual(100);
            expect(r.status).toBeLessThan(600);
          }
        } catch (err) {
          expect(err).toBeInstanceOf(Error);
        }
      }),
    );
  });

  it('refuses answers it cannot frame: chunked, no length, two lengths, not HTTP', () => {
    expect(() => new ResponseParser().push(Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n'))).toThrow(/chunked/);
    expect(() => new ResponseParser().push(Buffer.from('HTTP/1.1 200 OK\r\nx: y\r\n\r\n'))).toThrow(/Content-Length/);
    expect(() => new ResponseParser().push(answer(200, 'ab', 'content-length: 3\r\n'))).toThrow(/Content-Length/);
    expect(() => new ResponseParser().push(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n'))).toThrow(/status line/);
  });
});

describe('RawConnection against a real node:http server', () => {
  let server: Server;
  let url: URL;
  const seen: { method?: string; url?: string; dpop?: string | string[]; body: string }[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, dpop: req.headers.dpop, body });
        const text = JSON.stringify({ n: seen.length });
        res.writeHead(seen.length === 3 ? 422 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/posture?x=1`);
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('sends pre-serialised requests one after another on one keep-alive connection and reads each answer', async () => {
    const connection = new RawConnection(url);
    const statuses: number[] = [];
    for (const body of ['ä'.repeat(10), 'b', 'c']) {
      const answer = await connection.send(serializeRequest('POST', url, { 'content-type': 'application/jwt', dpop: 'proof' }, body));
      statuses.push(answer.status);
      expect(JSON.parse(answer.body.toString('utf8'))).toEqual({ n: seen.length });
    }
    const fourth = connection.send(serializeRequest('POST', url, {}, 'd'));
    await expect(connection.send(serializeRequest('POST', url, {}, 'e'))).rejects.toThrow(/in flight/);
    statuses.push((await fourth).status);
    connection.close();
    await expect(connection.send(serializeRequest('POST', url, {}, 'f'))).rejects.toThrow();
    expect(statuses).toEqual([200, 200, 422, 200]);
    expect(seen.map((s) => s.body)).toEqual(['ä'.repeat(10), 'b', 'c', 'd']);
    expect(seen[0]).toEqual({ method: 'POST', url: '/posture?x=1', dpop: 'proof', body: 'ä'.repeat(10) });
    expect(() => serializeRequest('POST', url, { dpop: 'a\r\nx: y' }, '')).toThrow(/line break/);
  });
});
