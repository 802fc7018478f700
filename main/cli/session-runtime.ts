import { join } from 'node:path';
import { Agent } from '../core/agent.js';
import { Outbox } from '../core/broker/outbox.js';
import { loadConfig } from '../core/config/resolve.js';
import type { WardConfig } from '../core/config/schema.js';
import { defaultConfigLocations } from '../core/config/sources.js';
import type { Host } from '../core/exec/host.js';
import { openSigner } from '../core/identity/device-signer.js';
import { IdentityFile } from '../core/identity/identity-record.js';
import { watchIdentityFile } from '../core/identity/identity-watch.js';
import { openKeyStore } from '../core/identity/select-key-store.js';
import { defaultStateDir } from '../core/identity/state-dir.js';
import { LocalApiClient } from '../core/local-api/local-api-client.js';
import { silentLogger, type Logger } from '../core/log.js';
import type { OAuthProcessSpec } from '../core/session/oauth-process-client.js';
import { currentPlatform } from '../core/platform.js';
import { BrowserOpener } from '../core/session/browser-opener.js';
import { KeychainTokenStore, MemoryTokenStore, type TokenStore } from '../core/session/token-store.js';
import { identityEnvironment } from './identity.js';
import type { CliIO } from './io.js';

/**
 * What `ward login | logout | status | daemon` share: the agent of this user and machine, the
 * running daemon's loopback API, and argument parsing.
 */

export interface Runtime {
  readonly agent: Agent;
  readonly host: Host;
  readonly stateDir: string;
  readonly config: WardConfig;
  readonly outbox: Outbox;
  close(): Promise<void>;
}

/**
 * Open the system browser (`open`, `rundll32 url.dll,FileProtocolHandler`, `xdg-open`; see
 * BrowserOpener) on the enrolled broker's sign-in page, and always print the URL too. A URL that
 * is not the broker's or loopback is refused before it is printed or opened.
 */
function browserOpener(host: Host, io: CliIO, identity: IdentityFile): (url: URL) => Promise<void> {
  const opener = new BrowserOpener({
    host,
    env: (name) => io.env[name],
    allowedOrigins: async () => {
      const record = await identity.read();
      return record ? [record.brokerUrl] : [];
    },
  });
  return async (url) => {
    const checked = await opener.check(url);
    io.stderr(`Opening your browser to sign in. If it does not open, visit:\n  ${checked.href}\n`);
    await opener.open(checked);
  };
}

/** Build the agent of this user and machine from managed config, identity and keychain. */
export async function createRuntime(io: CliIO, options: { log?: Logger; ephemeralTokens?: boolean; oauthProcess?: OAuthProcessSpec } = {}): Promise<Runtime> {
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
    watchIdentity: (onChange) => watchIdentityFile(stateDir, onChange),
    tokenStore,
    outbox,
    openBrowser: browserOpener(host, io, identity),
    log: options.log ?? silentLogger(),
    ...(options.oauthProcess ? { oauthProcess: options.oauthProcess } : {}),
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

/** The running `ward daemon` of this user, or undefined when none answers. */
export async function connectDaemon(io: CliIO): Promise<LocalApiClient | undefined> {
  const platform = currentPlatform();
  return platform ? LocalApiClient.connect(defaultStateDir(platform, (n) => io.env[n])) : undefined;
}

