import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createShell } from '../../../main/app/shell.js';
import { loadUpdatePublicKeys, parseUpdatePublicKeys, UpdateKeysError } from '../../../main/app/update-keys.js';
import { createUpdater, manifestFileName, type AutoUpdaterLike, type UpdaterOptions } from '../../../main/app/updater.js';
import { CONFIG_DEFAULTS } from '../../../main/core/config/schema.js';
import { parseBundle } from '../../../main/core/exec/bundle.js';
import { ReplayHost } from '../../../main/core/exec/replay-host.js';
import { rolloutBucket } from '../../../main/core/update/rollout.js';
import { signUpdateManifest } from '../../../main/core/update/signature.js';
import { PostureBackend } from '../../../main/core/ui-server/posture-backend.js';
import { createFakeElectron } from './fake-electron.js';

const REPO = join(import.meta.dirname, '..', '..', '..');
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const PRIVATE_PEM = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
const PUBLIC_PEM = publicKey.export({ format: 'pem', type: 'spki' }).toString();
const MANIFEST = manifestFileName('latest', 'linux', 'x64');
const ARTIFACT = 'Ward-1.3.0.AppImage';
const ARTIFACT_BYTES = Buffer.from(`Ward 1.3.0 AppImage payload ${'x'.repeat(4096)}`);
const DEVICE = 'device-0001';

