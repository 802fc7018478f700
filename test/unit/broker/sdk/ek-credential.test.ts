import { constants, createDecipheriv, createHmac, generateKeyPairSync, privateDecrypt } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isActivatedSecret, kdfaSha256, makeCredential, verifyEkCertificate } from '../../../../broker/sdk/ek-credential.js';

// TPM2_MakeCredential in TypeScript, opened here with the RSA private key as a TPM would
// (TPM 2.0 Part 1 §24); the same credentials are activated by a real swtpm in
// test/integration/identity/ek-credential.test.ts.
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const AK_NAME = Buffer.concat([Buffer.from([0x00, 0x0b]), Buffer.alloc(32, 5)]);

function open(credential: { credentialBlob: string; encryptedSecret: string }, name: Buffer): Buffer {
  const encSecret = Buffer.from(credential.encryptedSecret, 'base64url');
  expect(encSecret.readUInt16BE(0)).toBe(encSecret.length - 2);
  const seed = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: Buffer.from('IDENTITY\0', 'latin1') }, encSecret.subarray(2));
  const blob = Buffer.from(credential.credentialBlob, 'base64url');
  expect(blob.readUInt16BE(0)).toBe(blob.length - 2);
  const hmacSize = blob.readUInt16BE(2);
  const outerHmac = blob.subarray(4, 4 + hmacSize);
  const encIdentity = blob.subarray(4 + hmacSize);
  const hmacKey = kdfaSha256(seed, 'INTEGRITY', Buffer.alloc(0), Buffer.alloc(0), 256);
  expect(createHmac('sha256', hmacKey).update(encIdentity).update(name).digest().equals(outerHmac)).toBe(true);
  const decipher = createDecipheriv('aes-128-cfb', kdfaSha256(seed, 'STORAGE', name, Buffer.alloc(0), 128), Buffer.alloc(16));
  const identity = Buffer.concat([decipher.update(encIdentity), decipher.final()]);
  return identity.subarray(2, 2 + identity.readUInt16BE(0));
}

describe('makeCredential', () => {
  it('encrypts the secret so that the holder of the EK and the AK name recovers it, with a 256-byte RSA-OAEP seed', () => {
    const credential = makeCredential(publicKey, AK_NAME);
    expect(credential.secret.length).toBe(32);
    expect(Buffer.from(credential.encryptedSecret, 'base64url').length).toBe(2 + 256);
    expect(open(credential, AK_NAME).equals(credential.secret)).toBe(true);
  });

  it('binds the credential to the AK name: the integrity HMAC fails for another name', () => {
    const credential = makeCredential(publicKey, AK_NAME);
    expect(() => open(credential, Buffer.concat([AK_NAME.subarray(0, 33), Buffer.from([0])]))).toThrow();
  });

  it('uses a fresh seed and secret every time', () => {
    const a = makeCredential(publicKey, AK_NAME);
    const b = makeCredential(publicKey, AK_NAME);
    expect(a.encryptedSecret).not.toBe(b.encryptedSecret);
    expect(a.secret.equals(b.secret)).toBe(false);
  });
});

describe('kdfaSha256', () => {
  it('gives the requested number of bits, and different labels give different keys', () => {
    const key = Buffer.alloc(32, 1);
    expect(kdfaSha256(key, 'STORAGE', AK_NAME, Buffer.alloc(0), 128).length).toBe(16);
    expect(kdfaSha256(key, 'INTEGRITY', Buffer.alloc(0), Buffer.alloc(0), 512).length).toBe(64);
    expect(kdfaSha256(key, 'A', Buffer.alloc(0), Buffer.alloc(0), 256).equals(kdfaSha256(key, 'B', Buffer.alloc(0), Buffer.alloc(0), 256))).toBe(false);
  });
});

describe('isActivatedSecret', () => {
  it('is true only for the secret itself, never throws', () => {
    const credential = makeCredential(publicKey, AK_NAME);
    expect(isActivatedSecret(credential, credential.secret.toString('base64url'))).toBe(true);
    fc.assert(
      fc.property(fc.anything(), (answer) => {
        expect(isActivatedSecret(credential, answer)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});

describe('verifyEkCertificate', () => {
  const REASONS = ['ek-cert-malformed', 'ek-cert-untrusted', 'ek-cert-expired', 'ek-cert-unsupported'];
  it('arbitrary certificates and CA lists give a typed refusal, never a throw', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.string()), fc.array(fc.string(), { maxLength: 2 }), (cert, roots) => {
        const verdict = verifyEkCertificate(cert, { roots, intermediates: roots });
        expect(verdict.ok).toBe(false);
        if (!verdict.ok) expect(REASONS).toContain(verdict.reason);
      }),
      { numRuns: 300 },
    );
  });
});
