import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactVerify, importJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as identityCommand } from '../../../main/cli/identity.js';
import { LiveHost } from '../../../main/core/exec/live-host.js';
import { openSigner } from '../../../main/core/identity/device-signer.js';
import { enroll } from '../../../main/core/identity/enrollment.js';
import { IdentityFile } from '../../../main/core/identity/identity-record.js';
import { signJwt } from '../../../main/core/identity/jws.js';
import { nativeTpmStatus } from '../../../main/core/identity/native-tpm.js';
import { TpmKeyStore } from '../../../main/core/identity/tpm-key-store.js';
import { startStubEnrollmentBroker } from '../../support/stub-enrollment-broker.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.js';

// The native TPM signer (native/tpm: C on Node-API over tss2-esys) against a real swtpm on a free
// loopback port. `npm test`'s setup step builds the addon, so a missing build FAILS here.
let tpm: Swtpm;
let stateDir: string;
const host = new LiveHost('linux');
const newStore = (): TpmKeyStore => new TpmKeyStore({ host, stateDir, tcti: tpm.tcti });

async function verifies(store: TpmKeyStore, alias: string, payload: Record<string, unknown>): Promise<unknown> {
  const jws = await signJwt(await openSigner(store, alias), {}, payload);
  const key = await importJWK(await store.publicJwk(alias), 'ES256');
  return JSON.parse(new TextDecoder().decode((await compactVerify(jws, key)).payload));
}

async function handleOf(alias: string): Promise<string> {
  const record = JSON.parse(await readFile(join(stateDir, 'tpm-keys', `${alias}.json`), 'utf8')) as { handle: string };
  return record.handle;
}

beforeAll(async () => {
  tpm = await startSwtpm();
  stateDir = await mkdtemp(join(tmpdir(), 'ward-tpm-native-'));
});
afterAll(async () => {
  await tpm.dispose();
  await rm(stateDir, { recursive: true, force: true });
});

