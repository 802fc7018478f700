import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebUi, type WebUi } from '../../main/cli/ui.js';
import { buildRenderer } from './build-renderer.js';
import { launchChromium, type Browser } from './chromium.js';

const SCREENSHOTS = join(import.meta.dirname, '..', '..', 'test-results', 'screenshots');
const ROOT = join(import.meta.dirname, '..', '..');

/**
 * The web UI end to end: Debian's Chromium against the real `ward ui` server (startWebUi is what
 * the command runs) backed by the real posture engine on this machine.
 */
describe('web UI in Chromium', () => {
  let dir: string;
  let requiredFile: string;
  let ui: WebUi;
  let browser: Browser;
  let page: Page;

  const shot = (name: string, fullPage = true) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ward-e2e-'));
    requiredFile = join(dir, 'company-agent.marker');
    const configFile = join(dir, 'posture.json');
    await writeFile(configFile, JSON.stringify({ requiredFiles: [{ path: requiredFile }] }));
    const staticDir = join(dir, 'renderer');
    await Promise.all([buildRenderer(staticDir), mkdir(SCREENSHOTS, { recursive: true })]);
    ui = await startWebUi({ configFile, staticDir });
    browser = await launchChromium();
    page = await browser.context.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    await ui?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('trades the one-time link for a cookie and shows a failing check with its fix steps', async () => {
    const response = await page.goto(ui.server.url);
    expect(response?.status()).toBe(200);
    expect(new URL(page.url()).search).toBe(''); // the token left the address bar
    const check = page.locator('[data-check="required-files"]');
    await check.waitFor({ timeout: 30_000 });
    await expect.poll(() => check.locator('.badge').textContent(), { timeout: 30_000 }).toContain('Failing');
    expect(await check.textContent()).toContain(`${requiredFile}: missing`);
    expect(await check.locator('.fix li').first().textContent()).toMatch(/Reinstall the software that provides the missing file/);
    expect(await page.getByTestId('verdict').textContent()).toMatch(/need(s)? your attention/);
    await shot('status-failing');
    await shot('status-failing-top', false);
    // The link worked once: a second use is refused.
    expect((await fetch(ui.server.url)).status).toBe(403);
  });

  it('rechecks after the state is fixed and the check turns green', async () => {
    await writeFile(requiredFile, 'installed by IT\n');
    await page.getByRole('button', { name: 'Recheck Required files present' }).click();
    const check = page.locator('[data-check="required-files"]');
    await expect.poll(() => check.locator('.badge').textContent(), { timeout: 20_000 }).toContain('Passing');
    expect(await check.locator('.fix').count()).toBe(0);
    expect(await page.getByTestId('announcer').textContent()).toMatch(/Status updated: \d+ of \d+ checks pass/);
    await shot('status-fixed');
  });

  it('shows a step-up prompt pushed by the agent and accepts it', async () => {
    const backend = ui.postureBackend;
    if (!backend) throw new Error('the posture backend serves this UI');
    const resolved = new Promise<string>((resolve) =>
      backend.subscribe((m) => {
        if (m.event === 'stepUp.resolved') resolve(m.payload.outcome);
      }),
    );
    backend.requestStepUp({ reason: 'Opening payroll needs a fresh sign-in.', acr_values: 'phr', max_age: 300, resource: 'https://payroll.example.com', ttlSeconds: 90 });
    const prompt = page.getByTestId('step-up-request');
    await prompt.waitFor({ timeout: 10_000 });
    expect(new URL(page.url()).hash).toBe('#/step-up');
    const text = await prompt.textContent();
    expect(text).toContain('Opening payroll needs a fresh sign-in.');
    expect(text).toContain('A sign-in of strength: phishing-resistant (passkey or security key) [phr]');
    expect(text).toContain('no older than 5 minutes');
    expect(await page.getByRole('timer').textContent()).toMatch(/Expires in 1:[23]\d/);
    await shot('step-up');
    await page.getByRole('button', { name: 'Continue and sign in' }).click();
    expect(await resolved).toBe('accepted');
    await page.getByText('Thanks. Ward is signing you in again.').waitFor();
    await shot('step-up-accepted');
  });

  it('renders the sign-in, device, settings and about screens', async () => {
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'No access broker is configured' }).waitFor();
    await shot('sign-in');

    await page.getByRole('link', { name: 'Device' }).click();
    await page.getByText('None: this device holds no key yet').waitFor();
    expect(await page.locator(':focus').textContent()).toBe('This device'); // focus moved to the new screen
    await shot('device');

    await page.getByRole('link', { name: 'Settings' }).click();
    const stepUpToggle = page.getByLabel('When I need to confirm it is me');
    expect(await stepUpToggle.isChecked()).toBe(true);
    await stepUpToggle.uncheck();
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    expect(await page.getByLabel('Start Ward when I log in').isDisabled()).toBe(true);
    await shot('settings');

    await page.getByRole('link', { name: 'About' }).click();
    await page.getByText('Local web page').waitFor();
    await shot('about');
  });

  it('looks right in dark mode', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.getByRole('link', { name: 'Status' }).click();
    await page.locator('[data-check="required-files"]').waitFor();
    const background = await page.evaluate<string>('getComputedStyle(document.body).backgroundColor');
    expect(background).toBe('rgb(17, 20, 24)');
    await shot('status-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  it('the bridge refuses cross-site and malformed requests', async () => {
    const status = await page.evaluate(async () => {
      const bad = await fetch('/api/settings.set', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"launchAtLogin":"yes"}' });
      const unknown = await fetch('/api/shell.exec', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      return [bad.status, unknown.status];
    });
    expect(status).toEqual([400, 404]);
    const cookieless = await fetch(`${ui.server.origin}/api/app.about`, { method: 'POST', headers: { 'content-type': 'application/json', origin: ui.server.origin }, body: '{}' });
    expect(cookieless.status).toBe(403);
  });
});

