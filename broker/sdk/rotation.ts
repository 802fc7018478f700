import { z } from 'zod';
import type { JWK } from 'jose';
import { reject, type Rejection } from './errors.js';
import { importDeviceKey, keyFromJwkHeader, parseCompactJws, parseJsonSegment, verifyEs256, type DeviceKey, type PublicKeyInput } from './jws.js';
import { AssuranceLevelSchema } from './report-claims.js';
import { keyAttestationOfRequest, TpmClaimSchema, type KeyAttestation, type TpmAttestationRejectReason } from './tpm-attestation.js';
import type { AssuranceLevel } from '../../main/core/identity/key-store.js';

/**
 * JWS `typ` of a key rotation request (the outer JWS, signed by the new key).
 *
 * @example
 * ```ts
 * if (header.typ !== ROTATION_TYP) reply(400);
 * ```
 */
export const ROTATION_TYP = 'ward-rotate+jwt';

/**
 * JWS `typ` of the `old_key_proof` inside a rotation request (signed by the old, pinned key).
 *
 * @example
 * ```ts
 * parseCompactJws(claims.old_key_proof).header.typ === ROTATION_OLD_KEY_TYP;
 * ```
 */
export const ROTATION_OLD_KEY_TYP = 'ward-rotate-old+jwt';

const Thumbprint = z.string().regex(/^[A-Za-z0-9_-]{43}$/);
const CommonClaims = {
  aud: z.string().min(1).max(2048),
  iat: z.number().int().nonnegative(),
  exp: z.number().int().nonnegative(),
  jti: z.string().min(1).max(256),
  device_id: z.string().min(1).max(200),
};

/**
 * The claims of a rotation request, as the agent builds them (`main/core/identity/enrollment.ts`,
 * `buildRotationRequest`): `aud` (`{broker}/rotate`), `iat`, `exp`, `jti`, `device_id`, `jkt`
 * (thumbprint of the new key in the `jwk` header), `old_jkt`, `assurance`, `key_store`, `tpm`
 * (TPM keys) and `old_key_proof`. Unknown claims are kept.
 *
 * @example
 * ```ts
 * const claims = RotationClaimsSchema.parse(payload); // after verifying the signature
 * ```
 */
export const RotationClaimsSchema = z
  .object({
    ...CommonClaims,
    jkt: Thumbprint,
    old_jkt: Thumbprint,
    assurance: AssuranceLevelSchema,
    key_store: z.enum(['tpm', 'os-keychain', 'secure-enclave', 'cng', 'memory']).optional(),
    /** For a TPM key; `attestation` certifies the NEW key, bound to this request (`aud`, `jti`, `jkt`, `device_id`). */
    tpm: TpmClaimSchema.optional(),
    old_key_proof: z.string().min(1).max(16 * 1024),
  })
  .loose();
export type RotationClaims = z.infer<typeof RotationClaimsSchema>;

const OldKeyProofClaimsSchema = z.object({ ...CommonClaims, new_jkt: Thumbprint }).loose();

/** Every reason a rotation request is refused, each for one distinct fault. */
export type RotationRejectReason =
  | 'malformed'
  | 'wrong-typ'
  | 'unsupported-alg'
  | 'invalid-key'
  | 'new-signature-bad'
  | 'old-signature-bad'
  | 'unknown-device'
  | 'device-mismatch'
  | 'foreign-key'
  | 'same-key'
  | 'proof-mismatch'
  | 'expired'
  | 'not-yet-valid'
  | 'too-old'
  | 'wrong-audience'
  | 'assurance-too-low'
  | TpmAttestationRejectReason;

/** Looks up the key pinned for a device by the (not yet verified) `device_id` of a request. */
export type PinnedKeyResolver = (deviceId: string) => PublicKeyInput | null | undefined;

