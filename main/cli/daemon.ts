import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WardError } from '../core/errors.js';
import { LocalApiServer } from '../core/local-api/local-api-server.js';
import { createLogger } from '../core/log.js';
import type { OAuthProcessSpec } from '../core/session/oauth-process-client.js';
import { accessResource } from '../core/session/protected-resource.js';
import { AGENT_VERSION } from '../core/version.js';
import { shellHandlers } from '../core/ui-server/shell-handlers.js';
import { EXIT, type CliIO, parseCommandArgs } from './io.js';
import { createRuntime } from './session-runtime.js';
import { parsePort, untilSignal } from './ui.js';

/** `ward ui` / `ward start` build the same agent as the daemon. */
export { createRuntime, type Runtime } from './session-runtime.js';

const HELP = `Usage: ward daemon [--port N] [--ephemeral-tokens] [--log-level LEVEL]

Runs the headless agent: watches posture and reports changes to the broker at once, keeps the
DPoP-bound session fresh, answers the broker's challenges over its event channel, and serves the
loopback API (127.0.0.1) for the tray, the CLI and allow-listed sign-in pages. Stop it with Ctrl-C.

  --port N             loopback API port (default: a free port, written to local-api.json)
  --ephemeral-tokens   keep sign-in tokens in memory instead of the OS keychain
  --log-level LEVEL    pino level for the JSON log on stderr (default info)
`;

/**
 * The daemon's OAuth calls run in a short-lived child process (see `OAuthProcessClient`): from
 * the agent bundle its `oauth-child.js` with the daemon's own V8 flags, from the source tree the
 * TypeScript module through tsx's loader.
 */
export function oauthProcessSpec(): OAuthProcessSpec {
  const entry = process.argv[1] ?? '';
  const bundled = join(dirname(entry), 'oauth-child.js');
  if (basename(entry) === 'cli.js' && existsSync(bundled)) return { modulePath: bundled, execArgv: process.execArgv };
  return { modulePath: fileURLToPath(new URL('../core/session/oauth-process-child.ts', import.meta.url)), execArgv: ['--import', import.meta.resolve('tsx')] };
}

export async function run(args: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandArgs(args, io, { port: { type: 'string' }, 'ephemeral-tokens': { type: 'boolean' }, 'log-level': { type: 'string' } }, HELP);
  if ('exit' in parsed) return parsed.exit;
  const { values } = parsed;
  const port = parsePort(values.port as string | undefined) ?? 0;
  const level = values['log-level'];
  if (level !== undefined && typeof level !== 'string') throw new WardError('usage', '--log-level takes a level name');
  const log = createLogger({ ...(level ? { level } : {}) });
  const runtime = await createRuntime(io, { log, oauthProcess: oauthProcessSpec(), ...(values['ephemeral-tokens'] ? { ephemeralTokens: true } : {}) });
  const { agent } = runtime;
  agent.on('state', (e) => io.stdout(`${e.at}  ${e.state}${e.reason ? `  — ${e.reason}` : ''}\n`));
  await agent.start();
  const api = new LocalApiServer({
    agent: {
      backend: agent.backend(shellHandlers({ shell: 'web', platform: runtime.host.platform, settingsFile: join(runtime.stateDir, 'ui-settings.json'), log })),
      signedReport: (nonce) => agent.signedReport(nonce),
      accessResource: (url) => accessResource(agent, url),
    },
    stateDir: runtime.stateDir,
    allowedOrigins: runtime.config.allowedBrowserOrigins,
    port,
    log,
  });
  const file = await api.start();
  // Listen for SIGTERM/SIGINT before saying we are up: a service manager (or test) may stop us
  // the moment it reads the line, and an unhandled SIGTERM would skip the clean shutdown.
  const stopped = untilSignal();
  io.stdout(`ward daemon ${AGENT_VERSION}: ${agent.state}; loopback API on ${file.url} (secrets in ${api.filePath})\n`);
  await stopped;
  await api.close();
  await runtime.close();
  return EXIT.ok;
}
