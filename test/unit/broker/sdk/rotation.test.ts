import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { verifyKeyRotation, verifyPostureReport, type RotationRejectReason, type VerifyKeyRotationOptions } from '../../../../broker/sdk/index.js';
import { buildPostureReport } from '../../../../main/core/broker/report.js';
import { buildRotationRequest } from '../../../../main/core/identity/enrollment.js';
import { signJwt } from '../../../../main/core/identity/jws.js';
import { makeDevice, sampleSnapshot, type TestDevice } from './helpers.js';

const BROKER = 'http://127.0.0.1:4100';
const NOW = new Date('2025-01-01T00:00:00Z');
const nowSeconds = () => Math.floor(NOW.getTime() / 1000);
const DEVICE_ID = 'dev-rotating';
let oldKey: TestDevice;
let newKey: TestDevice;
let stranger: TestDevice;

beforeAll(async () => {
  [oldKey, newKey, stranger] = await Promise.all([makeDevice(DEVICE_ID), makeDevice(DEVICE_ID), makeDevice(DEVICE_ID)]);
});

/** The request exactly as the agent builds it (`rotateDeviceKey` → `buildRotationRequest`). */
const request = (at = nowSeconds, from = oldKey, to = newKey) =>
  buildRotationRequest({ oldSigner: from.signer, newSigner: to.signer, deviceId: DEVICE_ID, brokerUrl: BROKER, now: at });

const options = (extra: Partial<VerifyKeyRotationOptions> = {}): VerifyKeyRotationOptions => ({
  pinnedKey: (id) => (id === DEVICE_ID ? oldKey.signer.publicJwk : undefined),
  audience: `${BROKER}/rotate`,
  now: NOW,
  ...extra,
});

function reasonOf(jws: unknown, extra: Partial<VerifyKeyRotationOptions> = {}): RotationRejectReason | 'ok' {
  const verdict = verifyKeyRotation(jws, options(extra));
  return verdict.ok ? 'ok' : verdict.reason;
}

type Json = Record<string, unknown>;
const decode = (segment: string): Json => JSON.parse(Buffer.from(segment, 'base64url').toString()) as Json;

/** Split a JWS, let the test edit header and payload, and re-sign it with `signer`. */
async function resign(jws: string, edit: (header: Json, payload: Json) => void, signer: TestDevice['signer']): Promise<string> {
  const [h, p] = jws.split('.') as [string, string];
  const header = decode(h);
  const payload = decode(p);
  edit(header, payload);
  const { alg: _alg, ...rest } = header;
  return signJwt(signer, rest, payload);
}

/** Edit the inner old-key proof (re-signed by `innerSigner`), then re-sign the outer request with the new key. */
async function tamperProof(edit: (header: Json, payload: Json) => void, innerSigner = oldKey.signer): Promise<string> {
  const jws = await request();
  const proof = decode(jws.split('.')[1]!).old_key_proof as string;
  const tampered = await resign(proof, edit, innerSigner);
  return resign(jws, (_h, p) => (p.old_key_proof = tampered), newKey.signer);
}

const tamperOuter = async (edit: (header: Json, payload: Json) => void, signer = newKey.signer) => resign(await request(), edit, signer);