describe('`ward start` (npm start) as a process', () => {
  it('falls back from Electron to the agent with its web UI, prints a one-time link, stops on SIGTERM', async () => {
    // A throw-away HOME and XDG dirs: the agent must not touch the real user's state.
    const home = await mkdtemp(join(tmpdir(), 'ward-start-'));
    const env = { ...process.env, HOME: home, XDG_DATA_HOME: join(home, 'data'), XDG_CONFIG_HOME: join(home, 'config'), XDG_STATE_HOME: join(home, 'state') };
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'ward.mjs'), 'start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+/.exec(out);
          if (m) resolve(m[0]);
        });
        child.once('exit', (code) => reject(new Error(`ward start exited with ${code}: ${stderr}`)));
      });
      expect(stderr).toContain('The tray app cannot start here');
      const first = await fetch(url, { redirect: 'manual' });
      expect(first.status).toBe(303);
      const cookie = first.headers.get('set-cookie') ?? '';
      expect(cookie).toMatch(/HttpOnly; SameSite=Strict/);
      const origin = new URL(url).origin;
      const headers = { cookie: cookie.split(';')[0] ?? '' };
      const page = await fetch(new URL('/', url), { headers });
      expect(page.status).toBe(200);
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
      const status = await fetch(`${origin}/api/session.status`, { method: 'POST', headers: { ...headers, origin, 'content-type': 'application/json' }, body: '{}' });
      expect(await status.json()).toMatchObject({ ok: true, value: { state: 'unenrolled', reason: expect.stringContaining('ward enroll') } });
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      await rm(home, { recursive: true, force: true });
    }
    // Start-up takes the agent's first full snapshot (apt's simulated upgrade alone is 5 s here)
    // and, on a clean checkout, a one-time renderer build: allow for a loaded CI machine.
  }, 120_000);
});
