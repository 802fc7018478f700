import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySet } from '../../../broker/sdk/index.js';
import type { Broker } from '../../../broker/server/broker.js';
import { run as identityCommand } from '../../../main/cli/identity.js';
import { EXIT } from '../../../main/cli/io.js';
import { buildPostureReport } from '../../../main/core/broker/report.js';
import { LiveHost } from '../../../main/core/exec/live-host.js';
import { loadDeviceIdentity } from '../../../main/core/identity/device-identity.js';
import { buildRotationRequest, enroll, rotateDeviceKey } from '../../../main/core/identity/enrollment.js';
import { IdentityFile, type IdentityRecord } from '../../../main/core/identity/identity-record.js';
import type { DeviceSigner } from '../../../main/core/identity/key-store.js';
import { MemoryKeyStore } from '../../../main/core/identity/memory-key-store.js';
import { openSigner } from '../../../main/core/identity/device-signer.js';
import { sampleSnapshot } from '../../unit/broker/sdk/helpers.js';
import { dpopProof, openEvents, startBroker } from '../broker/helpers.js';
import { DEVICE, asProofKey, postReport, sendReport } from './rotation-support.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.js';

// Key rotation end to end: the agent's identity module (real key stores, `ward identity rotate`)
// against the reference broker (broker/server: SDK verifier, SQLite storage, event channel),
// over HTTP on 127.0.0.1. The OS-keychain store and the failure windows are in
// rotate-keychain-reference-broker.test.ts.
let broker: Broker;
let cleanup: () => Promise<void>;
let tpm: Swtpm;
beforeAll(async () => {
  ({ broker, cleanup } = await startBroker());
  tpm = await startSwtpm();
});
afterAll(async () => {
  await cleanup();
  await tpm.dispose();
});

const report = (signer: DeviceSigner, deviceId: string, seq: number) => buildPostureReport(sampleSnapshot(), signer, { deviceId, seq });
const postureUrl = () => `${broker.url}/posture`;

async function enrollInMemory(label: string): Promise<{ identity: IdentityFile; store: MemoryKeyStore; record: IdentityRecord }> {
  const { token } = broker.admin.createEnrollmentToken({ label });
  const identity = new IdentityFile(await mkdtemp(join(tmpdir(), `ward-rotate-${label}-`)));
  const store = new MemoryKeyStore();
  const { record } = await enroll(broker.url, token, { identity, device: DEVICE, store });
  return { identity, store, record };
}

