import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SseParser } from '../../../../main/core/broker/sse-parser.js';

describe('SseParser', () => {
  it('parses events, ids, comments, multi-line data and CRLF', () => {
    const p = new SseParser();
    const out = p.push(': keepalive\r\nid: 7\r\nevent: challenge\r\ndata: {"nonce":"a"}\r\n\r\ndata: line1\ndata: line2\n\nretry: 3000\nevent: x\n\n');
    expect(out).toEqual([{ event: 'challenge', data: '{"nonce":"a"}', id: '7' }, { event: 'message', data: 'line1\nline2' }]);
    expect(p.lastEventId).toBe('7');
  });

  it('holds a lone CR that may be the first half of CRLF', () => {
    const p = new SseParser();
    expect(p.push('data: a\r')).toEqual([]);
    expect(p.push('\n\r\n')).toEqual([{ event: 'message', data: 'a' }]);
  });

  it('gives the same events however the stream is cut into chunks, even inside UTF-8 characters (fast-check)', () => {
    const event = fc.record({
      event: fc.stringMatching(/^[a-z-]{1,12}$/),
      data: fc.string({ maxLength: 40 }).filter((s) => !/[\r\n]/.test(s)),
    });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (events, cuts) => {
        const bytes = new TextEncoder().encode(events.map((e) => `event: ${e.event}\ndata: ${e.data}\n\n`).join(''));
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const p = new SseParser();
        const got = [];
        let at = 0;
        for (const point of [...points, bytes.length]) {
          got.push(...p.push(bytes.slice(at, point)));
          at = point;
        }
        expect(got).toEqual(events.map((e) => ({ event: e.event, data: e.data })));
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on arbitrary bytes (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 5 }), (chunks) => {
        const p = new SseParser();
        for (const c of chunks) expect(Array.isArray(p.push(c))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});