/** The real HTTP feed on 127.0.0.1: each test sets what it serves. */
const served = new Map<string, Buffer>();
let server: Server;
let feedUrl: string;
let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ward-updater-'));
  server = createServer((req, res) => {
    const body = served.get(new URL(req.url ?? '/', 'http://127.0.0.1').pathname.slice(1));
    res.writeHead(body ? 200 : 404).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  feedUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/updates`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(workDir, { recursive: true, force: true });
});

function sha512(bytes: Buffer): string {
  return createHash('sha512').update(bytes).digest('base64');
}

function latestYml(version: string, listed: Buffer = ARTIFACT_BYTES, extra = ''): string {
  return `version: ${version}\nfiles:\n  - url: ${ARTIFACT}\n    sha512: ${sha512(listed)}\n    size: ${listed.length}\npath: ${ARTIFACT}\nsha512: ${sha512(listed)}\nreleaseDate: '2026-11-20T10:00:00.000Z'\n${extra}`;
}

/** Publish a release on the feed: the manifest, its detached signature (unless unsigned), the artifact. */
async function publish(manifest: string, options: { sign?: boolean; servedManifest?: string; artifact?: Buffer } = {}): Promise<void> {
  served.clear();
  served.set(`updates/${MANIFEST}`, Buffer.from(options.servedManifest ?? manifest));
  if (options.sign ?? true) served.set(`updates/${MANIFEST}.sig`, Buffer.from(`${await signUpdateManifest(Buffer.from(manifest), PRIVATE_PEM, 'latest')}\n`));
  served.set(`updates/${ARTIFACT}`, options.artifact ?? ARTIFACT_BYTES);
}

/**
 * Stand-in for electron-updater's autoUpdater (the Electron binary cannot run here). Like the real
 * generic provider it reads the feed's manifest over HTTP and downloads the artifact to disk.
 */
class StandInAutoUpdater implements AutoUpdaterLike {
  autoDownload = true;
  autoInstallOnAppQuit = true;
  allowDowngrade = true;
  channel: string | null = null;
  feed: { provider: string; url: string; channel: string } | undefined;
  checks = 0;
  downloads = 0;
  installs: { isSilent?: boolean; isForceRunAfter?: boolean }[] = [];
  downloaded: string[] = [];

  setFeedURL(options: { provider: 'generic'; url: string; channel: string }): void {
    this.feed = options;
  }
  async checkForUpdates(): Promise<{ updateInfo: { version: string } } | null> {
    this.checks++;
    const text = await (await fetch(`${this.feed?.url}/${MANIFEST}`)).text();
    return { updateInfo: { version: /^version: (.+)$/m.exec(text)?.[1] ?? '' } };
  }
  async downloadUpdate(): Promise<string[]> {
    this.downloads++;
    const dir = await mkdtemp(join(workDir, 'download-'));
    const path = join(dir, ARTIFACT);
    await writeFile(path, Buffer.from(await (await fetch(`${this.feed?.url}/${ARTIFACT}`)).arrayBuffer()));
    this.downloaded.push(path);
    return [path];
  }
  quitAndInstall(isSilent?: boolean, isForceRunAfter?: boolean): void {
    this.installs.push({ isSilent, isForceRunAfter });
  }
}

function updaterFor(overrides: Partial<UpdaterOptions> = {}) {
  const autoUpdater = new StandInAutoUpdater();
  const updater = createUpdater({
    autoUpdater,
    config: { updateFeedUrl: feedUrl, updateChannel: 'latest', autoUpdate: true },
    currentVersion: '1.2.0',
    publicKeys: [PUBLIC_PEM],
    deviceId: DEVICE,
    platform: 'linux',
    arch: 'x64',
    ...overrides,
  });
  return { autoUpdater, updater };
}

// The feed is shared module state: these run one after another.
describe.sequential('verified auto-update on a real local feed (stand-in autoUpdater)', () => {
  it('configures electron-updater for the managed feed with nothing automatic and no downgrades', () => {
    const { autoUpdater, updater } = updaterFor({ config: { updateFeedUrl: feedUrl, updateChannel: 'beta', autoUpdate: true } });
    expect(autoUpdater.feed).toEqual({ provider: 'generic', url: feedUrl, channel: 'beta' });
    expect(autoUpdater).toMatchObject({ autoDownload: false, autoInstallOnAppQuit: false, allowDowngrade: false, channel: 'beta' });
    expect(updater.status()).toEqual({ state: 'idle' });
  });

  it('verifies a good update, downloads it, and installs only on the user’s consent', async () => {
    await publish(latestYml('1.3.0'));
    const { autoUpdater, updater } = updaterFor();
    const seen: string[] = [];
    updater.subscribe((s) => seen.push(s.state));
    const status = await updater.check();
    expect(status).toMatchObject({ state: 'downloaded', availableVersion: '1.3.0' });
    expect(seen).toEqual(['checking', 'downloading', 'downloaded']);
    expect(autoUpdater.downloads).toBe(1);
    expect(autoUpdater.installs).toEqual([]);
    expect(await updater.install()).toBe(true);
    expect(autoUpdater.installs).toEqual([{ isSilent: false, isForceRunAfter: true }]);
  });

  it('refuses at install time a downloaded file that changed on disk after it was verified', async () => {
    await publish(latestYml('1.3.0'));
    const { autoUpdater, updater } = updaterFor();
    expect((await updater.check()).state).toBe('downloaded');
    const replaced = Buffer.from(ARTIFACT_BYTES);
    replaced[0] = (replaced[0] ?? 0) ^ 0xff;
    await writeFile(autoUpdater.downloaded[0] ?? '', replaced);
    expect(await updater.install()).toBe(false);
    expect(updater.status().message).toContain('(hash-mismatch)');
    expect(autoUpdater.installs).toEqual([]);
  });

  it('refuses a tampered manifest before anything is downloaded', async () => {
    const signed = latestYml('1.3.0');
    await publish(signed, { servedManifest: signed.replace('1.3.0', '1.3.1') });
    const { autoUpdater, updater } = updaterFor();
    const status = await updater.check();
    expect(status.state).toBe('error');
    expect(status.message).toContain('(signature-invalid)');
    expect(autoUpdater.checks).toBe(0);
    expect(autoUpdater.downloads).toBe(0);
    expect(await updater.install()).toBe(false);
    expect(autoUpdater.installs).toEqual([]);
  });

  it('refuses a manifest signed with a key that is not pinned', async () => {
    await publish(latestYml('1.3.0'));
    const other = generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const { autoUpdater, updater } = updaterFor({ publicKeys: [other] });
    expect((await updater.check()).message).toContain('(signature-invalid)');
    expect(autoUpdater.downloads).toBe(0);
  });

  it('refuses an unsigned manifest', async () => {
    await publish(latestYml('1.3.0'), { sign: false });
    const { autoUpdater, updater } = updaterFor();
    const status = await updater.check();
    expect(status).toMatchObject({ state: 'error' });
    expect(status.message).toContain('(unsigned)');
    expect(autoUpdater.downloads).toBe(0);
  });

  it('refuses a downgrade before download', async () => {
    await publish(latestYml('1.1.0'));
    const { autoUpdater, updater } = updaterFor();
    const status = await updater.check();
    expect(status.message).toContain('(downgrade)');
    expect(autoUpdater.downloads).toBe(0);
  });

  it('refuses an artifact whose SHA-512 does not match the signed manifest, and never installs it', async () => {
    const altered = Buffer.from(ARTIFACT_BYTES);
    altered[10] = (altered[10] ?? 0) ^ 0xff;
    await publish(latestYml('1.3.0'), { artifact: altered });
    const { autoUpdater, updater } = updaterFor();
    const status = await updater.check();
    expect(status.state).toBe('error');
    expect(status.message).toContain('(hash-mismatch)');
    expect(autoUpdater.downloads).toBe(1);
    expect(await updater.install()).toBe(false);
    expect(autoUpdater.installs).toEqual([]);
  });

  it('does not offer an update to a device outside the staged rollout', async () => {
    const bucket = rolloutBucket(DEVICE, '1.3.0');
    await publish(latestYml('1.3.0', ARTIFACT_BYTES, `stagingPercentage: ${Math.floor(bucket)}\n`));
    const { autoUpdater, updater } = updaterFor();
    const status = await updater.check();
    expect(status.state).toBe('up-to-date');
    expect(status.message).toContain('not included yet');
    expect(autoUpdater.checks).toBe(0);
    expect(autoUpdater.downloads).toBe(0);
  });

  it('refuses when the updater is offered another version than the one signed', async () => {
    await publish(latestYml('1.3.0'));
    const { autoUpdater, updater } = updaterFor();
    autoUpdater.checkForUpdates = async () => ({ updateInfo: { version: '1.4.0' } });
    expect((await updater.check()).message).toContain('(feed-changed)');
    expect(autoUpdater.downloads).toBe(0);
  });

  it('stays off when managed config turns it off, has no feed, or the pinned keys are broken', async () => {
    const off = updaterFor({ config: { updateFeedUrl: feedUrl, updateChannel: 'latest', autoUpdate: false } });
    expect((await off.updater.check()).state).toBe('unsupported');
    expect(off.autoUpdater.feed).toBeUndefined();
    const noFeed = updaterFor({ config: { ...CONFIG_DEFAULTS } });
    expect((await noFeed.updater.check()).message).toContain('updateFeedUrl');
    const badKeys = updaterFor({ publicKeys: new UpdateKeysError('update-keys-invalid', 'keys.json is not valid JSON') });
    expect(await badKeys.updater.check()).toMatchObject({ state: 'error', message: 'Updates are off: keys.json is not valid JSON' });
    expect(badKeys.autoUpdater.checks).toBe(0);
  });

  it('shows the update state in app.about and offers check / install in the tray menu', async () => {
    await publish(latestYml('1.3.0'));
    const { autoUpdater, updater } = updaterFor();
    const fake = createFakeElectron();
    const bundle = parseBundle(readFileSync(join(REPO, 'test', 'fixtures', 'bundles', 'darwin-noncompliant.json'), 'utf8'));
    const backend = new PostureBackend({ host: new ReplayHost('darwin', bundle.records) });
    const shell = createShell(fake.electron, { backend, indexHtml: '/opt/Ward/index.html', preload: '/opt/Ward/preload.cjs', updater });
    await shell.start();
    const labels = () => (fake.tray()?.menu ?? []).map((m) => m.label ?? '');
    expect(labels()).toContain('Check for updates');
    await fake.tray()?.menu.find((m) => m.label === 'Check for updates')?.click?.();
    await updater.check();
    expect(fake.notifications.map((n) => n.options.title)).toContain('A Ward update is ready');
    shell.showStatusWindow();
    const win = fake.windows[0];
    const about = (await (fake.handlers.get('ward:app.about') as (e: unknown, r: unknown) => Promise<unknown>)(
      { sender: win?.webContents, senderFrame: win?.webContents.mainFrame },
      {},
    )) as { value: { update: unknown } };
    expect(about.value.update).toMatchObject({ state: 'downloaded', availableVersion: '1.3.0' });
    const install = fake.tray()?.menu.find((m) => m.label === 'Restart to install Ward 1.3.0');
    expect(install).toBeDefined();
    install?.click?.();
    // The click re-verifies the downloaded file (it streams a SHA-512) before installing.
    await vi.waitFor(() => expect(autoUpdater.installs).toHaveLength(1));
    backend.close();
  });
});

describe('pinned update keys (build/update-public-keys.json)', () => {
  it('the committed file holds valid public keys only', async () => {
    const keys = await loadUpdatePublicKeys(join(REPO, 'build', 'update-public-keys.json'));
    expect(keys.length).toBeGreaterThan(0);
    expect(readFileSync(join(REPO, 'build', 'update-public-keys.json'), 'utf8')).not.toMatch(/PRIVATE/);
  });

  it('refuses a private key, a non-PEM and an unknown field, naming the source', () => {
    const doc = (pem: string, extra = {}) => JSON.stringify({ keys: [{ publicKeyPem: pem }], ...extra });
    expect(() => parseUpdatePublicKeys(doc(PRIVATE_PEM), 'keys.json')).toThrow(/keys\.json: keys\.0\.publicKeyPem: must be an SPKI/);
    expect(() => parseUpdatePublicKeys(doc('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'), 'keys.json')).toThrow(/Ed25519 or ECDSA P-256/);
    expect(() => parseUpdatePublicKeys(doc(PUBLIC_PEM, { extra: 1 }), 'keys.json')).toThrow(UpdateKeysError);
    expect(parseUpdatePublicKeys(doc(PUBLIC_PEM), 'keys.json')).toEqual([PUBLIC_PEM]);
  });

  it('arbitrary input never throws anything but UpdateKeysError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify({ keys: [v] }))), (text) => {
        try {
          parseUpdatePublicKeys(text, 'x.json');
        } catch (err) {
          expect(err).toBeInstanceOf(UpdateKeysError);
        }
      }),
    );
  });

  it('names the platform manifest like electron-updater’s generic provider', () => {
    expect(manifestFileName('latest', 'win32', 'x64')).toBe('latest.yml');
    expect(manifestFileName('beta', 'darwin', 'arm64')).toBe('beta-mac.yml');
    expect(manifestFileName('latest', 'linux', 'x64')).toBe('latest-linux.yml');
    expect(manifestFileName('alpha', 'linux', 'arm64')).toBe('alpha-linux-arm64.yml');
  });
});