export interface VerifyKeyRotationOptions {
  /**
   * The key currently pinned for the device, or a resolver from `device_id` to it. Nothing (or a
   * resolver returning nothing) refuses the request as `unknown-device`.
   */
  readonly pinnedKey: PublicKeyInput | PinnedKeyResolver | null | undefined;
  /** `aud` must equal this (the broker's own `{broker}/rotate` URL). Required: a request for another broker must not be replayable here. */
  readonly audience: string;
  /** When set, `device_id` must equal it. */
  readonly deviceId?: string;
  /** Refuse requests whose `iat` is older than this. Default 300. */
  readonly maxAgeSeconds?: number;
  /** Tolerated clock difference for `iat` and `exp`. Default 60. */
  readonly clockSkewSeconds?: number;
  /** Key-holding levels the broker accepts for the new key. Default: all. */
  readonly acceptedAssurance?: readonly AssuranceLevel[];
  readonly now?: Date;
}

export interface VerifiedKeyRotation {
  readonly deviceId: string;
  readonly claims: RotationClaims;
  /** RFC 7638 thumbprint of the old (pinned) key: what the broker retires. */
  readonly oldThumbprint: string;
  /** RFC 7638 thumbprint of the new key: what the broker pins instead. */
  readonly thumbprint: string;
  readonly publicJwk: JWK;
  /** The imported new key, ready for `verifyPostureReport({ deviceKey })`. */
  readonly deviceKey: DeviceKey;
  /** Whether a TPM2_Certify vouched for the new key (docs/broker-sdk.md, "TPM key attestation"). */
  readonly keyAttestation: KeyAttestation;
}

export type KeyRotationVerdict = { readonly ok: true; readonly rotation: VerifiedKeyRotation } | Rejection<RotationRejectReason>;

