import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { verifyEnrollment, verifyPostureReport, type EnrollmentRejectReason, type VerifyEnrollmentOptions } from '../../../../broker/sdk/index.js';
import { buildPostureReport } from '../../../../main/core/broker/report.js';
import { buildEnrollmentRequest } from '../../../../main/core/identity/enrollment.js';
import { signJwt } from '../../../../main/core/identity/jws.js';
import { makeDevice, sampleSnapshot, type TestDevice } from './helpers.js';

const BROKER = 'http://127.0.0.1:4100';
const NOW = new Date('2025-01-01T00:00:00Z');
const nowSeconds = () => Math.floor(NOW.getTime() / 1000);
let device: TestDevice;
let other: TestDevice;

beforeAll(async () => {
  device = await makeDevice();
  other = await makeDevice();
});

const request = (at = nowSeconds, d = device) =>
  buildEnrollmentRequest({ signer: d.signer, token: 'enroll-token-123', brokerUrl: BROKER, device: sampleSnapshot().device, now: at });
const options = (extra: Partial<VerifyEnrollmentOptions> = {}): VerifyEnrollmentOptions => ({ now: NOW, audience: `${BROKER}/enroll`, ...extra });

function reasonOf(jws: string, extra: Partial<VerifyEnrollmentOptions> = {}): EnrollmentRejectReason | 'ok' {
  const verdict = verifyEnrollment(jws, options(extra));
  return verdict.ok ? 'ok' : verdict.reason;
}

/** Split a JWS, let the test edit header and payload, and re-sign with `signer`. */
async function resign(jws: string, edit: (header: Record<string, unknown>, payload: Record<string, unknown>) => void, signer = device.signer): Promise<string> {
  const [h, p] = jws.split('.') as [string, string];
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  edit(header, payload);
  const { alg: _alg, ...rest } = header;
  return signJwt(signer, rest, payload);
}

describe('verifyEnrollment', () => {
  it('accepts the request the agent builds and returns the thumbprint to pin', async () => {
    const verdict = verifyEnrollment(await request(), options());
    expect(verdict.ok).toBe(true);
    if (!verdict.ok) return;
    expect(verdict.enrollment.thumbprint).toBe(device.thumbprint);
    expect(verdict.enrollment.publicJwk).toEqual({ kty: 'EC', crv: 'P-256', x: device.signer.publicJwk.x, y: device.signer.publicJwk.y });
    expect(verdict.enrollment.claims).toMatchObject({ enrollment_token: 'enroll-token-123', assurance: 'none', key_store: 'memory', jkt: device.thumbprint });
  });

  it('the pinned key then verifies the device’s posture reports', async () => {
    const verdict = verifyEnrollment(await request(), options());
    if (!verdict.ok) throw new Error(verdict.detail);
    const jwt = await buildPostureReport(sampleSnapshot(), device.signer, { deviceId: 'd1', seq: 1, now: NOW });
    expect(verifyPostureReport(jwt, { deviceKey: verdict.enrollment.deviceKey, deviceId: 'd1', lastSeq: 0, maxAgeSeconds: 60, now: NOW }).ok).toBe(true);
  });

  it('gives every faulty request its own reason', async () => {
    const good = await request();
    const [h, p, s] = good.split('.') as [string, string, string];
    const cases: [string, Promise<string> | string, Partial<VerifyEnrollmentOptions>, EnrollmentRejectReason][] = [
      ['garbage', 'a.b', {}, 'malformed'],
      ['no jti', resign(good, (_h, pl) => delete pl.jti), {}, 'malformed'],
      ['wrong typ', resign(good, (hd) => (hd.typ = 'ward-posture+jwt')), {}, 'wrong-typ'],
      ['no jwk', resign(good, (hd) => delete hd.jwk), {}, 'invalid-key'],
      ['private key in jwk', resign(good, (hd) => (hd.jwk = { ...(hd.jwk as object), d: 'AAAA' })), {}, 'invalid-key'],
      ['jkt of another key', resign(good, (_h, pl) => (pl.jkt = other.thumbprint)), {}, 'invalid-key'],
      ['jwk swapped for another key', resign(good, (hd) => (hd.jwk = other.signer.publicJwk)), {}, 'bad-signature'],
      ['signature of another request', `${h}.${p}.${(await request(() => nowSeconds() + 1)).split('.')[2]}`, {}, 'bad-signature'],
      ['expired', good, { now: new Date(NOW.getTime() + 400_000) }, 'expired'],
      ['from the future', request(() => nowSeconds() + 600), {}, 'not-yet-valid'],
      ['older than allowed', good, { now: new Date(NOW.getTime() + 100_000), maxAgeSeconds: 30, clockSkewSeconds: 0 }, 'too-old'],
      ['for another broker', good, { audience: 'https://other.example/enroll' }, 'wrong-audience'],
      ['no nonce', good, { expectedNonce: 'expected-nonce' }, 'nonce-mismatch'],
      ['software key where hardware is required', good, { acceptedAssurance: ['hardware'] }, 'assurance-too-low'],
    ];
    for (const [name, jws, extra, reason] of cases) expect({ name, reason: reasonOf(await jws, extra) }).toEqual({ name, reason });
    expect(reasonOf(`${h}.${p}.${s}`)).toBe('ok');
  });

  it('never throws on arbitrary input or arbitrary self-signed claims', async () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.jsonValue()), (input) => {
        expect(verifyEnrollment(input).ok).toBe(false);
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (payload) => {
        const jws = await signJwt(device.signer, { typ: 'ward-enroll+jwt', jwk: device.signer.publicJwk }, { value: payload });
        const verdict = verifyEnrollment(jws, options());
        expect(verdict.ok ? 'ok' : verdict.reason).toBe('malformed');
      }),
      { numRuns: 50 },
    );
  });
});
