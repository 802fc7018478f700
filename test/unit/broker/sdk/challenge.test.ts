import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryChallengeStore, createChallenge } from '../../../../broker/sdk/index.js';

function clock(start = Date.parse('2025-01-01T00:00:00Z')) {
  let t = start;
  return { now: () => new Date(t), advance: (seconds: number) => (t += seconds * 1000) };
}

describe('challenges', () => {
  it('createChallenge makes a 32-byte base64url nonce with an expiry from the injected clock', () => {
    const c = clock();
    const challenge = createChallenge({ ttlSeconds: 60, now: c.now, subject: 'dev-1' });
    expect(challenge.nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(challenge.expiresAt.getTime() - challenge.issuedAt.getTime()).toBe(60_000);
    expect(challenge.subject).toBe('dev-1');
    expect(createChallenge().nonce).not.toBe(createChallenge().nonce);
  });

  it('a nonce is accepted once, then it is unknown', () => {
    const store = new MemoryChallengeStore();
    const { nonce } = store.issue();
    expect(store.consume(nonce).ok).toBe(true);
    expect(store.consume(nonce)).toMatchObject({ ok: false, reason: 'unknown-nonce' });
  });

  it('an expired nonce is refused as expired and removed', () => {
    const c = clock();
    const store = new MemoryChallengeStore({ ttlSeconds: 30, now: c.now });
    const { nonce } = store.issue();
    c.advance(29);
    const second = store.issue();
    c.advance(1);
    expect(store.consume(nonce)).toMatchObject({ ok: false, reason: 'expired-nonce' });
    expect(store.consume(second.nonce).ok).toBe(true);
    expect(store.size).toBe(0);
  });

  it('a nonce issued for one device is refused for another, and is spent by the attempt', () => {
    const store = new MemoryChallengeStore();
    const { nonce } = store.issue({ subject: 'dev-1' });
    expect(store.consume(nonce, 'dev-2')).toMatchObject({ ok: false, reason: 'subject-mismatch' });
    expect(store.consume(nonce, 'dev-1')).toMatchObject({ ok: false, reason: 'unknown-nonce' });
  });

  it('prune drops only expired challenges; the store stays bounded', () => {
    const c = clock();
    const store = new MemoryChallengeStore({ ttlSeconds: 10, now: c.now, maxOutstanding: 3 });
    store.issue();
    c.advance(11);
    const fresh = store.issue();
    expect(store.prune()).toBe(1);
    for (let i = 0; i < 5; i++) store.issue();
    expect(store.size).toBe(3);
    expect(store.consume(fresh.nonce)).toMatchObject({ ok: false, reason: 'unknown-nonce' });
  });

  it('consume never throws on arbitrary input', () => {
    const store = new MemoryChallengeStore();
    fc.assert(
      fc.property(fc.anything(), fc.anything(), (nonce, subject) => {
        expect(store.consume(nonce as string, subject as string).ok).toBe(false);
      }),
    );
  });
});