function firstIssue(error: z.ZodError, what: string): Rejection<'malformed'> {
  const issue = error.issues[0];
  return reject('malformed', `${what} claim ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
}

function resolvePinned(pinned: VerifyKeyRotationOptions['pinnedKey'], deviceId: string): DeviceKey | undefined {
  try {
    const input = typeof pinned === 'function' ? pinned(deviceId) : pinned;
    return input ? importDeviceKey(input) : undefined;
  } catch {
    return undefined;
  }
}


/**
 * Verify a device's key rotation request (`POST {broker}/rotate`, docs/identity.md): the outer
 * compact JWS (`typ: ward-rotate+jwt`) is signed by the NEW key carried in its `jwk` header; its
 * `old_key_proof` claim is a JWS (`typ: ward-rotate-old+jwt`, `kid` = old thumbprint) signed by
 * the OLD key, which must be the key pinned for `device_id`. Both carry the same `aud`, `iat`,
 * `exp`, `jti` and `device_id`, and the inner `new_jkt` names the outer key. Checks freshness
 * (`iat`/`exp` with bounded skew, `maxAgeSeconds`) and audience. On success returns the new key
 * and both thumbprints. Never throws; each fault has its own {@link RotationRejectReason}.
 *
 * @example
 * ```ts
 * const verdict = verifyKeyRotation(body, {
 *   pinnedKey: (deviceId) => devices.get(deviceId)?.publicJwk,
 *   audience: 'https://broker.example/rotate',
 * });
 * if (!verdict.ok) return reply(400, { error: verdict.reason, detail: verdict.detail });
 * await devices.replaceKey(verdict.rotation.deviceId, verdict.rotation.oldThumbprint, verdict.rotation.publicJwk);
 * ```
 */
export function verifyKeyRotation(jws: unknown, options: VerifyKeyRotationOptions): KeyRotationVerdict {
  const outer = parseCompactJws(jws);
  if ('ok' in outer) return outer;
  const newKey = keyFromJwkHeader(outer, ROTATION_TYP, 'rotation requests');
  if ('ok' in newKey) return newKey;
  if (!verifyEs256(outer, newKey.keyObject)) return reject('new-signature-bad', 'the request signature does not verify with the new key in the jwk header');

  const parsedClaims = RotationClaimsSchema.safeParse(parseJsonSegment(outer.payloadB64));
  if (!parsedClaims.success) return firstIssue(parsedClaims.error, 'request');
  const claims = parsedClaims.data;
  if (claims.jkt !== newKey.thumbprint) return reject('invalid-key', 'the jkt claim is not the thumbprint of the jwk header');
  if (claims.old_jkt === claims.jkt) return reject('same-key', 'the new key is the key already pinned: nothing to rotate');
  if (options.deviceId !== undefined && claims.device_id !== options.deviceId) return reject('device-mismatch', 'the request is for another device');

  const pinned = resolvePinned(options.pinnedKey, claims.device_id);
  if (!pinned) return reject('unknown-device', 'no key is pinned for this device');
  if (pinned.thumbprint === newKey.thumbprint) return reject('same-key', 'the new key is the key already pinned: nothing to rotate');
  if (claims.old_jkt !== pinned.thumbprint) return reject('foreign-key', 'the old key named by the request is not the key pinned for this device');

  const inner = parseCompactJws(claims.old_key_proof);
  if ('ok' in inner) return reject('malformed', `old_key_proof: ${inner.detail}`);
  if (inner.header.typ !== ROTATION_OLD_KEY_TYP) return reject('wrong-typ', `the old-key proof's typ is not ${ROTATION_OLD_KEY_TYP}`);
  if (inner.header.alg !== 'ES256') return reject('unsupported-alg', 'the old-key proof must be signed with ES256');
  if (inner.header.crit !== undefined) return reject('malformed', 'the old-key proof has crit parameters this verifier does not understand');
  if (inner.header.jwk !== undefined) return reject('foreign-key', 'the old-key proof must not carry its own key; it is verified with the pinned key');
  if (inner.header.kid !== pinned.thumbprint) return reject('foreign-key', 'the old-key proof names a key other than the one pinned for this device');
  if (!verifyEs256(inner, pinned.keyObject)) return reject('old-signature-bad', 'the old-key proof does not verify with the key pinned for this device');

  const parsedProof = OldKeyProofClaimsSchema.safeParse(parseJsonSegment(inner.payloadB64));
  if (!parsedProof.success) return firstIssue(parsedProof.error, 'old_key_proof');
  const proof = parsedProof.data;
  for (const name of ['aud', 'iat', 'exp', 'jti', 'device_id'] as const) {
    if (proof[name] !== claims[name]) return reject('proof-mismatch', `the old-key proof's ${name} differs from the request's`);
  }
  if (proof.new_jkt !== newKey.thumbprint) return reject('proof-mismatch', 'the old-key proof approves a different new key');

  const nowSeconds = Math.floor((options.now?.getTime() ?? Date.now()) / 1000);
  const skew = options.clockSkewSeconds ?? 60;
  const maxAge = options.maxAgeSeconds ?? 300;
  if (claims.exp <= claims.iat) return reject('malformed', 'exp is not after iat');
  if (nowSeconds - skew >= claims.exp) return reject('expired', `the request expired ${nowSeconds - claims.exp} s ago`);
  if (claims.iat > nowSeconds + skew) return reject('not-yet-valid', `the request was issued ${claims.iat - nowSeconds} s in the future`);
  if (nowSeconds - claims.iat > maxAge + skew) return reject('too-old', `the request is ${nowSeconds - claims.iat} s old (max ${maxAge} s)`);
  if (claims.aud !== options.audience) return reject('wrong-audience', 'the request is addressed to another broker');
  if (options.acceptedAssurance !== undefined && !options.acceptedAssurance.includes(claims.assurance)) {
    return reject('assurance-too-low', `assurance ${claims.assurance} is not accepted`);
  }
  const attested = keyAttestationOfRequest(claims.tpm, newKey.publicJwk, { aud: claims.aud, jti: claims.jti, jkt: newKey.thumbprint, deviceId: claims.device_id });
  if (!attested.ok) return attested;
  return {
    ok: true,
    rotation: {
      deviceId: claims.device_id,
      claims,
      oldThumbprint: pinned.thumbprint,
      thumbprint: newKey.thumbprint,
      publicJwk: newKey.publicJwk,
      deviceKey: newKey,
      keyAttestation: attested.keyAttestation,
    },
  };
}
