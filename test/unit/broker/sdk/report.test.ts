import { describe, expect, it } from 'vitest';
import { POSTURE_REPORT_TYP, PostureReportClaimsSchema, ueidForThumbprint } from '../../../../broker/sdk/index.js';
import { buildPostureReport } from '../../../../main/core/broker/report.js';
import { makeDevice, sampleSnapshot } from './helpers.js';

describe('the agent-side report builder (main/core/broker/report.ts)', () => {
  it('builds exactly the claims the SDK schema defines, from a snapshot and a device signer', async () => {
    const device = await makeDevice('dev-42');
    const snapshot = sampleSnapshot();
    const now = new Date('2025-03-01T12:00:00Z');
    const jwt = await buildPostureReport(snapshot, device.signer, { deviceId: 'dev-42', seq: 9, nonce: 'nonce-abcdefgh', ttlSeconds: 120, now, agentVersion: '1.2.3' });
    const [h, p] = jwt.split('.') as [string, string];
    expect(JSON.parse(Buffer.from(h, 'base64url').toString())).toEqual({ typ: POSTURE_REPORT_TYP, kid: device.thumbprint, alg: 'ES256' });
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as unknown;
    // strict(): the builder adds nothing the schema does not define.
    const claims = PostureReportClaimsSchema.strict().parse(payload);
    expect(claims).toMatchObject({
      iat: now.getTime() / 1000,
      exp: now.getTime() / 1000 + 120,
      eat_nonce: 'nonce-abcdefgh',
      ueid: ueidForThumbprint(device.thumbprint),
      swname: 'Ward',
      swversion: '1.2.3',
      device_id: 'dev-42',
      seq: 9,
      assurance: 'none',
      posture: { schemaVersion: 1, snapshotId: snapshot.snapshotId, takenAt: snapshot.takenAt, os: { platform: 'linux', version: '12' } },
    });
    expect(Object.keys(claims.submods)).toEqual(snapshot.checks.map((c) => c.id));
    expect(claims.submods.firewall).toEqual({ status: 'fail', observed: { active: false } });
    expect(Buffer.from(claims.ueid, 'base64url')[0]).toBe(0x01);
  });
});
