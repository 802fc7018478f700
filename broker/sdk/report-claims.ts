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

/** JWS `typ` of a posture report. */
export const POSTURE_REPORT_TYP = 'ward-posture+jwt';
/** `swname` (RFC 9711 §4.2.6) of every report Ward's agent makes. */
export const WARD_SWNAME = 'Ward';
/** Schema versions of the `posture` claim this SDK understands. */
export const SUPPORTED_POSTURE_SCHEMA_VERSIONS: readonly number[] = [1];

export const ASSURANCE_LEVELS = ['hardware', 'os-keychain', 'none'] as const;
export const AssuranceLevelSchema = z.enum(ASSURANCE_LEVELS);

const JsonValue: z.ZodType<unknown> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(JsonValue), z.record(z.string(), JsonValue)]),
);

/** One check as an EAT submodule: its status and the facts policy rules compare against. */
export const CheckSubmodSchema = z.object({
  status: CheckStatusSchema,
  observed: z.record(z.string(), JsonValue),
});
export type CheckSubmod = z.infer<typeof CheckSubmodSchema>;

/** Ward's `posture` claim: which snapshot this is and what machine it describes. */
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

