import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../broker/server/broker.js';
import { startWebUi, type WebUi } from '../../main/cli/ui.js';
import { Agent } from '../../main/core/agent.js';
import { Outbox } from '../../main/core/broker/outbox.js';
import { CONFIG_DEFAULTS } from '../../main/core/config/schema.js';
import { LiveHost } from '../../main/core/exec/live-host.js';
import { openSigner } from '../../main/core/identity/device-signer.js';
import { enroll } from '../../main/core/identity/enrollment.js';
import { IdentityFile } from '../../main/core/identity/identity-record.js';
import { MemoryKeyStore } from '../../main/core/identity/memory-key-store.js';
import { agentVersion } from '../../main/core/posture/checks/agent-version.js';
import { requiredFiles } from '../../main/core/posture/checks/required-files.js';
import { PostureConfigSchema } from '../../main/core/posture/config.js';
import { takeSnapshot } from '../../main/core/posture/engine.js';
import { shellHandlers } from '../../main/core/ui-server/shell-handlers.js';
import { MemoryTokenStore } from '../../main/core/session/token-store.js';
import { ALICE, startBroker, unusedTotp } from '../integration/broker/helpers.js';
import { buildRenderer } from './build-renderer.js';
import { launchChromium, type Browser } from './chromium.js';

const SCREENSHOTS = join(import.meta.dirname, '..', '..', 'test-results', 'screenshots');

/**
 * The whole product in Chromium: the web UI served by the real agent, enrolled with the reference
 * broker (real oidc-provider, SQLite, SSE). The user signs in on the broker's own pages in a
 * second tab (RFC 8252: the system browser, never an embedded view), and accepts a step-up the
 * broker's demo resource asks for.
 */
describe('web UI with the real agent and the reference broker', () => {
  let broker: Broker;
  let cleanupBroker: () => Promise<void>;
  let dir: string;
  let agent: Agent;
  let outbox: Outbox;
  let ui: WebUi;
  let browser: Browser;
  let page: Page;
  const loginErrors: unknown[] = [];

  /** What the user does in the browser tab the agent opened: the broker's login (and consent) pages. */
  async function signInOnBrokerPages(url: URL): Promise<void> {
    const tab = await browser.context.newPage();
    await tab.goto(url.href);
    await tab.locator('#username').fill(ALICE.username);
    await tab.locator('#password').fill(ALICE.password);
    if ((await tab.locator('#otp').count()) > 0) await tab.locator('#otp').fill(await unusedTotp(ALICE.totpSecret));
    await tab.getByRole('button', { name: 'Sign in' }).click();
    const isOffBroker = (u: URL): boolean => !u.href.startsWith(broker.url);
    const allow = tab.getByRole('button', { name: 'Allow' });
    // A new grant shows the consent page before the redirect to the agent's loopback listener.
    await Promise.race([allow.waitFor({ timeout: 15_000 }), tab.waitForURL(isOffBroker, { timeout: 15_000 })]);
    if (!isOffBroker(new URL(tab.url()))) {
      await allow.click();
      await tab.waitForURL(isOffBroker, { timeout: 15_000 });
    }
    await tab.close();
  }

  beforeAll(async () => {
    ({ broker, cleanup: cleanupBroker } = await startBroker());
    dir = mkdtempSync(join(tmpdir(), 'ward-agent-ui-'));
    const required = join(dir, 'watched', 'edr.conf');
    mkdirSync(join(dir, 'watched'));
    writeFileSync(required, 'on');
    broker.admin.setPolicy({
      schemaVersion: 1,
      name: 'e2e-ui',
      rules: [{ id: 'files', check: 'required-files', expect: { status: 'pass' }, severity: 'block', graceSeconds: 0 }],
    });
    const store = new MemoryKeyStore();
    const identity = new IdentityFile(join(dir, 'state'));
    const host = new LiveHost('linux');
    const device = (await takeSnapshot({ host, agentVersion: '0.1.0', checks: [] })).device;
    const { token } = broker.admin.createEnrollmentToken({ label: 'e2e-ui' });
    await enroll(broker.url, token, { identity, device, store });
    outbox = Outbox.open(join(dir, 'state', 'outbox.db'));
    browser = await launchChromium();
    agent = new Agent({
      host,
      config: { ...CONFIG_DEFAULTS, brokerUrl: broker.url, posture: PostureConfigSchema.parse({ requiredFiles: [{ path: required }] }) },
      loadIdentity: () => identity.read(),
      openSigner: (record) => openSigner(store, record.keyAlias),
      tokenStore: new MemoryTokenStore(),
      outbox,
      checks: [requiredFiles, agentVersion],
      networkPollMs: 0,
      openBrowser: (url) => {
        void signInOnBrokerPages(url).catch((err: unknown) => loginErrors.push(err));
      },
    });
    await agent.start();
    const staticDir = join(dir, 'renderer');
    await Promise.all([buildRenderer(staticDir), mkdir(SCREENSHOTS, { recursive: true })]);
    ui = await startWebUi({
      staticDir,
      backend: { backend: agent.backend(shellHandlers({ shell: 'web', platform: 'linux' })), close: () => agent.stop() },
    });
    page = await browser.context.newPage();
  });

  afterAll(async () => {
    await ui?.close();
    outbox?.close();
    await browser?.close();
    await cleanupBroker?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it('signs in from the Sign in screen through the broker’s pages and shows the device compliant', async () => {
    await page.goto(ui.server.url);
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByText('Enrolled, signed out').first().waitFor();
    expect(await page.getByText(broker.url).count()).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('.pill', { hasText: 'Compliant' }).waitFor({ timeout: 30_000 });
    expect(loginErrors).toEqual([]);
    await page.getByText('Signed in as').waitFor();
    expect(await page.locator('.progress [aria-current="step"]').textContent()).toBe('Signed in');
    await page.screenshot({ path: join(SCREENSHOTS, 'agent-signed-in.png'), fullPage: true });
    await page.getByRole('link', { name: 'Device' }).click();
    await page.getByText('In memory (tests only)').waitFor();
    expect(await page.getByText('None: the device key has neither hardware nor keychain protection').count()).toBe(1);
    await page.screenshot({ path: join(SCREENSHOTS, 'agent-device.png'), fullPage: true });
  });

  it('prompts for the step-up the demo resource asks for, and the retried request succeeds after consent', async () => {
    const call = agent.fetchResource(new URL('/demo/resource', broker.url));
    const prompt = page.getByTestId('step-up-request');
    await prompt.waitFor({ timeout: 15_000 });
    expect(await prompt.textContent()).toContain('A sign-in of strength: two-factor [urn:ward:acr:mfa]');
    await page.screenshot({ path: join(SCREENSHOTS, 'agent-step-up.png'), fullPage: true });
    await page.getByRole('button', { name: 'Continue and sign in' }).click();
    const response = await call;
    expect(response.status).toBe(200);
    expect(loginErrors).toEqual([]);
    await page.locator('.pill', { hasText: 'Compliant' }).waitFor({ timeout: 15_000 });
  });
});
