import { z } from 'zod';
import type { JWK } from 'jose';
import { reject, type Rejection } from './errors.js';
import { keyFromJwkHeader, parseCompactJws, parseJsonSegment, verifyEs256, type DeviceKey } from './jws.js';
import { AssuranceLevelSchema } from './report-claims.js';
import { keyAttestationOfRequest, TpmClaimSchema, type KeyAttestation, type TpmAttestationRejectReason } from './tpm-attestation.js';
import { DeviceFactsSchema } from '../../main/core/posture/snapshot.js';
import type { AssuranceLevel } from '../../main/core/identity/key-store.js';

/**
 * JWS `typ` of an enrollment request.
 *
 * @example
 * ```ts
 * if (header.typ !== ENROLLMENT_TYP) reply(400);
 * ```
 */
export const ENROLLMENT_TYP = 'ward-enroll+jwt';

/**
 * The claims of an enrollment request, as the agent builds them (`main/core/identity/enrollment.ts`,
 * `buildEnrollmentRequest`): `aud` (`{broker}/enroll`), `iat`, `exp`, `jti`, `enrollment_token`,
 * `jkt` (thumbprint of the `jwk` header), `assurance`, `key_store`, `device` (DeviceFacts) and,
 * for TPM keys, `tpm`. Unknown claims are kept.
 *
 * @example
 * ```ts
 * const claims = EnrollmentClaimsSchema.parse(payload); // after verifying the signature
 * ```
 */
export const EnrollmentClaimsSchema = z
  .object({
    iat: z.number().int().nonnegative(),
    exp: z.number().int().nonnegative(),
    jti: z.string().min(1).max(256),
    aud: z.union([z.string().max(2048), z.array(z.string().max(2048)).max(10)]).optional(),
    /** The enrollment token from IT; the broker checks it (single use, expiry), the SDK does not. */
    enrollment_token: z.string().min(1).max(1024).optional(),
    jkt: z.string().regex(/^[A-Za-z0-9_-]{43}$/).optional(),
    assurance: AssuranceLevelSchema,
    key_store: z.enum(['tpm', 'os-keychain', 'secure-enclave', 'cng', 'memory']).optional(),
    device: DeviceFactsSchema.optional(),
    tpm: TpmClaimSchema.optional(),
    nonce: z.string().max(256).optional(),
  })
  .loose();
export type EnrollmentClaims = z.infer<typeof EnrollmentClaimsSchema>;

export type EnrollmentRejectReason =
  | 'malformed'
  | 'wrong-typ'
  | 'unsupported-alg'
  | 'invalid-key'
  | 'bad-signature'
  | 'expired'
  | 'not-yet-valid'
  | 'too-old'
  | 'wrong-audience'
  | 'nonce-mismatch'
  | 'assurance-too-low'
  | 'attestation-missing'
  | TpmAttestationRejectReason;

export interface VerifyEnrollmentOptions {
  /** When set, `aud` must be (or contain) this value. */
  readonly audience?: string;
  /** When set, the `nonce` claim must equal it. */
  readonly expectedNonce?: string;
  /** Refuse requests whose `iat` is older than this. Default 300. */
  readonly maxAgeSeconds?: number;
  /** Default 60. */
  readonly clockSkewSeconds?: number;
  /** Key-holding levels the broker accepts. Default: all. */
  readonly acceptedAssurance?: readonly AssuranceLevel[];
  /** Refuse requests without a TPM key attestation (`attestation-missing`). Default false. */
  readonly requireKeyAttestation?: boolean;
  readonly now?: Date;
}

export type { KeyAttestation } from './tpm-attestation.js';

export interface VerifiedEnrollment {
  readonly claims: EnrollmentClaims;
  /** RFC 7638 thumbprint of the device key: what the broker pins. */
  readonly thumbprint: string;
  readonly publicJwk: JWK;
  /** The imported key, ready for `verifyPostureReport({ deviceKey })`. */
  readonly deviceKey: DeviceKey;
  readonly keyAttestation: KeyAttestation;
}

