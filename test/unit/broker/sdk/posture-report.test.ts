import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  PostureReportClaimsSchema,
  importDeviceKey,
  postureViewFromReport,
  readPostureReportClaims,
  verifyPostureReport,
  type PostureRejectReason,
  type VerifyPostureReportOptions,
} from '../../../../broker/sdk/index.js';
import { buildPostureReport, postureReportClaims } from '../../../../main/core/broker/report.js';
import { evaluatePolicy } from '../../../../main/core/policy/evaluate.js';
import { PolicySchema } from '../../../../main/core/policy/schema.js';
import { makeDevice, mintReport, sampleSnapshot, type TestDevice } from './helpers.js';

const NOW = new Date('2025-01-01T00:00:10.000Z');
const NONCE = 'n0nce-from-the-broker-0123456789';
let device: TestDevice;
let other: TestDevice;

beforeAll(async () => {
  device = await makeDevice('device-a');
  other = await makeDevice('device-b');
});

function opts(extra: Partial<VerifyPostureReportOptions> = {}): VerifyPostureReportOptions {
  return { deviceKey: device.signer.publicJwk, deviceId: device.deviceId, lastSeq: 0, maxAgeSeconds: 300, clockSkewSeconds: 30, now: NOW, ...extra };
}

function reasonOf(jwt: unknown, options: VerifyPostureReportOptions): PostureRejectReason | 'ok' {
  const verdict = verifyPostureReport(jwt, options);
  return verdict.ok ? 'ok' : verdict.reason;
}

