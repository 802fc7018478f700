import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySet } from '../../../broker/sdk/index.js';
import type { Broker } from '../../../broker/server/broker.js';
import { run as identityCommand } from '../../../main/cli/identity.js';
import { EXIT } from '../../../main/cli/io.js';
import { LiveHost } from '../../../main/core/exec/live-host.js';
import { loadDeviceIdentity } from '../../../main/core/identity/device-identity.js';
import { openSigner } from '../../../main/core/identity/device-signer.js';
import { enroll } from '../../../main/core/identity/enrollment.js';
import { IdentityFile, type IdentityRecord } from '../../../main/core/identity/identity-record.js';
import { jwkThumbprint } from '../../../main/core/identity/jws.js';
import { KeychainKeyStore } from '../../../main/core/identity/keychain-key-store.js';
import { RotationJournal } from '../../../main/core/identity/rotation-journal.js';
import type { KeyStoreEnvironment } from '../../../main/core/identity/select-key-store.js';
import { startKeyring, type TestKeyring } from '../../support/keyring.js';
import { openEvents, startBroker } from '../broker/helpers.js';
import { wardIdentityAttestation } from '../../support/ward-identity.js';
import { DEVICE, asProofKey, openChannelStatus, postReport, runWard, startRotationProxy, throughProxy, type RotationProxy } from './rotation-support.js';

// Key rotation with the OS-keychain store: real gnome-keyring (private D-Bus, throw-away HOME),
// the reference broker (SDK verifier, SQLite, event channel) on 127.0.0.1 behind a loopback proxy
// that can drop or damage a rotation request or kill the rotating `ward` process, and `ward
// identity rotate` in-process and as its own process.
const SERVICE = 'ward-device-key'; // what `ward identity rotate` opens (the keyring is the test's own)

let keyring: TestKeyring;
let broker: Broker;
let proxy: RotationProxy;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  keyring = await startKeyring();
  keyring.useInThisProcess();
  // The proxy's URL is the broker's issuer: DPoP `htu` and request `aud` name it.
  proxy = await startRotationProxy(() => broker.url);
  ({ broker, cleanup } = await startBroker({ issuer: proxy.url }));
});
afterAll(async () => {
  await proxy?.close();
  await cleanup?.();
  await keyring?.dispose();
});

async function enrolledDevice(label: string): Promise<{ env: KeyStoreEnvironment; stateDir: string; record: IdentityRecord }> {
  const stateDir = await mkdtemp(join(tmpdir(), `ward-rotate-kc-${label}-`));
  const env: KeyStoreEnvironment = { host: new LiveHost('linux'), stateDir };
  const { token } = broker.admin.createEnrollmentToken({ label });
  const { record } = await enroll(proxy.url, token, { identity: new IdentityFile(stateDir), device: DEVICE, policy: 'any', env });
  expect(record).toMatchObject({ keyStore: 'os-keychain', assurance: 'os-keychain' });
  return { env, stateDir, record };
}

/** Is there a Secret Service item for this key alias (asked through `secret-tool`, another client)? */
async function inKeyring(alias: string): Promise<boolean> {
  return keyring.secretTool(['lookup', 'service', SERVICE, 'username', alias]).then(
    (out) => out.length > 0,
    () => false,
  );
}

/** Every device-key alias in the keyring (the file's devices share it). */
async function keyringAliases(): Promise<string[]> {
  const out = await keyring.secretTool(['search', '--all', 'service', SERVICE]).catch(() => '');
  return [...out.matchAll(/^label = keyring:(\S+)@ward-device-key$/gm)].map((m) => m[1]!).sort();
}

function cliEnv(stateDir: string): NodeJS.ProcessEnv {
  return { WARD_STATE_DIR: stateDir, HOME: keyring.home, DBUS_SESSION_BUS_ADDRESS: keyring.busAddress, TPM2TOOLS_TCTI: 'swtpm:host=127.0.0.1,port=9' };
}

async function rotateInProcess(stateDir: string): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const code = await identityCommand(['rotate'], { stdout: (t) => out.push(t), stderr: (t) => out.push(t), isTTY: false, env: cliEnv(stateDir) });
  return { code, out: out.join('') };
}

async function identityText(stateDir: string): Promise<string> {
  const out: string[] = [];
  await identityCommand([], { stdout: (t) => out.push(t), stderr: (t) => out.push(t), isTTY: false, env: cliEnv(stateDir) });
  return out.join('');
}