describe('native TPM signer (tss2-esys) on a real swtpm', () => {
  it('is built and is the signer the TPM key store uses (run `npm run build:native` if this fails)', () => {
    expect(nativeTpmStatus()).toEqual({ available: true, path: expect.stringMatching(/native\/tpm\/build\/Release\/ward_tpm\.node$/) });
    const store = newStore();
    expect(store.signer).toBe('native');
    expect(store.signerFallbackReason).toBeUndefined();
    expect(new TpmKeyStore({ host, stateDir, tcti: tpm.tcti, signer: 'tpm2-tools' }).signer).toBe('tpm2-tools');
  });

  it('signs through one kept connection; jose verifies the signatures against the key\'s public JWK', async () => {
    const store = newStore();
    await store.create('native');
    expect(await verifies(store, 'native', { n: 1 })).toEqual({ n: 1 });
    const opened = store.nativeConnections;
    expect(opened).toBeGreaterThanOrEqual(1);
    expect(await verifies(store, 'native', { n: 2 })).toEqual({ n: 2 });
    expect(store.nativeConnections).toBe(opened);
    // The same key signs the same way through tpm2-tools: both paths reach the one TPM key.
    const tools = new TpmKeyStore({ host, stateDir, tcti: tpm.tcti, signer: 'tpm2-tools' });
    expect(await verifies(tools, 'native', { via: 'tpm2-tools' })).toEqual({ via: 'tpm2-tools' });
    expect(await verifies(store, 'native', { n: 3 })).toEqual({ n: 3 });
  });

  it('signs ten times concurrently from two store objects sharing the connection, every signature valid', async () => {
    const [a, b] = [newStore(), newStore()];
    await a.create('concurrent-native');
    await a.sign('concurrent-native', Buffer.from('warm'));
    const opened = a.nativeConnections;
    const payloads = await Promise.all(Array.from({ length: 10 }, (_, i) => verifies(i % 2 ? a : b, 'concurrent-native', { i })));
    expect(payloads).toEqual(Array.from({ length: 10 }, (_, i) => ({ i })));
    expect(a.nativeConnections).toBe(opened);
  });

  it('interleaves native signatures with tpm2-tools key creation on a TPM that takes one client at a time', async () => {
    const store = newStore();
    await store.create('busy');
    const [created, ...payloads] = await Promise.all([
      newStore().create('busy-second'),
      ...Array.from({ length: 4 }, (_, i) => verifies(store, 'busy', { i })),
    ]);
    expect(created).toMatchObject({ store: 'tpm', alias: 'busy-second' });
    expect(payloads).toHaveLength(4);
    expect(await verifies(store, 'busy-second', { second: true })).toEqual({ second: true });
  });

  it('keeps signing across a TPM restart with the context it already has', async () => {
    const store = newStore();
    await store.create('restart');
    await store.sign('restart', Buffer.from('before'));
    // An orderly restart (TPM2_Shutdown first, as an OS does at reboot). The two outage tests stop
    // swtpm abruptly; each such stop counts as a dictionary-attack failure, and a third would put
    // swtpm (maxTries 3) into lockout.
    await tpm.tool('tpm2_shutdown', []);
    await tpm.stop();
    await tpm.start();
    // swtpm's TCTI makes a TCP connection per command, so the kept ESYS context carries on.
    expect(await verifies(store, 'restart', { after: 'restart' })).toEqual({ after: 'restart' });
  });

  it('gives tpm-unavailable while swtpm is stopped, and signs again once it is restarted', async () => {
    const store = newStore();
    await store.create('outage-native');
    await store.sign('outage-native', Buffer.from('before'));
    const opened = store.nativeConnections;
    await tpm.stop();
    try {
      await expect(store.sign('outage-native', Buffer.from('x'))).rejects.toMatchObject({ code: 'tpm-unavailable', message: expect.stringMatching(/^no TPM answered while/) });
      // A second try while it is still down fails the same way (no crash, no stale state).
      await expect(store.sign('outage-native', Buffer.from('x'))).rejects.toMatchObject({ code: 'tpm-unavailable' });
    } finally {
      await tpm.start();
    }
    // The failed context was thrown away; the next signature opened a fresh one.
    expect(await verifies(store, 'outage-native', { back: true })).toEqual({ back: true });
    expect(store.nativeConnections).toBe(opened + 1);
  });

  it('frees its context on close() and opens a new one on the next signature', async () => {
    const store = newStore();
    await store.create('close');
    await store.sign('close', Buffer.from('x'));
    const opened = store.nativeConnections;
    await store.close();
    await store.close(); // closing twice is harmless
    expect(await verifies(store, 'close', { reopened: true })).toEqual({ reopened: true });
    expect(store.nativeConnections).toBe(opened + 1);
  });

  it('`ward identity` says the native signer signs for the enrolled TPM key', async () => {
    const broker = await startStubEnrollmentBroker();
    const enrolledDir = await mkdtemp(join(tmpdir(), 'ward-tpm-native-enrolled-'));
    try {
      await enroll(broker.url, 'enroll-token-0123456789', {
        identity: new IdentityFile(enrolledDir),
        device: { os: { platform: 'linux', name: 'l', version: '1', build: null, kernel: null, arch: 'x64' }, hostname: 'h', hardware: { vendor: null, model: null, serial: null, uuid: null, virtual: null }, agentVersion: '0' },
        policy: 'required',
        env: { host, stateDir: enrolledDir, tcti: tpm.tcti },
      });
      const run = async (args: string[]): Promise<string> => {
        const out: string[] = [];
        const code = await identityCommand(args, { stdout: (t) => out.push(t), stderr: (t) => out.push(t), isTTY: false, env: { WARD_STATE_DIR: enrolledDir, TPM2TOOLS_TCTI: tpm.tcti } });
        expect(code).toBe(0);
        return out.join('');
      };
      expect(await run([])).toMatch(/\n {2}signer {7}native tss2-esys addon, one TPM context kept open \(/);
      expect(JSON.parse(await run(['--json']))).toMatchObject({ state: 'enrolled', tpmSigner: { signer: 'native' } });
    } finally {
      await broker.close();
      await rm(enrolledDir, { recursive: true, force: true });
    }
  });

  it('refuses a digest that is not 32 bytes and a handle outside the persistent range, before touching the TPM', () => {
    const status = nativeTpmStatus();
    if (!status.available) throw new Error(status.reason);
    const { TpmContext } = createRequire(import.meta.url)(status.path) as { TpmContext: new (tcti: string) => { sign(h: unknown, d: unknown): Promise<Buffer> } };
    const context = new TpmContext(tpm.tcti);
    expect(() => context.sign(0x81020000, new Uint8Array(31))).toThrow(/32-byte/);
    expect(() => context.sign(0x80000001, new Uint8Array(32))).toThrow(/persistent TPM handle/);
    expect(() => context.sign('0x81020000', new Uint8Array(32))).toThrow(/persistent TPM handle/);
    expect(() => new TpmContext('')).toThrow(/TCTI string/);
  });

  it('keeps the tpm2-tools signer\'s behaviour when asked for it: tpm-unavailable while stopped, then signing again', async () => {
    const tools = new TpmKeyStore({ host, stateDir, tcti: tpm.tcti, signer: 'tpm2-tools' });
    await tools.create('tools-outage');
    expect(tools.signer).toBe('tpm2-tools');
    await tpm.stop();
    try {
      await expect(tools.sign('tools-outage', Buffer.from('x'))).rejects.toMatchObject({ code: 'tpm-unavailable' });
    } finally {
      await tpm.start();
    }
    expect(await verifies(tools, 'tools-outage', { via: 'tpm2-tools' })).toEqual({ via: 'tpm2-tools' });
  });

  it('reports an evicted key as "device key lost: re-enroll"', async () => {
    const store = newStore();
    await store.create('evicted');
    await store.sign('evicted', Buffer.from('x'));
    await tpm.tool('tpm2_evictcontrol', ['-C', 'o', '-c', await handleOf('evicted')]);
    await expect(store.sign('evicted', Buffer.from('x'))).rejects.toMatchObject({ code: 'device-key-lost', message: expect.stringMatching(/^device key lost: re-enroll/) });
    await expect(store.sign('evicted', Buffer.from('x'))).rejects.toMatchObject({ code: 'device-key-lost' });
  });

  // Last: these replace the TPM's contents.
  it('reports a replaced TPM (fresh state, then another key at the same handle) as device-key-lost', async () => {
    const store = newStore();
    await store.create('replaced-native');
    await store.sign('replaced-native', Buffer.from('x'));
    await tpm.replace();
    await expect(store.sign('replaced-native', Buffer.from('x'))).rejects.toMatchObject({ code: 'device-key-lost' });
    const otherDir = await mkdtemp(join(tmpdir(), 'ward-tpm-native-other-'));
    try {
      const handle = await handleOf('replaced-native');
      await new TpmKeyStore({ host, stateDir: otherDir, tcti: tpm.tcti, handleBase: Number.parseInt(handle, 16) }).create('intruder');
      expect(JSON.parse(await readFile(join(otherDir, 'tpm-keys', 'intruder.json'), 'utf8'))).toMatchObject({ handle });
      // The TPM signs with the intruder key; the signature does not verify under the enrolled key.
      await expect(store.sign('replaced-native', Buffer.from('x'))).rejects.toMatchObject({ code: 'device-key-lost' });
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });
});
