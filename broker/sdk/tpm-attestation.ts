import { createHash, createPublicKey, timingSafeEqual, verify as nodeVerify, type JsonWebKey } from 'node:crypto';
import type { JWK } from 'jose';
import { z } from 'zod';
import { reject, type Rejection } from './errors.js';
import { certifyQualifyingData, TpmKeyAttestationSchema, type CertifyBinding } from '../../main/core/identity/tpm-attestation.js';
import { parseTpmPublic, parseTpmSignature, Reader, TPM_ALG_SHA256, type TpmEccPublic, type TpmObjectAttribute } from '../../main/core/identity/tpm-structures.js';

/**
 * Why a TPM key attestation was refused:
 *  - `attestation-malformed`: a structure does not parse (or is not ECC P-256 / SHA-256, not a certify);
 *  - `attestation-attributes`: the AK is not a restricted, fixedtpm signing key, or the certified
 *    key is not a fixedtpm|fixedparent|sensitivedataorigin signing key;
 *  - `attestation-signature`: the AK's signature over the TPMS_ATTEST does not verify;
 *  - `attestation-nonce`: the TPMS_ATTEST `extraData` is not the expected qualifying data;
 *  - `attestation-name-mismatch`: the TPM certified some other object than the public area sent;
 *  - `attestation-key-mismatch`: the certified public area holds another point than the signing JWK.
 */
export type TpmAttestationRejectReason =
  | 'attestation-malformed'
  | 'attestation-attributes'
  | 'attestation-signature'
  | 'attestation-nonce'
  | 'attestation-name-mismatch'
  | 'attestation-key-mismatch';

const TPM_GENERATED_VALUE = 0xff544347;
const TPM_ST_ATTEST_CERTIFY = 0x8017;
const AK_REQUIRED: readonly TpmObjectAttribute[] = ['restricted', 'sign', 'fixedtpm'];
const KEY_REQUIRED: readonly TpmObjectAttribute[] = ['fixedtpm', 'fixedparent', 'sensitivedataorigin', 'sign'];

/** The parts of a TPMS_ATTEST of type TPM_ST_ATTEST_CERTIFY (TPM 2.0 Part 2 §10.12.12) a verifier uses. */
export interface TpmCertifyAttest {
  /** Qualified name of the signing key (as the TPM reports it). */
  readonly qualifiedSigner: Uint8Array;
  /** The caller's qualifying data, echoed by the TPM. */
  readonly extraData: Uint8Array;
  readonly clock: bigint;
  readonly resetCount: number;
  readonly restartCount: number;
  readonly safe: boolean;
  readonly firmwareVersion: bigint;
  /** Name of the certified object: nameAlg ‖ H(TPMT_PUBLIC). */
  readonly name: Uint8Array;
  readonly qualifiedName: Uint8Array;
}

function u64(r: Reader): bigint {
  return Buffer.from(r.take(8)).readBigUInt64BE();
}

/**
 * Parse a TPM2B_ATTEST holding a certify TPMS_ATTEST. Never throws: anything else is
 * `attestation-malformed`. Returns the TPMS_ATTEST bytes too (what the AK signed).
 *
 * @example
 * ```ts
 * const parsed = parseCertifyAttest(Buffer.from(claims.tpm.attestation.certifyInfo, 'base64url'));
 * if (parsed.ok) console.log(parsed.attest.resetCount);
 * ```
 */
export function parseCertifyAttest(bytes: Uint8Array): { ok: true; attest: TpmCertifyAttest; signed: Uint8Array } | Rejection<'attestation-malformed'> {
  try {
    const outer = new Reader(bytes, 'TPM2B_ATTEST');
    const signed = outer.sized();
    outer.end();
    const r = new Reader(signed, 'TPMS_ATTEST');
    if (r.u32() !== TPM_GENERATED_VALUE) return reject('attestation-malformed', 'certifyInfo does not start with TPM_GENERATED_VALUE');
    if (r.u16() !== TPM_ST_ATTEST_CERTIFY) return reject('attestation-malformed', 'certifyInfo is not a TPM2_Certify attestation');
    const qualifiedSigner = r.sized();
    const extraData = r.sized();
    const clock = u64(r);
    const resetCount = r.u32();
    const restartCount = r.u32();
    const safe = r.take(1)[0] === 1;
    const firmwareVersion = u64(r);
    const name = r.sized();
    const qualifiedName = r.sized();
    r.end();
    return { ok: true, signed, attest: { qualifiedSigner, extraData, clock, resetCount, restartCount, safe, firmwareVersion, name, qualifiedName } };
  } catch {
    return reject('attestation-malformed', 'certifyInfo is not a well-formed TPM2B_ATTEST');
  }
}

