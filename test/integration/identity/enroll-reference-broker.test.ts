import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../../broker/server/broker.js';
import { LiveHost } from '../../../main/core/exec/live-host.js';
import { enroll, rotateDeviceKey } from '../../../main/core/identity/enrollment.js';
import { IdentityFile } from '../../../main/core/identity/identity-record.js';
import { describeKeyAttestation } from '../../../main/core/identity/key-attestation.js';
import { MemoryKeyStore } from '../../../main/core/identity/memory-key-store.js';
import type { DeviceFacts } from '../../../main/core/posture/snapshot.js';
import { startBroker } from '../broker/helpers.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.js';

// End to end: the agent's enrollment client (main/core/identity) against the reference broker
// (broker/server, with its SQLite storage), over HTTP on 127.0.0.1, with a key in a real swtpm.
const DEVICE: DeviceFacts = {
  os: { platform: 'linux', name: 'Debian GNU/Linux', version: '12', build: null, kernel: '6.1.0', arch: 'x64' },
  hostname: 'e2e-laptop',
  hardware: { vendor: null, model: null, serial: null, uuid: null, virtual: true },
  agentVersion: '0.1.0',
};

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

describe('enrollment against the reference broker', () => {
  it('enrolls a TPM key: the broker pins its thumbprint with assurance hardware, the agent pins the broker keys', async () => {
    const { token } = broker.admin.createEnrollmentToken({ label: 'e2e' });
    const stateDir = await mkdtemp(join(tmpdir(), 'ward-e2e-enroll-'));
    const identity = new IdentityFile(stateDir);
    const { record } = await enroll(broker.url, token, {
      identity,
      device: DEVICE,
      policy: 'required',
      env: { host: new LiveHost('linux'), stateDir, tcti: tpm.tcti },
    });
    expect(record).toMatchObject({ keyStore: 'tpm', assurance: 'hardware', brokerUrl: broker.url });
    expect(record.brokerKeys.keys.length).toBeGreaterThan(0);
    expect(broker.admin.deviceDetail(record.deviceId)).toMatchObject({ deviceId: record.deviceId, thumbprint: record.thumbprint, assurance: 'hardware', name: 'e2e-laptop' });
    expect(await identity.read()).toEqual(record);
  });

  it('turns a used token into enrollment-rejected with the broker reason, leaving no identity behind', async () => {
    const { token } = broker.admin.createEnrollmentToken({ label: 'once' });
    await enroll(broker.url, token, { identity: new IdentityFile(await mkdtemp(join(tmpdir(), 'ward-e2e-a-'))), device: DEVICE, store: new MemoryKeyStore() });
    const identity = new IdentityFile(await mkdtemp(join(tmpdir(), 'ward-e2e-b-')));
    await expect(enroll(broker.url, token, { identity, device: DEVICE, store: new MemoryKeyStore() })).rejects.toMatchObject({
      code: 'enrollment-rejected',
      message: expect.stringMatching(/already used/),
    });
    expect(await identity.read()).toBeUndefined();
  });

  it('an identity record an older Ward wrote (version 1, no keyAttestation) keeps working; a key rotation records what the broker verified', async () => {
    const { token } = broker.admin.createEnrollmentToken({ label: 'old-record' });
    const identity = new IdentityFile(await mkdtemp(join(tmpdir(), 'ward-e2e-v1-')));
    const store = new MemoryKeyStore();
    const { record } = await enroll(broker.url, token, { identity, device: DEVICE, store });
    expect(record).toMatchObject({ version: 2, keyAttestation: { status: 'uncertified', reason: 'the key is held by the in-memory test store, not a TPM' } });
    // Rewrite it as the previous Ward left it.
    const { keyAttestation: _, ...fields } = record;
    await identity.write({ ...fields, version: 1 });
    const old = await identity.require();
    expect(describeKeyAttestation(old).status).toBe('not-recorded');
    const rotated = await rotateDeviceKey({ identity, store });
    expect(rotated).toMatchObject({ version: 2, deviceId: record.deviceId, keyAttestation: { status: 'uncertified' } });
    expect(await identity.require()).toEqual(rotated);
    expect(broker.admin.deviceDetail(record.deviceId)).toMatchObject({ thumbprint: rotated.thumbprint, keyAttestation: 'uncertified' });
  });
});