describe('key rotation with the OS keychain against the reference broker', () => {
  it('`ward identity rotate`: the broker pins the new key, the old key leaves the keyring and is refused, the new key is accepted', async () => {
    const { env, stateDir, record: before } = await enrolledDevice('happy');
    const old = await loadDeviceIdentity({ env });
    expect(await inKeyring(before.keyAlias)).toBe(true);
    // What the broker answered about a keychain key: nothing vouched for it, and ward identity says so.
    const shown = await wardIdentityAttestation(cliEnv(stateDir));
    expect(shown.recorded).toEqual({ status: 'uncertified', reason: 'the key is held by the OS keychain, not a TPM' });
    expect(shown.row).toBe(
      "uncertified: the broker has only this device's word that the key is held as stated (assurance os-keychain); nothing vouched for it (the key is held by the OS keychain, not a TPM).",
    );
    const events = await openEvents(throughProxy(proxy), asProofKey(old.signer));
    expect(events.status).toBe(200);

    const { code, out } = await rotateInProcess(stateDir);
    expect(out).toMatch(/The device key was replaced\. New thumbprint: [A-Za-z0-9_-]{43}/);
    expect(code).toBe(EXIT.ok);

    const after = await new IdentityFile(stateDir).require();
    expect(after).toMatchObject({ deviceId: before.deviceId, keyStore: 'os-keychain', assurance: 'os-keychain', rotatedAt: expect.any(String) });
    expect(after.thumbprint).not.toBe(before.thumbprint);
    expect(broker.admin.deviceDetail(before.deviceId)).toMatchObject({ thumbprint: after.thumbprint, assurance: 'os-keychain', keyRotatedAt: expect.any(String) });
    // The keyring holds the new key only; nothing of the rotation is left behind.
    expect(await inKeyring(before.keyAlias)).toBe(false);
    expect(await inKeyring(after.keyAlias)).toBe(true);
    expect(await new RotationJournal(stateDir).read()).toBeUndefined();

    const caep = await events.next('caep');
    events.close();
    const verdict = verifySet(caep.data, { keys: after.brokerKeys.keys.map((k) => ({ kid: k.kid!, key: k })), issuer: broker.issuer, audience: 'ward-agent' });
    expect(verdict).toMatchObject({ ok: true, set: { type: 'credential-change', event: { credential_type: 'device-key' }, subject: { device: { id: before.deviceId } } } });

    const current = await loadDeviceIdentity({ env });
    expect(await postReport(proxy.url, current.signer, before.deviceId, 2)).toMatchObject({ status: 200, body: { deviceId: before.deviceId, seq: 2 } });
    expect(await openChannelStatus(proxy.url, current.signer)).toMatchObject({ status: 200 });
    // The old key (still in this process's memory, as a thief's copy would be) is refused.
    expect(await postReport(proxy.url, old.signer, before.deviceId, 3)).toMatchObject({ status: 403, body: { error: 'unknown-device', reason: 'foreign-key' } });
    expect(await openChannelStatus(proxy.url, old.signer)).toMatchObject({ status: 403, body: { error: 'unknown-device', reason: 'foreign-key' } });
  });

  it('a refused rotation deletes the new key and leaves the old one working', async () => {
    const { env, stateDir, record: before } = await enrolledDevice('refused');
    const keysBefore = await keyringAliases();
    expect(keysBefore).toContain(before.keyAlias);
    proxy.rotate = { kind: 'corrupt' };
    try {
      await expect(rotateInProcess(stateDir)).rejects.toMatchObject({
        code: 'enrollment-rejected',
        message: expect.stringMatching(/refused the request \(rotation-invalid/),
        hint: expect.stringMatching(/old key stays in use/),
      });
    } finally {
      proxy.rotate = { kind: 'pass' };
    }
    expect(proxy.lastRotateStatus).toBe(400);
    expect(await new IdentityFile(stateDir).require()).toEqual(before);
    expect(await new RotationJournal(stateDir).read()).toBeUndefined();
    // The new key was made in the keyring and is gone again: the same items as before.
    expect(await keyringAliases()).toEqual(keysBefore);
    expect(broker.admin.deviceDetail(before.deviceId)).toMatchObject({ thumbprint: before.thumbprint, keyRotatedAt: null });
    const { signer } = await loadDeviceIdentity({ env });
    expect(await postReport(proxy.url, signer, before.deviceId, 1)).toMatchObject({ status: 200 });
  });

  it('with the broker down, both keys are kept and the old one still works; the retry finishes with the same new key', async () => {
    const { env, stateDir, record: before } = await enrolledDevice('down');
    proxy.rotate = { kind: 'down' };
    try {
      await expect(rotateInProcess(stateDir)).rejects.toMatchObject({ code: 'broker-unreachable', hint: expect.stringMatching(/Both keys are kept: run `ward identity rotate` again/) });
    } finally {
      proxy.rotate = { kind: 'pass' };
    }
    expect(await new IdentityFile(stateDir).require()).toEqual(before);
    const pending = await new RotationJournal(stateDir).read();
    expect(pending).toMatchObject({ deviceId: before.deviceId, oldKeyAlias: before.keyAlias });
    expect(await inKeyring(pending!.newKeyAlias)).toBe(true);
    expect(await identityText(stateDir)).toMatch(/rotation\s+unfinished \(started .*\): run `ward identity rotate` to finish it/);
    const { signer } = await loadDeviceIdentity({ env });
    expect(await postReport(proxy.url, signer, before.deviceId, 1)).toMatchObject({ status: 200 });
    const pendingThumbprint = await jwkThumbprint((await openSigner(new KeychainKeyStore(), pending!.newKeyAlias)).publicJwk);

    const retry = await rotateInProcess(stateDir);
    expect(retry.out).toMatch(/Finishing the key rotation started at/);
    expect(retry.code).toBe(EXIT.ok);
    const after = await new IdentityFile(stateDir).require();
    expect(after).toMatchObject({ keyAlias: pending!.newKeyAlias, thumbprint: pendingThumbprint });
    expect(broker.admin.deviceDetail(before.deviceId)).toMatchObject({ thumbprint: pendingThumbprint });
    expect(await inKeyring(before.keyAlias)).toBe(false);
    expect(await new RotationJournal(stateDir).read()).toBeUndefined();
  });

  it('killed after the broker pinned the new key: the old key is refused until `ward identity rotate` runs again, which finishes with the same key', async () => {
    const { env, stateDir, record: before } = await enrolledDevice('crash');
    const { signer: oldSigner } = await loadDeviceIdentity({ env });
    // `ward identity rotate` as its own process; the proxy kills it once the broker has answered.
    const run = runWard(['identity', 'rotate'], cliEnv(stateDir));
    proxy.rotate = { kind: 'kill-client', pid: run.pid };
    let died;
    try {
      died = await run.done;
    } finally {
      proxy.rotate = { kind: 'pass' };
    }
    expect(died.signal).toBe('SIGKILL');
    expect(proxy.lastRotateStatus).toBe(200);

    // The crash window: the broker pinned the new key, the record still names the old one.
    const pending = await new RotationJournal(stateDir).read();
    expect(pending).toMatchObject({ deviceId: before.deviceId, oldKeyAlias: before.keyAlias });
    const newSigner = await openSigner(new KeychainKeyStore(), pending!.newKeyAlias);
    const newThumbprint = await jwkThumbprint(newSigner.publicJwk);
    expect(broker.admin.deviceDetail(before.deviceId)).toMatchObject({ thumbprint: newThumbprint });
    expect(await new IdentityFile(stateDir).require()).toEqual(before);
    expect(await inKeyring(before.keyAlias)).toBe(true);
    expect(await postReport(proxy.url, oldSigner, before.deviceId, 1)).toMatchObject({ status: 403, body: { reason: 'foreign-key' } });
    expect(await identityText(stateDir)).toMatch(/rotation\s+unfinished/);
    // The killed process still "holds" the rotation lock; the next run takes it over.
    expect(await readFile(new RotationJournal(stateDir).lockPath, 'utf8')).toBe(String(run.pid));

    // Recovery: run it again (here as its own process too). The broker answers same-key; the record moves on.
    const again = await runWard(['identity', 'rotate'], cliEnv(stateDir)).done;
    expect(again.stderr).toMatch(/Finishing the key rotation started at/);
    expect(again.stdout).toContain(`New thumbprint: ${newThumbprint}`);
    expect(again.code).toBe(EXIT.ok);
    const after = await new IdentityFile(stateDir).require();
    expect(after).toMatchObject({ deviceId: before.deviceId, keyAlias: pending!.newKeyAlias, thumbprint: newThumbprint });
    expect(await inKeyring(before.keyAlias)).toBe(false);
    expect(await new RotationJournal(stateDir).read()).toBeUndefined();
    const { signer } = await loadDeviceIdentity({ env });
    expect(await postReport(proxy.url, signer, before.deviceId, 2)).toMatchObject({ status: 200, body: { deviceId: before.deviceId } });
  });
});
