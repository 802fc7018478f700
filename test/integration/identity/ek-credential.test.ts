import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isActivatedSecret, makeCredential, verifyEkCertificate } from '../../../broker/sdk/ek-credential.js';
import { LiveHost } from '../../../main/core/exec/live-host.js';
import { activateCredential, certifyTpmKey, readEkCertificate } from '../../../main/core/identity/tpm-attestation.js';
import { TpmKeyStore } from '../../../main/core/identity/tpm-key-store.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.js';
import { manufactureWithEkCertificate, type EkCa } from '../../support/swtpm-ek.js';

// Chaining the attestation key to the TPM maker: a swtpm "manufactured" with an EK certificate
// by swtpm_setup + a throw-away swtpm_localca CA, the broker SDK's TypeScript TPM2_MakeCredential,
// and the agent's TPM2_ActivateCredential on that real TPM.
let tpm: Swtpm;
let ca: EkCa;
let store: TpmKeyStore;
let akName: Buffer;
beforeAll(async () => {
  tpm = await startSwtpm();
  ca = await manufactureWithEkCertificate(tpm);
  const stateDir = await mkdtemp(join(tmpdir(), 'ward-ek-'));
  store = new TpmKeyStore({ host: new LiveHost('linux'), stateDir, tcti: tpm.tcti, signer: 'tpm2-tools' });
  await store.create('device');
  // Certifying makes the AK; its name is what a credential is bound to.
  const { akPublic } = await certifyTpmKey(store, 'device', Buffer.alloc(32));
  akName = Buffer.concat([Buffer.from([0x00, 0x0b]), createHash('sha256').update(Buffer.from(akPublic, 'base64url').subarray(2)).digest()]);
}, 60_000);
afterAll(async () => {
  await tpm.dispose();
});

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
});