/** Re-sign a token's parts with a header this test chooses (signJwt always writes alg ES256). */
async function withRawHeader(header: Record<string, unknown>, payloadB64: string, signer = device.signer): Promise<string> {
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${payloadB64}`;
  return `${input}.${Buffer.from(await signer.sign(Buffer.from(input))).toString('base64url')}`;
}

describe('verifyPostureReport', () => {
  it('accepts a report the agent built, nonce-bound, and returns its claims and thumbprint', async () => {
    const jwt = await buildPostureReport(sampleSnapshot(), device.signer, { deviceId: device.deviceId, seq: 1, nonce: NONCE, now: NOW });
    const verdict = verifyPostureReport(jwt, opts({ expectedNonce: NONCE }));
    expect(verdict.ok).toBe(true);
    if (!verdict.ok) return;
    expect(verdict.report.thumbprint).toBe(device.thumbprint);
    expect(verdict.report.claims).toMatchObject({ device_id: 'device-a', seq: 1, eat_nonce: NONCE, swname: 'Ward', assurance: 'none' });
    expect(Object.keys(verdict.report.claims.submods)).toContain('disk-encryption');
  });

  it('accepts a resolver from device_id to the pinned key', async () => {
    const jwt = await mintReport(device, { now: NOW });
    const keys = new Map([[device.deviceId, device.signer.publicJwk]]);
    expect(reasonOf(jwt, opts({ deviceKey: (id) => keys.get(id) }))).toBe('ok');
    expect(reasonOf(jwt, opts({ deviceKey: () => undefined }))).toBe('unknown-device');
  });

  it('gives every tampered or stale report its own reason', async () => {
    const good = await mintReport(device, { now: NOW });
    const [h, p] = good.split('.') as [string, string, string];
    const flipped = `${p.slice(0, 10)}${p[10] === 'A' ? 'B' : 'A'}${p.slice(11)}`;
    const cases: [string, Promise<string> | string, Partial<VerifyPostureReportOptions>, PostureRejectReason][] = [
      ['not a JWS', 'not-a-token', {}, 'malformed'],
      ['claims missing', mintReport(device, { now: NOW }, (c) => delete c.seq), {}, 'malformed'],
      ['typ of another token', mintReport(device, { now: NOW }, undefined, { typ: 'JWT' }), {}, 'wrong-typ'],
      ['alg none', withRawHeader({ typ: 'ward-posture+jwt', alg: 'HS256', kid: device.thumbprint }, p), {}, 'unsupported-alg'],
      ['no key pinned', good, { deviceKey: null }, 'unknown-device'],
      ['signed by another enrolled key', mintReport(other, { now: NOW }, (c) => (c.device_id = device.deviceId)), {}, 'foreign-key'],
      ['carries its own jwk', mintReport(device, { now: NOW }, undefined, { jwk: other.signer.publicJwk }), {}, 'foreign-key'],
      ['payload edited after signing', `${h}.${flipped}.${good.split('.')[2]}`, {}, 'bad-signature'],
      ['another key claiming the pinned kid', mintReport(device, { now: NOW }, undefined, {}, other.signer), {}, 'bad-signature'],
      ['unknown posture schema', mintReport(device, { now: NOW }, (c) => ((c.posture as { schemaVersion: number }).schemaVersion = 2)), {}, 'unsupported-schema'],
      ['for another device', good, { deviceId: 'device-z' }, 'device-mismatch'],
      ['ueid of another key', mintReport(device, { now: NOW }, (c) => (c.ueid = 'AQ' + 'B'.repeat(42))), {}, 'device-mismatch'],
      ['expired', good, { now: new Date(NOW.getTime() + 400_000) }, 'expired'],
      ['issued in the future', mintReport(device, { now: new Date(NOW.getTime() + 120_000) }), {}, 'not-yet-valid'],
      ['older than maxAge', mintReport(device, { now: new Date(NOW.getTime() - 1000_000), ttlSeconds: 3600 }), {}, 'too-old'],
      ['answers another challenge', mintReport(device, { now: NOW, nonce: 'some-other-nonce-value' }), { expectedNonce: NONCE }, 'nonce-mismatch'],
      ['answers no challenge', good, { expectedNonce: NONCE }, 'nonce-mismatch'],
      ['seq replayed', good, { lastSeq: 1 }, 'replayed-seq'],
      ['seq rolled back', good, { lastSeq: 5 }, 'rolled-back-seq'],
      ['software key where hardware is required', good, { acceptedAssurance: ['hardware'] }, 'assurance-too-low'],
    ];
    for (const [name, token, extra, reason] of cases) {
      expect({ name, reason: reasonOf(await token, opts(extra)) }).toEqual({ name, reason });
    }
    expect(reasonOf(good, opts())).toBe('ok');
  });

  it('tolerates clock skew within the bound and not beyond', async () => {
    const jwt = await mintReport(device, { now: new Date(NOW.getTime() + 20_000) });
    expect(reasonOf(jwt, opts({ clockSkewSeconds: 30 }))).toBe('ok');
    expect(reasonOf(jwt, opts({ clockSkewSeconds: 5 }))).toBe('not-yet-valid');
  });

  it('treats lastSeq null as "nothing accepted yet"', async () => {
    expect(reasonOf(await mintReport(device, { now: NOW, seq: 0 }), opts({ lastSeq: null }))).toBe('ok');
  });

  it('never throws on arbitrary input, only returns verdicts', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.jsonValue(), fc.array(fc.base64String(), { maxLength: 4 }).map((a) => a.join('.'))), (input) => {
        const verdict = verifyPostureReport(input, opts());
        expect(verdict.ok).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on arbitrary claims signed by the pinned key', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (payload) => {
        const jwt = await withRawHeader({ typ: 'ward-posture+jwt', alg: 'ES256', kid: device.thumbprint }, Buffer.from(JSON.stringify(payload)).toString('base64url'));
        const verdict = verifyPostureReport(jwt, opts());
        expect(verdict.ok ? 'ok' : ['malformed', 'unsupported-schema'].includes(verdict.reason)).toBeTruthy();
      }),
      { numRuns: 150 },
    );
  });

  it('a verified report evaluates under policy like the snapshot it came from', async () => {
    const snapshot = sampleSnapshot();
    const verdict = verifyPostureReport(await mintReport(device, { now: NOW, snapshot }), opts());
    if (!verdict.ok) throw new Error(verdict.detail);
    const policy = PolicySchema.parse({
      schemaVersion: 1,
      rules: [
        { id: 'fw', check: 'firewall', expect: { status: 'pass' }, severity: 'block' },
        { id: 'lock', check: 'screen-lock', expect: { field: 'maxScreenLockDelaySeconds', op: 'lte', value: 900 }, severity: 'warn' },
      ],
    });
    const strip = (e: ReturnType<typeof evaluatePolicy>) => e.results.map(({ remediation: _r, ...rest }) => rest);
    expect(strip(evaluatePolicy(postureViewFromReport(verdict.report.claims), policy, { now: NOW }))).toEqual(strip(evaluatePolicy(snapshot, policy, { now: NOW })));
  });
});

describe('readPostureReportClaims (the hot-path reader)', () => {
  const base = (): Record<string, unknown> =>
    JSON.parse(JSON.stringify(postureReportClaims(sampleSnapshot(), importDeviceKey(device.signer.publicJwk).thumbprint, device.signer, { deviceId: 'd', seq: 3, nonce: NONCE, now: NOW })));

  it('returns what the zod schema returns for agent-built claims, extra claims stripped', () => {
    const claims = { ...base(), extra: 1 };
    expect(readPostureReportClaims(claims)).toEqual(PostureReportClaimsSchema.parse(claims));
  });

  it('agrees with the zod schema on mutated claims', () => {
    const paths = ['iat', 'exp', 'seq', 'eat_nonce', 'ueid', 'swname', 'swversion', 'device_id', 'assurance', 'submods', 'posture', 'posture.schemaVersion', 'posture.snapshotId', 'posture.takenAt', 'posture.os', 'posture.os.platform', 'posture.os.build', 'posture.os.name', 'submods.firewall', 'submods.firewall.status', 'submods.firewall.observed', 'submods.Bad_Id'];
    const mutate = fc.record({
      path: fc.constantFrom(...paths),
      value: fc.oneof(fc.jsonValue(), fc.constantFrom('pass', 'hardware', 'linux', -1, 0, 1.5, 2 ** 60, '2025-01-01T00:00:00Z', 'x'.repeat(300)), fc.constant(undefined)),
    });
    fc.assert(
      fc.property(fc.array(mutate, { maxLength: 3 }), (mutations) => {
        const claims = base();
        for (const { path, value } of mutations) {
          const parts = path.split('.');
          let target = claims as Record<string, unknown>;
          for (const part of parts.slice(0, -1)) {
            const next = target[part];
            if (typeof next !== 'object' || next === null || Array.isArray(next)) return;
            target = next as Record<string, unknown>;
          }
          const last = parts[parts.length - 1] as string;
          if (value === undefined) delete target[last];
          else target[last] = value;
        }
        const json = JSON.parse(JSON.stringify(claims)) as unknown;
        const zod = PostureReportClaimsSchema.safeParse(json);
        expect(readPostureReportClaims(json)).toEqual(zod.success ? zod.data : undefined);
      }),
      { numRuns: 1000 },
    );
  });
});
