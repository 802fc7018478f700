import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import type { JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { BrokerSdkError, es256Signer, signPolicyBundle, verifyPolicyBundle, type PolicyBundleRejectReason, type VerifyPolicyBundleOptions } from '../../../../broker/sdk/index.js';
import type { PolicyInput } from '../../../../main/core/policy/schema.js';

const NOW = new Date('2025-01-01T00:00:00Z');
const DAY_MS = 86_400_000;
const pair = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicJwk: publicKey.export({ format: 'jwk' }) as JWK };
};
const policyKey = pair();
const otherKey = pair();
const signer = es256Signer(policyKey.privateKey, 'policy-1');
const keys = [{ kid: 'policy-1', key: policyKey.publicJwk }];
const policy: PolicyInput = { schemaVersion: 1, name: 'default', rules: [{ id: 'disk', check: 'disk-encryption', expect: { status: 'pass' }, severity: 'block', graceSeconds: 3600 }] };

const sign = (version = 5, options: { expiresAt?: Date; issuer?: string; key?: typeof signer; now?: Date } = {}) =>
  signPolicyBundle(policy, options.key ?? signer, { version, expiresAt: options.expiresAt ?? new Date(NOW.getTime() + DAY_MS), now: options.now ?? NOW, ...(options.issuer ? { issuer: options.issuer } : {}) });

function reasonOf(jws: string, extra: VerifyPolicyBundleOptions = {}, trusted = keys): PolicyBundleRejectReason | 'ok' {
  const verdict = verifyPolicyBundle(jws, trusted, { now: NOW, ...extra });
  return verdict.ok ? 'ok' : verdict.reason;
}

describe('policy bundles', () => {
  it('round-trips a policy with its version and expiry', async () => {
    const verdict = verifyPolicyBundle(await sign(7, { issuer: 'https://broker.example' }), keys, { now: NOW, lastSeenVersion: 7, issuer: 'https://broker.example' });
    expect(verdict.ok).toBe(true);
    if (!verdict.ok) return;
    expect(verdict.bundle).toMatchObject({ version: 7, kid: 'policy-1', expiresAt: new Date(NOW.getTime() + DAY_MS) });
    expect(verdict.bundle.policy.rules[0]).toMatchObject({ id: 'disk', graceSeconds: 3600 });
    expect(verdict.bundle.policy.reportOnly).toBe(false);
  });

  it('refuses each bad bundle with its own reason', async () => {
    const good = await sign(5);
    const [h, p] = good.split('.') as [string, string];
    const cases: [string, Promise<string> | string, VerifyPolicyBundleOptions, PolicyBundleRejectReason, typeof keys?][] = [
      ['garbage', '...', {}, 'malformed'],
      ['unknown kid', sign(5, { key: es256Signer(otherKey.privateKey, 'policy-2') }), {}, 'unknown-key'],
      ['key swapped behind the kid', sign(5, { key: es256Signer(otherKey.privateKey, 'policy-1') }), {}, 'bad-signature'],
      ['payload edited', `${h}.${p.slice(0, -2)}${p.endsWith('A') ? 'Bw' : 'Aw'}.${good.split('.')[2]}`, {}, 'bad-signature'],
      ['another issuer', sign(5, { issuer: 'https://evil.example' }), { issuer: 'https://broker.example' }, 'wrong-issuer'],
      ['expired', good, { now: new Date(NOW.getTime() + 2 * DAY_MS) }, 'expired'],
      ['issued in the future', sign(5, { now: new Date(NOW.getTime() + 3_600_000), expiresAt: new Date(NOW.getTime() + 2 * DAY_MS) }), {}, 'not-yet-valid'],
      ['older than the last seen', good, { lastSeenVersion: 6 }, 'version-rollback'],
    ];
    for (const [name, jws, extra, reason, trusted] of cases) expect({ name, reason: reasonOf(await jws, extra, trusted) }).toEqual({ name, reason });
    expect(reasonOf(good, { lastSeenVersion: 5 })).toBe('ok');
  });

  it('refuses a validly signed bundle whose policy is invalid, and refuses to sign one', async () => {
    const { signCompactJws } = await import('../../../../broker/sdk/jws.js');
    const iat = Math.floor(NOW.getTime() / 1000);
    const jws = await signCompactJws({ typ: 'ward-policy+jwt' }, { version: 1, iat, exp: iat + 60, policy: { schemaVersion: 1, rules: 'all' } }, signer);
    expect(reasonOf(jws)).toBe('invalid-policy');
    await expect(signPolicyBundle({ schemaVersion: 1, rules: [{ id: 'x' }] } as unknown as PolicyInput, signer, { version: 1, expiresAt: new Date(Date.now() + 1000) })).rejects.toBeInstanceOf(BrokerSdkError);
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.jsonValue()), (input) => {
        expect(verifyPolicyBundle(input, keys).ok).toBe(false);
      }),
    );
  });
});
