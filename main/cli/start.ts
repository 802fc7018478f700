import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { BrokerInfo } from '../shared/ipc-contract.js';
import { loadConfig } from '../core/config/resolve.js';
import { defaultConfigLocations } from '../core/config/sources.js';
import { LiveHost } from '../core/exec/live-host.js';
import { currentPlatform } from '../core/platform.js';
import { EXIT, type CliIO, parseCommandArgs } from './io.js';
import { createLogger, type Logger } from '../core/log.js';
import { RENDERER_DIST, chooseBackend, ensureRendererBuilt, parseBackend, parsePort, startWebUi, untilSignal } from './ui.js';

const HELP = `Usage: ward start [--headless] [--backend agent|posture] [--port N] [--[no-]embedded-broker]

Starts Ward: the tray app when Electron can run here, otherwise the agent with its local web UI
(the address is printed; it holds a one-time token).

  --headless          skip the tray app even when Electron is available
  --backend KIND      agent (default): enrollment, sign-in, step-up, reports;
                      posture: the posture checks alone
  --port N            web UI port (default: a random free port)
  --embedded-broker   also run the reference broker in this process (data and config where
                      \`ward-broker\` keeps them, default 127.0.0.1:8443), for demos and trials.
                      This is the default when no broker is configured (managed brokerUrl);
                      --no-embedded-broker turns it off.
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
 * The reference broker in-process (what \`ward-broker serve\` runs), sharing its data directory so
 * \`ward-broker token create\` and \`ward-broker users add\` administer it.
 */
export async function startEmbeddedBroker(io: CliIO, log: Logger): Promise<{ info: BrokerInfo; close: () => Promise<void> }> {
  const [{ createBroker }, { loadConfigFile }] = await Promise.all([import('../../broker/server/broker.js'), import('../../broker/server/config.js')]);
  const data = resolve(io.env.WARD_BROKER_DATA ?? join(io.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'ward-broker'));
  mkdirSync(data, { recursive: true });
  const configFile = join(data, 'config.json');
  if (!existsSync(configFile)) {
    writeFileSync(configFile, `${JSON.stringify({ listen: { host: '127.0.0.1', port: 8443 }, users: [] }, null, 2)}\n`, { mode: 0o600 });
  }
  const broker = await createBroker({ dataDir: data, config: loadConfigFile(configFile), configFile, logger: log });
  io.stdout(
    [
      `Embedded broker on ${broker.url} (data: ${data})`,
      ...(broker.bootstrapAdminToken ? [`  first admin credential written to ${join(data, 'admin-token')} (keep it secret)`] : []),
      '  add a user:       ward-broker users add NAME',
      `  enroll a device:  ward-broker token create  →  ward enroll --broker ${broker.url} --token TOKEN`,
      '',
    ].join('\n'),
  );
  return { info: { url: broker.url, name: 'Embedded reference broker', source: 'embedded' }, close: () => broker.close() };
}

/** Does managed or user configuration name a broker? If not, `npm start` brings its own. */
async function isBrokerConfigured(io: CliIO): Promise<boolean> {
  const platform = currentPlatform();
  if (!platform) return false;
  try {
    const { config } = await loadConfig(new LiveHost(platform), defaultConfigLocations(platform, (n) => io.env[n]));
    return config.brokerUrl !== undefined;
  } catch {
    return false; // an invalid config is reported by the agent itself
  }
}

async function runElectron(binary: string, io: CliIO): Promise<number> {
  io.stdout('Starting the Ward tray app…\n');
  const child = spawn(binary, [ROOT], { stdio: 'inherit' });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? EXIT.failure)));
}

export async function run(args: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandArgs(
    args,
    io,
    {
      headless: { type: 'boolean', default: false },
      backend: { type: 'string' },
      port: { type: 'string' },
      'embedded-broker': { type: 'boolean' },
    },
    HELP,
    { command: 'start', allowNegative: true },
  );
  if ('exit' in parsed) return parsed.exit;
  const { values } = parsed;
  const port = parsePort(values.port);
  const kind = parseBackend(values.backend);
  if (!values.headless) {
    const electron = findElectron();
    if (electron.isAvailable && existsSync(ELECTRON_MAIN)) return runElectron(electron.binary, io);
    const why = electron.isAvailable ? `the app is not built (${ELECTRON_MAIN}; run \`npm run build\`)` : electron.why;
    io.stderr(`The tray app cannot start here: ${why}. Running the agent with its local web UI instead.\n`);
  }
  await ensureRendererBuilt(RENDERER_DIST, io);
  const log = createLogger({ level: 'warn' });
  const wantBroker = values['embedded-broker'] ?? !(await isBrokerConfigured(io));
  const broker = wantBroker ? await startEmbeddedBroker(io, log).catch((err: unknown) => {
    // A broker already on the port (a second `npm start`, or `npm run broker`) is not fatal.
    io.stderr(`The embedded broker did not start (${err instanceof Error ? err.message : String(err)}); continuing without it.\n`);
    return undefined;
  }) : undefined;
  if (kind === 'agent') io.stdout("Checking this device's posture before opening the UI (the first check can take several seconds)…\n");
  const backend = await chooseBackend(kind, io, log);
  const ui = await startWebUi({ log, broker: broker?.info ?? null, ...(backend ? { backend } : {}), ...(port !== undefined ? { port } : {}) });
  const stopped = untilSignal(); // before the announcement: a stop right after it must still shut down cleanly
  io.stdout(
    [
      `Ward ${backend ? 'agent' : 'posture checks'} running (headless).`,
      '  Open this link once (it holds a one-time token):',
      `  ${ui.server.url}`,
      '  Press Ctrl+C to stop.',
      '',
    ].join('\n'),
  );
  await stopped;
  await ui.close();
  await broker?.close();
  return EXIT.ok;
}
