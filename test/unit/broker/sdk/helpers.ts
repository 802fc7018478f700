import { randomUUID } from 'node:crypto';
import { postureReportClaims } from '../../../../main/core/broker/report.js';
import { openSigner } from '../../../../main/core/identity/device-signer.js';
import { jwkThumbprint, signJwt } from '../../../../main/core/identity/jws.js';
import type { DeviceSigner } from '../../../../main/core/identity/key-store.js';
import { MemoryKeyStore } from '../../../../main/core/identity/memory-key-store.js';
import { PostureSnapshotSchema, type CheckResult, type PostureSnapshot } from '../../../../main/core/posture/snapshot.js';

/** A test device: a P-256 key in Ward's own in-memory key store, opened as the agent opens it. */
export interface TestDevice {
  readonly deviceId: string;
  readonly signer: DeviceSigner;
  readonly thumbprint: string;
}

export async function makeDevice(deviceId = `dev-${randomUUID()}`): Promise<TestDevice> {
  const store = new MemoryKeyStore();
  await store.create('device');
  const signer = await openSigner(store, 'device');
  return { deviceId, signer, thumbprint: await jwkThumbprint(signer.publicJwk) };
}

const evidence = [{ kind: 'exec' as const, source: '/usr/bin/true', exitCode: 0 }];

function check(id: string, status: CheckResult['status'], observed: Record<string, unknown>, remediation: string[] = []): CheckResult {
  return { id, title: id, status, observed, evidence: status === 'pass' ? evidence : [], reason: `${id} is ${status}`, durationMs: 1, remediation };
}

/** A valid snapshot with a mix of statuses and observed facts policy rules can compare. */
export function sampleSnapshot(checks?: CheckResult[]): PostureSnapshot {
  return PostureSnapshotSchema.parse({
    schemaVersion: 1,
    snapshotId: randomUUID(),
    takenAt: '2025-01-01T00:00:00.000Z',
    durationMs: 12,
    source: { mode: 'replay' },
    device: {
      os: { platform: 'linux', name: 'Debian GNU/Linux', version: '12', build: null, kernel: '6.1.0', arch: 'x64' },
      hostname: 'test-host',
      hardware: { vendor: null, model: null, serial: null, uuid: null, virtual: true },
      agentVersion: '0.1.0',
    },
    checks: checks ?? [
      check('disk-encryption', 'pass', { volumes: [{ path: '/', encrypted: true }] }),
      check('firewall', 'fail', { active: false }, ['Turn the firewall on: sudo ufw enable']),
      check('screen-lock', 'pass', { lockEnabled: true, maxScreenLockDelaySeconds: 300 }),
      check('os-version', 'pass', { id: 'debian', versionId: '12.5' }),
      check('secure-boot', 'unsupported', {}),
    ],
  });
}

export { check as makeCheck };

/**
 * Sign arbitrary report claims and header with a device key, for tampering tests: the claims
 * start as exactly what the agent builds and `edit` changes them.
 */
export async function mintReport(
  device: TestDevice,
  options: { seq?: number; nonce?: string; now?: Date; ttlSeconds?: number; snapshot?: PostureSnapshot },
  edit: (claims: Record<string, unknown>) => void = () => {},
  header: Record<string, unknown> = {},
  signer: Pick<DeviceSigner, 'sign'> = device.signer,
): Promise<string> {
  const claims = postureReportClaims(options.snapshot ?? sampleSnapshot(), device.thumbprint, device.signer, {
    deviceId: device.deviceId,
    seq: options.seq ?? 1,
    ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds }),
  }) as unknown as Record<string, unknown>;
  edit(claims);
  return signJwt(signer, { typ: 'ward-posture+jwt', kid: device.thumbprint, ...header }, claims);
}
