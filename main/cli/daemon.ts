import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from '../core/agent.js';
import { Outbox } from '../core/broker/outbox.js';
import { loadConfig } from '../core/config/resolve.js';
import type { WardConfig } from '../core/config/schema.js';
import { defaultConfigLocations } from '../core/config/sources.js';
import { WardError } from '../core/errors.js';
import type { Host } from '../core/exec/host.js';
import { openSigner } from '../core/identity/device-signer.js';
import { IdentityFile } from '../core/identity/identity-record.js';
import { openKeyStore } from '../core/identity/select-key-store.js';
import { LocalApiServer } from '../core/local-api/local-api-server.js';
import { createLogger, silentLogger, type Logger } from '../core/log.js';
import { KeychainTokenStore, MemoryTokenStore, type TokenStore } from '../core/session/token-store.js';
import { AGENT_VERSION } from '../core/version.js';
import type { Settings } from '../shared/ipc-contract.js';
import { identityEnvironment } from './identity.js';
import { EXIT, type CliIO } from './io.js';

const HELP = `Usage: ward daemon [--port N] [--ephemeral-tokens] [--log-level LEVEL]

Runs the headless agent: watches posture and reports changes to the broker at once, keeps the
DPoP-bound session fresh, answers the broker's challenges over its event channel, and serves the
loopback API (127.0.0.1) for the tray, the CLI and allow-listed sign-in pages. Stop it with Ctrl-C.

  --port N             loopback API port (default: a free port, written to local-api.json)
  --ephemeral-tokens   keep sign-in tokens in memory instead of the OS keychain
  --log-level LEVEL    pino level for the JSON log on stderr (default info)
`;

export interface Runtime {
  readonly agent: Agent;
  readonly host: Host;
  readonly stateDir: string;
  readonly config: WardConfig;
  readonly outbox: Outbox;
  close(): Promise<void>;
}

/** Open the system browser (xdg-open, allow-listed) and always print the URL too. */
function browserOpener(host: Host, io: CliIO): (url: URL) => Promise<void> {
  return async (url) => {
    io.stderr(`Opening your browser to sign in. If it does not open, visit:\n  ${url.href}\n`);
    if (host.platform === 'linux' && (io.env.DISPLAY || io.env.WAYLAND_DISPLAY)) {
      await host.run('xdg-open', [url.href], { timeoutMs: 5_000, env: {} }).catch(() => undefined);
    }
  };
}

/** Build the agent of this user and machine from managed config, identity and keychain. */
export async function createRuntime(io: CliIO, options: { log?: Logger; ephemeralTokens?: boolean } = {}): Promise<Runtime> {
  const keyEnv = identityEnvironment(io);
  const { host, stateDir } = keyEnv;
  const { config } = await loadConfig(host, defaultConfigLocations(host.platform, (n) => io.env[n]));
  const identity = new IdentityFile(stateDir);
  const record = await identity.read();
  const tokenStore: TokenStore = options.ephemeralTokens ? new MemoryTokenStore() : new KeychainTokenStore(record?.brokerUrl ?? 'unenrolled');
  const outbox = Outbox.open(join(stateDir, 'outbox.db'));
  const agent = new Agent({
    host,
    config,
    loadIdentity: () => identity.read(),
    openSigner: (r) => openSigner(openKeyStore(r.keyStore, keyEnv), r.keyAlias),
    tokenStore,
    outbox,
    openBrowser: browserOpener(host, io),
    log: options.log ?? silentLogger(),
  });
  return {
    agent,
    host,
    stateDir,
    config,
    outbox,
    close: async () => {
      await agent.stop();
      outbox.close();
    },
  };
}

const SETTINGS: Settings = { launchAtLogin: false, notifications: { stepUp: true, complianceChanges: true } };

export async function run(args: string[], io: CliIO): Promise<number> {
  let values: { port?: string; 'ephemeral-tokens'?: boolean; 'log-level'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: { port: { type: 'string' }, 'ephemeral-tokens': { type: 'boolean' }, 'log-level': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    io.stderr(`${err instanceof Error ? err.message : String(err)}\n${HELP}`);
    return EXIT.usage;
  }
  if (values.help) {
    io.stdout(HELP);
    return EXIT.ok;
  }
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new WardError('bad-port', `--port must be a port number, not ${values.port}`);
  const log = createLogger({ ...(values['log-level'] ? { level: values['log-level'] } : {}) });
  const runtime = await createRuntime(io, { log, ...(values['ephemeral-tokens'] ? { ephemeralTokens: true } : {}) });
  const { agent } = runtime;
  agent.on('state', (e) => io.stdout(`${e.at}  ${e.state}${e.reason ? `  — ${e.reason}` : ''}\n`));
  await agent.start();
  const api = new LocalApiServer({
    agent: {
      backend: agent.backend({
        'settings.get': async () => ({ values: SETTINGS, isLaunchAtLoginSupported: false }),
        'settings.set': async () => ({ values: SETTINGS, isLaunchAtLoginSupported: false }),
        'app.about': async () => ({ name: 'Ward', version: AGENT_VERSION, platform: runtime.host.platform, shell: 'web', update: { state: 'unsupported' } }),
      }),
      signedReport: (nonce) => agent.signedReport(nonce),
    },
    stateDir: runtime.stateDir,
    allowedOrigins: runtime.config.allowedBrowserOrigins,
    port,
    log,
  });
  const file = await api.start();
  io.stdout(`ward daemon ${AGENT_VERSION}: ${agent.state}; loopback API on ${file.url} (secrets in ${api.filePath})\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await api.close();
  await runtime.close();
  return EXIT.ok;
}
