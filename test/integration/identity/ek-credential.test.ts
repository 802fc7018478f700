import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isActivatedSecret, makeCredential, verifyEkCertificate } from '../../../broker/sdk/ek-credential.js';
import type { Broker } from '../../../broker/server/broker.js';
import { main as brokerCli } from '../../../broker/server/cli.js';
import { LiveHost } from '../../../main/core/exec/live-host.js';
import { openSigner } from '../../../main/core/identity/device-signer.js';
import { buildEnrollmentRequest, enroll, rotateDeviceKey } from '../../../main/core/identity/enrollment.js';
import { IdentityFile } from '../../../main/core/identity/identity-record.js';
import { jwkThumbprint } from '../../../main/core/identity/jws.js';
import { activateCredential, activateWithBroker, certifyQualifyingData, certifyTpmKey, readEkCertificate, type EkActivationClaim } from '../../../main/core/identity/tpm-attestation.js';
import { TpmKeyStore } from '../../../main/core/identity/tpm-key-store.js';
import { sampleDeviceFacts } from '../../support/device-facts.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.js';
import { manufactureWithEkCertificate, type EkCa } from '../../support/swtpm-ek.js';
import { wardIdentityAttestation } from '../../support/ward-identity.js';
import { ADMIN_TOKEN, restartBroker, startBroker, type RunningBroker } from '../broker/helpers.js';

// Chaining the attestation key to the TPM maker: a swtpm "manufactured" with an EK certificate
// by swtpm_setup + a throw-away swtpm_localca CA, the broker SDK's TypeScript TPM2_MakeCredential,
// and the agent's TPM2_ActivateCredential on that real TPM.
let tpm: Swtpm;
let ca: EkCa;
let store: TpmKeyStore;
let akName: Buffer;
let broker: Broker;
let brokerDataDir: string;
let stopBroker: () => Promise<void>;
/** The reference broker with this test's maker CA trusted (also after a restart). */
const trustingCa = (): { config: { tpmEkCaCertificates: string[] } } => ({ config: { tpmEkCaCertificates: [ca.rootPem, ca.intermediatePem] } });
const DEVICE = sampleDeviceFacts('ek-laptop');
beforeAll(async () => {
  tpm = await startSwtpm();
  ca = await manufactureWithEkCertificate(tpm);
  const stateDir = await mkdtemp(join(tmpdir(), 'ward-ek-'));
  store = new TpmKeyStore({ host: new LiveHost('linux'), stateDir, tcti: tpm.tcti, signer: 'tpm2-tools' });
  await store.create('device');
  // Certifying makes the AK; its name is what a credential is bound to.
  const { akPublic } = await certifyTpmKey(store, 'device', Buffer.alloc(32));
  akName = Buffer.concat([Buffer.from([0x00, 0x0b]), createHash('sha256').update(Buffer.from(akPublic, 'base64url').subarray(2)).digest()]);
  ({ broker, dataDir: brokerDataDir, cleanup: stopBroker } = await startBroker(trustingCa()));
}, 60_000);
afterAll(async () => {
  await stopBroker();
  await tpm.dispose();
});

