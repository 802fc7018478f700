import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isAllowedExternalUrl } from '../../../main/app/external-links.js';
import { exposeWardApi } from '../../../main/app/preload-api.js';
import { createShell } from '../../../main/app/shell.js';
import { trayIconPng } from '../../../main/app/tray-icons.js';
import { TRAY_STATES, trayStateFor } from '../../../main/app/tray-state.js';
import { parseBundle } from '../../../main/core/exec/bundle.js';
import { LiveHost } from '../../../main/core/exec/live-host.js';
import { ReplayHost } from '../../../main/core/exec/replay-host.js';
import { requiredFiles } from '../../../main/core/posture/checks/required-files.js';
import { PostureConfigSchema } from '../../../main/core/posture/config.js';
import { PostureBackend } from '../../../main/core/ui-server/posture-backend.js';
import { CHANNEL_NAMES, type AgentBackend, type PowerEvent, type WardApi } from '../../../main/shared/ipc-contract.js';
import { createFakeElectron, FakeWebContents } from './fake-electron.js';

const INDEX = '/opt/Ward/resources/renderer/index.html';
const bundle = parseBundle(readFileSync(join(import.meta.dirname, '..', '..', 'fixtures', 'bundles', 'darwin-noncompliant.json'), 'utf8'));

async function startedShell(options: { hasLock?: boolean } = {}) {
  const fake = createFakeElectron(options);
  // The real posture-only backend, answering from a captured macOS bundle.
  const backend = new PostureBackend({ host: new ReplayHost('darwin', bundle.records) });
  const powerEvents: PowerEvent[] = [];
  const recorded: AgentBackend = {
    handle: (channel, request) => backend.handle(channel, request),
    subscribe: (listener) => backend.subscribe(listener),
    power: (e) => {
      powerEvents.push(e);
      backend.power(e);
    },
    close: () => backend.close(),
  };
  const shell = createShell(fake.electron, { backend: recorded, indexHtml: INDEX, preload: '/opt/Ward/preload.cjs', electronVersion: '45.5.0' });
  const isRunning = await shell.start();
  return { fake, shell, backend, isRunning, powerEvents };
}

/** Open the status window; return it and an IPC event as its own main frame would send it. */
function statusWindow(started: Awaited<ReturnType<typeof startedShell>>) {
  started.shell.showStatusWindow();
  const win = started.fake.windows[0];
  if (!win) throw new Error('no window');
  return { win, event: { sender: win.webContents, senderFrame: win.webContents.mainFrame } };
}

type Invoke = (event: unknown, request: unknown) => Promise<{ ok: boolean; value?: unknown; error?: { code: string } }>;

function invoker(fake: ReturnType<typeof createFakeElectron>, channel: string): Invoke {
  const handler = fake.handlers.get(`ward:${channel}`);
  if (!handler) throw new Error(`no handler for ${channel}`);
  return handler as Invoke;
}

