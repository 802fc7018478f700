import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../../broker/server/broker.js';
import {
  ALICE,
  CookieJar,
  adminHeaders,
  decodeJwt,
  dpopProof,
  enroll,
  follow,
  insecure,
  newDevice,
  postReport,
  postureReport,
  signIn,
  signInInBrowser,
  startBroker,
  wardClient,
  unusedTotp,
  type TestDevice,
} from './helpers.js';

describe('reference broker as OpenID provider (real oidc-provider)', () => {
  let broker: Broker;
  let cleanup: () => Promise<void>;
  let device: TestDevice;

  beforeAll(async () => {
    ({ broker, cleanup } = await startBroker());
    device = await newDevice();
    expect((await enroll(broker, device)).status).toBe(201);
    expect((await postReport(broker, device, await postureReport(device))).status).toBe(200);
  });
  afterAll(async () => cleanup());

  const callDemo = async (accessToken: string, proofDevice = device) => {
    const url = `${broker.url}/demo/resource`;
    const ath = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(accessToken))).toString('base64url');
    return fetch(url, { headers: { authorization: `DPoP ${accessToken}`, dpop: await dpopProof(proofDevice, 'GET', url, { ath }) } });
  };

  it('issues ES256 DPoP-bound JWT access tokens (cnf.jkt = device key) through PKCE + the login and consent pages', async () => {
    const tokens = await signIn(broker, device, ALICE);
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    expect(tokens.expires_in).toBeLessThanOrEqual(300);
    const header = JSON.parse(Buffer.from(tokens.access_token.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>;
    expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    const claims = decodeJwt(tokens.access_token);
    expect(claims).toMatchObject({ sub: 'alice', aud: broker.demoResource, acr: 'urn:ward:acr:pwd', cnf: { jkt: device.thumbprint } });
    expect(typeof claims.auth_time).toBe('number');
    expect(tokens.refresh_token).toBeTruthy();
    // The broker links the device to the signed-in user.
    const detail = (await (await fetch(`${broker.url}/devices/${device.deviceId}`, { headers: adminHeaders })).json()) as { account: string };
    expect(detail.account).toBe('alice');
  });

  it('refuses a wrong password on the login page', async () => {
    await expect(signIn(broker, device, { ...ALICE, password: 'wrong password!' })).rejects.toThrow(/answered 401/);
  });

  it('answers RFC 9470 insufficient_user_authentication, then accepts the token after an MFA step-up', async () => {
    const jar = new CookieJar();
    const pwd = await signIn(broker, device, ALICE, { jar });
    const first = await callDemo(pwd.access_token);
    expect(first.status).toBe(401);
    const challenge = first.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^DPoP /);
    expect(challenge).toContain('error="insufficient_user_authentication"');
    expect(challenge).toContain('acr_values="urn:ward:acr:mfa"');
    expect(challenge).toMatch(/max_age="\d+"/);

    // Same browser session: the password session alone must not satisfy acr_values=mfa.
    const mfa = await signIn(broker, device, { ...ALICE, otp: await unusedTotp(ALICE.totpSecret) }, { jar, acrValues: 'urn:ward:acr:mfa' });
    expect(decodeJwt(mfa.access_token).acr).toBe('urn:ward:acr:mfa');
    const second = await callDemo(mfa.access_token);
    expect(second.status).toBe(200);
    expect(await second.json()).toMatchObject({ sub: 'alice', acr: 'urn:ward:acr:mfa', deviceId: device.deviceId, decision: 'allow' });
  });

  it('refuses the token with a proof from another key, and without a proof', async () => {
    const tokens = await signIn(broker, device, { ...ALICE, otp: await unusedTotp(ALICE.totpSecret) }, { acrValues: 'urn:ward:acr:mfa' });
    const thief = await newDevice();
    const stolen = await callDemo(tokens.access_token, thief);
    expect(stolen.status).toBe(401);
    expect(((await stolen.json()) as { error: string }).error).toBe('invalid_token');
    const bare = await fetch(`${broker.url}/demo/resource`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(bare.status).toBe(401);
  });

  it('rotates DPoP-bound refresh tokens and refuses the rotated one and a proofless refresh', async () => {
    const tokens = await signIn(broker, device, ALICE);
    const first = tokens.refresh_token!;
    const refreshed = await oauth.processRefreshTokenResponse(
      tokens.as,
      wardClient,
      await oauth.refreshTokenGrantRequest(tokens.as, wardClient, oauth.None(), first, { DPoP: tokens.dpop, ...insecure }),
    );
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(first);
    expect(decodeJwt(refreshed.access_token)).toMatchObject({ cnf: { jkt: device.thumbprint }, acr: 'urn:ward:acr:pwd' });

    const reuse = await fetch(tokens.as.token_endpoint!, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await dpopProof(device, 'POST', tokens.as.token_endpoint!) },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: first, client_id: 'ward-agent' }),
    });
    expect(reuse.status).toBe(400);
    expect(((await reuse.json()) as { error: string }).error).toBe('invalid_grant');

    const proofless = await fetch(tokens.as.token_endpoint!, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshed.refresh_token!, client_id: 'ward-agent' }),
    });
    expect(proofless.status).toBe(400);
  });

  it('runs the device authorization grant (RFC 8628) with a DPoP-bound result', async () => {
    const as = (await signIn(broker, device, ALICE)).as;
    const dpop = oauth.DPoP(wardClient, device.keyPair as Parameters<typeof oauth.DPoP>[1]);
    const auth = await oauth.processDeviceAuthorizationResponse(
      as,
      wardClient,
      await oauth.deviceAuthorizationRequest(as, wardClient, oauth.None(), { scope: 'openid' }, insecure),
    );
    // The user opens the verification page in a browser, confirms the code and signs in.
    const jar = new CookieJar();
    const { url, res } = await follow(jar, auth.verification_uri_complete!, () => false);
    const html = await res.text();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
    expect(xsrf).toBeTruthy();
    const confirm = await fetch(new URL('/device', url), {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ xsrf: xsrf!, user_code: auth.user_code, confirm: 'yes' }),
    });
    jar.store(confirm);
    let finalPage = '';
    await signInInBrowser(jar, new URL(confirm.headers.get('location')!, url).href, `${broker.url}/never`, ALICE, (html) => {
      finalPage = html;
      return html.includes('Device signed in');
    });
    expect(finalPage).toContain('Device signed in');
    const tokens = await oauth.processDeviceCodeResponse(as, wardClient, await oauth.deviceCodeGrantRequest(as, wardClient, oauth.None(), auth.device_code, { DPoP: dpop, ...insecure }));
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    expect(decodeJwt(tokens.access_token)).toMatchObject({ sub: 'alice', cnf: { jkt: device.thumbprint }, acr: 'urn:ward:acr:pwd' });
  });
});