function parsePublic(bytes: Uint8Array, what: string): { ok: true; parsed: TpmEccPublic; name: Buffer } | Rejection<'attestation-malformed'> {
  let parsed: TpmEccPublic;
  try {
    parsed = parseTpmPublic(bytes);
  } catch {
    return reject('attestation-malformed', `${what} is not a well-formed ECC P-256 TPM2B_PUBLIC`);
  }
  if (parsed.nameAlg !== TPM_ALG_SHA256) return reject('attestation-malformed', `${what} does not use SHA-256 as its name algorithm`);
  // The TPM's name of an object: nameAlg ‖ H_nameAlg(TPMT_PUBLIC) (Part 1 §16), over the bytes inside the TPM2B.
  const name = Buffer.concat([Buffer.from([0x00, 0x0b]), createHash('sha256').update(bytes.subarray(2)).digest()]);
  return { ok: true, parsed, name };
}

function lacking(parsed: TpmEccPublic, required: readonly TpmObjectAttribute[]): TpmObjectAttribute[] {
  return required.filter((a) => !parsed.attributeNames.includes(a));
}

/**
 * Parse an attestation key's TPM2B_PUBLIC (base64url) and check it is a restricted, fixedtpm
 * ECC P-256 signing key. `name` is the TPM's name of it (what a credential is bound to). Never throws.
 *
 * @example
 * ```ts
 * const ak = parseAttestationKey(body.akPublic);
 * if (ak.ok) makeCredential(ekPublicKey, ak.name);
 * ```
 */
export function parseAttestationKey(
  akPublic: string,
): { ok: true; name: Buffer; parsed: TpmEccPublic } | Rejection<'attestation-malformed' | 'attestation-attributes'> {
  const ak = parsePublic(Buffer.from(akPublic, 'base64url'), 'akPublic');
  if (!ak.ok) return ak;
  const missing = lacking(ak.parsed, AK_REQUIRED);
  const decrypts = ak.parsed.attributeNames.includes('decrypt');
  if (missing.length > 0 || decrypts) {
    return reject('attestation-attributes', `the attestation key is not a restricted TPM signing key (${[...missing.map((a) => `lacks ${a}`), ...(decrypts ? ['can decrypt'] : [])].join(', ')})`);
  }
  return ak;
}

/** A TPM key attestation that verified. */
export interface VerifiedTpmAttestation {
  /** Name of the attestation key (hex, nameAlg ‖ SHA-256 of its TPMT_PUBLIC): stable per AK. */
  readonly akName: string;
  /** The AK's public key. Not chained to an EK certificate: see docs/broker-sdk.md. */
  readonly akPublicJwk: JWK;
  readonly firmwareVersion: string;
  readonly resetCount: number;
  readonly restartCount: number;
}

export interface VerifyTpmAttestationInput {
  /** The `tpm.attestation` claim: `{ format: 'tpm2-certify', akPublic, certifyInfo, certifySignature }`. */
  readonly attestation: unknown;
  /** The `tpm.public` claim: the device key's TPM2B_PUBLIC, base64url. */
  readonly keyPublicArea: unknown;
  /** The key that signed the request (its `jwk` header). */
  readonly publicJwk: JWK;
  /** What `extraData` must be: `certifyQualifyingData(...)` of the request's binding. */
  readonly expectedQualifyingData: Uint8Array;
}

export type TpmAttestationVerdict = { readonly ok: true; readonly attestation: VerifiedTpmAttestation } | Rejection<TpmAttestationRejectReason>;

/**
 * Verify a TPM2_Certify attestation of a device key, in TypeScript with node:crypto (no TPM tools
 * on the broker): the AK is a restricted fixedtpm signing key; its ECDSA signature over the
 * TPMS_ATTEST verifies; the TPMS_ATTEST is a certify whose `extraData` is the expected qualifying
 * data and whose certified name is the name of `keyPublicArea`; that public area is a
 * non-exportable, TPM-generated signing key whose point is `publicJwk`. Never throws.
 *
 * This proves the device key and the AK live in the same TPM. It does not prove that TPM is
 * genuine: the AK is not chained to an endorsement-key certificate.
 *
 * @example
 * ```ts
 * const verdict = verifyTpmKeyAttestation({
 *   attestation: claims.tpm.attestation,
 *   keyPublicArea: claims.tpm.public,
 *   publicJwk,
 *   expectedQualifyingData: certifyQualifyingData({ aud, jti, jkt, enrollmentToken }),
 * });
 * if (!verdict.ok) log.warn({ reason: verdict.reason }, verdict.detail);
 * ```
 */