/** POST a hand-built enrollment request for `device` carrying `ek` as its tpm_ek_activation claim (to `target`, default the shared broker). */
async function enrollWith(ek: (akPublic: string) => Promise<EkActivationClaim>, target: Broker = broker): Promise<{ status: number; body: Record<string, unknown> }> {
  const { token } = target.admin.createEnrollmentToken({ label: 'ek' });
  const signer = await openSigner(store, 'device');
  const jti = randomUUID();
  const qualifyingData = certifyQualifyingData({ aud: `${target.url}/enroll`, jti, jkt: await jwkThumbprint(signer.publicJwk), enrollmentToken: token });
  const attestation = await certifyTpmKey(store, 'device', qualifyingData);
  const { area, attributes } = await store.publicArea('device');
  const ekActivation = await ek(attestation.akPublic);
  const jws = await buildEnrollmentRequest({ signer, token, brokerUrl: target.url, device: DEVICE, jti, tpm: { publicArea: area, attributes, attestation }, ekActivation });
  const response = await fetch(`${target.url}/enroll`, { method: 'POST', headers: { 'content-type': 'application/jose' }, body: jws });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function claimFor(akPublic: string, target: Broker = broker): Promise<EkActivationClaim> {
  const result = await activateWithBroker(store, 'device', target.url, akPublic);
  if (!('claim' in result)) throw new Error(result.reason);
  return result.claim;
}

describe('EK certificate and credential activation on a manufactured swtpm', () => {
  it('reads the EK certificate, which chains to the maker CA; the TPM recovers a credential made for its AK', async () => {
    const der = await readEkCertificate(store, 'device');
    expect(der).toBeDefined();
    const verdict = verifyEkCertificate(der ?? Buffer.alloc(0), { roots: [ca.rootPem], intermediates: [ca.intermediatePem] });
    expect(verdict).toMatchObject({ ok: true, issuer: 'CN=swtpm-localca' });
    if (!verdict.ok) return;
    const credential = makeCredential(verdict.ekPublicKey, akName);
    const secret = await activateCredential(store, 'device', credential);
    expect(isActivatedSecret(credential, secret.toString('base64url'))).toBe(true);
  });

  it('the TPM refuses a credential made for another AK name (tpm-error), so a borrowed EK certificate proves nothing', async () => {
    const der = await readEkCertificate(store, 'device');
    const verdict = verifyEkCertificate(der ?? Buffer.alloc(0), { roots: [ca.rootPem], intermediates: [ca.intermediatePem] });
    if (!verdict.ok) throw new Error(verdict.detail);
    const otherName = Buffer.concat([Buffer.from([0x00, 0x0b]), randomBytes(32)]);
    await expect(activateCredential(store, 'device', makeCredential(verdict.ekPublicKey, otherName))).rejects.toMatchObject({ code: 'tpm-error' });
  });

  it('refuses the ECC P-384 EK certificate (ek-cert-unsupported) and a chain checked outside its validity (ek-cert-expired)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ward-ek-ecc-'));
    await tpm.tool('tpm2_nvread', ['0x1c00016', '-o', join(dir, 'ecc.der')]);
    const ecc = await readFile(join(dir, 'ecc.der'));
    expect(verifyEkCertificate(ecc, { roots: [ca.rootPem], intermediates: [ca.intermediatePem] })).toMatchObject({ ok: false, reason: 'ek-cert-unsupported' });
    const der = (await readEkCertificate(store, 'device')) ?? Buffer.alloc(0);
    expect(verifyEkCertificate(der, { roots: [ca.rootPem], intermediates: [ca.intermediatePem] }, new Date(0))).toMatchObject({ ok: false, reason: 'ek-cert-expired' });
  });

  it('refuses an EK certificate that chains to a CA the broker does not trust: ek-cert-untrusted', async () => {
    const der = await readEkCertificate(store, 'device');
    // Only the root: the issuing CA is missing, so the chain cannot be built.
    expect(verifyEkCertificate(der ?? Buffer.alloc(0), { roots: [ca.rootPem] })).toMatchObject({ ok: false, reason: 'ek-cert-untrusted' });
    // Another maker's CA entirely.
    const other = await startSwtpm();
    try {
      const otherCa = await manufactureWithEkCertificate(other);
      expect(verifyEkCertificate(der ?? Buffer.alloc(0), { roots: [otherCa.rootPem], intermediates: [otherCa.intermediatePem] })).toMatchObject({ ok: false, reason: 'ek-cert-untrusted' });
    } finally {
      await other.dispose();
    }
  });

  it('ward enroll on a TPM with an EK certificate: the broker activates the AK and shows the device as ek-attested', async () => {
    const { token } = broker.admin.createEnrollmentToken({ label: 'ek-enroll' });
    const dir = await mkdtemp(join(tmpdir(), 'ward-ek-enroll-'));
    const result = await enroll(broker.url, token, { identity: new IdentityFile(dir), device: DEVICE, policy: 'required', env: { host: new LiveHost('linux'), stateDir: dir, tcti: tpm.tcti } });
    expect(result.keyAttestation).toEqual({ certified: true, ekAttested: true });
    const detail = broker.admin.deviceDetail(result.record.deviceId);
    expect(detail).toMatchObject({ keyAttestation: 'ek-attested', ekIssuer: 'CN=swtpm-localca', attestationKeyName: expect.stringMatching(/^000b/) });
    // ward identity says what the broker answered, kept in the identity record.
    const shown = await wardIdentityAttestation({ WARD_STATE_DIR: dir, TPM2TOOLS_TCTI: tpm.tcti });
    expect(shown.recorded).toEqual({ status: 'ek-attested', attestationKeyName: detail.attestationKeyName, ekIssuer: 'CN=swtpm-localca' });
    expect(shown.row).toMatch(/^ek-attested: the broker checked that the key was made in this device's TPM .* maker certified that TPM \(EK certificate issued by CN=swtpm-localca\)\. It does not prove/);
    expect(shown.json).toMatchObject({ status: 'ek-attested', description: expect.stringContaining('not revoked') });
    // And the admin sees it in `ward-broker devices`.
    let table = '';
    const io = { stdout: (t: string) => (table += t), stderr: () => undefined, isTTY: false, env: { WARD_BROKER_DATA: brokerDataDir, WARD_BROKER_ADMIN_TOKEN: ADMIN_TOKEN } };
    expect(await brokerCli(['devices'], io)).toBe(0);
    expect(table).toMatch(new RegExp(`^${result.record.deviceId} +ek-laptop +hardware +ek-attested +`, 'm'));
    // A rotation certifies the new key with the same, already activated AK: still ek-attested.
    const rotated = await rotateDeviceKey({ identity: new IdentityFile(dir), store: new TpmKeyStore({ host: new LiveHost('linux'), stateDir: dir, tcti: tpm.tcti, signer: 'tpm2-tools' }) });
    expect(broker.admin.deviceDetail(result.record.deviceId)).toMatchObject({ thumbprint: rotated.thumbprint, keyAttestation: 'ek-attested', ekIssuer: 'CN=swtpm-localca' });
    expect(rotated.keyAttestation).toEqual({ status: 'ek-attested', attestationKeyName: detail.attestationKeyName, ekIssuer: 'CN=swtpm-localca' });
    expect((await wardIdentityAttestation({ WARD_STATE_DIR: dir, TPM2TOOLS_TCTI: tpm.tcti })).json.status).toBe('ek-attested');
  });

  it('a broker without maker CAs answers 404: the device enrolls tpm-certified and the agent says why', async () => {
    const plain = await startBroker();
    try {
      const { token } = plain.broker.admin.createEnrollmentToken({ label: 'no-ca' });
      const dir = await mkdtemp(join(tmpdir(), 'ward-ek-noca-'));
      const result = await enroll(plain.broker.url, token, { identity: new IdentityFile(dir), device: DEVICE, policy: 'required', env: { host: new LiveHost('linux'), stateDir: dir, tcti: tpm.tcti } });
      expect(result.keyAttestation).toEqual({ certified: true, ekAttested: false, ekReason: 'the broker does not check EK certificates' });
      expect(plain.broker.admin.deviceDetail(result.record.deviceId)).toMatchObject({ keyAttestation: 'tpm-certified', ekIssuer: null });
      const shown = await wardIdentityAttestation({ WARD_STATE_DIR: dir, TPM2TOOLS_TCTI: tpm.tcti });
      expect(shown.recorded).toEqual({
        status: 'tpm-certified',
        reason: 'the attestation key was not chained to an EK certificate: the broker does not check EK certificates',
        attestationKeyName: expect.stringMatching(/^000b[0-9a-f]{64}$/),
      });
      expect(shown.row).toMatch(/^tpm-certified: .* but not that the attestation key belongs to a genuine TPM: .* \(the attestation key was not chained to an EK certificate: the broker does not check EK certificates\)\.$/);
    } finally {
      await plain.cleanup();
    }
  });

  it('refuses a wrong secret (ek-activation-failed), a replayed challenge (ek-challenge-unknown) and a challenge for another AK (ek-activation-mismatch)', async () => {
    const wrong = await enrollWith(async (akPublic) => ({ ...(await claimFor(akPublic)), secret: randomBytes(32).toString('base64url') }));
    expect(wrong).toMatchObject({ status: 400, body: { reason: 'ek-activation-failed' } });

    let used: EkActivationClaim | undefined;
    const first = await enrollWith(async (akPublic) => (used = await claimFor(akPublic)));
    expect(first.status).toBe(201);
    expect(await enrollWith(async () => used ?? (await Promise.reject(new Error('no claim'))))).toMatchObject({ status: 400, body: { reason: 'ek-challenge-unknown' } });

    // Another agent state on the same TPM has another AK; its (genuine) activation does not vouch for this AK.
    const otherDir = await mkdtemp(join(tmpdir(), 'ward-ek-other-'));
    const other = new TpmKeyStore({ host: new LiveHost('linux'), stateDir: otherDir, tcti: tpm.tcti, signer: 'tpm2-tools' });
    await other.create('other');
    const otherAk = (await certifyTpmKey(other, 'other', Buffer.alloc(32))).akPublic;
    const otherClaim = await activateWithBroker(other, 'other', broker.url, otherAk);
    if (!('claim' in otherClaim)) throw new Error(otherClaim.reason);
    expect(await enrollWith(async () => otherClaim.claim)).toMatchObject({ status: 400, body: { reason: 'ek-activation-mismatch' } });
  });
});

