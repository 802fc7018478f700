import { z } from 'zod';
import type { AssuranceLevel, KeyStoreKind } from './key-store.js';

/**
 * What the broker verified about the device key, as it answered `POST /enroll` or `POST /rotate`
 * (docs/identity.md, "What the broker verified"), weakest first:
 *  - `uncertified`: nothing; the broker has only the device's word for how the key is held;
 *  - `tpm-certified`: a TPM2_Certify of the key by the device's attestation key (AK) verified;
 *  - `ek-attested`: and that AK was chained to the TPM maker's EK certificate by credential activation.
 */
export const KEY_ATTESTATION_STATUSES = ['uncertified', 'tpm-certified', 'ek-attested'] as const;
export type KeyAttestationStatus = (typeof KEY_ATTESTATION_STATUSES)[number];

/** Printable ASCII only: these strings come from the broker and are shown to a person. */
const printable = (max: number) => z.string().regex(new RegExp(`^[\\x20-\\x7e]{1,${max}}$`));
const AK_NAME = z.string().regex(/^[0-9a-f]{4,200}$/);

/** `identity.json`'s `keyAttestation` (record version 2). */
export const KeyAttestationRecordSchema = z
  .object({
    status: z.enum(KEY_ATTESTATION_STATUSES),
    /** Why it is not stronger, in the agent's words (what failed on this device, or what the broker did not check). */
    reason: printable(500).optional(),
    /** TPM name (hex) of the attestation key that certified the key. */
    attestationKeyName: AK_NAME.optional(),
    /** Issuer of the EK certificate the AK was activated against. */
    ekIssuer: printable(500).optional(),
  })
  .strict();
export type KeyAttestationRecord = z.infer<typeof KeyAttestationRecordSchema>;

/**
 * The broker's answer members about the key (the reference broker sends them; another broker may
 * not). Anything malformed or unknown counts as "not said" rather than failing the enrollment.
 */
export const KeyAttestationAnswerSchema = z.object({
  keyAttestation: z.enum(KEY_ATTESTATION_STATUSES).optional().catch(undefined),
  attestationKeyName: AK_NAME.nullish().catch(undefined),
  ekIssuer: printable(500).nullish().catch(undefined),
});
export type KeyAttestationAnswer = z.infer<typeof KeyAttestationAnswerSchema>;

/** What the agent itself knows about the attestation it sent (enrollment.ts). */
export interface SentAttestation {
  readonly keyStore: KeyStoreKind;
  /** A TPM2_Certify of the key went with the request. */
  readonly certified: boolean;
  /** Why the TPM did not certify the key. */
  readonly certifyError?: string;
  /** Why the AK was not chained to an EK certificate (enrollment only). */
  readonly ekReason?: string;
  /** Rotation: what the broker had said about the previous key. */
  readonly previous?: KeyAttestationRecord;
}

const STORE_NAMES: Record<KeyStoreKind, string> = {
  tpm: 'TPM',
  'os-keychain': 'OS keychain',
  'secure-enclave': 'Secure Enclave',
  cng: 'Platform Crypto Provider',
  memory: 'in-memory test store',
};

function uncertifiedReason(sent: SentAttestation): string {
  if (sent.keyStore !== 'tpm') return `the key is held by the ${STORE_NAMES[sent.keyStore]}, not a TPM`;
  if (sent.certifyError) return `the TPM could not certify the key: ${sent.certifyError}`;
  return sent.certified ? 'the broker did not verify the TPM2_Certify the device sent' : 'the device sent no TPM2_Certify of the key';
}

function certifiedReason(sent: SentAttestation): string {
  if (sent.ekReason) return `the attestation key was not chained to an EK certificate: ${sent.ekReason}`;
  if (sent.previous?.status === 'tpm-certified' && sent.previous.reason) return sent.previous.reason;
  if (sent.previous?.status === 'ek-attested') {
    return 'the new key was certified by another attestation key than the one the broker chained to the EK certificate (was the TPM replaced or cleared?)';
  }
  return 'the broker did not chain the attestation key to an EK certificate';
}

/**
 * The record of what the broker answered, with the agent's reason when it is less than
 * `ek-attested`; `undefined` when the broker did not say.
 */
export function keyAttestationRecord(answer: KeyAttestationAnswer, sent: SentAttestation): KeyAttestationRecord | undefined {
  const status = answer.keyAttestation;
  if (status === undefined) return undefined;
  const ak = status !== 'uncertified' && answer.attestationKeyName ? { attestationKeyName: answer.attestationKeyName } : {};
  if (status === 'ek-attested') return { status, ...ak, ...(answer.ekIssuer ? { ekIssuer: answer.ekIssuer } : {}) };
  const reason = (status === 'tpm-certified' ? certifiedReason(sent) : uncertifiedReason(sent)).replace(/[^\x20-\x7e]/g, ' ').slice(0, 500);
  return { status, reason, ...ak };
}

/** The parts of an identity record {@link describeKeyAttestation} reads. */
export interface AttestedRecord {
  readonly version: number;
  readonly assurance: AssuranceLevel;
  readonly keyAttestation?: KeyAttestationRecord | undefined;
}

/** `ward identity`'s view: a status word (also for "nothing recorded") and a sentence a person understands. */
export interface KeyAttestationView {
  readonly status: KeyAttestationStatus | 'not-recorded' | 'not-reported';
  readonly description: string;
}

/** What the broker's answer proves about this device's key, and what it does not. */
export function describeKeyAttestation(record: AttestedRecord): KeyAttestationView {
  const a = record.keyAttestation;
  if (!a) {
    return record.version < 2
      ? { status: 'not-recorded', description: 'this device enrolled before Ward kept what the broker verified about the key; `ward identity rotate` records it.' }
      : { status: 'not-reported', description: 'the broker did not say what it verified about the key.' };
  }
  const why = a.reason ? ` (${a.reason})` : '';
  switch (a.status) {
    case 'ek-attested':
      return {
        status: a.status,
        description:
          `the broker checked that the key was made in this device's TPM and cannot leave it, and that the TPM's maker certified that TPM${a.ekIssuer ? ` (EK certificate issued by ${a.ekIssuer})` : ''}. ` +
          'It does not prove that the software on this device is unmodified, nor that the certificate was not revoked.',
      };
    case 'tpm-certified':
      return {
        status: a.status,
        description:
          "the broker checked that this device's TPM attestation key vouched for the key (made in the TPM, cannot leave it), " +
          `but not that the attestation key belongs to a genuine TPM: software pretending to be a TPM could have done the same${why}.`,
      };
    case 'uncertified':
      return {
        status: a.status,
        description: `the broker has only this device's word that the key is held as stated (assurance ${record.assurance}); nothing vouched for it${why}.`,
      };
  }
}
