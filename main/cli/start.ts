import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { BrokerInfo } from '../shared/ipc-contract.js';
import { EXIT, type CliIO } from './io.js';
import { RENDERER_DIST, ensureRendererBuilt, parsePort, startWebUi, untilSignal } from './ui.js';

const HELP = `Usage: ward start [--headless] [--port N] [--config FILE]

Starts Ward: the tray app when Electron can run here, otherwise the agent with its local web UI
(the address is printed; it holds a one-time token).

  --headless     skip the tray app even when Electron is available
  --port N       web UI port (default: a random free port)
  --config FILE  posture settings as JSON (see \`ward posture --help\`)
`;

const ROOT = join(import.meta.dirname, '..', '..');
/** The Electron main bundle (`npm run build`), what package.json "main" names. */
export const ELECTRON_MAIN = join(ROOT, 'dist', 'app', 'main.js');

export type ElectronProbe = { isAvailable: true; binary: string } | { isAvailable: false; why: string };

/**
 * Is Electron's binary installed? Read the package's own `path.txt` instead of `require('electron')`:
 * requiring it with the binary missing starts a download, and these machines have no network for it.
 */
export function findElectron(root = ROOT): ElectronProbe {
  let dir: string;
  try {
    dir = dirname(createRequire(join(root, 'package.json')).resolve('electron/package.json'));
  } catch {
    return { isAvailable: false, why: 'the electron package is not installed' };
  }
  const pathFile = join(dir, 'path.txt');
  if (!existsSync(pathFile)) return { isAvailable: false, why: "Electron's binary was never downloaded (no path.txt)" };
  const binary = join(dir, 'dist', readFileSync(pathFile, 'utf8').trim());
  return existsSync(binary) ? { isAvailable: true, binary } : { isAvailable: false, why: `Electron's binary is missing (${binary})` };
}

/**
 * THE HOOK for the embedded reference broker (issue 4): once `broker/server` exports a
 * `createBroker` that listens on 127.0.0.1, start it here and return what the UI shows.
 * Until then `ward start` runs without a broker and says so.
 */
export async function startEmbeddedBroker(): Promise<{ info: BrokerInfo; close: () => Promise<void> } | undefined> {
  return undefined;
}

async function runElectron(binary: string, io: CliIO): Promise<number> {
  io.stdout('Starting the Ward tray app…\n');
  const child = spawn(binary, [ROOT], { stdio: 'inherit' });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? EXIT.failure)));
}

export async function run(args: string[], io: CliIO): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        headless: { type: 'boolean', default: false },
        port: { type: 'string' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    io.stderr(`ward start: ${(err as Error).message}\n\n${HELP}`);
    return EXIT.usage;
  }
  if (values.help) {
    io.stdout(HELP);
    return EXIT.ok;
  }
  const port = parsePort(values.port);
  if (!values.headless) {
    const electron = findElectron();
    if (electron.isAvailable && existsSync(ELECTRON_MAIN)) return runElectron(electron.binary, io);
    const why = electron.isAvailable ? `the app is not built (${ELECTRON_MAIN}; run \`npm run build\`)` : electron.why;
    io.stderr(`The tray app cannot start here: ${why}. Running the agent with its local web UI instead.\n`);
  }
  await ensureRendererBuilt(RENDERER_DIST, io);
  const broker = await startEmbeddedBroker();
  const ui = await startWebUi({
    broker: broker?.info ?? null,
    ...(port !== undefined ? { port } : {}),
    ...(values.config ? { configFile: values.config } : {}),
  });
  io.stdout(
    [
      'Ward agent is running (headless).',
      broker ? `  Broker: ${broker.info.url}` : '  Broker: none configured (posture only; the embedded broker is not wired in yet).',
      '  Open this link once (it holds a one-time token):',
      `  ${ui.server.url}`,
      '  Press Ctrl+C to stop.',
      '',
    ].join('\n'),
  );
  await untilSignal();
  await ui.close();
  await broker?.close();
  return EXIT.ok;
}
