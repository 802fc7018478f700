import {
  POSTURE_REPORT_TYP,
  WARD_SWNAME,
  ueidForThumbprint,
  type PostureReportClaims,
} from '../../../broker/sdk/report-claims.js';
import { jwkThumbprint, signJwt } from '../identity/jws.js';
import type { DeviceSigner } from '../identity/key-store.js';
import type { PostureSnapshot } from '../posture/snapshot.js';
import { AGENT_VERSION } from '../version.js';

export interface BuildPostureReportOptions {
  /** The id the broker assigned at enrollment. */
  readonly deviceId: string;
  /** Strictly increasing per device; the caller persists it (the durable outbox). */
  readonly seq: number;
  /** The broker's challenge, when this report answers one (becomes `eat_nonce`). */
  readonly nonce?: string;
  /** Lifetime of the report. Default 300 s: reports are short-lived by design. */
  readonly ttlSeconds?: number;
  /** Injected clock. Default `new Date()`. */
  readonly now?: Date;
  /** `swversion`. Default the agent's own version. */
  readonly agentVersion?: string;
}

/**
 * The claims of a posture report for a snapshot, exactly as `PostureReportClaimsSchema` in the
 * broker SDK defines them (a unit test parses every built report with that schema).
 *
 * @example
 * ```ts
 * const claims = postureReportClaims(snapshot, thumbprint, signer, { deviceId, seq: 4 });
 * ```
 */
export function postureReportClaims(snapshot: PostureSnapshot, thumbprint: string, signer: Pick<DeviceSigner, 'assurance'>, options: BuildPostureReportOptions): PostureReportClaims {
  const iat = Math.floor((options.now?.getTime() ?? Date.now()) / 1000);
  const submods: PostureReportClaims['submods'] = {};
  for (const check of snapshot.checks) submods[check.id] = { status: check.status, observed: check.observed };
  return {
    iat,
    exp: iat + (options.ttlSeconds ?? 300),
    ...(options.nonce === undefined ? {} : { eat_nonce: options.nonce }),
    ueid: ueidForThumbprint(thumbprint),
    swname: WARD_SWNAME,
    swversion: options.agentVersion ?? AGENT_VERSION,
    submods,
    device_id: options.deviceId,
    seq: options.seq,
    assurance: signer.assurance,
    posture: {
      schemaVersion: snapshot.schemaVersion,
      snapshotId: snapshot.snapshotId,
      takenAt: snapshot.takenAt,
      os: { platform: snapshot.device.os.platform, name: snapshot.device.os.name, version: snapshot.device.os.version, build: snapshot.device.os.build },
    },
  };
}

/**
 * Build the signed posture report the agent sends to its broker: a JWT (`typ: ward-posture+jwt`,
 * ES256, `kid` = the device key's RFC 7638 thumbprint) signed through the device signer (TPM,
 * keychain), so the private key never leaves its store.
 *
 * @example
 * ```ts
 * const jwt = await buildPostureReport(snapshot, signer, { deviceId, seq: outbox.nextSeq(), nonce: challenge.nonce });
 * ```
 */
export async function buildPostureReport(snapshot: PostureSnapshot, signer: DeviceSigner, options: BuildPostureReportOptions): Promise<string> {
  const thumbprint = await jwkThumbprint(signer.publicJwk);
  const claims = postureReportClaims(snapshot, thumbprint, signer, options);
  return signJwt(signer, { typ: POSTURE_REPORT_TYP, kid: thumbprint }, claims);
}
