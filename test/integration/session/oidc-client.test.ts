import { decodeJwt } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DpopFetch } from '../../../main/core/session/dpop-fetch.js';
import { systemClock } from '../../../main/core/session/clock.js';
import { OidcClient } from '../../../main/core/session/oidc-client.js';
import { SessionError } from '../../../main/core/session/session-error.js';
import { robotBrowse, startTestProvider, type TestProvider } from './support/oidc-provider.js';
import { testSigner } from './support/test-signer.js';

let op: TestProvider;
const signer = await testSigner();

/** The agent's own clock: the test provider shifts the process-wide Date.now to simulate skew. */
const agentNow = Date.now.bind(Date); // captured at load, before any provider ran

async function newClient(): Promise<{ client: OidcClient; dpop: DpopFetch; jkt: string }> {
  const dpop = new DpopFetch({ signer, clock: { ...systemClock, now: agentNow } });
  const jkt = await dpop.thumbprint();
  const client = await OidcClient.discover({ issuer: new URL(op.issuer), clientId: op.clientId, dpop, jkt });
  return { client, dpop, jkt };
}

async function browserSignIn(client: OidcClient, extra: { acrValues?: string[]; maxAgeSeconds?: number; prompt?: 'login' } = {}) {
  return client.signInWithBrowser({
    ...extra,
    openBrowser: (url) => {
      void robotBrowse(url, { stopAtOrigin: `http://127.0.0.1:${url.searchParams.get('redirect_uri')!.split(':')[2]!.split('/')[0]}` });
    },
    timeoutMs: 20_000,
  });
}

beforeEach(async () => {
  op = await startTestProvider();
});
afterEach(async () => {
  await op.close();
});

describe('OidcClient against the real oidc-provider', () => {
  it('signs in with code + PKCE over a loopback redirect and gets a DPoP token bound to the device key', async () => {
    const { client, jkt } = await newClient();
    const tokens = await browserSignIn(client);
    expect(tokens.tokenType).toBe('DPoP');
    expect(tokens.subject).toBe('alice');
    expect(tokens.refreshToken).toBeTruthy();
    expect(tokens.jkt).toBe(jkt);
    // The access token is bound to the device key at the provider (cnf.jkt).
    const stored = await op.provider.AccessToken.find(tokens.accessToken);
    expect(stored?.jkt).toBe(jkt);
  });

  it('signs in with the device flow (RFC 8628)', async () => {
    const { client } = await newClient();
    const tokens = await client.signInWithDeviceCode({
      onPrompt: (p) => {
        expect(p.userCode).toMatch(/\S{4,}/);
        void robotBrowse(p.verificationUri, { userCode: p.userCode });
      },
    });
    expect(tokens.subject).toBe('alice');
    expect(tokens.tokenType).toBe('DPoP');
  });

  it('refreshes with DPoP, carrying the posture report in the token request', async () => {
    const { client } = await newClient();
    const first = await browserSignIn(client);
    const second = await client.refresh(first, { posture_report: 'report-1' });
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(second.refreshToken).not.toBe(first.refreshToken); // rotation
    expect(op.seen.postureReports).toEqual(['report-1']);
  });

  it('turns a refresh refused for posture into non-compliant with the broker reasons', async () => {
    const { client } = await newClient();
    const first = await browserSignIn(client);
    op.postureGate = () => ['firewall: expected on, got off'];
    const err = await client.refresh(first, { posture_report: 'r' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionError);
    expect((err as SessionError).code).toBe('non-compliant');
    expect((err as SessionError).message).toContain('firewall: expected on, got off');
  });

  it('reports broker 5xx on refresh as broker-error, then succeeds once the broker is back', async () => {
    const { client } = await newClient();
    const first = await browserSignIn(client);
    op.failNextTokenRequests = 1;
    const err = await client.refresh(first, {}).catch((e: unknown) => e);
    expect((err as SessionError).code).toMatch(/broker-error|refresh-refused/);
    const ok = await client.refresh(first, {});
    expect(ok.accessToken).toBeTruthy();
  });

  it('rejects a malformed token response with a typed error', async () => {
    const { client } = await newClient();
    const first = await browserSignIn(client);
    op.malformedTokenResponse = JSON.stringify({ access_token: 'x', token_type: 'Bearer', expires_in: 60 });
    const err = await client.refresh(first, {}).catch((e: unknown) => e);
    expect((err as SessionError).code).toBe('token-response-invalid');
    op.malformedTokenResponse = '{not json';
    const err2 = await client.refresh(first, {}).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(SessionError);
  });

  it.each([300, -300])('survives a clock skew of %i s between agent and broker', async (skew) => {
    const { client, dpop } = await newClient();
    const first = await browserSignIn(client);
    op.skewSeconds = skew;
    const second = await client.refresh(first, {});
    expect(second.accessToken).toBeTruthy();
    expect(Math.abs(dpop.serverOffsetSeconds - skew)).toBeLessThanOrEqual(2); // learned from Date
  });

  it('asks for acr_values, max_age and prompt=login on step-up and gets the stronger acr', async () => {
    const { client } = await newClient();
    const tokens = await browserSignIn(client, { acrValues: ['urn:ward:acr:mfa'], maxAgeSeconds: 60, prompt: 'login' });
    expect(tokens.acr).toBe('urn:ward:acr:mfa');
    expect(tokens.authTime).toBeGreaterThan(0);
    const idClaims = decodeJwt(tokens.idToken!);
    expect(idClaims.acr).toBe('urn:ward:acr:mfa');
  });

  it('reports a declined sign-in as sign-in-cancelled', async () => {
    const { client } = await newClient();
    op.user.decline = true;
    const err = await browserSignIn(client).catch((e: unknown) => e);
    expect((err as SessionError).code).toBe('sign-in-cancelled');
  });
});
