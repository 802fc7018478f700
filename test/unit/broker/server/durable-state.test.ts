import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DurableChallenges } from '../../../../broker/server/durable-challenges.js';
import { DpopVerifier } from '../../../../broker/server/dpop.js';
import { BrokerError } from '../../../../broker/server/errors.js';
import { BROADCASTS_KEPT, EVENTS_KEPT_PER_DEVICE, EventHub } from '../../../../broker/server/events.js';
import { PUSH_MAX_ATTEMPTS, pushBackoffMs } from '../../../../broker/server/signals.js';
import { SqliteStorage } from '../../../../broker/server/storage/sqlite-storage.js';

let dir: string;
let storage: SqliteStorage;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ward-broker-durable-unit-'));
  storage = new SqliteStorage(join(dir, 'broker.db'));
});
afterEach(() => {
  storage.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Reopen the database, as a restarted broker does. */
const reopen = (): SqliteStorage => {
  storage.close();
  storage = new SqliteStorage(join(dir, 'broker.db'));
  return storage;
};

interface Written {
  readonly id?: string;
  readonly event: string;
  readonly data: string;
}

/** What EventHub.open writes, parsed (a stand-in for node's ServerResponse: writeHead, write, on). */
function sink(): { res: ServerResponse; events: Written[]; close: () => void } {
  const events: Written[] = [];
  let onClose: (() => void) | undefined;
  const res = {
    writeHead: () => res,
    write: (chunk: string) => {
      if (chunk.startsWith(':')) return true;
      const fields = Object.fromEntries(
        chunk
          .trim()
          .split('\n')
          .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]),
      ) as Record<string, string>;
      events.push({ ...(fields.id === undefined ? {} : { id: fields.id }), event: fields.event!, data: fields.data! });
      return true;
    },
    on: (name: string, fn: () => void) => {
      if (name === 'close') onClose = fn;
      return res;
    },
    end: () => onClose?.(),
  };
  return { res: res as unknown as ServerResponse, events, close: () => onClose?.() };
}

describe('event log (Last-Event-ID replay)', () => {
  it('keeps ids increasing across a reopen, replays in order and keeps the stated number per device', () => {
    const hub = new EventHub(storage.events);
    for (let i = 0; i < EVENTS_KEPT_PER_DEVICE + 5; i++) hub.send('dev-a', 'caep', `set-${i}`);
    hub.send('dev-b', 'caep', 'other device');
    const hub2 = new EventHub(reopen().events);
    hub2.broadcast('policy', { version: 1 });
    const fromStart = sink();
    hub2.open('dev-a', fromStart.res, '0');
    const events = fromStart.events;
    // Five of dev-a's events were dropped: the agent is told, then gets what is kept, in order.
    expect(events[0]).toEqual({ event: 'reset', data: JSON.stringify({ reason: 'events-expired' }) });
    const replayed = events.slice(1, -1);
    expect(replayed).toHaveLength(EVENTS_KEPT_PER_DEVICE + 1);
    expect(replayed[0]!.data).toBe('set-5');
    expect(replayed.at(-1)).toMatchObject({ event: 'policy' });
    const ids = replayed.map((e) => Number(e.id));
    expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
    expect(replayed.some((e) => e.data === 'other device')).toBe(false);
    expect(events.at(-1)).toMatchObject({ event: 'ready', id: String(ids.at(-1)) });
    fromStart.close();
  });

  it('does not replay expired challenges, and keeps the stated number of broadcasts', () => {
    let now = 1_000_000;
    const hub = new EventHub(storage.events, () => now);
    hub.send('dev-a', 'challenge', { nonce: 'old' }, { expiresAtMs: now + 1000 });
    hub.send('dev-a', 'challenge', { nonce: 'live' }, { expiresAtMs: now + 60_000 });
    for (let i = 0; i < BROADCASTS_KEPT; i++) hub.broadcast('policy', { version: i });
    now += 5000;
    const s = sink();
    hub.open('dev-a', s.res, '0');
    expect(s.events.map((e) => e.event)).toEqual(['challenge', ...Array<string>(BROADCASTS_KEPT).fill('policy'), 'ready']);
    expect(s.events[0]!.data).toContain('live');
    hub.broadcast('policy', { version: 'one too many' });
    const t = sink();
    hub.open('dev-a', t.res, '0');
    expect(t.events[0]!.event).toBe('reset');
  });

  it('any Last-Event-ID header: never throws, ends with ready, and replays only ids it handed out', () => {
    const hub = new EventHub(storage.events);
    for (let i = 0; i < 3; i++) hub.send('dev-a', 'caep', `set-${i}`);
    const lastId = storage.events.lastId();
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.nat().map(String), fc.constantFrom('', '-1', '1e3', ' 1', '0x1', '99999999999999999999')), (header) => {
        const s = sink();
        hub.open('dev-a', s.res, header);
        s.close();
        expect(s.events.at(-1)?.event).toBe('ready');
        const known = /^\d{1,15}$/.test(header) && Number(header) <= lastId;
        expect(s.events[0]?.event === 'reset').toBe(!known);
        for (const e of s.events.filter((x) => x.event === 'caep')) expect(Number(e.id)).toBeGreaterThan(Number(header));
      }),
      { numRuns: 200 },
    );
  });
});

