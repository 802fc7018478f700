import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VerifiedSet } from '../../../broker/sdk/index.js';
import type { Broker } from '../../../broker/server/broker.js';
import { EXIT } from '../../../main/cli/io.js';
import { Agent } from '../../../main/core/agent.js';
import { Outbox } from '../../../main/core/broker/outbox.js';
import { CONFIG_DEFAULTS } from '../../../main/core/config/schema.js';
import { LiveHost } from '../../../main/core/exec/live-host.js';
import { loadDeviceIdentity } from '../../../main/core/identity/device-identity.js';
import { openSigner } from '../../../main/core/identity/device-signer.js';
import { enroll } from '../../../main/core/identity/enrollment.js';
import { IdentityFile, type IdentityRecord } from '../../../main/core/identity/identity-record.js';
import { watchIdentityFile } from '../../../main/core/identity/identity-watch.js';
import { openKeyStore, type KeyStoreEnvironment } from '../../../main/core/identity/select-key-store.js';
import { agentVersion } from '../../../main/core/posture/checks/agent-version.js';
import { requiredFiles } from '../../../main/core/posture/checks/required-files.js';
import { PostureConfigSchema } from '../../../main/core/posture/config.js';
import { KeychainTokenStore } from '../../../main/core/session/token-store.js';
import type { TokenSet } from '../../../main/core/session/token-set.js';
import { startKeyring, type TestKeyring } from '../../support/keyring.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.js';
import { ALICE, CookieJar, dpopProof, signInInBrowser, startBroker } from '../broker/helpers.js';
import { DEVICE, asProofKey, runWard } from './rotation-support.js';

/**
 * A running agent while `ward identity rotate` runs in another process: real gnome-keyring (the
 * agent's tokens, and the device key for the keychain store), real swtpm (the device key for the
 * TPM store), the reference broker (real oidc-provider, SQLite, SSE), the agent wired as `ward
 * daemon` wires it (session-runtime.ts: key store from the record, identity file watch), and
 * `ward` as a child process.
 */
let keyring: TestKeyring;
let broker: Broker;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  keyring = await startKeyring(); // one per file: libdbus keeps the first bus address it sees
  keyring.useInThisProcess();
  ({ broker, cleanup } = await startBroker());
  broker.admin.setPolicy({
    schemaVersion: 1,
    name: 'rotation',
    rules: [{ id: 'files', check: 'required-files', expect: { status: 'pass' }, severity: 'block', graceSeconds: 0 }],
  });
});
afterAll(async () => {
  await cleanup?.();
  await keyring?.dispose();
});

