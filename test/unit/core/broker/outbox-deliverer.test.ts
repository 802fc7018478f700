import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Outbox } from '../../../../main/core/broker/outbox.js';
import { OutboxDeliverer, classifyHttpStatus, type DeliveryResult } from '../../../../main/core/broker/outbox-deliverer.js';
import { backoffDelayMs, systemClock } from '../../../../main/core/session/clock.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ward-deliverer-'));
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

describe('OutboxDeliverer (fake clock)', () => {
  it('delivers in order, backs off exponentially while the broker is down, and resumes where it stopped', async () => {
    const outbox = Outbox.open(join(dir, 'q.db'));
    for (const body of ['a', 'b', 'c']) outbox.enqueue('set', body);
    let brokerUp = false;
    const delivered: string[] = [];
    const delays: number[] = [];
    const deliverer = new OutboxDeliverer({
      outbox,
      clock: systemClock,
      baseDelayMs: 1_000,
      maxDelayMs: 8_000,
      random: () => 1, // the top of each jitter window, so the delays are predictable
      send: async (item): Promise<DeliveryResult> => {
        if (!brokerUp) return { kind: 'retry', reason: 'HTTP 503' };
        delivered.push(item.body);
        return { kind: 'delivered' };
      },
    });
    deliverer.on('retry-scheduled', (_item, delayMs) => delays.push(delayMs));
    deliverer.start();
    await vi.advanceTimersByTimeAsync(1_000 + 2_000 + 4_000 + 8_000 + 8_000);
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
    expect(delivered).toEqual([]);
    expect(outbox.peek()?.attempts).toBe(6);
    brokerUp = true;
    await vi.advanceTimersByTimeAsync(8_000);
    expect(delivered).toEqual(['a', 'b', 'c']);
    expect(outbox.stats().pending).toBe(0);
    await deliverer.stop();
    outbox.close();
  });

  it('moves an item the broker refuses for good to the dead letters and goes on', async () => {
    const outbox = Outbox.open(join(dir, 'q.db'));
    outbox.enqueue('set', 'bad');
    outbox.enqueue('set', 'good');
    const dead: string[] = [];
    const deliverer = new OutboxDeliverer({
      outbox,
      clock: systemClock,
      send: async (item) => (item.body === 'bad' ? classifyHttpStatus(400) : classifyHttpStatus(200)),
    });
    deliverer.on('dead-letter', (item, reason) => dead.push(`${item.body}: ${reason}`));
    deliverer.start();
    await deliverer.drainOnce();
    expect(dead).toEqual(['bad: HTTP 400']);
    expect(outbox.stats()).toMatchObject({ pending: 0, deadLetters: 1 });
    outbox.close();
  });

  it('sorts HTTP answers into deliver, retry and reject', () => {
    expect(classifyHttpStatus(204).kind).toBe('delivered');
    for (const s of [408, 425, 429, 500, 502, 503]) expect(classifyHttpStatus(s).kind).toBe('retry');
    for (const s of [400, 403, 404, 413]) expect(classifyHttpStatus(s).kind).toBe('rejected');
  });

  it('keeps full-jitter delays within [cap/2, cap] and the cap within the maximum', () => {
    for (let attempt = 0; attempt < 40; attempt++) {
      for (const r of [0, 0.5, 1]) {
        const d = backoffDelayMs(attempt, { baseMs: 500, maxMs: 60_000, random: () => r });
        const cap = Math.min(60_000, 500 * 2 ** attempt);
        expect(d).toBeGreaterThanOrEqual(cap / 2);
        expect(d).toBeLessThanOrEqual(cap);
      }
    }
  });
});
