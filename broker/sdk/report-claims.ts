import { z } from 'zod';
import { CheckStatusSchema } from '../../main/core/posture/snapshot.js';
import { PLATFORMS } from '../../main/core/platform.js';

/**
 * The wire format of a posture report: a JWT signed by the device key (`typ: ward-posture+jwt`,
 * `alg: ES256`, `kid` = RFC 7638 thumbprint of the device key) carrying RFC 9711 EAT claims and
 * Ward's own. The agent builds it in `main/core/broker/report.ts`; brokers verify it with
 * `verifyPostureReport`. This module imports only zod and shared constants, so the agent can
 * use it without the rest of the SDK.
 */

/**
 * JWS `typ` of a posture report.
 *
 * @example
 * ```ts
 * signJwt(signer, { typ: POSTURE_REPORT_TYP, kid: thumbprint }, claims);
 * ```
 */
export const POSTURE_REPORT_TYP = 'ward-posture+jwt';
/**
 * `swname` (RFC 9711 §4.2.6) of every report Ward's agent makes.
 *
 * @example
 * ```ts
 * if (claims.swname !== WARD_SWNAME) log.info('report from another agent');
 * ```
 */
export const WARD_SWNAME = 'Ward';
/**
 * Schema versions of the `posture` claim this SDK understands.
 *
 * @example
 * ```ts
 * SUPPORTED_POSTURE_SCHEMA_VERSIONS.includes(claims.posture.schemaVersion);
 * ```
 */
export const SUPPORTED_POSTURE_SCHEMA_VERSIONS: readonly number[] = [1];

/**
 * How a device key may be held, strongest first.
 *
 * @example
 * ```ts
 * const accepted = ASSURANCE_LEVELS.filter((l) => l !== 'none');
 * ```
 */
export const ASSURANCE_LEVELS = ['hardware', 'os-keychain', 'none'] as const;
/**
 * zod schema of an assurance level.
 *
 * @example
 * ```ts
 * AssuranceLevelSchema.parse(config.minimumAssurance);
 * ```
 */
export const AssuranceLevelSchema = z.enum(ASSURANCE_LEVELS);

const JsonValue: z.ZodType<unknown> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(JsonValue), z.record(z.string(), JsonValue)]),
);

/**
 * One check as an EAT submodule: its status and the facts policy rules compare against.
 *
 * @example
 * ```ts
 * CheckSubmodSchema.parse({ status: 'pass', observed: { encrypted: true } });
 * ```
 */
export const CheckSubmodSchema = z.object({
  status: CheckStatusSchema,
  observed: z.record(z.string(), JsonValue),
});
export type CheckSubmod = z.infer<typeof CheckSubmodSchema>;

/**
 * Ward's `posture` claim: which snapshot this is and what machine it describes.
 *
 * @example
 * ```ts
 * PostureClaimSchema.parse(claims.posture).os.platform; // 'linux'
 * ```
 */
export const PostureClaimSchema = z.object({
  /** `PostureSnapshot.schemaVersion`; `int` here so an unknown version is `unsupported-schema`, not `malformed`. */
  schemaVersion: z.number().int(),
  snapshotId: z.string().max(64),
  takenAt: z.iso.datetime(),
  os: z.object({
    platform: z.enum(PLATFORMS),
    name: z.string().max(200),
    version: z.string().max(200),
    build: z.string().max(200).nullable(),
  }),
});
export type PostureClaim = z.infer<typeof PostureClaimSchema>;

const CHECK_ID = /^[a-z][a-z0-9-]{1,63}$/;
const NumericDate = z.number().int().nonnegative();

/**
 * The claims of a posture report.
 *  - RFC 9711 EAT: `eat_nonce` (the broker's challenge; absent for unsolicited reports), `ueid`
 *    (type 0x01 RAND UEID: 0x01 followed by the SHA-256 thumbprint of the device key, base64url),
 *    `swname`, `swversion`, `submods` (one submodule per check, keyed by check id);
 *  - JWT: `iat`, `exp` (NumericDate seconds);
 *  - Ward: `device_id` (assigned at enrollment), `seq` (strictly increasing per device),
 *    `assurance` (how the signing key is held), `posture` (snapshot metadata).
 *
 * @example
 * ```ts
 * const result = PostureReportClaimsSchema.safeParse(payload);
 * if (!result.success) console.error(result.error.issues[0]?.message);
 * ```
 */
