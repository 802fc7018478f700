import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { isActivatedSecret, makeCredential, verifyEkCertificate, type EkTrust } from '../sdk/ek-credential.js';
import { parseAttestationKey } from '../sdk/tpm-attestation.js';
import { BrokerError } from './errors.js';
import type { EkChallengeRows } from './storage/storage.js';

/**
 * The reference broker's half of credential activation (docs/broker-sdk.md, "EK certificate"):
 *
 *   POST /enroll/ek-challenge { ekCertificate, akPublic }  →  { challengeId, credentialBlob, encryptedSecret }
 *
 * and, in the enrollment request, the claim `tpm_ek_activation: { challenge_id, secret }`. A
 * challenge is single use and lives 5 minutes. It is kept in SQLite (`ek_challenges`, migration 6),
 * so a broker restart between the challenge and the enrollment loses nothing and a used challenge
 * stays used; only the SHA-256 of the credential's secret is stored. Enrollment is not a hot path,
 * so each redemption reads storage (one conditional UPDATE) rather than a copy in memory.
 * Without trusted maker CAs (`tpmEkCaCertificates`) the endpoint answers 404.
 */
const CHALLENGE_TTL_MS = 5 * 60_000;
const MAX_PENDING = 10_000;

export const EkChallengeBody = z
  .object({
    /** The RSA 2048 EK certificate (DER), base64url. */
    ekCertificate: z.string().regex(/^[A-Za-z0-9_-]+$/).max(8192),
    /** TPM2B_PUBLIC of the attestation key, base64url. */
    akPublic: z.string().regex(/^[A-Za-z0-9_-]+$/).max(2048),
  })
  .strict();

export const EkActivationClaim = z.object({ challenge_id: z.string().uuid(), secret: z.string().max(200) }).strict();

function sha256(bytes: Buffer): Buffer {
  return createHash('sha256').update(bytes).digest();
}

export class EkActivation {
  readonly #trust: EkTrust;
  readonly #rows: EkChallengeRows;
  readonly #now: () => number;

  constructor(trust: EkTrust, rows: EkChallengeRows, now: () => number) {
    this.#trust = trust;
    this.#rows = rows;
    this.#now = now;
    // Expired challenges from before a restart are of no use to anyone.
    rows.purge(now());
  }

  /** From the config's `tpmEkCaCertificates`: self-signed ones are roots, the others intermediates. */
  static fromPems(pems: readonly string[], rows: EkChallengeRows, now: () => number): EkActivation {
    const roots: string[] = [];
    const intermediates: string[] = [];
    for (const [i, pem] of pems.entries()) {
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(pem);
      } catch {
        throw new BrokerError('config-invalid', `tpmEkCaCertificates[${i}] is not a PEM certificate`);
      }
      (cert.checkIssued(cert) && cert.verify(cert.publicKey) ? roots : intermediates).push(pem);
    }
    return new EkActivation({ roots, intermediates }, rows, now);
  }

  get isEnabled(): boolean {
    return this.#trust.roots.length > 0;
  }

  /** Verify the EK certificate and make a credential for the AK. */
  challenge(body: z.infer<typeof EkChallengeBody>): { challengeId: string; credentialBlob: string; encryptedSecret: string } {
    if (!this.isEnabled) throw new BrokerError('not-found', 'This broker does not check EK certificates (no tpmEkCaCertificates configured).');
    const nowMs = this.#now();
    const verdict = verifyEkCertificate(Buffer.from(body.ekCertificate, 'base64url'), this.#trust, new Date(nowMs));
    if (!verdict.ok) throw new BrokerError('enrollment-invalid', `The EK certificate was refused: ${verdict.detail}.`, { reason: verdict.reason });
    const ak = parseAttestationKey(body.akPublic);
    if (!ak.ok) throw new BrokerError('enrollment-invalid', `The attestation key was refused: ${ak.detail}.`, { reason: ak.reason });
    const akName = ak.name.toString('hex');
    const credential = makeCredential(verdict.ekPublicKey, ak.name);
    const challengeId = randomUUID();
    // Durable before it is answered: the agent may enroll after a restart.
    this.#rows.insert(
      { id: challengeId, secretSha256: sha256(credential.secret).toString('base64url'), akName, issuer: verdict.issuer, createdAtMs: nowMs, expiresAtMs: nowMs + CHALLENGE_TTL_MS },
      MAX_PENDING,
    );
    return { challengeId, credentialBlob: credential.credentialBlob, encryptedSecret: credential.encryptedSecret };
  }

  /**
   * Redeem a challenge from an enrollment request whose certify verified with the AK `akName`:
   * the TPM's answer must be the credential's secret, for that same AK. Single use.
   */
  redeem(claim: unknown, akName: string): { issuer: string } {
    const parsed = EkActivationClaim.safeParse(claim);
    if (!parsed.success) throw new BrokerError('enrollment-invalid', 'The tpm_ek_activation claim is malformed.', { reason: 'ek-activation-malformed' });
    // Spent whatever the outcome below: a challenge is tried at most once.
    const pending = this.#rows.spend(parsed.data.challenge_id, this.#now());
    if (!pending) {
      throw new BrokerError('enrollment-invalid', 'The EK challenge is unknown, used or expired: ask for a new one.', { reason: 'ek-challenge-unknown' });
    }
    if (pending.akName !== akName) {
      throw new BrokerError('enrollment-invalid', 'The EK challenge was made for another attestation key.', { reason: 'ek-activation-mismatch' });
    }
    if (!isActivatedSecret({ secret: Buffer.from(pending.secretSha256, 'base64url') }, digestOfAnswer(parsed.data.secret))) {
      throw new BrokerError('enrollment-invalid', 'The TPM did not recover the EK challenge secret.', { reason: 'ek-activation-failed' });
    }
    return { issuer: pending.issuer };
  }
}

/** The answer's SHA-256 (base64url), to compare with the stored digest; `undefined` for a non-base64url answer. */
function digestOfAnswer(answer: string): string | undefined {
  return /^[A-Za-z0-9_-]{1,200}$/.test(answer) ? sha256(Buffer.from(answer, 'base64url')).toString('base64url') : undefined;
}
