import { createHash, generateKeyPairSync, sign as nodeSign, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import type { JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { parseCertifyAttest, verifyTpmKeyAttestation, type TpmAttestationRejectReason } from '../../../../broker/sdk/tpm-attestation.js';
import { sized, TPMA_OBJECT, u16, u32, type TpmObjectAttribute } from '../../../../main/core/identity/tpm-structures.js';

// The broker side of TPM key attestation, on structures marshalled here exactly as a TPM does
// (TPM 2.0 Part 2): a software "AK" stands in for the TPM so that every field can be varied.
// The same verifier runs on real swtpm output in test/integration/identity/tpm-attestation.test.ts.

const AK_ATTRS: TpmObjectAttribute[] = ['fixedtpm', 'fixedparent', 'sensitivedataorigin', 'userwithauth', 'restricted', 'sign'];
const KEY_ATTRS: TpmObjectAttribute[] = ['fixedtpm', 'fixedparent', 'sensitivedataorigin', 'userwithauth', 'sign'];


/** TPM2B_PUBLIC of an ECC P-256 key with ECDSA/SHA-256, nameAlg SHA-256. */
function eccPublic(jwk: JWK, attrs: readonly TpmObjectAttribute[], nameAlg = 0x000b): Buffer {
  const word = attrs.reduce((w, a) => w | TPMA_OBJECT[a], 0);
  const body = Buffer.concat([
    u16(0x0023),
    u16(nameAlg),
    u32(word),
    sized(Buffer.alloc(0)),
    u16(0x0010), // symmetric NULL
    u16(0x0018),
    u16(0x000b), // scheme ECDSA SHA-256
    u16(0x0003), // NIST P-256
    u16(0x0010), // kdf NULL
    sized(Buffer.from(jwk.x ?? '', 'base64url')),
    sized(Buffer.from(jwk.y ?? '', 'base64url')),
  ]);
  return sized(body);
}

function nameOf(publicArea: Buffer): Buffer {
  return Buffer.concat([u16(0x000b), createHash('sha256').update(publicArea.subarray(2)).digest()]);
}

function certifyAttest(name: Uint8Array, extraData: Uint8Array, magic = 0xff544347, type = 0x8017): Buffer {
  return Buffer.concat([
    u32(magic),
    u16(type),
    sized(Buffer.alloc(34, 1)), // qualifiedSigner
    sized(extraData),
    Buffer.alloc(8, 0), // clock
    u32(3), // resetCount
    u32(0), // restartCount
    Buffer.from([1]), // safe
    Buffer.alloc(8, 2), // firmwareVersion
    sized(name),
    sized(Buffer.alloc(34, 3)), // qualifiedName
  ]);
}

function tpmtSignature(key: KeyObject, data: Uint8Array): Buffer {
  const rs = nodeSign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
  return Buffer.concat([u16(0x0018), u16(0x000b), sized(rs.subarray(0, 32)), sized(rs.subarray(32))]);
}

function newKey(): { privateKey: KeyObject; jwk: JWK } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
  return { privateKey, jwk: { kty, crv, x, y } as JWK };
}

const QUALIFYING = createHash('sha256').update('this request').digest();
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64url');

interface Case {
  readonly akAttrs?: readonly TpmObjectAttribute[];
  readonly keyAttrs?: readonly TpmObjectAttribute[];
  readonly extraData?: Uint8Array;
  readonly certifiedName?: (keyArea: Buffer) => Uint8Array;
  readonly signWith?: KeyObject;
  readonly requestJwk?: JWK;
  readonly magic?: number;
}

/** A complete, valid attestation, with one thing changed per case. */
function attestation(c: Case = {}) {
  const ak = newKey();
  const device = newKey();
  const keyArea = eccPublic(device.jwk, c.keyAttrs ?? KEY_ATTRS);
  const attest = certifyAttest((c.certifiedName ?? nameOf)(keyArea), c.extraData ?? QUALIFYING, c.magic);
  return {
    input: {
      attestation: {
        format: 'tpm2-certify',
        akPublic: b64(eccPublic(ak.jwk, c.akAttrs ?? AK_ATTRS)),
        certifyInfo: b64(sized(attest)),
        certifySignature: b64(tpmtSignature(c.signWith ?? ak.privateKey, attest)),
      },
      keyPublicArea: b64(keyArea),
      publicJwk: c.requestJwk ?? device.jwk,
      expectedQualifyingData: QUALIFYING,
    },
    ak,
  };
}

function reasonOf(c: Case): string {
  const verdict = verifyTpmKeyAttestation(attestation(c).input);
  return verdict.ok ? 'ok' : verdict.reason;
}

describe('verifyTpmKeyAttestation', () => {
  it('accepts a certify of the request key by a restricted AK, bound to the qualifying data, and names the AK', () => {
    const { input, ak } = attestation();
    const verdict = verifyTpmKeyAttestation(input);
    expect(verdict.ok).toBe(true);
    if (!verdict.ok) return;
    expect(verdict.attestation.akName).toBe(nameOf(eccPublic(ak.jwk, AK_ATTRS)).toString('hex'));
    expect(verdict.attestation.akPublicJwk).toMatchObject({ x: ak.jwk.x, y: ak.jwk.y });
    expect(verdict.attestation.resetCount).toBe(3);
  });

  it('refuses an AK signature made by another key: attestation-signature', () => {
    expect(reasonOf({ signWith: newKey().privateKey })).toBe('attestation-signature');
  });

  it('refuses a certification made for other qualifying data: attestation-nonce', () => {
    expect(reasonOf({ extraData: createHash('sha256').update('another request').digest() })).toBe('attestation-nonce');
    expect(reasonOf({ extraData: Buffer.alloc(0) })).toBe('attestation-nonce');
  });

  it('refuses a certify of another object: attestation-name-mismatch', () => {
    const other = eccPublic(newKey().jwk, KEY_ATTRS);
    expect(reasonOf({ certifiedName: () => nameOf(other) })).toBe('attestation-name-mismatch');
  });

  it('refuses an AK that is not restricted, and a certified key that is exportable or not TPM-generated: attestation-attributes', () => {
    expect(reasonOf({ akAttrs: ['fixedtpm', 'fixedparent', 'sensitivedataorigin', 'sign'] })).toBe('attestation-attributes');
    expect(reasonOf({ akAttrs: [...AK_ATTRS, 'decrypt'] })).toBe('attestation-attributes');
    expect(reasonOf({ keyAttrs: ['fixedparent', 'sensitivedataorigin', 'userwithauth', 'sign'] })).toBe('attestation-attributes');
    expect(reasonOf({ keyAttrs: ['fixedtpm', 'fixedparent', 'userwithauth', 'sign'] })).toBe('attestation-attributes');
  });

  it('refuses a certified key that is not the key that signed the request: attestation-key-mismatch', () => {
    expect(reasonOf({ requestJwk: newKey().jwk })).toBe('attestation-key-mismatch');
  });

  it('refuses what is not a TPM-generated certify structure: attestation-malformed', () => {
    expect(reasonOf({ magic: 0x12345678 })).toBe('attestation-malformed');
    const { input } = attestation();
    expect(verifyTpmKeyAttestation({ ...input, attestation: { ...input.attestation, format: 'tpm2-quote' } })).toMatchObject({ ok: false, reason: 'attestation-malformed' });
    expect(verifyTpmKeyAttestation({ ...input, keyPublicArea: 42 })).toMatchObject({ ok: false, reason: 'attestation-malformed' });
  });

  const REASONS: readonly (TpmAttestationRejectReason | 'ok')[] = [
    'ok',
    'attestation-malformed',
    'attestation-attributes',
    'attestation-signature',
    'attestation-nonce',
    'attestation-name-mismatch',
    'attestation-key-mismatch',
  ];
  const b64url = fc.uint8Array({ maxLength: 200 }).map(b64);

  it('never throws on arbitrary input: a typed verdict every time', () => {
    const field = fc.oneof(b64url, fc.string(), fc.anything());
    fc.assert(
      fc.property(field, field, field, field, field, fc.constantFrom('tpm2-certify', 'x'), (akPublic, certifyInfo, certifySignature, keyPublicArea, attestationValue, format) => {
        for (const attestationInput of [{ format, akPublic, certifyInfo, certifySignature }, attestationValue]) {
          const verdict = verifyTpmKeyAttestation({ attestation: attestationInput, keyPublicArea, publicJwk: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' }, expectedQualifyingData: QUALIFYING });
          expect(REASONS).toContain(verdict.ok ? 'ok' : verdict.reason);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never throws when any one byte of a valid attestation is changed, and never accepts the change', () => {
    const { input } = attestation();
    const accepted = verifyTpmKeyAttestation(input);
    if (!accepted.ok) throw new Error('the unchanged attestation must verify');
    const original = accepted.attestation;
    const parts = ['akPublic', 'certifyInfo', 'certifySignature'] as const;
    fc.assert(
      fc.property(fc.constantFrom(...parts, 'keyPublicArea' as const), fc.nat(), fc.integer({ min: 1, max: 255 }), (part, at, xor) => {
        const bytes = Buffer.from(part === 'keyPublicArea' ? input.keyPublicArea : input.attestation[part], 'base64url');
        const i = at % bytes.length;
        bytes[i] = (bytes[i] ?? 0) ^ xor;
        const changed =
          part === 'keyPublicArea' ? { ...input, keyPublicArea: b64(bytes) } : { ...input, attestation: { ...input.attestation, [part]: b64(bytes) } };
        const verdict = verifyTpmKeyAttestation(changed);
        expect(REASONS).toContain(verdict.ok ? 'ok' : verdict.reason);
        if (part !== 'akPublic') {
          expect(verdict.ok).toBe(false);
        } else if (verdict.ok) {
          // Nothing signs the AK's own public area (that takes an EK chain, not built): a change
          // outside its point (say userwithauth) can verify, but it is then another AK name.
          expect(verdict.attestation.akName).not.toBe(original.akName);
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('parseCertifyAttest', () => {
  it('reads a certify TPMS_ATTEST field by field', () => {
    const name = Buffer.alloc(34, 9);
    const parsed = parseCertifyAttest(sized(certifyAttest(name, QUALIFYING)));
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(Buffer.from(parsed.attest.extraData)).toEqual(QUALIFYING);
    expect(Buffer.from(parsed.attest.name)).toEqual(name);
    expect(parsed.attest.firmwareVersion).toBe(0x0202020202020202n);
    expect(parsed.attest.safe).toBe(true);
  });

  it('refuses another attestation type (a quote) and trailing bytes', () => {
    expect(parseCertifyAttest(sized(certifyAttest(Buffer.alloc(34), QUALIFYING, 0xff544347, 0x8018)))).toMatchObject({ ok: false, reason: 'attestation-malformed' });
    expect(parseCertifyAttest(Buffer.concat([sized(certifyAttest(Buffer.alloc(34), QUALIFYING)), Buffer.from([0])]))).toMatchObject({ ok: false, reason: 'attestation-malformed' });
  });

  it('arbitrary bytes give ok or attestation-malformed, never a throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const parsed = parseCertifyAttest(bytes);
        expect(parsed.ok || parsed.reason === 'attestation-malformed').toBe(true);
      }),
      { numRuns: 1000 },
    );
    // Structurally valid prefixes with arbitrary tails exercise the deeper fields too.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (tail) => {
        const body = Buffer.concat([u32(0xff544347), u16(0x8017), tail]);
        const parsed = parseCertifyAttest(sized(body));
        expect(parsed.ok || parsed.reason === 'attestation-malformed').toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});