describe('Electron shell (injected Electron objects)', () => {
  it('quits when another instance holds the single-instance lock', async () => {
    const { fake, isRunning } = await startedShell({ hasLock: false });
    expect(isRunning).toBe(false);
    expect(fake.app.isQuit).toBe(true);
    expect(fake.handlers.size).toBe(0);
  });

  it('registers exactly the contract channels and answers our own window', async () => {
    const started = await startedShell();
    const { fake } = started;
    expect([...fake.handlers.keys()].sort()).toEqual(CHANNEL_NAMES.map((c) => `ward:${c}`).sort());
    const { event } = statusWindow(started);
    const about = await invoker(fake, 'app.about')(event, {});
    expect(about).toMatchObject({ ok: true, value: { shell: 'electron', electronVersion: '45.5.0' } });
  });

  it('refuses IPC from unknown webContents, from sub-frames and from pages we did not load', async () => {
    const started = await startedShell();
    const { fake } = started;
    const { win } = statusWindow(started);
    const call = invoker(fake, 'settings.get');
    const stranger = new FakeWebContents();
    stranger.mainFrame.url = win.webContents.mainFrame.url;
    expect(await call({ sender: stranger, senderFrame: stranger.mainFrame }, {})).toMatchObject({ ok: false, error: { code: 'forbidden-sender' } });
    const iframe = { url: win.webContents.mainFrame.url };
    expect(await call({ sender: win.webContents, senderFrame: iframe }, {})).toMatchObject({ ok: false, error: { code: 'forbidden-sender' } });
    win.webContents.mainFrame.url = 'https://evil.example/index.html';
    expect(await call({ sender: win.webContents, senderFrame: win.webContents.mainFrame }, {})).toMatchObject({ ok: false, error: { code: 'forbidden-sender' } });
    expect(await call({ sender: win.webContents, senderFrame: null }, {})).toMatchObject({ ok: false, error: { code: 'forbidden-sender' } });
  });

  it('validates every IPC payload with the contract', async () => {
    const started = await startedShell();
    const { fake } = started;
    const { event } = statusWindow(started);
    expect(await invoker(fake, 'settings.set')(event, { launchAtLogin: 'yes' })).toMatchObject({ ok: false, error: { code: 'invalid-request' } });
    expect(await invoker(fake, 'session.stepUp')(event, { id: 'x', decision: 'maybe' })).toMatchObject({ ok: false, error: { code: 'invalid-request' } });
    expect(await invoker(fake, 'posture.recheck')(event, { checkIds: ['../etc'] })).toMatchObject({ ok: false, error: { code: 'invalid-request' } });
    expect(await invoker(fake, 'app.about')(event, 'not an object')).toMatchObject({ ok: false, error: { code: 'invalid-request' } });
  });

  it('opens windows hardened: sandbox, context isolation, no Node, no devtools', async () => {
    const { fake, shell } = await startedShell();
    shell.showStatusWindow();
    const prefs = fake.windows[0]?.options.webPreferences;
    expect(prefs).toMatchObject({
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      webviewTag: false,
      devTools: false,
      preload: '/opt/Ward/preload.cjs',
    });
    expect(fake.windows[0]?.webContents.mainFrame.url).toBe(`file://${INDEX}#/status`);
  });

  it('denies navigation and new windows; only allow-listed https links reach the system browser', async () => {
    const { fake, shell } = await startedShell();
    shell.showStatusWindow();
    const contents = fake.windows[0]?.webContents;
    if (!contents) throw new Error('no window');
    const navigate = (url: string) => {
      let isPrevented = false;
      contents.emit('will-navigate', { preventDefault: () => (isPrevented = true) }, url);
      return isPrevented;
    };
    expect(navigate('https://evil.example/phish')).toBe(true);
    expect(navigate('https://github.com/ward/ward')).toBe(true);
    expect(navigate(`file://${INDEX}`)).toBe(false);
    expect(contents.windowOpenHandler?.({ url: 'javascript:alert(1)' })).toEqual({ action: 'deny' });
    expect(contents.windowOpenHandler?.({ url: 'https://github.com/ward/ward/issues' })).toEqual({ action: 'deny' });
    expect(fake.opened).toEqual(['https://github.com/ward/ward', 'https://github.com/ward/ward/issues']);
  });

  it('denies every permission request and check', async () => {
    const { fake } = await startedShell();
    let answer: boolean | undefined;
    fake.permission.request?.({}, 'media', (granted: boolean) => (answer = granted));
    expect(answer).toBe(false);
    expect(fake.permission.check?.({}, 'notifications', 'file://')).toBe(false);
  });

  it('forwards lock, unlock, suspend and resume to the agent', async () => {
    const { fake, powerEvents } = await startedShell();
    for (const e of ['lock-screen', 'unlock-screen', 'suspend', 'resume']) fake.powerMonitor.emit(e);
    expect(powerEvents).toEqual(['lock-screen', 'unlock-screen', 'suspend', 'resume']);
  });

  it('shows posture in the tray and offers status, sign in, recheck, open and quit', async () => {
    const { fake, shell } = await startedShell();
    await expect.poll(() => shell.trayState()).toBe('attention'); // the captured Mac fails checks
    const tray = fake.tray();
    expect(tray?.tooltip).toBe('Ward — Needs attention');
    const labels = tray?.menu.filter((i) => i.type !== 'separator').map((i) => i.label);
    expect(labels).toEqual(['Ward — Needs attention', 'Open Ward', 'Recheck now', 'Sign in…', 'Quit Ward']);
    tray?.menu.find((i) => i.label === 'Open Ward')?.click?.();
    expect(fake.windows).toHaveLength(1);
    tray?.menu.find((i) => i.label === 'Quit Ward')?.click?.();
    expect(fake.app.isQuit).toBe(true);
  });

  it('opens the step-up prompt and notifies; the windows receive the push event', async () => {
    const { fake, shell, backend } = await startedShell();
    shell.showStatusWindow();
    const request = backend.requestStepUp({ reason: 'Payroll needs a fresh sign-in', acr_values: 'phr', ttlSeconds: 60 });
    const prompt = fake.windows.find((w) => w.webContents.mainFrame.url.endsWith('#/step-up'));
    expect(prompt?.options).toMatchObject({ alwaysOnTop: true });
    expect(fake.notifications.map((n) => [n.options.title, n.options.body, n.isShown])).toContainEqual(['Confirm it is you', 'Payroll needs a fresh sign-in', true]);
    expect(fake.windows[0]?.webContents.sent).toContainEqual({ channel: 'ward:event', message: { event: 'stepUp.requested', payload: request } });
    expect(shell.trayState()).toBe('attention');
    await backend.close();
  });

  it('does not notify about step-up when the user turned it off', async () => {
    const started = await startedShell();
    const { fake, backend } = started;
    const { event } = statusWindow(started);
    await invoker(fake, 'settings.set')(event, { notifications: { stepUp: false } });
    backend.requestStepUp({ reason: 'again', ttlSeconds: 60 });
    expect(fake.notifications.filter((n) => n.options.title === 'Confirm it is you')).toHaveLength(0);
    await backend.close();
  });

  it('applies launch at login through the login item and reports it as supported', async () => {
    const started = await startedShell();
    const { fake } = started;
    const { event } = statusWindow(started);
    const answer = await invoker(fake, 'settings.set')(event, { launchAtLogin: true });
    expect(fake.loginItem.openAtLogin).toBe(true);
    expect(answer).toMatchObject({ ok: true, value: { isLaunchAtLoginSupported: true, values: { launchAtLogin: true } } });
  });
});