export const PostureReportClaimsSchema = z.object({
  iat: NumericDate,
  exp: NumericDate,
  eat_nonce: z.string().min(8).max(88).optional(),
  ueid: z.string().regex(/^[A-Za-z0-9_-]{22,64}$/),
  swname: z.string().max(64),
  swversion: z.string().max(64),
  submods: z.record(z.string().regex(CHECK_ID), CheckSubmodSchema),
  device_id: z.string().min(1).max(128),
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  assurance: AssuranceLevelSchema,
  posture: PostureClaimSchema,
});
export type PostureReportClaims = z.infer<typeof PostureReportClaimsSchema>;

/**
 * The `ueid` of a device key: RFC 9711 §4.2.1 type 0x01 (RAND) UEID, `0x01 ‖ SHA-256 thumbprint`,
 * base64url. Random per key, stable for the key's life, and checkable by the broker.
 *
 * @example
 * ```ts
 * ueidForThumbprint(await jwkThumbprint(signer.publicJwk)); // 'AT…' (44 characters)
 * ```
 */
export function ueidForThumbprint(thumbprint: string): string {
  return Buffer.concat([Buffer.of(0x01), Buffer.from(thumbprint, 'base64url')]).toString('base64url');
}


// --- Hot path ---------------------------------------------------------------------------------
// `PostureReportClaimsSchema` is the definition; zod spends ~20 µs on a typical report, a third of
// an ES256 verification. For values that came out of JSON.parse (the only ones a verifier sees),
// the function below accepts exactly what the schema accepts and returns the same data (unknown
// keys stripped); a property test holds the two together. Leaf formats with subtle rules
// (ISO datetime) still go through zod.

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
const isStr = (v: unknown, min: number, max: number): v is string => typeof v === 'string' && v.length >= min && v.length <= max;
const STATUSES: ReadonlySet<unknown> = new Set(CheckStatusSchema.options);
const ASSURANCES: ReadonlySet<unknown> = new Set(ASSURANCE_LEVELS);
const PLATFORM_SET: ReadonlySet<unknown> = new Set(PLATFORMS);
const UEID = /^[A-Za-z0-9_-]{22,64}$/;
const IsoDateTime = z.iso.datetime();

/**
 * Validate already-parsed JSON as posture report claims: the same verdict and output as
 * `PostureReportClaimsSchema.safeParse(value)` (for JSON values), much faster. `undefined` when
 * invalid; run the schema then for the detailed issue.
 *
 * @example
 * ```ts
 * const claims = readPostureReportClaims(JSON.parse(payloadText)) ?? explain(PostureReportClaimsSchema.safeParse(…));
 * ```
 */
export function readPostureReportClaims(value: unknown): PostureReportClaims | undefined {
  if (!isObject(value)) return undefined;
  const { iat, exp, eat_nonce, ueid, swname, swversion, submods, device_id, seq, assurance, posture } = value;
  if (!isInt(iat, 0) || !isInt(exp, 0) || !isInt(seq, 0)) return undefined;
  if (eat_nonce !== undefined && !isStr(eat_nonce, 8, 88)) return undefined;
  if (typeof ueid !== 'string' || !UEID.test(ueid)) return undefined;
  if (!isStr(swname, 0, 64) || !isStr(swversion, 0, 64) || !isStr(device_id, 1, 128)) return undefined;
  if (!ASSURANCES.has(assurance)) return undefined;
  if (!isObject(submods) || !isObject(posture)) return undefined;
  const outSubmods: Record<string, CheckSubmod> = {};
  for (const id in submods) {
    if (!Object.hasOwn(submods, id)) continue;
    const submod = submods[id];
    if (!CHECK_ID.test(id) || !isObject(submod) || !STATUSES.has(submod.status) || !isObject(submod.observed)) return undefined;
    outSubmods[id] = { status: submod.status as CheckSubmod['status'], observed: submod.observed };
  }
  const { schemaVersion, snapshotId, takenAt, os } = posture;
  if (!isInt(schemaVersion, Number.MIN_SAFE_INTEGER) || !isStr(snapshotId, 0, 64) || typeof takenAt !== 'string' || !isObject(os)) return undefined;
  if (!PLATFORM_SET.has(os.platform) || !isStr(os.name, 0, 200) || !isStr(os.version, 0, 200)) return undefined;
  if (os.build !== null && !isStr(os.build, 0, 200)) return undefined;
  if (!IsoDateTime.safeParse(takenAt).success) return undefined;
  return {
    iat,
    exp,
    ...(eat_nonce === undefined ? {} : { eat_nonce }),
    ueid,
    swname,
    swversion,
    submods: outSubmods,
    device_id,
    seq,
    assurance: assurance as PostureReportClaims['assurance'],
    posture: { schemaVersion, snapshotId, takenAt, os: { platform: os.platform as PostureClaim['os']['platform'], name: os.name, version: os.version, build: os.build } },
  };
}
