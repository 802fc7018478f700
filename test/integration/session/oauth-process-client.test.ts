import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jwkThumbprint } from '../../../main/core/identity/jws.js';
import type { DeviceSigner } from '../../../main/core/identity/key-store.js';
import { OAuthProcessClient, type OAuthProcessSpec } from '../../../main/core/session/oauth-process-client.js';
import { SessionError } from '../../../main/core/session/session-error.js';
import { robotBrowse, startTestProvider, type TestProvider } from './support/oidc-provider.js';
import { testSigner } from './support/test-signer.js';

/**
 * The daemon's OAuth calls in a short-lived child process (the real child module through tsx's
 * loader), against the real oidc-provider: the device key stays in this process and signs each
 * DPoP proof the child asks for.
 */
const CHILD: OAuthProcessSpec = { modulePath: fileURLToPath(new URL('../../../main/core/session/oauth-process-child.ts', import.meta.url)), execArgv: ['--import', 'tsx'] };

let op: TestProvider;
const signer = await testSigner();
const signed: number[] = [];
const countingSigner: DeviceSigner = { ...signer, sign: (data) => (signed.push(data.length), signer.sign(data)) };
const jkt = await jwkThumbprint(signer.publicJwk);
const dir = mkdtempSync(join(tmpdir(), 'ward-oauth-process-'));

function client(spec: OAuthProcessSpec = CHILD): OAuthProcessClient {
  return new OAuthProcessClient({ process: spec, issuer: new URL(op.issuer), clientId: op.clientId, signer: countingSigner, jkt });
}

const browse = (url: URL): void => {
  void robotBrowse(url, { stopAtOrigin: new URL(url.searchParams.get('redirect_uri')!).origin });
};

beforeEach(async () => {
  signed.length = 0;
  op = await startTestProvider({ nonces: true });
});
afterEach(async () => {
  await op.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('OAuthProcessClient (OAuth calls in a child process)', () => {
  it('signs in through the browser, refreshes with the posture report, and revokes, with DPoP proofs signed here', async () => {
    const oauth = client();
    const opened: URL[] = [];
    const tokens = await oauth.signInWithBrowser({ openBrowser: (url) => (opened.push(url), browse(url)), timeoutMs: 30_000 });
    expect(opened[0]?.searchParams.get('dpop_jkt')).toBe(jkt);
    expect(tokens).toMatchObject({ tokenType: 'DPoP', subject: 'alice', jkt });
    expect((await op.provider.AccessToken.find(tokens.accessToken))?.jkt).toBe(jkt);
    expect(signed.length).toBeGreaterThan(0);

    const next = await oauth.refresh(tokens, { posture_report: 'report-1' });
    expect(next.accessToken).not.toBe(tokens.accessToken);
    expect(next.subject).toBe('alice'); // kept from the previous set
    expect(op.seen.postureReports).toEqual(['report-1']);

    await oauth.revoke(next);
    const err = await oauth.refresh(next, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionError);
    expect((err as SessionError).code).toBe('revoked');
  }, 60_000);

  it('relays the device-flow prompt and returns the tokens (RFC 8628)', async () => {
    const tokens = await client().signInWithDeviceCode({ onPrompt: (p) => void robotBrowse(p.verificationUri, { userCode: p.userCode }) });
    expect(tokens.subject).toBe('alice');
  }, 60_000);

  it("brings the child's typed errors back: a refresh refused for posture is non-compliant with the broker's reasons", async () => {
    const oauth = client();
    const tokens = await oauth.signInWithBrowser({ openBrowser: browse, timeoutMs: 30_000 });
    op.postureGate = () => ['firewall: expected on, got off'];
    const err = await oauth.refresh(tokens, { posture_report: 'r' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionError);
    expect((err as SessionError).code).toBe('non-compliant');
    expect((err as SessionError).message).toContain('firewall: expected on, got off');
  }, 60_000);

  it('step-up: asks for acr_values, max_age and prompt=login through the child', async () => {
    const tokens = await client().signInWithBrowser({ acrValues: ['urn:ward:acr:mfa'], maxAgeSeconds: 60, prompt: 'login', openBrowser: browse, timeoutMs: 30_000 });
    expect(tokens.acr).toBe('urn:ward:acr:mfa');
  }, 60_000);

  it('refuses an unreadable answer and a child that exits without one, with typed errors', async () => {
    const garbage = join(dir, 'garbage.mjs');
    writeFileSync(garbage, "process.once('message', () => process.send({ type: 'done', tokens: { accessToken: 42 } }, () => process.disconnect()));");
    const silent = join(dir, 'silent.mjs');
    writeFileSync(silent, 'process.exit(3);');
    const tokens = { issuer: op.issuer, accessToken: 'a', refreshToken: 'r', tokenType: 'DPoP' as const, expiresAt: Date.now(), jkt };
    const bad = await client({ modulePath: garbage, execArgv: [] }).refresh(tokens, {}).catch((e: unknown) => e);
    expect((bad as SessionError).code).toBe('token-response-invalid');
    const gone = await client({ modulePath: silent, execArgv: [] }).refresh(tokens, {}).catch((e: unknown) => e);
    expect((gone as SessionError).code).toBe('broker-unreachable');
    expect((gone as SessionError).message).toContain('code 3');
  });
});
