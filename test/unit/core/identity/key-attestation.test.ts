import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  describeKeyAttestation,
  KeyAttestationAnswerSchema,
  KeyAttestationRecordSchema,
  keyAttestationRecord,
  type SentAttestation,
} from '../../../../main/core/identity/key-attestation.js';

const AK = `000b${'ab'.repeat(32)}`;
const TPM_SENT: SentAttestation = { keyStore: 'tpm', certified: true };

describe('keyAttestationRecord: what the broker answered, with the agent\'s reason', () => {
  it('keeps ek-attested with its AK and EK issuer, and no reason', () => {
    expect(keyAttestationRecord({ keyAttestation: 'ek-attested', attestationKeyName: AK, ekIssuer: 'CN=maker' }, TPM_SENT)).toEqual({
      status: 'ek-attested',
      attestationKeyName: AK,
      ekIssuer: 'CN=maker',
    });
  });

  it('says why a key is only tpm-certified: the agent\'s EK reason, an earlier reason at rotation, or another AK than the activated one', () => {
    const answer = { keyAttestation: 'tpm-certified' as const, attestationKeyName: AK, ekIssuer: null };
    expect(keyAttestationRecord(answer, { ...TPM_SENT, ekReason: 'the TPM has no EK certificate' })?.reason).toBe('the attestation key was not chained to an EK certificate: the TPM has no EK certificate');
    expect(keyAttestationRecord(answer, { ...TPM_SENT, previous: { status: 'tpm-certified', reason: 'earlier reason' } })?.reason).toBe('earlier reason');
    expect(keyAttestationRecord(answer, { ...TPM_SENT, previous: { status: 'ek-attested' } })?.reason).toMatch(/another attestation key .* TPM replaced/);
    expect(keyAttestationRecord(answer, TPM_SENT)).toEqual({ status: 'tpm-certified', attestationKeyName: AK, reason: 'the broker did not chain the attestation key to an EK certificate' });
  });

  it('says why a key is uncertified: not a TPM key, the TPM could not certify, or the broker ignored the certification', () => {
    const answer = { keyAttestation: 'uncertified' as const, attestationKeyName: null };
    expect(keyAttestationRecord(answer, { keyStore: 'os-keychain', certified: false })?.reason).toBe('the key is held by the OS keychain, not a TPM');
    expect(keyAttestationRecord(answer, { keyStore: 'tpm', certified: false, certifyError: 'no endorsement key' })?.reason).toBe('the TPM could not certify the key: no endorsement key');
    expect(keyAttestationRecord(answer, TPM_SENT)?.reason).toBe('the broker did not verify the TPM2_Certify the device sent');
  });

  it('records nothing when the broker did not say, or said something it does not know', () => {
    expect(keyAttestationRecord({}, TPM_SENT)).toBeUndefined();
    expect(keyAttestationRecord(KeyAttestationAnswerSchema.parse({ keyAttestation: 'super-attested', attestationKeyName: 42 }), TPM_SENT)).toBeUndefined();
  });

  it('(property) any broker answer and any agent reason give a record identity.json accepts, or none; never a throw', () => {
    const sent = fc.record(
      {
        keyStore: fc.constantFrom('tpm' as const, 'os-keychain' as const, 'secure-enclave' as const, 'cng' as const, 'memory' as const),
        certified: fc.boolean(),
        certifyError: fc.string({ maxLength: 800 }),
        ekReason: fc.string({ maxLength: 800 }),
        previous: fc.constantFrom({ status: 'ek-attested' as const }, { status: 'tpm-certified' as const, reason: 'r' }, { status: 'uncertified' as const }),
      },
      { requiredKeys: ['keyStore', 'certified'] },
    );
    const answer = fc.oneof(
      fc.dictionary(fc.constantFrom('keyAttestation', 'attestationKeyName', 'ekIssuer', 'other'), fc.jsonValue()),
      fc.record({ keyAttestation: fc.constantFrom('uncertified', 'tpm-certified', 'ek-attested'), attestationKeyName: fc.oneof(fc.constant(AK), fc.string()), ekIssuer: fc.string({ maxLength: 600 }) }),
    );
    fc.assert(
      fc.property(answer, sent, (raw, s) => {
        const record = keyAttestationRecord(KeyAttestationAnswerSchema.parse(raw), s);
        if (record !== undefined) {
          expect(KeyAttestationRecordSchema.safeParse(record).success).toBe(true);
          expect(describeKeyAttestation({ version: 2, assurance: 'hardware', keyAttestation: record }).description.length).toBeGreaterThan(40);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('describeKeyAttestation: what it proves and what it does not', () => {
  const view = (keyAttestation: Parameters<typeof describeKeyAttestation>[0]['keyAttestation']) => describeKeyAttestation({ version: 2, assurance: 'hardware', keyAttestation });

  it('ek-attested: made in a TPM its maker certified; not that the software is unmodified', () => {
    expect(view({ status: 'ek-attested', ekIssuer: 'CN=maker' })).toEqual({ status: 'ek-attested', description: expect.stringMatching(/maker certified that TPM \(EK certificate issued by CN=maker\)\. It does not prove that the software/) });
  });

  it('tpm-certified: vouched for by an attestation key that may not be a genuine TPM\'s', () => {
    expect(view({ status: 'tpm-certified', reason: 'why' }).description).toMatch(/not that the attestation key belongs to a genuine TPM: software pretending to be a TPM could have done the same \(why\)\.$/);
  });

  it('uncertified: only the device\'s word', () => {
    expect(view({ status: 'uncertified' }).description).toBe("the broker has only this device's word that the key is held as stated (assurance hardware); nothing vouched for it.");
  });
});