describe('a pending EK challenge and a broker restart', () => {
  it('a challenge made before a restart (same data dir, same port) is redeemed after it; used once, it stays used across the next restart', async () => {
    let running: RunningBroker = await startBroker(trustingCa());
    try {
      // The agent asks for the challenge and its TPM activates the credential, then the broker restarts.
      let claim: EkActivationClaim | undefined;
      const activateThenRestart = async (akPublic: string): Promise<EkActivationClaim> => {
        claim = await claimFor(akPublic, running.broker);
        running = await restartBroker(running, trustingCa());
        return claim;
      };
      const port = running.broker.port;
      const enrolled = await enrollWith(activateThenRestart, running.broker);
      expect(running.broker.port).toBe(port);
      expect(enrolled.status).toBe(201);
      expect(enrolled.body).toMatchObject({ keyAttestation: 'ek-attested', ekIssuer: 'CN=swtpm-localca', attestationKeyName: expect.stringMatching(/^000b/) });
      expect(running.broker.admin.deviceDetail(enrolled.body.deviceId as string)).toMatchObject({ keyAttestation: 'ek-attested' });

      // Used: another restart does not bring it back (a fresh token and request, the same claim).
      running = await restartBroker(running, trustingCa());
      const replayed = await enrollWith(async () => claim ?? Promise.reject(new Error('no claim')), running.broker);
      expect(replayed).toMatchObject({ status: 400, body: { reason: 'ek-challenge-unknown' } });
    } finally {
      await running.cleanup();
      rmSync(running.dataDir, { recursive: true, force: true });
    }
  });
});
