import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { parseStateJson, readStateFile, writeFileAtomic } from './atomic-file.js';
import { IdentityError } from './errors.js';
import { jwkThumbprint } from './jws.js';
import { KeyAttestationRecordSchema } from './key-attestation.js';
import { KEY_ALIAS_PATTERN } from './key-store.js';

const b64url = z.string().regex(/^[A-Za-z0-9_-]+$/);

export const EcPublicJwkSchema = z
  .object({ kty: z.literal('EC'), crv: z.literal('P-256'), x: b64url.length(43), y: b64url.length(43) })
  .strict();

/** A broker signing key as pinned at enrollment: public members only, `d` is refused. */
export const BrokerJwkSchema = z
  .object({
    kty: z.enum(['EC', 'OKP', 'RSA']),
    kid: z.string().max(200).optional(),
    alg: z.string().max(20).optional(),
    use: z.string().max(10).optional(),
    crv: z.string().max(20).optional(),
    x: b64url.max(200).optional(),
    y: b64url.max(200).optional(),
    n: b64url.max(2048).optional(),
    e: b64url.max(20).optional(),
  })
  .strict();
export const BrokerJwksSchema = z.object({ keys: z.array(BrokerJwkSchema).min(1).max(20) }).strict();
export type BrokerJwks = z.infer<typeof BrokerJwksSchema>;

/**
 * Version 2 adds `keyAttestation`. Version 1 records (written before it) still load, without it:
 * `ward identity` then says it was not recorded. Every record written now is version 2.
 */
export const IDENTITY_RECORD_VERSION = 2;

export const IdentityRecordSchema = z
  .object({
    version: z.union([z.literal(1), z.literal(IDENTITY_RECORD_VERSION)]),
    /** Issued by the broker at enrollment. */
    deviceId: z.string().min(1).max(200).regex(/^[\x21-\x7e]+$/),
    keyAlias: z.string().regex(KEY_ALIAS_PATTERN),
    keyStore: z.enum(['tpm', 'os-keychain', 'secure-enclave', 'cng', 'memory']),
    assurance: z.enum(['hardware', 'os-keychain', 'none']),
    /** RFC 7638 thumbprint of `publicJwk`: what the broker pinned and DPoP's `cnf.jkt`. */
    thumbprint: b64url.length(43),
    publicJwk: EcPublicJwkSchema,
    brokerUrl: z.url({ protocol: /^https?$/ }).max(2048),
    brokerKeys: BrokerJwksSchema,
    enrolledAt: z.iso.datetime(),
    rotatedAt: z.iso.datetime().optional(),
    /** Why a hardware key was not used although policy preferred one (never silent). */
    fallbackReason: z.string().max(500).optional(),
    /** What the broker verified about the key at enrollment or the last rotation (absent: it did not say). */
    keyAttestation: KeyAttestationRecordSchema.optional(),
  })
  .strict()
  .refine((r) => r.version >= 2 || r.keyAttestation === undefined, { path: ['keyAttestation'], message: 'a version 1 record has no keyAttestation' });
export type IdentityRecord = z.infer<typeof IdentityRecordSchema>;

const WHAT = 'the device identity file';

/** Parse identity-file text. Corrupt, truncated or inconsistent → `IdentityError('identity-corrupt')`. */
export async function parseIdentityRecord(text: string): Promise<IdentityRecord> {
  const record = parseStateJson(text, IdentityRecordSchema, WHAT);
  if ((await jwkThumbprint(record.publicJwk)) !== record.thumbprint) {
    throw new IdentityError('identity-corrupt', `${WHAT} is damaged (the thumbprint does not match the key)`, {
      hint: 'Run `ward reset` and enroll this device again.',
    });
  }
  return record;
}

/** The identity record in a state directory: `<stateDir>/identity.json`, mode 0600, written atomically. */
export class IdentityFile {
  readonly path: string;

  constructor(stateDir: string) {
    this.path = join(stateDir, 'identity.json');
  }

  /** The record, or `undefined` when the device is not enrolled. */
  async read(): Promise<IdentityRecord | undefined> {
    const record = await readStateFile(this.path, IdentityRecordSchema, WHAT);
    if (!record) return undefined;
    // Reparse through the full check (thumbprint consistency).
    return parseIdentityRecord(JSON.stringify(record));
  }

  async require(): Promise<IdentityRecord> {
    const record = await this.read();
    if (!record) {
      throw new IdentityError('not-enrolled', 'this device is not enrolled: it has no device identity yet', {
        hint: 'Run `ward enroll --broker URL` with an enrollment token from IT.',
      });
    }
    return record;
  }

  async write(record: IdentityRecord): Promise<void> {
    const valid = IdentityRecordSchema.parse(record);
    await writeFileAtomic(this.path, `${JSON.stringify(valid, null, 2)}\n`);
  }

  async remove(): Promise<void> {
    await rm(this.path, { force: true });
  }
}
