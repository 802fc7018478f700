import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../../broker/server/broker.js';
import { Agent } from '../../../main/core/agent.js';
import { Outbox } from '../../../main/core/broker/outbox.js';
import { CONFIG_DEFAULTS } from '../../../main/core/config/schema.js';
import { LiveHost } from '../../../main/core/exec/live-host.js';
import { openSigner } from '../../../main/core/identity/device-signer.js';
import { enroll } from '../../../main/core/identity/enrollment.js';
import { IdentityFile } from '../../../main/core/identity/identity-record.js';
import { MemoryKeyStore } from '../../../main/core/identity/memory-key-store.js';
import { agentVersion } from '../../../main/core/posture/checks/agent-version.js';
import { requiredFiles } from '../../../main/core/posture/checks/required-files.js';
import { PostureConfigSchema } from '../../../main/core/posture/config.js';
import { takeSnapshot } from '../../../main/core/posture/engine.js';
import { MemoryTokenStore } from '../../../main/core/session/token-store.js';
import type { AgentState, PushMessage, StepUpRequest } from '../../../main/shared/ipc-contract.js';
import { ALICE, CookieJar, signInInBrowser, startBroker, unusedTotp } from '../broker/helpers.js';

/**
 * The agent end to end against the reference broker (real oidc-provider, real SQLite, real SSE):
 * enroll, sign in through the login pages, posture flips the broker's verdict, the broker's
 * challenge is answered over the event channel, the demo resource asks for step-up, and an
 * admin revocation arrives as a CAEP SET.
 */