describe('verifyKeyRotation', () => {
  it('accepts the request the agent builds and returns the new key and both thumbprints', async () => {
    const verdict = verifyKeyRotation(await request(), options());
    expect(verdict.ok).toBe(true);
    if (!verdict.ok) return;
    expect(verdict.rotation).toMatchObject({ deviceId: DEVICE_ID, oldThumbprint: oldKey.thumbprint, thumbprint: newKey.thumbprint });
    expect(verdict.rotation.publicJwk).toEqual({ kty: 'EC', crv: 'P-256', x: newKey.signer.publicJwk.x, y: newKey.signer.publicJwk.y });
    expect(verdict.rotation.claims).toMatchObject({ assurance: 'none', key_store: 'memory', jkt: newKey.thumbprint, old_jkt: oldKey.thumbprint });
  });

  it('the new key then verifies the device’s reports, and the old key no longer does', async () => {
    const verdict = verifyKeyRotation(await request(), options());
    if (!verdict.ok) throw new Error(verdict.detail);
    const report = async (d: TestDevice) => buildPostureReport(sampleSnapshot(), d.signer, { deviceId: DEVICE_ID, seq: 1, now: NOW });
    const verify = (jwt: string) => verifyPostureReport(jwt, { deviceKey: verdict.rotation.deviceKey, deviceId: DEVICE_ID, lastSeq: 0, maxAgeSeconds: 300, now: NOW });
    expect(verify(await report(newKey)).ok).toBe(true);
    expect(verify(await report(oldKey))).toMatchObject({ ok: false, reason: 'foreign-key' });
  });

  it('accepts a pinned key given directly, and a matching deviceId', async () => {
    expect(reasonOf(await request(), { pinnedKey: oldKey.signer.publicJwk, deviceId: DEVICE_ID })).toBe('ok');
  });

  describe('refuses each fault with its own reason', () => {
    const cases: [string, () => Promise<unknown>, RotationRejectReason, Partial<VerifyKeyRotationOptions>?][] = [
      ['not a JWS', async () => 'not.a-jws', 'malformed'],
      ['not a string', async () => 42, 'malformed'],
      ['outer signed by another key than its jwk', () => tamperOuter(() => undefined, stranger.signer), 'new-signature-bad'],
      ['outer signature bit flipped', async () => flipSignature(await request()), 'new-signature-bad'],
      ['old-key proof signed by a key that is not the pinned one', () => tamperProof(() => undefined, stranger.signer), 'old-signature-bad'],
      ['pinned key is someone else’s (old_jkt is not the pinned thumbprint)', request, 'foreign-key', { pinnedKey: () => stranger.signer.publicJwk }],
      ['old-key proof names another kid', () => tamperProof((h) => (h.kid = stranger.thumbprint)), 'foreign-key'],
      ['old-key proof carries its own jwk', () => tamperProof((h) => (h.jwk = stranger.signer.publicJwk)), 'foreign-key'],
      ['rotating to the same key', () => request(nowSeconds, oldKey, oldKey), 'same-key'],
      ['rotating to the key already pinned, claims pointing elsewhere', () => tamperOuter((_h, p) => (p.old_jkt = stranger.thumbprint)), 'same-key', { pinnedKey: () => newKey.signer.publicJwk }],
      ['expired', () => request(() => nowSeconds() - 1000), 'expired'],
      ['issued in the future', () => request(() => nowSeconds() + 600), 'not-yet-valid'],
      ['too old with a long exp', () => tamperOuterAndProof({ iat: nowSeconds() - 1000, exp: nowSeconds() + 1000 }), 'too-old'],
      ['exp before iat', () => tamperOuterAndProof({ exp: nowSeconds() - 1 }), 'malformed'],
      ['another broker’s audience', request, 'wrong-audience', { audience: 'https://other.example/rotate' }],
      ['unknown device', request, 'unknown-device', { pinnedKey: () => undefined }],
      ['another device id than expected', request, 'device-mismatch', { deviceId: 'someone-else' }],
      ['wrong outer typ', () => tamperOuter((h) => (h.typ = 'ward-enroll+jwt')), 'wrong-typ'],
      ['wrong proof typ', () => tamperProof((h) => (h.typ = 'ward-enroll+jwt')), 'wrong-typ'],
      ['outer without jwk', () => tamperOuter((h) => delete h.jwk), 'invalid-key'],
      ['jkt not the thumbprint of the jwk', () => tamperOuter((_h, p) => (p.jkt = stranger.thumbprint)), 'invalid-key'],
      ['outer claims missing old_key_proof', () => tamperOuter((_h, p) => delete p.old_key_proof), 'malformed'],
      ['old_key_proof not a JWS', () => tamperOuter((_h, p) => (p.old_key_proof = 'garbage')), 'malformed'],
      ['proof approves another new key', () => tamperProof((_h, p) => (p.new_jkt = stranger.thumbprint)), 'proof-mismatch'],
      ['proof with another jti', () => tamperProof((_h, p) => (p.jti = 'other-jti')), 'proof-mismatch'],
      ['proof for another audience', () => tamperProof((_h, p) => (p.aud = 'https://other.example/rotate')), 'proof-mismatch'],
      ['proof for another device', () => tamperProof((_h, p) => (p.device_id = 'other-device')), 'proof-mismatch'],
      ['assurance not accepted', request, 'assurance-too-low', { acceptedAssurance: ['hardware'] }],
    ];
    it.each(cases)('%s', async (_name, make, reason, extra) => {
      expect(reasonOf(await make(), extra ?? {})).toBe(reason);
    });
  });

  it('never throws on arbitrary input, only a typed refusal', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.anything(), fc.stringMatching(/^[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{86}$/)), (input) => {
        const verdict = verifyKeyRotation(input, options());
        expect(verdict.ok).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on a real request with one character changed anywhere, and never accepts it', async () => {
    const jws = await request();
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
    fc.assert(
      fc.property(fc.nat({ max: jws.length - 1 }), fc.constantFrom(...alphabet), (index, ch) => {
        fc.pre(jws[index] !== ch);
        const mutated = jws.slice(0, index) + ch + jws.slice(index + 1);
        const verdict = verifyKeyRotation(mutated, options());
        // A change in the last base64url character's unused bits can leave the bytes identical.
        if (verdict.ok) expect(Buffer.from(mutated.split('.')[2] ?? '', 'base64url')).toEqual(Buffer.from(jws.split('.')[2]!, 'base64url'));
      }),
      { numRuns: 300 },
    );
  });

  it('never throws when the resolver throws or returns garbage', async () => {
    const jws = await request();
    expect(reasonOf(jws, { pinnedKey: () => { throw new Error('db down'); } })).toBe('unknown-device');
    expect(reasonOf(jws, { pinnedKey: () => ({ kty: 'RSA' }) })).toBe('unknown-device');
  });
});

function flipSignature(jws: string): string {
  const [h, p, s] = jws.split('.') as [string, string, string];
  const sig = Buffer.from(s, 'base64url');
  sig[10] = sig[10]! ^ 0xff;
  return `${h}.${p}.${sig.toString('base64url')}`;
}

/** Change time claims consistently in both the request and its old-key proof. */
async function tamperOuterAndProof(times: { iat?: number; exp?: number }): Promise<string> {
  const jws = await request();
  const proof = decode(jws.split('.')[1]!).old_key_proof as string;
  const tampered = await resign(proof, (_h, p) => Object.assign(p, times), oldKey.signer);
  return resign(jws, (_h, p) => Object.assign(p, times, { old_key_proof: tampered }), newKey.signer);
}