describe('key rotation against the reference broker', () => {
  it('`ward identity rotate` with a TPM key: the broker pins the new key, says so on the event channel, accepts the new key and refuses the old one', async () => {
    const { token } = broker.admin.createEnrollmentToken({ label: 'rotate-tpm' });
    const stateDir = await mkdtemp(join(tmpdir(), 'ward-rotate-tpm-'));
    const env = { host: new LiveHost('linux'), stateDir, tcti: tpm.tcti };
    const { record: before } = await enroll(broker.url, token, { identity: new IdentityFile(stateDir), device: DEVICE, policy: 'required', env });
    const old = await loadDeviceIdentity({ env });

    // The agent's event channel, opened with the old key; and a report + proof signed by the old
    // key before it is gone (what a thief who copied them would hold).
    const events = await openEvents(broker, asProofKey(old.signer));
    expect(events.status).toBe(200);
    const oldReport = await report(old.signer, before.deviceId, 1);
    const oldProof = await dpopProof(asProofKey(old.signer), 'POST', postureUrl());

    const out: string[] = [];
    const code = await identityCommand(['rotate'], { stdout: (t) => out.push(t), stderr: (t) => out.push(t), isTTY: false, env: { WARD_STATE_DIR: stateDir, TPM2TOOLS_TCTI: tpm.tcti } });
    expect(out.join('')).toMatch(/The device key was replaced\. New thumbprint: [A-Za-z0-9_-]{43}/);
    expect(code).toBe(EXIT.ok);

    const after = await new IdentityFile(stateDir).require();
    expect(after).toMatchObject({ deviceId: before.deviceId, keyStore: 'tpm', assurance: 'hardware' });
    expect(after.thumbprint).not.toBe(before.thumbprint);
    expect(after.rotatedAt).toBeTruthy();
    expect(broker.admin.deviceDetail(before.deviceId)).toMatchObject({ thumbprint: after.thumbprint, assurance: 'hardware', keyRotatedAt: expect.any(String) });

    // CAEP credential-change on the device's channel, signed by the broker key the agent pinned.
    const caep = await events.next('caep');
    events.close();
    const verdict = verifySet(caep.data, { keys: after.brokerKeys.keys.map((k) => ({ kid: k.kid!, key: k })), issuer: broker.issuer, audience: 'ward-agent' });
    expect(verdict).toMatchObject({ ok: true, set: { type: 'credential-change', event: { credential_type: 'device-key', change_type: 'update' }, subject: { device: { id: before.deviceId } } } });

    // The new key's report is accepted…
    const current = await loadDeviceIdentity({ env });
    expect(current.signer.publicJwk).toEqual(after.publicJwk);
    const accepted = await postReport(broker.url, current.signer, before.deviceId, 2);
    expect(accepted).toMatchObject({ status: 200, body: { deviceId: before.deviceId, seq: 2 } });
    // …the old key's is refused, whether it comes with the old key's proof or the new one's.
    const withOldProof = await sendReport(broker.url, oldReport, oldProof);
    expect(withOldProof).toMatchObject({ status: 403, body: { error: 'unknown-device', reason: 'foreign-key' } });
    const withNewProof = await sendReport(broker.url, oldReport, await dpopProof(asProofKey(current.signer), 'POST', postureUrl()));
    expect(withNewProof).toMatchObject({ status: 422, body: { error: 'report-refused', reason: 'foreign-key' } });
  });

  it('rotateDeviceKey with the memory store: a replayed request is refused (same-key, then foreign-key once rotated again)', async () => {
    const { identity, store, record } = await enrollInMemory('replay');
    let sent: string | undefined;
    const recordingFetch: typeof fetch = async (input, init) => {
      sent = String(init?.body);
      return fetch(input, init);
    };
    const rotated = await rotateDeviceKey({ identity, store, fetch: recordingFetch });
    expect(rotated.thumbprint).not.toBe(record.thumbprint);
    expect(broker.admin.deviceDetail(record.deviceId)).toMatchObject({ thumbprint: rotated.thumbprint });

    const replay = () => fetch(`${broker.url}/rotate`, { method: 'POST', headers: { 'content-type': 'application/jose' }, body: sent! });
    // Right after: its new key is already the pinned one.
    const first = await replay();
    expect(first.status).toBe(400);
    expect(await first.json()).toMatchObject({ error: 'rotation-invalid', reason: 'same-key' });
    expect(broker.admin.deviceDetail(record.deviceId)).toMatchObject({ thumbprint: rotated.thumbprint });

    // The device rotates again from its new key; the first request, replayed now, names a retired key.
    const again = await rotateDeviceKey({ identity, store });
    expect(again.thumbprint).not.toBe(rotated.thumbprint);
    expect(broker.admin.deviceDetail(record.deviceId)).toMatchObject({ thumbprint: again.thumbprint });
    const second = await replay();
    expect(second.status).toBe(400);
    expect(await second.json()).toMatchObject({ error: 'rotation-invalid', reason: 'foreign-key' });
  });

  it('refuses a revoked device; the identity and its key stay as they were', async () => {
    const { identity, store, record } = await enrollInMemory('revoked');
    await broker.admin.revokeDevice(record.deviceId, 'lost laptop');
    await expect(rotateDeviceKey({ identity, store })).rejects.toMatchObject({ code: 'enrollment-rejected', message: expect.stringMatching(/device-revoked/) });
    expect(await identity.require()).toEqual(record);
    expect(broker.admin.deviceDetail(record.deviceId)).toMatchObject({ thumbprint: record.thumbprint, keyRotatedAt: null });
    await expect(openSigner(store, record.keyAlias)).resolves.toBeTruthy();
  });

  it('refuses a device the broker does not know', async () => {
    const store = new MemoryKeyStore();
    await Promise.all([store.create('old'), store.create('new')]);
    const jws = await buildRotationRequest({ oldSigner: await openSigner(store, 'old'), newSigner: await openSigner(store, 'new'), deviceId: 'no-such-device', brokerUrl: broker.url });
    const res = await fetch(`${broker.url}/rotate`, { method: 'POST', headers: { 'content-type': 'application/jose' }, body: jws });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: 'unknown-device', reason: 'unknown-device' });
  });
});
