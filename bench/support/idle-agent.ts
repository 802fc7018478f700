/**
 * The headless agent as `ward daemon` runs it (every check, watchers, the 60 s safety net, the
 * broker's event channel, the loopback API), enrolled with an in-memory key against the broker
 * whose URL and enrollment token come in argv. The reauth benchmark samples its RSS and CPU.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../main/core/agent.js';
import { Outbox } from '../../main/core/broker/outbox.js';
import { CONFIG_DEFAULTS } from '../../main/core/config/schema.js';
import { LiveHost } from '../../main/core/exec/live-host.js';
import { openSigner } from '../../main/core/identity/device-signer.js';
import { enroll } from '../../main/core/identity/enrollment.js';
import { IdentityFile } from '../../main/core/identity/identity-record.js';
import { MemoryKeyStore } from '../../main/core/identity/memory-key-store.js';
import { LocalApiServer } from '../../main/core/local-api/local-api-server.js';
import { takeSnapshot } from '../../main/core/posture/engine.js';
import { currentPlatform } from '../../main/core/platform.js';
import { MemoryTokenStore } from '../../main/core/session/token-store.js';
import { AGENT_VERSION } from '../../main/core/version.js';

const [brokerUrl, token] = process.argv.slice(2);
const platform = currentPlatform() ?? 'linux';
const host = new LiveHost(platform);
const dir = mkdtempSync(join(tmpdir(), 'ward-bench-idle-'));
const store = new MemoryKeyStore();
const identity = new IdentityFile(dir);
const device = (await takeSnapshot({ host, agentVersion: AGENT_VERSION, checks: [] })).device;
await enroll(brokerUrl!, token!, { identity, device, store });
const outbox = Outbox.open(join(dir, 'outbox.db'));
const agent = new Agent({
  host,
  config: { ...CONFIG_DEFAULTS, brokerUrl },
  loadIdentity: () => identity.read(),
  openSigner: (r) => openSigner(store, r.keyAlias),
  tokenStore: new MemoryTokenStore(),
  outbox,
});
await agent.start();
const api = new LocalApiServer({
  agent: { backend: agent.backend({} as never), signedReport: (nonce) => agent.signedReport(nonce) },
  stateDir: dir,
  allowedOrigins: [],
});
await api.start();
process.stdout.write('ready\n');
