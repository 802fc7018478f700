import { receivePushedSet } from '../sdk/index.js';
import { deviceSetIssuer, SSF_PUSH_PATH } from '../../main/core/broker/device-set.js';
import type { Logger } from '../../main/core/log.js';
import type { BrokerStorage, DeviceRecord } from './storage/storage.js';

export type ClaimReceipt = { readonly status: 202 } | { readonly status: 400; readonly body: { readonly err: string; readonly description: string } };

/**
 * The broker's RFC 8935 push receiver for SETs devices transmit about themselves. The transmitter
 * is already authenticated (a DPoP proof by the enrolled device key); the SET must also be signed
 * by that pinned key (`kid` = its thumbprint), issued as that device, addressed to this receiver,
 * and about that device. Accepted SETs are recorded as the device's CLAIMS: they never change the
 * broker's verdict, which comes only from verified posture reports evaluated against the policy.
 */
export class DeviceClaimReceiver {
  constructor(private readonly deps: { storage: BrokerStorage; issuer: string; log: Logger; now: () => number }) {}

  receive(device: DeviceRecord, contentType: string | undefined, body: Buffer): ClaimReceipt {
    const receipt = receivePushedSet(
      { contentType, body },
      {
        keys: [{ kid: device.jkt, key: device.publicJwk }],
        issuer: deviceSetIssuer(device.id),
        audience: new URL(SSF_PUSH_PATH, this.deps.issuer).href,
        now: new Date(this.deps.now()),
        clockSkewSeconds: 300,
      },
    );
    if (receipt.status === 400) {
      this.deps.log.warn({ deviceId: device.id, reason: receipt.reason }, 'refused a SET pushed by a device');
      return { status: 400, body: receipt.body };
    }
    const set = receipt.set;
    const subject = set.subject;
    const aboutId = subject.format === 'complex' && subject.device?.format === 'opaque' ? subject.device.id : undefined;
    if (aboutId !== device.id) return refuse('invalid_request', 'a device may only transmit SETs about itself (sub_id.device)');
    const outcome = this.deps.storage.deviceClaims.add({
      deviceId: device.id,
      jti: set.jti,
      eventType: set.type,
      event: set.event as Record<string, unknown>,
      issuedAtMs: set.claims.iat * 1000,
      receivedAtMs: this.deps.now(),
      setJwt: body.toString('utf8').trim(),
    });
    // A redelivery of the same SET (the agent's outbox retries after a lost answer) is accepted again.
    if (outcome === 'conflict') return refuse('invalid_request', 'another SET from this device already used this jti');
    if (outcome === 'added') this.deps.log.info({ deviceId: device.id, type: set.type }, 'device transmitted a SET (its claim)');
    return { status: 202 };
  }

  /**
   * What the query API shows: the broker's own verdict (authoritative) beside the device's claims
   * (informational), never merged.
   */
  view(device: DeviceRecord, limit: number): Record<string, unknown> {
    const verdict = this.deps.storage.getVerdict(device.id);
    return {
      deviceId: device.id,
      brokerVerdict: verdict
        ? {
            authoritative: true,
            source: 'broker-evaluated posture report',
            compliant: device.revokedAtMs === null && verdict.isCompliant,
            decision: verdict.status,
            seq: verdict.seq,
            verifiedAt: new Date(verdict.verifiedAtMs).toISOString(),
          }
        : null,
      deviceClaims: this.deps.storage.deviceClaims.list(device.id, limit).map((c) => ({
        authoritative: false,
        source: 'device-transmitted SET',
        jti: c.jti,
        type: c.eventType,
        event: c.event,
        issuedAt: new Date(c.issuedAtMs).toISOString(),
        receivedAt: new Date(c.receivedAtMs).toISOString(),
      })),
    };
  }
}

function refuse(err: string, description: string): ClaimReceipt {
  return { status: 400, body: { err, description } };
}
