import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type * as Vite from 'vite';
import { WardError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/log.js';
import { createDefaultBackend } from '../core/ui-server/default-backend.js';
import { shellHandlers } from '../core/ui-server/shell-handlers.js';
import type { PostureBackend } from '../core/ui-server/posture-backend.js';
import { startUiServer, type UiServer } from '../core/ui-server/ui-server.js';
import type { AboutInfo, AgentBackend, BrokerInfo } from '../shared/ipc-contract.js';
import { EXIT, type CliIO, parseCommandArgs } from './io.js';
import { loadPostureConfig } from './posture.js';

const HELP = `Usage: ward ui [--backend agent|posture] [--port N] [--config FILE] [--demo-step-up SECONDS]

Serves Ward's window as a local web page on 127.0.0.1 and prints its address. The address holds a
one-time token: the first browser to open it gets a session cookie, the token is then void.
Press Ctrl+C to stop.

  --backend agent         serve the agent: enrollment, sign-in, step-up, reports (default)
  --backend posture       serve the posture checks alone (no identity, no broker)
  --port N                listen on port N (default: a random free port)
  --config FILE           posture backend: posture settings (required/forbidden apps, files,
                          certificates) as JSON, re-read on every recheck
  --demo-step-up SECONDS  posture backend: show a step-up prompt after SECONDS
`;

/** Where `npm run build` puts the renderer. */
export const RENDERER_DIST = join(import.meta.dirname, '..', '..', 'renderer', 'dist');

export interface WebUiOptions {
  readonly port?: number;
  readonly configFile?: string;
  readonly broker?: BrokerInfo | null;
  readonly staticDir?: string;
  readonly log?: Logger;
  /** Serve this backend instead of the posture-only one (the agent, tests). */
  readonly backend?: { readonly backend: AgentBackend; close(): Promise<void> };
}

export interface WebUi {
  readonly server: UiServer;
  readonly backend: AgentBackend;
  /** Present when the posture-only backend serves (it can raise a step-up prompt on demand). */
  readonly postureBackend: PostureBackend | undefined;
  close(): Promise<void>;
}

/**
 * The real agent (what `ward daemon` runs: managed config, identity, keychain tokens) as the UI's
 * backend. UI settings live next to its state.
 */
export async function startAgentBackend(io: CliIO, log: Logger, shell: AboutInfo['shell'] = 'web'): Promise<{ backend: AgentBackend; close(): Promise<void> }> {
  const { createRuntime } = await import('./daemon.js');
  const runtime = await createRuntime(io, { log });
  await runtime.agent.start();
  const extra = shellHandlers({ shell, platform: runtime.host.platform, settingsFile: join(runtime.stateDir, 'ui-settings.json'), log });
  return { backend: runtime.agent.backend(extra), close: () => runtime.close() };
}

/** Build the renderer once if this checkout has never been built (vite is a dev dependency). */
export async function ensureRendererBuilt(dir: string, io: CliIO): Promise<void> {
  if (existsSync(join(dir, 'index.html'))) return;
  io.stderr('Building the UI once (npm run build)…\n');
  let vite: typeof Vite;
  try {
    vite = await import('vite');
  } catch (err) {
    throw new WardError('ui-not-built', `The UI is not built (${dir}) and vite is not installed to build it.`, {
      cause: err,
      hint: 'Run `npm run build` in a checkout with dev dependencies.',
    });
  }
  await vite.build({ configFile: join(import.meta.dirname, '..', '..', 'renderer', 'vite.config.ts'), logLevel: 'warn' });
}

/** The agent backend plus the web UI server: what `ward ui` and the headless `ward start` run. */
export async function startWebUi(options: WebUiOptions = {}): Promise<WebUi> {
  const log = options.log ?? createLogger({ level: 'warn' });
  let postureBackend: PostureBackend | undefined;
  let serving = options.backend;
  if (!serving) {
    const posture = createDefaultBackend({
      shell: 'web',
      broker: options.broker ?? null,
      log,
      ...(options.configFile ? { loadConfig: () => loadPostureConfig(options.configFile) } : {}),
    });
    postureBackend = posture;
    serving = { backend: posture, close: () => posture.close() };
  }
  const { backend, close } = serving;
  const server = await startUiServer({
    backend,
    staticDir: options.staticDir ?? RENDERER_DIST,
    log,
    ...(options.port !== undefined ? { port: options.port } : {}),
  });
  return {
    server,
    backend,
    postureBackend,
    close: async () => {
      await server.close();
      await close();
    },
  };
}

export function parsePort(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new WardError('usage', '--port takes a number from 0 to 65535');
  return port;
}

/** Resolve when the process is asked to stop (Ctrl+C, a service manager's SIGTERM). */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export function scheduleDemoStepUp(ui: WebUi, seconds: number | undefined): void {
  if (seconds === undefined || !ui.postureBackend) return;
  const backend = ui.postureBackend;
  setTimeout(() => {
    backend.requestStepUp({
      reason: 'Demo: opening a sensitive resource needs a fresh sign-in.',
      acr_values: 'phr',
      max_age: 300,
      resource: 'https://payroll.example.com',
      ttlSeconds: 120,
    });
  }, seconds * 1000).unref();
}

export type BackendKind = 'agent' | 'posture';

export function parseBackend(value: string | undefined): BackendKind {
  if (value === undefined || value === 'agent' || value === 'posture') return value ?? 'agent';
  throw new WardError('usage', '--backend is agent or posture');
}

/** Start the chosen backend; the agent falls back to posture-only with the reason said out loud. */
export async function chooseBackend(kind: BackendKind, io: CliIO, log: Logger): Promise<WebUiOptions['backend']> {
  if (kind === 'posture') return undefined;
  try {
    return await startAgentBackend(io, log);
  } catch (err) {
    io.stderr(`The agent could not start (${err instanceof Error ? err.message : String(err)}); showing posture checks only.\n`);
    return undefined;
  }
}

export async function run(args: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandArgs(
    args,
    io,
    {
      backend: { type: 'string' },
      port: { type: 'string' },
      config: { type: 'string' },
      'demo-step-up': { type: 'string' },
    },
    HELP,
    { command: 'ui' },
  );
  if ('exit' in parsed) return parsed.exit;
  const { values } = parsed;
  const demo = values['demo-step-up'] === undefined ? undefined : Number(values['demo-step-up']);
  if (demo !== undefined && !(Number.isFinite(demo) && demo >= 0 && demo <= 3600)) {
    io.stderr('ward ui: --demo-step-up takes a number of seconds from 0 to 3600\n');
    return EXIT.usage;
  }
  const kind = parseBackend(values.backend);
  if (kind === 'agent' && (values.config || demo !== undefined)) {
    io.stderr('ward ui: --config and --demo-step-up need --backend posture (the agent reads managed config)\n');
    return EXIT.usage;
  }
  const port = parsePort(values.port);
  await ensureRendererBuilt(RENDERER_DIST, io);
  const log = createLogger({ level: 'warn' });
  const backend = await chooseBackend(kind, io, log);
  const ui = await startWebUi({ log, ...(backend ? { backend } : {}), ...(port !== undefined ? { port } : {}), ...(values.config ? { configFile: values.config } : {}) });
  scheduleDemoStepUp(ui, demo);
  const stopped = untilSignal(); // before the announcement: a stop right after it must still shut down cleanly
  io.stdout(`Ward is running. Open this link once (it holds a one-time token):\n  ${ui.server.url}\n`);
  await stopped;
  await ui.close();
  return EXIT.ok;
}