describe.each([{ policy: 'any' as const, store: 'os-keychain' }, { policy: 'required' as const, store: 'tpm' }])('a running agent ($store key) picks up a key rotated by `ward identity rotate`', ({ policy, store }) => {
  let tpm: Swtpm | undefined;
  let dir: string;
  let stateDir: string;
  let agent: Agent;
  let outbox: Outbox;
  let tokenStore: KeychainTokenStore;
  let before: IdentityRecord;
  const sets: VerifiedSet[] = [];

  /** Poll `probe` until it holds (a rotation crosses processes: there is no single event to await). */
  async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  beforeAll(async () => {
    if (store === 'tpm') tpm = await startSwtpm();
    dir = mkdtempSync(join(tmpdir(), 'ward-rotate-agent-'));
    stateDir = join(dir, 'state');
    const required = join(dir, 'edr.conf');
    writeFileSync(required, 'on');
    mkdirSync(stateDir);
    const host = new LiveHost('linux');
    const env: KeyStoreEnvironment = { host, stateDir, ...(tpm ? { tcti: tpm.tcti } : {}) };
    const identity = new IdentityFile(stateDir);
    const { token } = broker.admin.createEnrollmentToken({ label: 'running-agent' });
    ({ record: before } = await enroll(broker.url, token, { identity, device: DEVICE, policy, env }));
    expect(before.keyStore).toBe(store);
    outbox = Outbox.open(join(stateDir, 'outbox.db'));
    tokenStore = new KeychainTokenStore(`${broker.url}#${store}`);
    agent = new Agent({
      host,
      config: { ...CONFIG_DEFAULTS, brokerUrl: broker.url, posture: PostureConfigSchema.parse({ requiredFiles: [{ path: required }] }) },
      loadIdentity: () => identity.read(),
      openSigner: (record) => openSigner(openKeyStore(record.keyStore, env), record.keyAlias),
      watchIdentity: (onChange) => watchIdentityFile(stateDir, onChange),
      tokenStore,
      outbox,
      checks: [requiredFiles, agentVersion],
      networkPollMs: 0,
      openBrowser: async (url) => {
        const callback = await signInInBrowser(new CookieJar(), url.href, url.searchParams.get('redirect_uri')!, ALICE);
        await fetch(callback); // the browser lands on the agent's loopback listener
      },
    });
    agent.on('caep', (set) => sets.push(set));
  });

  afterAll(async () => {
    await agent?.stop();
    outbox?.close();
    await tpm?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('switches to the new key, drops the tokens bound to the old one, reports and listens with the new key, and signs in again', async () => {
    await agent.start();
    await agent.signIn('browser');
    await until('a compliant verdict', () => agent.state === 'compliant');
    const oldTokens = (await tokenStore.load())!;
    expect(oldTokens.jkt).toBe(before.thumbprint);

    // `ward identity rotate` in another process, while the agent runs.
    const rotated = await runWard(['identity', 'rotate'], { WARD_STATE_DIR: stateDir, HOME: keyring.home, DBUS_SESSION_BUS_ADDRESS: keyring.busAddress, ...(tpm ? { TPM2TOOLS_TCTI: tpm.tcti } : {}) }).done;
    expect(rotated.stdout).toMatch(/The device key was replaced/);
    expect(rotated.code).toBe(EXIT.ok);
    const after = await new IdentityFile(stateDir).require();
    expect(after.thumbprint).not.toBe(before.thumbprint);

    // The agent noticed (identity file watch, the broker's credential-change SET) and uses the new key.
    await until('the agent to use the new key', () => agent.identity?.thumbprint === after.thumbprint);
    const stepUp = await until('the sign-in prompt', () => agent.sessionStatus().pendingStepUp ?? undefined);
    expect(sets.some((s) => s.type === 'credential-change')).toBe(true);
    expect(agent.state).toBe('enrolled');
    expect(agent.sessionStatus().reason).toMatch(/device key was replaced.*sign in again/);
    // The tokens bound to the old key are gone from the keychain, and the broker refuses them anyway.
    expect(await tokenStore.load()).toBeUndefined();
    const { signer: newSigner } = await loadDeviceIdentity({ env: { host: new LiveHost('linux'), stateDir, ...(tpm ? { tcti: tpm.tcti } : {}) } });
    expect(await refreshWith(oldTokens, newSigner)).toMatchObject({ status: 400, error: 'invalid_grant' });

    // The event channel reconnected with the new key's DPoP: a challenge reaches the agent, and its
    // answer, a report signed by the new key, is accepted.
    const answered = await until('a challenge over the reconnected channel', () =>
      broker.admin.challenge(before.deviceId, 10_000).catch((err: { code?: string }) => {
        if (err.code === 'device-offline') return undefined;
        throw err;
      }),
    );
    expect(answered).toMatchObject({ compliant: true });
    expect(broker.admin.deviceDetail(before.deviceId)).toMatchObject({ thumbprint: after.thumbprint });

    // Accepting the prompt signs in with the new key: new tokens bound to it, and a refresh works.
    expect(agent.decideStepUp(stepUp.id, 'accept').outcome).toBe('accepted');
    await until('compliant again', () => agent.state === 'compliant');
    expect((await tokenStore.load())?.jkt).toBe(after.thumbprint);
    await agent.refresh();
    expect(agent.state).toBe('compliant');
  });

  /** A refresh-token grant with `tokens`' refresh token and a DPoP proof by `signer`. */
  async function refreshWith(tokens: TokenSet, signer: Awaited<ReturnType<typeof loadDeviceIdentity>>['signer']): Promise<{ status: number; error: unknown }> {
    const discovery = (await (await fetch(`${broker.issuer}/.well-known/openid-configuration`)).json()) as { token_endpoint: string };
    const res = await fetch(discovery.token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await dpopProof(asProofKey(signer), 'POST', discovery.token_endpoint) },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refreshToken!, client_id: 'ward-agent' }),
    });
    return { status: res.status, error: ((await res.json()) as { error?: unknown }).error };
  }
});
