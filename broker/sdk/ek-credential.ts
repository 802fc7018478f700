import { constants, createCipheriv, createHmac, publicEncrypt, randomBytes, timingSafeEqual, X509Certificate, type KeyObject } from 'node:crypto';
import { reject, type Rejection } from './errors.js';
import { sized, u32 } from '../../main/core/identity/tpm-structures.js';

/**
 * Chaining a device's attestation key (AK) to its TPM's endorsement key (EK) certificate:
 * "credential activation" (TPM 2.0 Library Part 1 §24, TCG EK Credential Profile).
 *
 * 1. The device sends its EK certificate (from TPM NV index 0x01c00002, RSA 2048 EK) and its AK.
 * 2. {@link verifyEkCertificate}: the certificate chains to a TPM maker's CA the broker trusts.
 * 3. {@link makeCredential}: the broker encrypts a fresh secret to that EK, bound to the AK's name.
 * 4. The device's TPM decrypts it (`TPM2_ActivateCredential`) only if it holds both the EK and an
 *    object with exactly that name; it returns the secret, which {@link isActivatedSecret} compares.
 *
 * A matching secret proves the AK (with its attributes: restricted, fixedtpm) lives in the TPM the
 * certificate names, so a TPM2_Certify by that AK is vouched for by the TPM maker.
 */

export type EkCertificateRejectReason = 'ek-cert-malformed' | 'ek-cert-untrusted' | 'ek-cert-expired' | 'ek-cert-unsupported';

export interface EkTrust {
  /** PEM certificates of TPM makers' root CAs. */
  readonly roots: readonly string[];
  /** PEM intermediate CA certificates the chain may pass through. */
  readonly intermediates?: readonly string[];
}

export type EkCertificateVerdict = { readonly ok: true; readonly ekPublicKey: KeyObject; readonly issuer: string } | Rejection<EkCertificateRejectReason>;

const MAX_CHAIN = 5;

function parseCerts(pems: readonly string[] | undefined): X509Certificate[] {
  return (pems ?? []).map((pem) => new X509Certificate(pem));
}

function inValidity(cert: X509Certificate, now: Date): boolean {
  return new Date(cert.validFrom) <= now && now <= new Date(cert.validTo);
}

/**
 * Verify a TPM's EK certificate (DER or PEM) against trusted TPM-maker CAs: every signature up to
 * a trusted root, every certificate in its validity period, an RSA 2048 public key (the EK
 * template whose certificate Ward reads). Never throws.
 *
 * @example
 * ```ts
 * const verdict = verifyEkCertificate(Buffer.from(claims.ek_certificate, 'base64url'), { roots: [makerRootPem] });
 * if (verdict.ok) credential = makeCredential(verdict.ekPublicKey, akName);
 * ```
 */
export function verifyEkCertificate(certificate: Uint8Array | string, trust: EkTrust, now: Date = new Date()): EkCertificateVerdict {
  let leaf: X509Certificate;
  let roots: X509Certificate[];
  let intermediates: X509Certificate[];
  try {
    leaf = new X509Certificate(typeof certificate === 'string' ? certificate : Buffer.from(certificate));
    roots = parseCerts(trust.roots);
    intermediates = parseCerts(trust.intermediates);
  } catch {
    return reject('ek-cert-malformed', 'the EK certificate (or a configured CA certificate) is not an X.509 certificate');
  }
  const key = leaf.publicKey;
  if (key.asymmetricKeyType !== 'rsa' || key.asymmetricKeyDetails?.modulusLength !== 2048) {
    return reject('ek-cert-unsupported', 'only RSA 2048 EK certificates are supported');
  }
  let current = leaf;
  for (let depth = 0; depth <= MAX_CHAIN; depth++) {
    if (!inValidity(current, now)) return reject('ek-cert-expired', `a certificate in the EK chain (${current.subject.replace(/\n/g, ', ')}) is outside its validity period`);
    const root = roots.find((r) => current.checkIssued(r) && current.verify(r.publicKey));
    if (root) {
      if (!inValidity(root, now)) return reject('ek-cert-expired', 'the trusted root of the EK chain is outside its validity period');
      return { ok: true, ekPublicKey: key, issuer: leaf.issuer.replace(/\n/g, ', ') };
    }
    const next = intermediates.find((i) => i !== current && current.checkIssued(i) && current.verify(i.publicKey));
    if (!next) break;
    current = next;
  }
  return reject('ek-cert-untrusted', 'the EK certificate does not chain to a TPM maker CA this broker trusts');
}