export function verifyTpmKeyAttestation(input: VerifyTpmAttestationInput): TpmAttestationVerdict {
  const shape = TpmKeyAttestationSchema.safeParse(input.attestation);
  if (!shape.success) return reject('attestation-malformed', 'the attestation is not { format: "tpm2-certify", akPublic, certifyInfo, certifySignature }');
  if (typeof input.keyPublicArea !== 'string' || !/^[A-Za-z0-9_-]{1,4096}$/.test(input.keyPublicArea)) {
    return reject('attestation-malformed', 'the key public area is not base64url');
  }
  const ak = parseAttestationKey(shape.data.akPublic);
  if (!ak.ok) return ak;
  const keyArea = Buffer.from(input.keyPublicArea, 'base64url');
  const key = parsePublic(keyArea, 'the key public area');
  if (!key.ok) return key;
  const certify = parseCertifyAttest(Buffer.from(shape.data.certifyInfo, 'base64url'));
  if (!certify.ok) return certify;
  let signature: Uint8Array;
  try {
    signature = parseTpmSignature(Buffer.from(shape.data.certifySignature, 'base64url'));
  } catch {
    return reject('attestation-malformed', 'certifySignature is not an ECDSA/SHA-256 TPMT_SIGNATURE');
  }

  let signatureOk: boolean;
  try {
    const akKey = createPublicKey({ key: ak.parsed.publicJwk as JsonWebKey, format: 'jwk' });
    signatureOk = nodeVerify('sha256', certify.signed, { key: akKey, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    // A point that is not on the curve cannot be imported.
    return reject('attestation-malformed', 'akPublic does not hold a valid P-256 point');
  }
  if (!signatureOk) return reject('attestation-signature', 'the attestation key\'s signature over certifyInfo does not verify');
  const extra = certify.attest.extraData;
  const expected = input.expectedQualifyingData;
  if (extra.length !== expected.length || !timingSafeEqual(extra, expected)) {
    return reject('attestation-nonce', 'the certification was made for another request (extraData is not this request\'s qualifying data)');
  }
  if (!key.name.equals(certify.attest.name)) return reject('attestation-name-mismatch', 'the TPM certified another object than the key public area sent');
  const keyProblems = [
    ...lacking(key.parsed, KEY_REQUIRED).map((a) => `lacks ${a}`),
    ...(['restricted', 'decrypt'] as const).filter((a) => key.parsed.attributeNames.includes(a)).map((a) => `is ${a}`),
  ];
  if (keyProblems.length > 0) return reject('attestation-attributes', `the certified key is not a non-exportable TPM signing key (${keyProblems.join(', ')})`);
  if (key.parsed.publicJwk.x !== input.publicJwk.x || key.parsed.publicJwk.y !== input.publicJwk.y || input.publicJwk.crv !== 'P-256') {
    return reject('attestation-key-mismatch', 'the certified key is not the key that signed the request');
  }
  return {
    ok: true,
    attestation: {
      akName: ak.name.toString('hex'),
      akPublicJwk: ak.parsed.publicJwk,
      firmwareVersion: certify.attest.firmwareVersion.toString(16),
      resetCount: certify.attest.resetCount,
      restartCount: certify.attest.restartCount,
    },
  };
}

/**
 * The `tpm` claim of enrollment and rotation requests: the key's TPM2B_PUBLIC, its attribute names
 * and, optionally, a TPM2_Certify of it (checked by {@link keyAttestationOfRequest}, so that a
 * malformed attestation is refused as `attestation-malformed`, not as a malformed request).
 */
export const TpmClaimSchema = z.object({
  public: z.string().regex(/^[A-Za-z0-9_-]+$/).max(4096),
  attributes: z.array(z.string().max(64)).max(32),
  attestation: z.unknown().optional(),
});

/**
 * What vouches for the device key beyond its own claim: `tpm-certified` when the request carried a
 * TPM2_Certify that verified (the key is in the same TPM as the attestation key `akName`), else
 * `uncertified` (the `assurance` claim is the device's word only).
 */
export type KeyAttestation = { readonly status: 'tpm-certified'; readonly akName: string } | { readonly status: 'uncertified' };

/**
 * The key attestation of a request's `tpm` claim (enrollment or rotation): verified against the
 * request's binding when `tpm.attestation` is present, `uncertified` when it is absent. Never throws.
 *
 * @example
 * ```ts
 * const attested = keyAttestationOfRequest(claims.tpm, publicJwk, { aud, jti, jkt, enrollmentToken });
 * if (!attested.ok) return attested; // attestation-* reason
 * ```
 */
export function keyAttestationOfRequest(
  tpm: { readonly public: string; readonly attestation?: unknown } | undefined,
  publicJwk: JWK,
  binding: CertifyBinding,
): { ok: true; keyAttestation: KeyAttestation } | Rejection<TpmAttestationRejectReason> {
  if (tpm?.attestation === undefined) return { ok: true, keyAttestation: { status: 'uncertified' } };
  const verdict = verifyTpmKeyAttestation({ attestation: tpm.attestation, keyPublicArea: tpm.public, publicJwk, expectedQualifyingData: certifyQualifyingData(binding) });
  return verdict.ok ? { ok: true, keyAttestation: { status: 'tpm-certified', akName: verdict.attestation.akName } } : verdict;
}
