import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../../broker/server/broker.js';
import { buildRotationRequest } from '../../../main/core/identity/enrollment.js';
import type { DeviceSigner } from '../../../main/core/identity/key-store.js';
import { ALICE, dpopProof, enroll, newDevice, postReport, postureReport, signIn, startBroker, unusedTotp, type TestDevice } from './helpers.js';

// POST /rotate and the DPoP binding: tokens issued to the old key stop working once the key is
// rotated (the grant is revoked and the old key no longer names an enrolled device).
describe('reference broker: key rotation and DPoP-bound tokens (real oidc-provider)', () => {
  let broker: Broker;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ broker, cleanup } = await startBroker());
  });
  afterAll(async () => cleanup());

  /** The agent's DeviceSigner shape over a test device's WebCrypto key. */
  const deviceSigner = (d: TestDevice): DeviceSigner => ({ alias: d.thumbprint, publicJwk: d.publicJwk, assurance: 'none', store: 'memory', sign: async (data) => d.signer.sign(data) as Promise<Uint8Array> });

  const callDemo = async (accessToken: string, proofDevice: TestDevice) => {
    const url = `${broker.url}/demo/resource`;
    const ath = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(accessToken))).toString('base64url');
    return fetch(url, { headers: { authorization: `DPoP ${accessToken}`, dpop: await dpopProof(proofDevice, 'GET', url, { ath }) } });
  };

  const refresh = async (tokenEndpoint: string, refreshToken: string, proofDevice: TestDevice) =>
    fetch(tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await dpopProof(proofDevice, 'POST', tokenEndpoint) },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'ward-agent' }),
    });

  it('after /rotate, the old key’s access and refresh tokens are refused and the new key reports', async () => {
    const oldKey = await newDevice();
    expect((await enroll(broker, oldKey)).status).toBe(201);
    expect((await postReport(broker, oldKey, await postureReport(oldKey))).status).toBe(200);
    const tokens = await signIn(broker, oldKey, { ...ALICE, otp: await unusedTotp(ALICE.totpSecret) }, { acrValues: 'urn:ward:acr:mfa' });
    expect((await callDemo(tokens.access_token, oldKey)).status).toBe(200);

    const newKey = Object.assign(await newDevice(), { deviceId: oldKey.deviceId });
    const jws = await buildRotationRequest({ oldSigner: deviceSigner(oldKey), newSigner: deviceSigner(newKey), deviceId: oldKey.deviceId!, brokerUrl: broker.url });
    const res = await fetch(`${broker.url}/rotate`, { method: 'POST', headers: { 'content-type': 'application/jose' }, body: jws });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ deviceId: oldKey.deviceId, thumbprint: newKey.thumbprint, brokerKeys: { keys: expect.any(Array) } });

    // The access token is bound (cnf.jkt) to the old key: with the old key's proof the key no longer
    // names an enrolled device; with the new key's proof the binding does not match.
    const withOld = await callDemo(tokens.access_token, oldKey);
    expect(withOld.status).toBe(403);
    expect(await withOld.json()).toMatchObject({ error: 'device_not_enrolled' });
    expect((await callDemo(tokens.access_token, newKey)).status).toBe(401);
    // The refresh token's grant was revoked: refused with either key.
    for (const proof of [oldKey, newKey]) {
      const refused = await refresh(tokens.as.token_endpoint!, tokens.refresh_token!, proof);
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error: string }).error).toBe('invalid_grant');
    }

    newKey.seq = oldKey.seq;
    expect((await postReport(broker, newKey, await postureReport(newKey))).status).toBe(200);
    const stale = await postReport(broker, oldKey, await postureReport(oldKey));
    expect(stale.status).toBe(403);
    expect(await stale.json()).toMatchObject({ error: 'unknown-device', reason: 'foreign-key' });
    // A retired key cannot be enrolled again as a new device.
    const reenrol = await enroll(broker, oldKey);
    expect(reenrol.status).toBe(409);
  });

  it('answers 415 to a rotation request that is not application/jose', async () => {
    const res = await fetch(`${broker.url}/rotate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(415);
  });
});
