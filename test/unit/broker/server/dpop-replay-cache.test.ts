import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DpopVerifier } from '../../../../broker/server/dpop.js';
import { BrokerError } from '../../../../broker/server/errors.js';
import { GENERATION_SECONDS, ReplaySet } from '../../../../broker/server/replay-set.js';

const HTU = 'http://127.0.0.1:8443/posture';

async function proof(): Promise<string> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return new SignJWT({ htm: 'POST', htu: HTU, jti: randomUUID(), iat: Math.floor(Date.now() / 1000) })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(publicKey) })
    .sign(privateKey);
}

const request = (dpop: string) => ({ method: 'POST', headers: { dpop } }) as unknown as IncomingMessage;
const refusal = (fn: () => unknown): string => {
  try {
    fn();
    return 'accepted';
  } catch (err) {
    return err instanceof BrokerError ? err.message : String(err);
  }
};

describe('DPoP replay cache', () => {
  it('refuses a proof used twice', async () => {
    const verifier = new DpopVerifier();
    const p = await proof();
    expect(refusal(() => verifier.verify(request(p), HTU))).toBe('accepted');
    expect(refusal(() => verifier.verify(request(p), HTU))).toMatch(/already used/);
  });

  it('does not remember proofs from keys the broker refuses, and remembers admitted ones', async () => {
    const verifier = new DpopVerifier();
    const p = await proof();
    const unknownDevice = () => {
      throw new BrokerError('unknown-device', 'This device key is not enrolled with this broker.');
    };
    expect(refusal(() => verifier.verifyFor(request(p), HTU, unknownDevice))).toMatch(/not enrolled/);
    // Not recorded: the same proof is not a "replay" once the key is admitted…
    expect(verifier.verifyFor(request(p), HTU, (jkt) => `device-of-${jkt.slice(0, 4)}`)).toMatch(/^device-of-/);
    // …and after admission it is remembered, so a second use is refused.
    expect(refusal(() => verifier.verifyFor(request(p), HTU, () => 'device'))).toMatch(/already used/);
  });
});

describe('DPoP replay cache expiry', () => {
  const proofAt = async (iat: number, jti = randomUUID()): Promise<string> => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    return new SignJWT({ htm: 'POST', htu: HTU, jti, iat })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(publicKey) })
      .sign(privateKey);
  };

  it('forgets expired proofs as new ones arrive, without waiting for the cache to fill, and still refuses live replays', async () => {
    let nowMs = 1_700_000_000_000;
    const verifier = new DpopVerifier(() => nowMs);
    const t0 = nowMs / 1000;
    const early = await Promise.all([0, 1, 2, 3, 4].map(() => proofAt(t0)));
    for (const p of early) verifier.verify(request(p), HTU);
    expect(verifier.rememberedCount).toBe(5);
    // Still remembered just after their iat window (iat + 60 s) ends: entries are dropped by
    // generation, at most GENERATION_SECONDS late (remembering longer is the safe side).
    nowMs += 61_000;
    verifier.verify(request(await proofAt(t0 + 61)), HTU);
    expect(verifier.rememberedCount).toBe(6);
    // Once their generation has passed, new proofs find them gone.
    nowMs += GENERATION_SECONDS * 1000;
    const late = await proofAt(t0 + 61 + GENERATION_SECONDS);
    verifier.verify(request(late), HTU);
    expect(verifier.rememberedCount).toBe(2);
    expect(refusal(() => verifier.verify(request(late), HTU))).toMatch(/already used/);
  });
});

describe('ReplaySet', () => {
  type Op = { kind: 'add'; key: number; ttl: number } | { kind: 'tick'; seconds: number };
  const ops = fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant('add' as const), key: fc.integer({ min: 0, max: 40 }), ttl: fc.integer({ min: 0, max: 120 }) }),
      fc.record({ kind: fc.constant('tick' as const), seconds: fc.integer({ min: 0, max: 30 }) }),
    ),
    { maxLength: 200 },
  );

  it('answers like a map of key → expiry: never forgets an entry before it expires, never invents one, forgets it within a generation after', () => {
    fc.assert(
      fc.property(ops, fc.integer({ min: 1_700_000_000, max: 1_800_000_000 }), (sequence: Op[], start) => {
        const set = new ReplaySet(1_000_000);
        const model = new Map<number, number>(); // key → latest expiry
        let now = start;
        for (const op of sequence) {
          if (op.kind === 'tick') {
            now += op.seconds;
            continue;
          }
          const fp = ReplaySet.fingerprint(`key-${op.key}`);
          const expiry = model.get(op.key);
          if (expiry !== undefined && expiry > now) expect(set.has(fp, now)).toBe(true);
          if (expiry === undefined) expect(set.has(fp, now)).toBe(false);
          if (expiry !== undefined && expiry + GENERATION_SECONDS <= now) expect(set.has(fp, now)).toBe(false);
          set.add(fp, now + op.ttl, now);
          model.set(op.key, Math.max(expiry ?? 0, now + op.ttl));
        }
      }),
    );
  });

  it('stays within its bound by forgetting the oldest generation first', () => {
    const set = new ReplaySet(3_000);
    const now = 1_700_000_000;
    for (let i = 0; i < 10_000; i++) set.add(ReplaySet.fingerprint(`k${i}`), now + Math.floor(i / 1000) * GENERATION_SECONDS, now);
    expect(set.size).toBeLessThanOrEqual(3_000);
    expect(set.has(ReplaySet.fingerprint('k9999'), now)).toBe(true);
    expect(set.has(ReplaySet.fingerprint('k0'), now)).toBe(false);
  });

  it('fingerprints are non-zero 52-bit integers', () => {
    fc.assert(
      fc.property(fc.string(), (key) => {
        const fp = ReplaySet.fingerprint(key);
        expect(Number.isSafeInteger(fp) && fp > 0 && fp < 2 ** 52).toBe(true);
      }),
    );
  });
});
