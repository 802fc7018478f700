import { z } from 'zod';
import { reject, type Rejection } from './errors.js';
import { parseCompactJws, parseJsonSegment, signCompactJws, verifyWithKid, type JwsSigner, type VerificationKey } from './jws.js';
import { PolicySchema, type Policy, type PolicyInput } from '../../main/core/policy/schema.js';
import { BrokerSdkError } from './errors.js';

/**
 * JWS `typ` of a signed policy bundle.
 *
 * @example
 * ```ts
 * res.setHeader('content-type', 'application/jose'); // body: a JWS whose typ is POLICY_BUNDLE_TYP
 * ```
 */
export const POLICY_BUNDLE_TYP = 'ward-policy+jwt';

/**
 * The payload of a policy bundle.
 *
 * @example
 * ```ts
 * const { version, exp } = PolicyBundleClaimsSchema.parse(JSON.parse(payloadText));
 * ```
 */
export const PolicyBundleClaimsSchema = z.object({
  /** Monotonic bundle version; agents refuse a version older than the last one they accepted. */
  version: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  iat: z.number().int().nonnegative(),
  exp: z.number().int().nonnegative(),
  iss: z.string().max(2048).optional(),
  policy: z.unknown(),
});

export interface SignPolicyBundleOptions {
  readonly version: number;
  readonly expiresAt: Date;
  readonly issuer?: string;
  readonly now?: Date;
}

export interface VerifyPolicyBundleOptions {
  readonly now?: Date;
  /** The highest bundle version accepted before; an older version is refused as `version-rollback`. */
  readonly lastSeenVersion?: number | null;
  /** When set, `iss` must equal it. */
  readonly issuer?: string;
  /** Default 60. */
  readonly clockSkewSeconds?: number;
}

export type PolicyBundleRejectReason = 'malformed' | 'wrong-typ' | 'unsupported-alg' | 'unknown-key' | 'bad-signature' | 'wrong-issuer' | 'expired' | 'not-yet-valid' | 'version-rollback' | 'invalid-policy';

export interface VerifiedPolicyBundle {
  readonly policy: Policy;
  readonly version: number;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
  readonly kid: string;
}

export type PolicyBundleVerdict = { readonly ok: true; readonly bundle: VerifiedPolicyBundle } | Rejection<PolicyBundleRejectReason>;

/**
 * Sign a policy as a versioned, expiring bundle (compact JWS, `typ: ward-policy+jwt`, ES256).
 * The policy is validated first; an invalid one throws `BrokerSdkError('invalid-argument')`.
 *
 * @example
 * ```ts
 * const signer = es256Signer(policyPrivateKey, 'policy-2025');
 * const bundle = await signPolicyBundle(policy, signer, { version: 7, expiresAt: new Date(Date.now() + 7 * 86400_000) });
 * ```
 */
export async function signPolicyBundle(policy: PolicyInput, key: JwsSigner, options: SignPolicyBundleOptions): Promise<string> {
  const parsed = PolicySchema.safeParse(policy);
  if (!parsed.success) throw new BrokerSdkError('invalid-argument', `the policy is invalid: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  if (key.kid === undefined) throw new BrokerSdkError('invalid-argument', 'a policy signing key needs a kid');
  if (!Number.isSafeInteger(options.version) || options.version < 0) throw new BrokerSdkError('invalid-argument', 'version must be a non-negative integer');
  const iat = Math.floor((options.now?.getTime() ?? Date.now()) / 1000);
  const exp = Math.floor(options.expiresAt.getTime() / 1000);
  if (!(exp > iat)) throw new BrokerSdkError('invalid-argument', 'expiresAt must be in the future');
  return signCompactJws(
    { typ: POLICY_BUNDLE_TYP, kid: key.kid },
    { version: options.version, iat, exp, ...(options.issuer === undefined ? {} : { iss: options.issuer }), policy: parsed.data },
    key,
  );
}

/**
 * Verify a policy bundle against the broker's policy keys: signature (key chosen by `kid`),
 * issuer, validity window, version not older than the last one seen, and the policy schema.
 * Never throws.
 *
 * @example
 * ```ts
 * const verdict = verifyPolicyBundle(jws, [{ kid: 'policy-2025', key: brokerPolicyJwk }], { lastSeenVersion: 6 });
 * if (verdict.ok) { store.lastSeenVersion = verdict.bundle.version; apply(verdict.bundle.policy); }
 * ```
 */
export function verifyPolicyBundle(jws: unknown, keys: readonly VerificationKey[], options: VerifyPolicyBundleOptions = {}): PolicyBundleVerdict {
  const parsed = parseCompactJws(jws);
  if ('ok' in parsed) return parsed;
  const { header } = parsed;
  if (header.typ !== POLICY_BUNDLE_TYP) return reject('wrong-typ', `the token's typ is not ${POLICY_BUNDLE_TYP}`);
  if (header.alg !== 'ES256') return reject('unsupported-alg', 'policy bundles must be signed with ES256');
  if (header.crit !== undefined) return reject('malformed', 'the header has crit parameters this verifier does not understand');
  const outcome = verifyWithKid(parsed, keys);
  if (outcome === 'unknown-key') return reject('unknown-key', 'the bundle is signed by a key this verifier does not trust');
  if (outcome === 'bad-signature') return reject('bad-signature', 'the signature does not verify with the policy key');
  const claims = PolicyBundleClaimsSchema.safeParse(parseJsonSegment(parsed.payloadB64));
  if (!claims.success) return reject('malformed', `bundle claim ${claims.error.issues[0]?.path.join('.') || '(root)'}: ${claims.error.issues[0]?.message ?? 'invalid'}`);
  const { version, iat, exp, iss } = claims.data;
  if (options.issuer !== undefined && iss !== options.issuer) return reject('wrong-issuer', 'the bundle comes from another issuer');
  const nowSeconds = Math.floor((options.now?.getTime() ?? Date.now()) / 1000);
  const skew = options.clockSkewSeconds ?? 60;
  if (nowSeconds - skew >= exp) return reject('expired', `the policy bundle expired ${nowSeconds - exp} s ago`);
  if (iat > nowSeconds + skew) return reject('not-yet-valid', 'the policy bundle was issued in the future');
  if (options.lastSeenVersion !== undefined && options.lastSeenVersion !== null && version < options.lastSeenVersion) {
    return reject('version-rollback', `bundle version ${version} is older than the last accepted ${options.lastSeenVersion}`);
  }
  const policy = PolicySchema.safeParse(claims.data.policy);
  if (!policy.success) return reject('invalid-policy', `policy ${policy.error.issues[0]?.path.join('.') || '(root)'}: ${policy.error.issues[0]?.message ?? 'invalid'}`);
  return { ok: true, bundle: { policy: policy.data, version, issuedAt: new Date(iat * 1000), expiresAt: new Date(exp * 1000), kid: String(header.kid) } };
}