/** KDFa with HMAC-SHA-256 (TPM 2.0 Part 1 §11.4.10.2): the label is used with its terminating zero. */
export function kdfaSha256(key: Uint8Array, label: string, contextU: Uint8Array, contextV: Uint8Array, bits: number): Buffer {
  const blocks: Buffer[] = [];
  for (let i = 1; blocks.length * 256 < bits; i++) {
    blocks.push(createHmac('sha256', key).update(u32(i)).update(Buffer.from(`${label}\0`, 'latin1')).update(contextU).update(contextV).update(u32(bits)).digest());
  }
  return Buffer.concat(blocks).subarray(0, bits / 8);
}

/** A credential for `TPM2_ActivateCredential`, base64url, and the secret it carries. */
export interface EkCredential {
  /** TPM2B_ID_OBJECT. */
  readonly credentialBlob: string;
  /** TPM2B_ENCRYPTED_SECRET: the seed, RSA-OAEP(SHA-256, label "IDENTITY") to the EK. */
  readonly encryptedSecret: string;
  /** What the TPM will give back; keep it (or its hash) until the device answers. Never log it. */
  readonly secret: Buffer;
}

/**
 * TPM2_MakeCredential in TypeScript for an RSA 2048 EK with the default template (nameAlg SHA-256,
 * AES-128-CFB): a 32-byte secret that only a TPM holding both `ekPublicKey` and an object named
 * `akName` can recover.
 *
 * @example
 * ```ts
 * const credential = makeCredential(verdict.ekPublicKey, Buffer.from(akNameHex, 'hex'));
 * pending.set(deviceId, credential.secret);
 * reply({ credentialBlob: credential.credentialBlob, encryptedSecret: credential.encryptedSecret });
 * ```
 */
export function makeCredential(ekPublicKey: KeyObject, akName: Uint8Array, secret: Buffer = randomBytes(32)): EkCredential {
  const seed = randomBytes(32);
  const encryptedSeed = publicEncrypt(
    { key: ekPublicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: Buffer.from('IDENTITY\0', 'latin1') },
    seed,
  );
  const symmetricKey = kdfaSha256(seed, 'STORAGE', akName, Buffer.alloc(0), 128);
  const cipher = createCipheriv('aes-128-cfb', symmetricKey, Buffer.alloc(16));
  const encIdentity = Buffer.concat([cipher.update(sized(secret)), cipher.final()]);
  const hmacKey = kdfaSha256(seed, 'INTEGRITY', Buffer.alloc(0), Buffer.alloc(0), 256);
  const outerHmac = createHmac('sha256', hmacKey).update(encIdentity).update(akName).digest();
  return {
    credentialBlob: sized(Buffer.concat([sized(outerHmac), encIdentity])).toString('base64url'),
    encryptedSecret: sized(encryptedSeed).toString('base64url'),
    secret,
  };
}

/** Did the device give back the credential's secret? Constant-time; false for anything else. */
export function isActivatedSecret(credential: Pick<EkCredential, 'secret'>, answer: unknown): boolean {
  if (typeof answer !== 'string' || !/^[A-Za-z0-9_-]{1,200}$/.test(answer)) return false;
  const got = Buffer.from(answer, 'base64url');
  return got.length === credential.secret.length && timingSafeEqual(got, credential.secret);
}
