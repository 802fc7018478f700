import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { DpopVerifier } from '../../../../broker/server/dpop.js';
import { BrokerError } from '../../../../broker/server/errors.js';

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
    // 61 s later the first five have passed their iat window (iat + 60 s): two new proofs forget them.
    nowMs += 61_000;
    const late = await proofAt(t0 + 61);
    verifier.verify(request(late), HTU);
    verifier.verify(request(await proofAt(t0 + 61)), HTU);
    expect(verifier.rememberedCount).toBe(2);
    expect(refusal(() => verifier.verify(request(late), HTU))).toMatch(/already used/);
  });
});