describe('Agent against the reference broker', () => {
  let broker: Broker;
  let cleanup: () => Promise<void>;
  let dir: string;
  let agent: Agent;
  let outbox: Outbox;
  let required: string;
  const tokenStore = new MemoryTokenStore();
  let useOtp = false;
  const pushes: PushMessage[] = [];

  function waitForState(state: AgentState): Promise<void> {
    if (agent.state === state) return Promise.resolve();
    return new Promise((resolve) => {
      const on = (e: { state: AgentState }): void => {
        if (e.state === state) {
          agent.off('state', on);
          resolve();
        }
      };
      agent.on('state', on);
    });
  }

  beforeAll(async () => {
    ({ broker, cleanup } = await startBroker());
    dir = mkdtempSync(join(tmpdir(), 'ward-agent-e2e-'));
    required = join(dir, 'watched', 'edr.conf');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'watched'));
    writeFileSync(required, 'on');
    broker.admin.setPolicy({
      schemaVersion: 1,
      name: 'e2e',
      rules: [{ id: 'files', check: 'required-files', expect: { status: 'pass' }, severity: 'block', graceSeconds: 0 }],
    });
    const store = new MemoryKeyStore();
    const identity = new IdentityFile(join(dir, 'state'));
    const host = new LiveHost('linux');
    const device = (await takeSnapshot({ host, agentVersion: '0.1.0', checks: [] })).device;
    const { token } = broker.admin.createEnrollmentToken({ label: 'e2e' });
    await enroll(broker.url, token, { identity, device, store });
    outbox = Outbox.open(join(dir, 'state', 'outbox.db'));
    agent = new Agent({
      host,
      config: { ...CONFIG_DEFAULTS, brokerUrl: broker.url, posture: PostureConfigSchema.parse({ requiredFiles: [{ path: required }] }) },
      loadIdentity: () => identity.read(),
      openSigner: (record) => openSigner(store, record.keyAlias),
      tokenStore,
      outbox,
      checks: [requiredFiles, agentVersion],
      networkPollMs: 0,
      openBrowser: async (url) => {
        const redirectUri = url.searchParams.get('redirect_uri')!;
        const jar = new CookieJar();
        const callback = await signInInBrowser(jar, url.href, redirectUri, { ...ALICE, ...(useOtp ? { otp: await unusedTotp(ALICE.totpSecret) } : {}) });
        await fetch(callback); // the browser lands on the agent's loopback listener
      },
    });
    agent.on('push', (m) => pushes.push(m));
  });

  afterAll(async () => {
    await agent?.stop();
    outbox?.close();
    await cleanup?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts enrolled, signs in through the browser flow and becomes compliant', async () => {
    await agent.start();
    expect(agent.state).toBe('enrolled');
    const compliant = waitForState('compliant');
    await agent.signIn('browser');
    await compliant;
    expect(agent.sessionStatus()).toMatchObject({ state: 'compliant', user: { subject: 'alice' } });
    expect(pushes.some((p) => p.event === 'signIn.progress' && p.payload.stage === 'done')).toBe(true);
  });

  it('flips to non-compliant when a watched file disappears, and the broker holds that verdict', async () => {
    const flipped = waitForState('non-compliant');
    unlinkSync(required);
    await flipped;
    const detail = broker.admin.deviceDetail(agent.identity!.deviceId) as { verdict?: { isCompliant?: boolean } };
    expect(JSON.stringify(detail)).toMatch(/"isCompliant":false|"compliant":false/);
    // The reports went over the agent's report stream (one WebSocket), not one POST each.
    expect(broker.reportStreamCount(agent.identity!.deviceId)).toBe(1);
    const back = waitForState('compliant');
    writeFileSync(required, 'on');
    await back;
  });

  it('answers a broker challenge over the event channel with a nonce-bound report', async () => {
    const result = await broker.admin.challenge(agent.identity!.deviceId, 5_000);
    expect(result.nonce).toBeTruthy();
    expect(result.compliant).toBe(true);
  });

  it('steps up when the demo resource asks for MFA, then retries the request', async () => {
    const requested = new Promise<StepUpRequest>((resolve) => {
      const on = (m: PushMessage): void => {
        if (m.event === 'stepUp.requested') {
          agent.off('push', on);
          resolve(m.payload);
        }
      };
      agent.on('push', on);
    });
    useOtp = true;
    const call = agent.fetchResource(new URL('/demo/resource', broker.url));
    const request = await requested;
    expect(request.acr_values).toBe('urn:ward:acr:mfa');
    expect(agent.state).toBe('step-up-required');
    expect(agent.decideStepUp(request.id, 'accept').outcome).toBe('accepted');
    const res = await call;
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ sub: 'alice', acr: 'urn:ward:acr:mfa' });
    expect(agent.tokens?.acr).toBe('urn:ward:acr:mfa');
  });

  it('stays restricted with a clear message when the step-up is declined', async () => {
    const requested = new Promise<StepUpRequest>((resolve) => {
      agent.once('push', function on(m) {
        if (m.event === 'stepUp.requested') resolve(m.payload);
        else agent.once('push', on);
      });
    });
    const call = agent.requireStepUp({ reason: 'test', acrValues: ['urn:ward:acr:mfa'], resource: 'https://payroll.example' });
    agent.decideStepUp((await requested).id, 'decline');
    await expect(call).rejects.toMatchObject({ code: 'step-up-declined', message: expect.stringContaining('payroll.example') });
  });

  it('refreshes with DPoP and a posture report', async () => {
    const before = agent.tokens!.expiresAt;
    await agent.refresh();
    expect(agent.tokens!.expiresAt).toBeGreaterThanOrEqual(before);
  });

  it('has a refresh refused while the device is non-compliant, with the broker reasons', async () => {
    const flipped = waitForState('non-compliant');
    unlinkSync(required);
    await flipped;
    const verdicts: Array<{ source: string; reasons: string[] }> = [];
    agent.on('verdict', (v) => verdicts.push(v));
    await expect(agent.refresh()).rejects.toMatchObject({ code: 'non-compliant' });
    expect(agent.state).toBe('non-compliant');
    expect(verdicts.find((v) => v.source === 'refresh')?.reasons.join(' ')).toContain('required-files');
    const back = waitForState('compliant');
    writeFileSync(required, 'on');
    await back;
    await agent.refresh(); // compliant again: the broker renews the session
    expect(agent.state).toBe('compliant');
  });

  it('wipes the tokens and goes revoked on a session-revoked SET from the broker', async () => {
    const revoked = waitForState('revoked');
    await broker.admin.revokeSessions('alice', 'e2e test');
    await revoked;
    expect(await tokenStore.load()).toBeUndefined();
    expect(agent.sessionStatus().reason).toMatch(/revoked/i);
  });
});