export type EnrollmentVerdict = { readonly ok: true; readonly enrollment: VerifiedEnrollment } | Rejection<EnrollmentRejectReason>;

/**
 * Verify a device's enrollment request: a compact JWS (`alg: ES256`, `typ: ward-enroll+jwt`)
 * signed by the new device key, which travels in the `jwk` header (proof of possession), in the
 * wire format of `main/core/identity/enrollment.ts` (see docs/identity.md). On
 * success returns the claims and the RFC 7638 thumbprint to pin. The enrollment token inside the
 * claims is the caller's to check (single use, expiry): the SDK only proves who signed it.
 * When `tpm.attestation` is present it must verify ({@link verifyTpmKeyAttestation}, bound to the
 * request's `aud`, `jti`, key thumbprint and enrollment token) or the request is refused with
 * its `attestation-*` reason; `keyAttestation` says whether the key was certified.
 * Never throws.
 *
 * @example
 * ```ts
 * const verdict = verifyEnrollment(body.request, { audience: 'https://broker.example', maxAgeSeconds: 300 });
 * if (!verdict.ok) return reply(400, { error: verdict.reason, detail: verdict.detail });
 * await devices.insert({ thumbprint: verdict.enrollment.thumbprint, jwk: verdict.enrollment.publicJwk });
 * ```
 */
export function verifyEnrollment(jws: unknown, options: VerifyEnrollmentOptions = {}): EnrollmentVerdict {
  const parsed = parseCompactJws(jws);
  if ('ok' in parsed) return parsed;
  const key = keyFromJwkHeader(parsed, ENROLLMENT_TYP, 'enrollment requests');
  if ('ok' in key) return key;
  if (!verifyEs256(parsed, key.keyObject)) return reject('bad-signature', 'the signature does not verify with the key in the jwk header');

  const result = EnrollmentClaimsSchema.safeParse(parseJsonSegment(parsed.payloadB64));
  if (!result.success) {
    const issue = result.error.issues[0];
    return reject('malformed', `claim ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  const claims = result.data;
  if (claims.jkt !== undefined && claims.jkt !== key.thumbprint) return reject('invalid-key', 'the jkt claim is not the thumbprint of the jwk header');
  const nowSeconds = Math.floor((options.now?.getTime() ?? Date.now()) / 1000);
  const skew = options.clockSkewSeconds ?? 60;
  const maxAge = options.maxAgeSeconds ?? 300;
  if (nowSeconds - skew >= claims.exp) return reject('expired', `the request expired ${nowSeconds - claims.exp} s ago`);
  if (claims.iat > nowSeconds + skew) return reject('not-yet-valid', `the request was issued ${claims.iat - nowSeconds} s in the future`);
  if (nowSeconds - claims.iat > maxAge + skew) return reject('too-old', `the request is ${nowSeconds - claims.iat} s old (max ${maxAge} s)`);
  if (options.audience !== undefined) {
    const aud = claims.aud === undefined ? [] : Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!aud.includes(options.audience)) return reject('wrong-audience', 'the request is addressed to another broker');
  }
  if (options.expectedNonce !== undefined && claims.nonce !== options.expectedNonce) return reject('nonce-mismatch', 'the request does not carry the expected nonce');
  if (options.acceptedAssurance !== undefined && !options.acceptedAssurance.includes(claims.assurance)) {
    return reject('assurance-too-low', `assurance ${claims.assurance} is not accepted`);
  }
  const attested = keyAttestationOfRequest(claims.tpm, key.publicJwk, {
    aud: typeof claims.aud === 'string' ? claims.aud : '',
    jti: claims.jti,
    jkt: key.thumbprint,
    enrollmentToken: claims.enrollment_token ?? '',
  });
  if (!attested.ok) return attested;
  const { keyAttestation } = attested;
  if (keyAttestation.status === 'uncertified' && options.requireKeyAttestation) {
    return reject('attestation-missing', 'the request carries no TPM attestation of its key');
  }
  return { ok: true, enrollment: { claims, thumbprint: key.thumbprint, publicJwk: key.publicJwk, deviceKey: key, keyAttestation } };
}
