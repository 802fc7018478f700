import type { JwsSigner } from '../../../broker/sdk/jws.js';
import { buildSet, type SubjectId } from '../../../broker/sdk/shared-signals/set.js';
import type { DeviceSigner } from '../identity/key-store.js';
import type { PostureSnapshot } from '../posture/snapshot.js';

/** The broker's RFC 8935 push receiver: devices transmit their own SETs here (DPoP-authenticated). */
export const SSF_PUSH_PATH = '/ssf/events';
/** The broker's RFC 8936 poll endpoint: a device polls for the SETs addressed to it (DPoP-authenticated). */
export const SSF_POLL_PATH = '/ssf/poll';

/**
 * The `iss` of a SET a device transmits about itself. Not the broker's issuer: a receiver must
 * never mistake a device's claim for the broker's verdict.
 */
export function deviceSetIssuer(deviceId: string): string {
  return `urn:ward:device:${deviceId}`;
}

/** RFC 9493 subject of a device, as Ward's broker names it in its own SETs. */
export function deviceSubject(deviceId: string): SubjectId {
  return { format: 'complex', device: { format: 'opaque', id: deviceId } };
}

/**
 * The device's own reading of its compliance: no collected check `fail`s. The agent holds no
 * policy of its own (the broker evaluates it), so this is a claim about the checks, not a verdict.
 */
export function isLocallyCompliant(snapshot: PostureSnapshot): boolean {
  return snapshot.checks.every((c) => c.status !== 'fail');
}

export interface DeviceComplianceSetInput {
  readonly deviceId: string;
  /** RFC 7638 thumbprint of the device key: the `kid`, so the broker picks the pinned key. */
  readonly thumbprint: string;
  readonly brokerUrl: URL;
  readonly isCompliant: boolean;
  readonly failingChecks: readonly string[];
  readonly now: Date;
}

/**
 * A CAEP `device-compliance-change` SET (RFC 8417, `typ: secevent+jwt`) signed by the device key,
 * addressed to the broker's push receiver. Built with the broker SDK.
 */
export function buildDeviceComplianceSet(input: DeviceComplianceSetInput, signer: DeviceSigner): Promise<string> {
  const jwsSigner: JwsSigner = { alg: 'ES256', kid: input.thumbprint, sign: (data) => signer.sign(data) };
  const failing = input.failingChecks.slice(0, 50).join(', ');
  return buildSet(
    {
      type: 'device-compliance-change',
      subject: deviceSubject(input.deviceId),
      event: {
        previous_status: input.isCompliant ? 'not-compliant' : 'compliant',
        current_status: input.isCompliant ? 'compliant' : 'not-compliant',
        initiating_entity: 'system',
        reason_admin: { en: input.isCompliant ? 'every posture check on the device passes' : `failing checks on the device: ${failing}` },
      },
      issuer: deviceSetIssuer(input.deviceId),
      audience: new URL(SSF_PUSH_PATH, input.brokerUrl).href,
      now: input.now,
    },
    jwsSigner,
  );
}