describe('compliance notifications (live posture engine, a real required file)', () => {
  it('notifies when the device falls out of compliance and again when it is back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ward-shell-'));
    const required = join(dir, 'agent.marker');
    await writeFile(required, 'on');
    const config = PostureConfigSchema.parse({ requiredFiles: [{ path: required }] });
    const backend = new PostureBackend({ host: new LiveHost('linux'), checks: [requiredFiles], loadConfig: async () => config });
    const fake = createFakeElectron();
    const shell = createShell(fake.electron, { backend, indexHtml: INDEX, preload: '/p.cjs' });
    await shell.start();
    // Let the first snapshot land in the tray before changing the machine.
    expect((await backend.handle('posture.snapshot', {})).snapshot?.checks[0]?.status).toBe('pass');
    await new Promise((resolve) => setImmediate(resolve));
    expect(shell.trayState()).toBe('signed-out'); // compliant locally, not signed in
    const recheck = () => fake.tray()?.menu.find((i) => i.label === 'Recheck now')?.click?.();
    const titles = () => fake.notifications.map((n) => n.options.title);

    await rm(required);
    recheck();
    await expect.poll(titles).toEqual(['Your device needs attention']);
    expect(shell.trayState()).toBe('attention');

    await writeFile(required, 'on');
    recheck();
    await expect.poll(titles).toEqual(['Your device needs attention', 'Your device meets policy again']);
    expect(shell.trayState()).toBe('signed-out');
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  });
});

describe('preload', () => {
  it('exposes domain functions only, each bound to its own channel', async () => {
    const exposed: Record<string, unknown> = {};
    const invoked: [string, unknown][] = [];
    const listeners: ((e: unknown, m: unknown) => void)[] = [];
    exposeWardApi(
      { exposeInMainWorld: (key: string, api: unknown) => void (exposed[key] = api) },
      {
        invoke: async (channel: string, request: unknown) => {
          invoked.push([channel, request]);
          return { ok: true, value: { channel } };
        },
        on: ((_c: string, l: (e: unknown, m: unknown) => void) => void listeners.push(l)) as never,
        removeListener: (() => undefined) as never,
      },
    );
    const api = exposed.ward as WardApi;
    expect(Object.keys(api).sort()).toEqual(['app', 'identity', 'on', 'posture', 'session', 'settings']);
    expect(api).not.toHaveProperty('invoke');
    expect(api).not.toHaveProperty('send');
    await api.session.stepUp({ id: 'a', decision: 'accept' });
    await api.posture.snapshot();
    expect(invoked).toEqual([
      ['ward:session.stepUp', { id: 'a', decision: 'accept' }],
      ['ward:posture.snapshot', {}],
    ]);
    const seen: unknown[] = [];
    api.on('agent.state', (p) => seen.push(p));
    listeners.forEach((l) => l({}, { event: 'posture.changed', payload: 1 }));
    listeners.forEach((l) => l({}, { event: 'agent.state', payload: 2 }));
    expect(seen).toEqual([2]);
    expect(() => api.on('shell.exec' as never, () => undefined)).toThrow(TypeError);
  });
});

describe('tray pieces', () => {
  it('maps agent state and posture to a tray state', () => {
    expect(trayStateFor('offline', undefined)).toBe('offline');
    expect(trayStateFor('revoked', undefined)).toBe('blocked');
    expect(trayStateFor('non-compliant', undefined)).toBe('blocked');
    expect(trayStateFor('compliant', undefined)).toBe('compliant');
    expect(trayStateFor('unenrolled', undefined)).toBe('signed-out');
    expect(trayStateFor('step-up-required', undefined)).toBe('attention');
  });

  it('draws a distinct, valid PNG for each state', () => {
    const pngs = TRAY_STATES.map((s) => trayIconPng(s));
    for (const png of pngs) expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');
    expect(new Set(pngs.map((p) => p.toString('base64'))).size).toBe(4); // signed-out and offline share the grey ring
    expect(trayIconPng('compliant', 16).readUInt32BE(16)).toBe(16);
  });

  it('allows only http(s) links to allow-listed hosts, and never throws', () => {
    expect(isAllowedExternalUrl('https://github.com/x', ['github.com'])).toBe(true);
    expect(isAllowedExternalUrl('https://docs.github.com/x', ['github.com'])).toBe(true);
    expect(isAllowedExternalUrl('https://evilgithub.com/x', ['github.com'])).toBe(false);
    expect(isAllowedExternalUrl('file:///etc/passwd', ['github.com'])).toBe(false);
    expect(isAllowedExternalUrl('https://user:pw@github.com/', ['github.com'])).toBe(false);
    fc.assert(
      fc.property(fc.string(), (s) => {
        const allowed = isAllowedExternalUrl(s, ['github.com']);
        expect(!allowed || /^https?:/i.test(new URL(s).protocol)).toBe(true);
      }),
    );
  });
});
