import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../../broker/server/broker.js';
import { LiveHost } from '../../../main/core/exec/live-host.js';
import { openSigner } from '../../../main/core/identity/device-signer.js';
import { buildEnrollmentRequest, buildRotationRequest, enroll, rotateDeviceKey } from '../../../main/core/identity/enrollment.js';
import { IdentityFile } from '../../../main/core/identity/identity-record.js';
import { jwkThumbprint } from '../../../main/core/identity/jws.js';
import { certifyQualifyingData, certifyTpmKey, type TpmKeyAttestation } from '../../../main/core/identity/tpm-attestation.js';
import { TpmKeyStore } from '../../../main/core/identity/tpm-key-store.js';
import { sampleDeviceFacts } from '../../support/device-facts.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.js';
import { wardIdentityAttestation } from '../../support/ward-identity.js';
import { startBroker } from '../broker/helpers.js';

// TPM key attestation end to end: the agent's TPM2_Certify on a real swtpm (tpm2-tools through
// LiveHost), sent in the enrollment request to the real reference broker over HTTP on 127.0.0.1,
// verified by the broker SDK. Every refusal is a request a real TPM made, changed in one way.
const DEVICE = sampleDeviceFacts('attested-laptop');

let broker: Broker;
let cleanup: () => Promise<void>;
let tpm: Swtpm;
let store: TpmKeyStore;
let stateDir: string;
beforeAll(async () => {
  ({ broker, cleanup } = await startBroker());
  tpm = await startSwtpm();
  stateDir = await mkdtemp(join(tmpdir(), 'ward-attest-'));
  store = new TpmKeyStore({ host: new LiveHost('linux'), stateDir, tcti: tpm.tcti, signer: 'tpm2-tools' });
  await store.create('device-a');
  await store.create('device-b');
});
afterAll(async () => {
  await cleanup();
  await tpm.dispose();
});

