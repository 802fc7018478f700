import { reject, type Rejection } from './errors.js';
import { decodeVerifiedPayload, importDeviceKey, parseCompactJws, parseJsonSegment, verifyEs256, type DeviceKey, type PublicKeyInput } from './jws.js';
import {
  POSTURE_REPORT_TYP,
  PostureReportClaimsSchema,
  SUPPORTED_POSTURE_SCHEMA_VERSIONS,
  type PostureReportClaims,
  readPostureReportClaims,
  ueidForThumbprint,
} from './report-claims.js';
import type { AssuranceLevel } from '../../main/core/identity/key-store.js';
import type { PostureView } from '../../main/core/policy/evaluate.js';

/** Every reason a posture report is refused, each for one distinct fault. */
export type PostureRejectReason =
  | 'malformed'
  | 'wrong-typ'
  | 'unsupported-alg'
  | 'unknown-device'
  | 'foreign-key'
  | 'bad-signature'
  | 'unsupported-schema'
  | 'device-mismatch'
  | 'expired'
  | 'not-yet-valid'
  | 'too-old'
  | 'nonce-mismatch'
  | 'replayed-seq'
  | 'rolled-back-seq'
  | 'assurance-too-low';

/** Looks up the pinned key of a device by the (unverified) `device_id` of a report. */
export type DeviceKeyResolver = (deviceId: string) => PublicKeyInput | null | undefined;

export interface VerifyPostureReportOptions {
  /**
   * The device key pinned at enrollment, or a resolver from `device_id` to it. `null`/`undefined`
   * (or a resolver returning nothing) refuses the report as `unknown-device`.
   */
  readonly deviceKey: PublicKeyInput | DeviceKeyResolver | null | undefined;
  /** The device id the broker expects (e.g. from the DPoP-bound token); must equal `device_id`. */
  readonly deviceId?: string;
  /** The broker's challenge; when set, `eat_nonce` must equal it. */
  readonly expectedNonce?: string;
  /** The highest `seq` already accepted from this device (`-1` or `null` for none). */
  readonly lastSeq: number | null;
  /** Refuse reports whose `iat` is older than this. */
  readonly maxAgeSeconds: number;
  /** Tolerated clock difference for `iat` and `exp`. Default 60. */
  readonly clockSkewSeconds?: number;
  /** Key-holding levels the broker accepts. Default: all. */
  readonly acceptedAssurance?: readonly AssuranceLevel[];
  /** Injected clock. Default `new Date()`. */
  readonly now?: Date;
}

export interface VerifiedPostureReport {
  readonly claims: PostureReportClaims;
  /** RFC 7638 thumbprint of the key that signed it. */
  readonly thumbprint: string;
}

export type PostureReportVerdict = { readonly ok: true; readonly report: VerifiedPostureReport } | Rejection<PostureRejectReason>;

const DEFAULT_SKEW_SECONDS = 60;

const ueidCache = new WeakMap<DeviceKey, string>();
function ueidOf(key: DeviceKey): string {
  let ueid = ueidCache.get(key);
  if (ueid === undefined) {
    ueid = ueidForThumbprint(key.thumbprint);
    ueidCache.set(key, ueid);
  }
  return ueid;
}

/** `device_id` of a payload, read without validation (only to find the key to verify with). */
function peekDeviceId(payloadB64: string): string | undefined {
  const payload = parseJsonSegment(payloadB64);
  if (typeof payload !== 'object' || payload === null) return undefined;
  const id = (payload as Record<string, unknown>).device_id;
  return typeof id === 'string' ? id : undefined;
}

/**
 * Verify a posture report: the signature by the pinned device key, `typ`, the device id,
 * freshness (`iat`/`exp` with bounded clock skew and a maximum age), the challenge nonce, a
 * strictly increasing `seq`, the assurance level and the posture schema version. Never throws:
 * every input gives a verdict, and every fault its own reason.
 *
 * Fast: keys are imported once per thumbprint and identical headers parsed once, so the cost is
 * close to one `node:crypto` ES256 verification (see `npm run bench -- broker`).
 *
 * @example
 * ```ts
 * const verdict = verifyPostureReport(jwt, {
 *   deviceKey: device.publicJwk,
 *   deviceId: device.id,
 *   expectedNonce: challenge.nonce,
 *   lastSeq: device.lastSeq,
 *   maxAgeSeconds: 300,
 *   acceptedAssurance: ['hardware', 'os-keychain'],
 * });
 * if (!verdict.ok) return reply(403, { error: verdict.reason, detail: verdict.detail });
 * device.lastSeq = verdict.report.claims.seq;
 * ```
 */
