import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oauth from 'oauth4webapi';
import { afterAll, describe, expect, it } from 'vitest';
import { ALICE, BLOCK_FIREWALL_POLICY, adminHeaders, decodeJwt, enroll, insecure, newDevice, postReport, postureReport, signIn, startBroker, wardClient } from './helpers.js';

describe('reference broker restart', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ward-broker-restart-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('keeps devices, seq, verdicts, history, policy, keys, tokens and oidc-provider grants across a restart', async () => {
    const first = await startBroker({ dataDir });
    const device = await newDevice();
    const spare = first.broker.admin.createEnrollmentToken({ label: 'after-restart' });
    expect((await enroll(first.broker, device)).status).toBe(201);
    first.broker.admin.setPolicy(BLOCK_FIREWALL_POLICY);
    const sent = await postureReport(device, { firewall: 'fail' });
    expect((await postReport(first.broker, device, sent)).status).toBe(200);
    const tokens = await signIn(first.broker, device, ALICE);
    const jwks = await (await fetch(`${first.broker.url}/jwks`)).json();
    const brokerKeys = await (await fetch(`${first.broker.url}/broker/keys`)).json();
    const port = first.broker.port;
    await first.cleanup();
    // Let this process's fetch pool see the old server's sockets close; otherwise undici reuses a
    // dead keep-alive socket for the first request to the same host:port (a client artefact).
    await new Promise((r) => setTimeout(r, 500));

    const second = await startBroker({ dataDir, port });
    try {
      const { broker } = second;
      expect(broker.url).toBe(`http://127.0.0.1:${port}`);
      // Same signing keys: tokens and pinned broker keys stay valid.
      expect(await (await fetch(`${broker.url}/jwks`)).json()).toEqual(jwks);
      expect(await (await fetch(`${broker.url}/broker/keys`)).json()).toEqual(brokerKeys);
      const detail = (await (await fetch(`${broker.url}/devices/${device.deviceId}`, { headers: adminHeaders })).json()) as { posture: { decision: string; seq: number }; lastSeq: number; account: string };
      expect(detail).toMatchObject({ lastSeq: device.seq, account: 'alice', posture: { decision: 'deny', seq: device.seq } });
      // The pinned seq survived: the same report is a replay after the restart too.
      const replay = await postReport(broker, device, sent);
      expect(((await replay.json()) as { reason: string }).reason).toBe('replayed-seq');
      expect(broker.admin.currentPolicy()?.policy.rules[0]?.id).toBe('fw');
      expect(broker.admin.history({ deviceId: device.deviceId!, onlyFailures: true }).length).toBeGreaterThanOrEqual(2);
      // The refresh token (an oidc-provider adapter row) still works, still DPoP-bound.
      const refreshed = await oauth.processRefreshTokenResponse(
        tokens.as,
        wardClient,
        await oauth.refreshTokenGrantRequest(tokens.as, wardClient, oauth.None(), tokens.refresh_token!, { DPoP: tokens.dpop, ...insecure }),
      );
      expect(decodeJwt(refreshed.access_token)).toMatchObject({ sub: 'alice', cnf: { jkt: device.thumbprint } });
      // An enrollment token created before the restart is still single-use and valid.
      expect((await enroll(broker, await newDevice(), spare.token)).status).toBe(201);
    } finally {
      await second.cleanup();
    }
  });
});