describe('push queue', () => {
  it('is bounded (oldest to the dead letters, which are bounded too), ordered, and sends only to the configured receiver', () => {
    const q = storage.pushQueue;
    const limits = { maxQueued: 2, maxDeadLetters: 1 };
    expect(q.enqueue('https://a', 'x', 'set-1', 1, limits)).toMatchObject({ deadLettered: 0, dropped: 0 });
    expect(q.enqueue('https://a', 'x', 'set-2', 2, limits)).toMatchObject({ deadLettered: 0, dropped: 0 });
    expect(q.enqueue('https://a', 'x', 'set-3', 3, limits)).toMatchObject({ deadLettered: 1, dropped: 0 });
    expect(q.size()).toBe(2);
    expect(q.head('https://a')?.setJwt).toBe('set-2');
    expect(q.deadLetters(10)).toMatchObject([{ setJwt: 'set-1', lastStatus: null, lastError: expect.stringMatching(/^queue-full/), deadAtMs: 3 }]);
    q.enqueue('https://b', 'x', 'set-b', 4, { maxQueued: 10, maxDeadLetters: 1 });
    const q2 = reopen().pushQueue;
    // set-b becomes a dead letter; set-1, the oldest beyond the bound of 1, goes for good.
    expect(q2.deadLetterOtherReceivers('https://a', 5, 1)).toEqual({ deadLettered: 1, dropped: 1 });
    expect(q2.deadLetters(10).map((d) => [d.setJwt, d.receiver])).toEqual([['set-b', 'https://b']]);
    const head = q2.head('https://a')!;
    q2.recordAttempt(head.id, 3, 99);
    expect(q2.head('https://a')).toMatchObject({ setJwt: 'set-2', attempts: 3, nextAttemptAtMs: 99 });
    q2.remove(head.id);
    expect(q2.head('https://a')?.setJwt).toBe('set-3');
  });

  it('backs off 0.5 s doubling to at most 5 minutes', () => {
    expect([1, 2, 3, 4].map(pushBackoffMs)).toEqual([500, 1000, 2000, 4000]);
    expect(pushBackoffMs(PUSH_MAX_ATTEMPTS)).toBe(300_000);
  });
});

describe('durable challenges', () => {
  it('survive a reopen: an issued nonce is answerable once, a used one stays used, expiry and device are checked', () => {
    let now = 5_000_000;
    const a = new DurableChallenges(storage.challenges, () => now);
    const first = a.issue('dev-a', 60);
    const second = a.issue('dev-a', 60);
    const used = a.use(first.nonce, 'dev-a');
    expect(used.ok).toBe(true);
    used.markUsed?.();
    const b = new DurableChallenges(reopen().challenges, () => now);
    expect(b.use(first.nonce, 'dev-a')).toMatchObject({ ok: false, reason: 'replayed-nonce' });
    expect(b.use(second.nonce, 'dev-b')).toMatchObject({ ok: false, reason: 'subject-mismatch' });
    // A nonce is spent by any attempt that found it.
    expect(b.use(second.nonce, 'dev-a')).toMatchObject({ ok: false, reason: 'replayed-nonce' });
    const third = b.issue('dev-a', 60);
    now += 61_000;
    expect(b.use(third.nonce, 'dev-a')).toMatchObject({ ok: false, reason: 'expired-nonce' });
    b.prune();
    expect(storage.challenges.live(now - 61_000)).toHaveLength(0);
    expect(b.use('never-issued', 'dev-a')).toMatchObject({ ok: false, reason: 'unknown-nonce' });
  });
});

describe('DPoP-Nonce after a restart', () => {
  const HTU = 'http://127.0.0.1:8443/posture';
  const proof = async (claims: Record<string, unknown> = {}): Promise<string> => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    return new SignJWT({ htm: 'POST', htu: HTU, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(publicKey) })
      .sign(privateKey);
  };
  const request = (dpop: string) => ({ method: 'POST', headers: { dpop } }) as unknown as IncomingMessage;

  it('while required, refuses proofs without this process nonce (with the headers a client needs), then stops asking', async () => {
    let now = Date.now();
    const verifier = new DpopVerifier(() => now);
    verifier.requireNonceUntil(now + 1000);
    let refused: unknown;
    try {
      verifier.verify(request(await proof()), HTU);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(BrokerError);
    expect((refused as BrokerError).reason).toBe('use-dpop-nonce');
    expect((refused as BrokerError).headers['dpop-nonce']).toBe(verifier.nonce);
    expect((refused as BrokerError).headers['www-authenticate']).toMatch(/error="use_dpop_nonce"/);
    const otherNonce = await proof({ nonce: 'another-process-nonce' });
    expect(() => verifier.verify(request(otherNonce), HTU)).toThrow(BrokerError);
    expect(verifier.verify(request(await proof({ nonce: verifier.nonce })), HTU).jti).toBeTruthy();
    now += 1000;
    expect(verifier.verify(request(await proof()), HTU).jti).toBeTruthy();
    expect(new DpopVerifier().nonce).not.toBe(verifier.nonce);
  });
});