export function verifyPostureReport(jwt: unknown, options: VerifyPostureReportOptions): PostureReportVerdict {
  const parsed = parseCompactJws(jwt);
  if ('ok' in parsed) return parsed;
  const { header } = parsed;
  if (header.typ !== POSTURE_REPORT_TYP) return reject('wrong-typ', `the token's typ is not ${POSTURE_REPORT_TYP}`);
  if (header.alg !== 'ES256') return reject('unsupported-alg', 'posture reports must be signed with ES256');
  if (header.crit !== undefined) return reject('malformed', 'the header has crit parameters this verifier does not understand');

  let keyInput: PublicKeyInput | null | undefined;
  if (typeof options.deviceKey === 'function') {
    const deviceId = peekDeviceId(parsed.payloadB64);
    if (deviceId === undefined) return reject('malformed', 'the payload has no device_id');
    keyInput = options.deviceKey(deviceId);
  } else {
    keyInput = options.deviceKey;
  }
  if (keyInput === null || keyInput === undefined) return reject('unknown-device', 'no enrolled key is known for this device');
  let key: DeviceKey;
  try {
    key = importDeviceKey(keyInput);
  } catch {
    return reject('unknown-device', 'the pinned key of this device is not a usable P-256 key');
  }
  if (header.kid !== undefined && header.kid !== key.thumbprint) return reject('foreign-key', 'the report names a key other than the one pinned for this device');
  if (header.jwk !== undefined) return reject('foreign-key', 'a report must not carry its own key; it is verified with the pinned key');
  if (!verifyEs256(parsed, key.keyObject)) return reject('bad-signature', 'the signature does not verify with the pinned device key');

  const payload = decodeVerifiedPayload(parsed);
  const claims = readPostureReportClaims(payload);
  if (claims === undefined) return explainInvalidClaims(payload);
  if (!SUPPORTED_POSTURE_SCHEMA_VERSIONS.includes(claims.posture.schemaVersion)) {
    return reject('unsupported-schema', `posture schema version ${claims.posture.schemaVersion} is not supported`);
  }
  if (options.deviceId !== undefined && claims.device_id !== options.deviceId) return reject('device-mismatch', 'the report is for another device');
  if (claims.ueid !== ueidOf(key)) return reject('device-mismatch', 'the ueid does not belong to the pinned device key');

  const nowSeconds = Math.floor((options.now?.getTime() ?? Date.now()) / 1000);
  const skew = options.clockSkewSeconds ?? DEFAULT_SKEW_SECONDS;
  if (claims.exp <= claims.iat) return reject('malformed', 'exp is not after iat');
  if (nowSeconds - skew >= claims.exp) return reject('expired', `the report expired ${nowSeconds - claims.exp} s ago`);
  if (claims.iat > nowSeconds + skew) return reject('not-yet-valid', `the report was issued ${claims.iat - nowSeconds} s in the future`);
  if (nowSeconds - claims.iat > options.maxAgeSeconds + skew) return reject('too-old', `the report is ${nowSeconds - claims.iat} s old (max ${options.maxAgeSeconds} s)`);

  if (options.expectedNonce !== undefined && claims.eat_nonce !== options.expectedNonce) {
    return reject('nonce-mismatch', claims.eat_nonce === undefined ? 'the report answers no challenge' : 'the report answers another challenge');
  }
  const lastSeq = options.lastSeq ?? -1;
  if (claims.seq === lastSeq) return reject('replayed-seq', `seq ${claims.seq} was already accepted`);
  if (claims.seq < lastSeq) return reject('rolled-back-seq', `seq ${claims.seq} is below the last accepted ${lastSeq}`);
  if (options.acceptedAssurance !== undefined && !options.acceptedAssurance.includes(claims.assurance)) {
    return reject('assurance-too-low', `assurance ${claims.assurance} is not accepted (accepted: ${options.acceptedAssurance.join(', ') || 'none'})`);
  }
  return { ok: true, report: { claims, thumbprint: key.thumbprint } };
}

/** The reason and detail for claims the fast reader refused, from the zod schema that defines them. */
function explainInvalidClaims(payload: unknown): Rejection<'malformed' | 'unsupported-schema'> {
  const version = (payload as { posture?: { schemaVersion?: unknown } } | undefined)?.posture?.schemaVersion;
  if (typeof version === 'number' && !SUPPORTED_POSTURE_SCHEMA_VERSIONS.includes(version)) {
    return reject('unsupported-schema', `posture schema version ${version} is not supported`);
  }
  const result = PostureReportClaimsSchema.safeParse(payload);
  const issue = result.success ? undefined : result.error.issues[0];
  return reject('malformed', `claim ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
}

/**
 * The checks of a verified report in the shape `evaluatePolicy` reads, so the broker evaluates
 * exactly what the agent evaluated locally.
 *
 * @example
 * ```ts
 * const evaluation = evaluatePolicy(postureViewFromReport(verdict.report.claims), policy, { firstFailedAt });
 * ```
 */
export function postureViewFromReport(claims: PostureReportClaims): PostureView {
  return { checks: Object.entries(claims.submods).map(([id, submod]) => ({ id, status: submod.status, observed: submod.observed })) };
}