/** POST a request to /enroll as the agent does; the broker's JSON answer. */
async function post(jws: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${broker.url}/enroll`, { method: 'POST', headers: { 'content-type': 'application/jose' }, body: jws });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** An enrollment request for `device-a` with a fresh token, carrying `attest(binding)` as its attestation. */
async function requestFor(attest: (qualifyingData: Buffer) => Promise<TpmKeyAttestation>): Promise<{ jws: string; tokenId: string }> {
  const { token, id: tokenId } = broker.admin.createEnrollmentToken({ label: 'attest' });
  const signer = await openSigner(store, 'device-a');
  const jti = randomUUID();
  const qualifyingData = certifyQualifyingData({ aud: `${broker.url}/enroll`, jti, jkt: await jwkThumbprint(signer.publicJwk), enrollmentToken: token });
  const { area, attributes } = await store.publicArea('device-a');
  const attestation = await attest(qualifyingData);
  const jws = await buildEnrollmentRequest({ signer, token, brokerUrl: broker.url, device: DEVICE, jti, tpm: { publicArea: area, attributes, attestation } });
  return { jws, tokenId };
}

describe('TPM key attestation against the reference broker and swtpm', () => {
  it('ward enroll with a TPM key sends a TPM2_Certify; the broker verifies it and shows the device as tpm-certified', async () => {
    const { token } = broker.admin.createEnrollmentToken({ label: 'certified' });
    const dir = await mkdtemp(join(tmpdir(), 'ward-attest-enroll-'));
    const result = await enroll(broker.url, token, { identity: new IdentityFile(dir), device: DEVICE, policy: 'required', env: { host: new LiveHost('linux'), stateDir: dir, tcti: tpm.tcti } });
    expect(result.keyAttestation).toEqual({ certified: true, ekAttested: false, ekReason: 'the TPM has no EK certificate' });
    const detail = broker.admin.deviceDetail(result.record.deviceId);
    expect(detail).toMatchObject({ assurance: 'hardware', keyAttestation: 'tpm-certified', attestationKeyName: expect.stringMatching(/^000b[0-9a-f]{64}$/) });
    // The AK was made once and persisted at its own handle, with its record next to the device key's.
    const akRecord = JSON.parse(await readFile(join(dir, 'tpm-attestation', 'attestation-key.json'), 'utf8')) as { handle: string };
    expect(akRecord.handle).toMatch(/^0x810201[0-9a-f]{2}$/);
    const listed = broker.admin.listDevices().find((d) => d.deviceId === result.record.deviceId);
    expect(listed).toMatchObject({ keyAttestation: 'tpm-certified' });
  });

  it('keeps one attestation key across certifications (and TPM restarts)', async () => {
    const first = await certifyTpmKey(store, 'device-a', Buffer.alloc(32, 1));
    await tpm.stop();
    await tpm.start();
    const second = await certifyTpmKey(store, 'device-a', Buffer.alloc(32, 2));
    expect(second.akPublic).toBe(first.akPublic);
    expect(second.certifyInfo).not.toBe(first.certifyInfo);
  });

  it('makes a new attestation key when the TPM was replaced (the recorded AK is gone), and records it', async () => {
    const own = await startSwtpm();
    try {
      const dir = await mkdtemp(join(tmpdir(), 'ward-attest-replaced-'));
      const host = new LiveHost('linux');
      const first = new TpmKeyStore({ host, stateDir: dir, tcti: own.tcti, signer: 'tpm2-tools' });
      await first.create('before');
      const before = await certifyTpmKey(first, 'before', Buffer.alloc(32));
      await own.replace();
      const second = new TpmKeyStore({ host, stateDir: dir, tcti: own.tcti, signer: 'tpm2-tools' });
      await second.create('after');
      const after = await certifyTpmKey(second, 'after', Buffer.alloc(32));
      expect(after.akPublic).not.toBe(before.akPublic);
      const record = JSON.parse(await readFile(join(dir, 'tpm-attestation', 'attestation-key.json'), 'utf8')) as { public: string };
      expect(record.public).toBe(after.akPublic);
    } finally {
      await own.dispose();
    }
  });

  it('accepts a hand-built request with a correct certification (the control for the refusals below)', async () => {
    const { jws } = await requestFor((q) => certifyTpmKey(store, 'device-a', q));
    const { status, body } = await post(jws);
    expect(status).toBe(201);
    expect(broker.admin.deviceDetail(body.deviceId as string)).toMatchObject({ keyAttestation: 'tpm-certified' });
  });

  it('refuses a tampered certifyInfo: attestation-signature, and the token stays unused', async () => {
    const { jws, tokenId } = await requestFor(async (q) => {
      const real = await certifyTpmKey(store, 'device-a', q);
      const bytes = Buffer.from(real.certifyInfo, 'base64url');
      // The last byte is inside the certified object's qualifiedName: the structure still parses.
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0x01;
      return { ...real, certifyInfo: bytes.toString('base64url') };
    });
    expect(await post(jws)).toMatchObject({ status: 400, body: { error: 'enrollment-invalid', reason: 'attestation-signature' } });
    expect(broker.admin.listEnrollmentTokens().find((t) => t.id === tokenId)).toMatchObject({ usedAt: null, deviceId: null });
  });

  it('refuses a certification made for another request (wrong qualifying data): attestation-nonce', async () => {
    const { jws } = await requestFor(() => certifyTpmKey(store, 'device-a', certifyQualifyingData({ aud: `${broker.url}/enroll`, jti: 'another-request', jkt: 'x', enrollmentToken: 'y' })));
    expect(await post(jws)).toMatchObject({ status: 400, body: { reason: 'attestation-nonce' } });
  });

  it('refuses an attestation whose signature was made by another AK than the one presented: attestation-signature', async () => {
    // A second agent state on the same TPM has its own AK (another persistent handle).
    const otherDir = await mkdtemp(join(tmpdir(), 'ward-attest-other-'));
    const other = new TpmKeyStore({ host: new LiveHost('linux'), stateDir: otherDir, tcti: tpm.tcti, signer: 'tpm2-tools' });
    await other.create('other-device');
    const otherAk = (await certifyTpmKey(other, 'other-device', Buffer.alloc(32))).akPublic;
    const { jws } = await requestFor(async (q) => ({ ...(await certifyTpmKey(store, 'device-a', q)), akPublic: otherAk }));
    expect(await post(jws)).toMatchObject({ status: 400, body: { reason: 'attestation-signature' } });
  });

  it('enrolls uncertified, and says why, when the TPM cannot make an attestation key (endorsement auth set by IT)', async () => {
    const locked = await startSwtpm();
    try {
      await locked.tool('tpm2_changeauth', ['-c', 'e', 'it-department-secret']);
      const { token } = broker.admin.createEnrollmentToken({ label: 'locked-endorsement' });
      const dir = await mkdtemp(join(tmpdir(), 'ward-attest-locked-'));
      const result = await enroll(broker.url, token, { identity: new IdentityFile(dir), device: DEVICE, policy: 'required', env: { host: new LiveHost('linux'), stateDir: dir, tcti: locked.tcti } });
      expect(result.keyAttestation).toEqual({ certified: false, reason: expect.stringMatching(/endorsement key/) });
      expect(broker.admin.deviceDetail(result.record.deviceId)).toMatchObject({ assurance: 'hardware', keyAttestation: 'uncertified', attestationKeyName: null });
      // ward identity: the broker's answer, the TPM's reason, and what uncertified means.
      const shown = await wardIdentityAttestation({ WARD_STATE_DIR: dir, TPM2TOOLS_TCTI: locked.tcti });
      expect(shown.recorded).toEqual({ status: 'uncertified', reason: expect.stringMatching(/^the TPM could not certify the key: .*endorsement key/) });
      expect(shown.row).toMatch(/^uncertified: the broker has only this device's word that the key is held as stated \(assurance hardware\); nothing vouched for it \(the TPM could not certify the key: /);
      expect(shown.json.status).toBe('uncertified');
    } finally {
      await locked.dispose();
    }
  });

  it('refuses a genuine certification of a different key than the one enrolling: attestation-name-mismatch', async () => {
    const { jws } = await requestFor((q) => certifyTpmKey(store, 'device-b', q));
    expect(await post(jws)).toMatchObject({ status: 400, body: { reason: 'attestation-name-mismatch' } });
  });

  it('ward identity rotate with a TPM key: the new key is certified by the same AK and the device stays tpm-certified', async () => {
    const { token } = broker.admin.createEnrollmentToken({ label: 'rotate' });
    const dir = await mkdtemp(join(tmpdir(), 'ward-attest-rotate-'));
    const identity = new IdentityFile(dir);
    const { record } = await enroll(broker.url, token, { identity, device: DEVICE, policy: 'required', env: { host: new LiveHost('linux'), stateDir: dir, tcti: tpm.tcti } });
    const before = broker.admin.deviceDetail(record.deviceId);
    const rotated = await rotateDeviceKey({ identity, store: new TpmKeyStore({ host: new LiveHost('linux'), stateDir: dir, tcti: tpm.tcti, signer: 'tpm2-tools' }) });
    expect(rotated.thumbprint).not.toBe(record.thumbprint);
    expect(broker.admin.deviceDetail(record.deviceId)).toMatchObject({ thumbprint: rotated.thumbprint, keyAttestation: 'tpm-certified', attestationKeyName: before.attestationKeyName });
    // The record now holds the broker's answer about the NEW key (this broker checks no EK certificates).
    expect(rotated.keyAttestation).toMatchObject({ status: 'tpm-certified', attestationKeyName: before.attestationKeyName, reason: expect.stringMatching(/EK certificate/) });
    expect((await wardIdentityAttestation({ WARD_STATE_DIR: dir, TPM2TOOLS_TCTI: tpm.tcti })).row).toMatch(/^tpm-certified: /);
  });

  it('refuses a rotation whose certification was bound to another request: attestation-nonce', async () => {
    const { token } = broker.admin.createEnrollmentToken({ label: 'rotate-bad' });
    const dir = await mkdtemp(join(tmpdir(), 'ward-attest-rotate-bad-'));
    const { record } = await enroll(broker.url, token, { identity: new IdentityFile(dir), device: DEVICE, policy: 'required', env: { host: new LiveHost('linux'), stateDir: dir, tcti: tpm.tcti } });
    const own = new TpmKeyStore({ host: new LiveHost('linux'), stateDir: dir, tcti: tpm.tcti, signer: 'tpm2-tools' });
    await own.create('next');
    const newSigner = await openSigner(own, 'next');
    const jti = randomUUID();
    // Bound to the right request but for another device: the broker computes another qualifying data.
    const attestation = await certifyTpmKey(own, 'next', certifyQualifyingData({ aud: `${broker.url}/rotate`, jti, jkt: await jwkThumbprint(newSigner.publicJwk), deviceId: 'another-device' }));
    const { area, attributes } = await own.publicArea('next');
    const jws = await buildRotationRequest({
      oldSigner: await openSigner(own, record.keyAlias),
      newSigner,
      deviceId: record.deviceId,
      brokerUrl: broker.url,
      jti,
      tpm: { publicArea: area, attributes, attestation },
    });
    const response = await fetch(`${broker.url}/rotate`, { method: 'POST', headers: { 'content-type': 'application/jose' }, body: jws });
    expect({ status: response.status, body: await response.json() }).toMatchObject({ status: 400, body: { error: 'rotation-invalid', reason: 'attestation-nonce' } });
    expect(broker.admin.deviceDetail(record.deviceId)).toMatchObject({ thumbprint: record.thumbprint });
  });
});
