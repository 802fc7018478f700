// The Electron main process: the only entry point that imports `electron` at run time.
import * as electron from 'electron';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../core/log.js';
import { createDefaultBackend } from '../core/ui-server/default-backend.js';
import { createShell } from './shell.js';

const here = import.meta.dirname;
// Packaged: dist/app/main.js next to dist/app/preload.cjs, renderer in renderer/dist.
const root = join(here, '..', '..');
const indexHtml = join(root, 'renderer', 'dist', 'index.html');
const preload = join(here, 'preload.cjs');
const log = createLogger();
const isDev = !electron.app.isPackaged && process.env.WARD_DEV === '1';

if (!existsSync(indexHtml)) log.error({ indexHtml }, 'the renderer is not built; run `npm run build`');

// Electron security checklist §4 / fuses: no remote content, so no need for anything beyond file://.
electron.app.enableSandbox();

const backend = createDefaultBackend({ shell: 'electron', log, settingsFile: join(electron.app.getPath('userData'), 'settings.json') });
const shell = createShell(electron, { backend, indexHtml, preload, isDev, electronVersion: process.versions.electron ?? '', log });
void shell.start().then((isRunning) => {
  if (isRunning) log.info('tray started');
});
