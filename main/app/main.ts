// The Electron main process: the only entry point that imports `electron` at run time.
import * as electron from 'electron';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { processIO } from '../cli/io.js';
import { startAgentBackend } from '../cli/ui.js';
import { createLogger } from '../core/log.js';
import { createDefaultBackend } from '../core/ui-server/default-backend.js';
import type { AgentBackend } from '../shared/ipc-contract.js';
import { createShell } from './shell.js';

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

const shell = createShell(electron, { backend: await backend(), indexHtml, preload, isDev, electronVersion: process.versions.electron ?? '', log });
if (await shell.start()) log.info('tray started');
