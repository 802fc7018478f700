// The Electron main process: the only entry point that imports `electron` at run time.
import * as electron from 'electron';
import electronUpdater from 'electron-updater';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { processIO } from '../cli/io.js';
import { startAgentBackend } from '../cli/ui.js';
import { loadConfig } from '../core/config/resolve.js';
import { CONFIG_DEFAULTS } from '../core/config/schema.js';
import { defaultConfigLocations } from '../core/config/sources.js';
import { LiveHost } from '../core/exec/live-host.js';
import { createLogger } from '../core/log.js';
import { currentPlatform } from '../core/platform.js';
import { createDefaultBackend } from '../core/ui-server/default-backend.js';
import type { AgentBackend } from '../shared/ipc-contract.js';
import { createShell } from './shell.js';
import { loadUpdatePublicKeys } from './update-keys.js';
import { createUpdater, type WardUpdater } from './updater.js';

const here = import.meta.dirname;
// Built layout: dist/app/main.js next to dist/app/preload.cjs; the renderer in renderer/dist.
const root = join(here, '..', '..');
const indexHtml = join(root, 'renderer', 'dist', 'index.html');
const preload = join(here, 'preload.cjs');
const log = createLogger();
const isDev = !electron.app.isPackaged && process.env.WARD_DEV === '1';

if (!existsSync(indexHtml)) log.error({ indexHtml }, 'the renderer is not built; run `npm run build`');
electron.app.enableSandbox();

/** The real agent; the posture checks alone if it cannot start (said in the log, shown in the UI's state). */
async function backend(): Promise<AgentBackend> {
  try {
    return (await startAgentBackend(processIO(), log, 'electron')).backend;
  } catch (err) {
    log.error({ err }, 'the agent could not start; serving posture checks only');
    return createDefaultBackend({ shell: 'electron', log, settingsFile: join(electron.app.getPath('userData'), 'settings.json') });
  }
}

const UPDATE_CHECK_INTERVAL_MS = 6 * 60 * 60 * 1000;

/** A random id kept in userData: this device's staged-rollout bucket, stable across restarts. */
async function updateDeviceId(): Promise<string> {
  const file = join(electron.app.getPath('userData'), 'update-device-id');
  const existing = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (/^[0-9a-f-]{36}$/.test(existing)) return existing;
  const id = randomUUID();
  await writeFile(file, `${id}\n`, { mode: 0o600 }).catch((err: unknown) => log.warn({ err }, 'could not store the update device id'));
  return id;
}

/** Verified auto-update on the managed feed; the pinned public keys ship next to app.asar. */
async function updater(): Promise<WardUpdater> {
  const platform = currentPlatform();
  const managed = platform ? await loadConfig(new LiveHost(platform), defaultConfigLocations(platform, (n) => process.env[n])).catch((err: unknown) => {
    log.error({ err }, 'the configuration is invalid; automatic updates stay off');
    return undefined;
  }) : undefined;
  const config = managed?.config ?? { ...CONFIG_DEFAULTS, autoUpdate: false };
  const keysFile = electron.app.isPackaged ? join(process.resourcesPath, 'update-public-keys.json') : join(root, 'build', 'update-public-keys.json');
  const publicKeys = await loadUpdatePublicKeys(keysFile).catch((err: unknown) => err as Error);
  return createUpdater({
    autoUpdater: electronUpdater.autoUpdater,
    config,
    currentVersion: electron.app.getVersion(),
    publicKeys,
    deviceId: await updateDeviceId(),
    log,
  });
}

const update = await updater();
const shell = createShell(electron, { backend: await backend(), indexHtml, preload, isDev, electronVersion: process.versions.electron ?? '', log, updater: update });
if (await shell.start()) {
  log.info('tray started');
  void update.check();
  setInterval(() => void update.check(), UPDATE_CHECK_INTERVAL_MS).unref();
}
