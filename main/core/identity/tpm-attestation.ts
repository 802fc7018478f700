import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { truncate } from '../errors.js';
import type { ExecResult } from '../exec/host.js';
import { readStateFile, writeFileAtomic } from './atomic-file.js';
import { IdentityError, isIdentityError } from './errors.js';
import type { TpmKeyStore } from './tpm-key-store.js';
import { parseTpmPublic, Reader, TPM_ALG_ECDSA, TPM_ALG_SHA256, u16, u32, type TpmObjectAttribute } from './tpm-structures.js';

/**
 * TPM key attestation for enrollment: the TPM itself vouches, with an attestation key (AK), that
 * the device key lives inside it (TPM2_Certify, TPM 2.0 Library Part 3 §18.2).
 *
 * The AK is a restricted ECC P-256 signing key made once under the endorsement key
 * (`tpm2_createek` + `tpm2_createak`) and kept at its own persistent handle, with a record in
 * `<stateDir>/tpm-attestation/attestation-key.json`. A restricted key signs only structures the
 * TPM produced itself (they start with TPM_GENERATED_VALUE), so an AK signature over a
 * TPMS_ATTEST means "this TPM reports that it holds an object with this name".
 *
 * TPM2_Certify is sent as a raw command through `tpm2_send`, because `tpm2_certify` (tpm2-tools
 * up to 5.x) hard-codes its qualifying data to `00 ff 55 aa`: with it, the certification could not
 * be bound to one enrollment and could be replayed. The command bytes are built here and nowhere
 * else, and only ever carry TPM_CC_Certify.
 *
 * What the broker learns (broker/sdk/tpm-attestation.ts): the key with this public area is in
 * the same TPM as this AK. What it does NOT learn yet: that the AK is in a genuine TPM. That needs
 * the AK chained to the TPM maker's EK certificate (credential activation), which Ward does not do.
 */

/** The wire form in the enrollment request's `tpm.attestation` claim (all base64url). */
export interface TpmKeyAttestation {
  readonly format: 'tpm2-certify';
  /** TPM2B_PUBLIC of the attestation key. */
  readonly akPublic: string;
  /** TPM2B_ATTEST: the TPMS_ATTEST (type TPM_ST_ATTEST_CERTIFY) the AK signed. */
  readonly certifyInfo: string;
  /** TPMT_SIGNATURE (ECDSA, SHA-256) by the AK over the TPMS_ATTEST bytes. */
  readonly certifySignature: string;
}

export const TpmKeyAttestationSchema = z
  .object({
    format: z.literal('tpm2-certify'),
    akPublic: z.string().regex(/^[A-Za-z0-9_-]+$/).max(2048),
    certifyInfo: z.string().regex(/^[A-Za-z0-9_-]+$/).max(2048),
    certifySignature: z.string().regex(/^[A-Za-z0-9_-]+$/).max(512),
  })
  .strict();

/** What a certification is bound to: the enrollment (or rotation) request it travels in. */
export interface CertifyBinding {
  /** The request's `aud` (`{broker}/enroll` or `{broker}/rotate`). */
  readonly aud: string;
  /** The request's `jti` (fresh per request). */
  readonly jti: string;
  /** RFC 7638 thumbprint of the certified key (the request's `jkt`). */
  readonly jkt: string;
  /** Enrollment: the single-use enrollment token the request carries. */
  readonly enrollmentToken?: string;
  /** Rotation: the request's `device_id`. */
  readonly deviceId?: string;
}

const QUALIFYING_DATA_LABEL = 'ward-tpm-certify/v1';

/**
 * TPM2_Certify's qualifying data (it comes back as the TPMS_ATTEST `extraData`): SHA-256 over a
 * label and the binding's fields, each length-prefixed (u32 big-endian) so no two bindings
 * collide. The enrollment protocol has no broker nonce; the single-use token plus the request's
 * fresh `jti` and `aud` is the strongest binding it allows: a certification made for one
 * enrollment request is refused in any other.
 */
export function certifyQualifyingData(binding: CertifyBinding): Buffer {
  const hash = createHash('sha256');
  for (const field of [QUALIFYING_DATA_LABEL, binding.aud, binding.jti, binding.jkt, binding.enrollmentToken ?? '', binding.deviceId ?? '']) {
    const bytes = Buffer.from(field, 'utf8');
    hash.update(u32(bytes.length)).update(bytes);
  }
  return hash.digest();
}

const TPM_ST_SESSIONS = 0x8002;
const TPM_CC_CERTIFY = 0x00000148;
const TPM_RS_PW = 0x40000009;
/** Attestation keys go after the device keys' range (0x81020000 + 256 slots, tpm-key-store.ts). */
const AK_HANDLE_BASE = 0x81020100;
const AK_HANDLE_SLOTS = 256;
/** TPM_RC_YIELDED, TPM_RC_TESTING, TPM_RC_RETRY (Part 2 §6.6.3): "try again" warnings, e.g. right after a TPM restart. */
const RETRY_CODES = new Set([0x908, 0x90a, 0x922]);
const CERTIFY_ATTEMPTS = 5;
const AK_REQUIRED: readonly TpmObjectAttribute[] = ['restricted', 'sign', 'fixedtpm', 'fixedparent', 'sensitivedataorigin'];


/**
 * TPM2_Certify as raw bytes (Part 3 §18.2.2): both objects authorized by an empty password
 * session (Ward's keys have no authValue), signature scheme ECDSA with SHA-256.
 */
export function buildCertifyCommand(objectHandle: number, signHandle: number, qualifyingData: Uint8Array): Buffer {
  if (qualifyingData.length > 64) throw new RangeError('qualifying data is at most 64 bytes');
  const passwordSession = Buffer.concat([u32(TPM_RS_PW), u16(0), Buffer.from([0]), u16(0)]);
  const body = Buffer.concat([
    u32(objectHandle),
    u32(signHandle),
    u32(passwordSession.length * 2),
    passwordSession,
    passwordSession,
    u16(qualifyingData.length),
    qualifyingData,
    u16(TPM_ALG_ECDSA),
    u16(TPM_ALG_SHA256),
  ]);
  return Buffer.concat([u16(TPM_ST_SESSIONS), u32(10 + body.length), u32(TPM_CC_CERTIFY), body]);
}

/**
 * The TPM's answer to {@link buildCertifyCommand}: the TPM2B_ATTEST and the TPMT_SIGNATURE, as the
 * TPM marshalled them (the broker verifies those exact bytes). A TPM error code is a typed error.
 */
export function parseCertifyResponse(bytes: Uint8Array): { certifyInfo: Uint8Array; signature: Uint8Array } {
  const r = new Reader(bytes, 'TPM2_Certify response');
  r.u16(); // tag
  const size = r.u32();
  const rc = r.u32();
  if (rc !== 0) {
    throw new IdentityError('tpm-error', `the TPM refused to certify the device key (TPM_RC 0x${rc.toString(16).padStart(3, '0')})`);
  }
  if (size !== bytes.length) throw new IdentityError('tpm-error', 'the TPM returned a malformed TPM2_Certify response');
  const parameterSize = r.u32();
  const parameters = new Reader(r.take(parameterSize), 'TPM2_Certify response');
  const attestBody = parameters.sized();
  const certifyInfo = Buffer.concat([u16(attestBody.length), attestBody]);
  const sigStart = 2 + attestBody.length;
  parameters.u16(); // sigAlg
  parameters.u16(); // hash
  parameters.sized(); // r
  parameters.sized(); // s
  parameters.end();
  const all = bytes.subarray(14, 14 + parameterSize);
  return { certifyInfo, signature: Buffer.from(all.subarray(sigStart)) };
}

const AkRecordSchema = z
  .object({
    version: z.literal(1),
    handle: z.string().regex(/^0x81[0-9a-f]{6}$/),
    /** TPM2B_PUBLIC of the AK, base64url. */
    public: z.string().regex(/^[A-Za-z0-9_-]+$/).max(2048),
    createdAt: z.iso.datetime(),
  })
  .strict();
type AkRecord = z.infer<typeof AkRecordSchema>;

type TpmSession = Parameters<Parameters<TpmKeyStore['withKeyHandle']>[1]>[0];
type Run = (command: string, args: readonly string[], what: string) => Promise<ExecResult>;

async function readPublicArea(run: Run, file: (name: string) => string, handle: string, what: string): Promise<Buffer> {
  const out = file('ak-public.tss');
  await run('tpm2_readpublic', ['-c', handle, '-f', 'tss', '-o', out], what);
  return readFile(out);
}

/** The AK this device already has (record and TPM agree), or undefined. */
async function existingAk(tpm: TpmSession, path: string): Promise<AkRecord | undefined> {
  const record = await readStateFile(path, AkRecordSchema, 'the TPM attestation key record').catch((err: unknown) => {
    // The AK is not the device's identity: a damaged record only means making a new AK.
    if (isIdentityError(err, 'identity-corrupt')) return undefined;
    throw err;
  });
  if (!record) return undefined;
  try {
    const area = await readPublicArea(tpm.run, tpm.file, record.handle, 'reading the attestation key from the TPM');
    return area.toString('base64url') === record.public ? record : undefined;
  } catch (err) {
    // Gone (cleared or replaced TPM): make a new one. No TPM at all is the caller's to hear.
    if (isIdentityError(err, 'tpm-error')) return undefined;
    throw err;
  }
}

async function createAk(tpm: TpmSession, path: string): Promise<AkRecord> {
  const { stdout } = await tpm.run('tpm2_getcap', ['handles-persistent'], 'listing persistent TPM handles');
  const used = new Set([...stdout.matchAll(/0x([0-9a-f]{8})/gi)].map((m) => Number.parseInt(m[1] ?? '0', 16)));
  let slot = AK_HANDLE_BASE;
  while (used.has(slot) && slot < AK_HANDLE_BASE + AK_HANDLE_SLOTS) slot++;
  if (used.has(slot)) throw new IdentityError('tpm-error', 'the TPM has no free persistent handle for an attestation key in the range Ward uses');
  const handle = `0x${slot.toString(16)}`;
  const ek = tpm.file('ek.ctx');
  const ak = tpm.file('ak.ctx');
  const flush = (): Promise<ExecResult> => tpm.run('tpm2_flushcontext', ['-t'], 'flushing transient TPM objects');
  try {
    await tpm.run('tpm2_createek', ['-c', ek, '-G', 'ecc', '-u', tpm.file('ek.pub')], 'creating the TPM endorsement key');
    await flush();
    await tpm.run(
      'tpm2_createak',
      ['-C', ek, '-c', ak, '-G', 'ecc', '-g', 'sha256', '-s', 'ecdsa', '-u', tpm.file('ak.pub'), '-r', tpm.file('ak.priv'), '-n', tpm.file('ak.name')],
      'creating the TPM attestation key',
    );
    await tpm.run('tpm2_evictcontrol', ['-C', 'o', '-c', ak, handle], 'making the attestation key persistent in the TPM');
  } finally {
    await flush().catch(() => undefined);
  }
  const area = await readPublicArea(tpm.run, tpm.file, handle, 'reading the attestation key from the TPM');
  const missing = AK_REQUIRED.filter((a) => !parseTpmPublic(area).attributeNames.includes(a));
  if (missing.length > 0) {
    await tpm.run('tpm2_evictcontrol', ['-C', 'o', '-c', handle], 'removing the attestation key').catch(() => undefined);
    throw new IdentityError('tpm-error', `the TPM made an attestation key without ${missing.join(', ')}; refusing to use it`);
  }
  const record: AkRecord = { version: 1, handle, public: area.toString('base64url'), createdAt: new Date().toISOString() };
  await writeFileAtomic(path, `${JSON.stringify(record, null, 2)}\n`);
  return record;
}

/**
 * Certify the TPM device key `alias` with this device's attestation key (made on first use),
 * with `qualifyingData` ({@link certifyQualifyingData}) as the TPMS_ATTEST `extraData`.
 * Throws `IdentityError` (`tpm-error`, `tpm-unavailable`) when the TPM cannot.
 */
export function certifyTpmKey(store: TpmKeyStore, alias: string, qualifyingData: Uint8Array): Promise<TpmKeyAttestation> {
  return store.withKeyHandle(alias, async (tpm) => {
    const path = join(tpm.stateDir, 'tpm-attestation', 'attestation-key.json');
    const ak = (await existingAk(tpm, path)) ?? (await createAk(tpm, path));
    const command = tpm.file('certify.cmd');
    const response = tpm.file('certify.rsp');
    await writeFile(command, buildCertifyCommand(Number.parseInt(tpm.handle, 16), Number.parseInt(ak.handle, 16), qualifyingData), { mode: 0o600 });
    let answer: Buffer;
    for (let attempt = 1; ; attempt++) {
      await tpm.run('tpm2_send', ['-o', response, command], 'certifying the device key with the attestation key');
      answer = await readFile(response);
      // tpm2-tools' own commands retry these warnings inside tss2; a raw command must do it here.
      if (attempt >= CERTIFY_ATTEMPTS || !RETRY_CODES.has(answer.length >= 10 ? answer.readUInt32BE(6) : 0)) break;
      await new Promise((resolve) => setTimeout(resolve, 25 * attempt));
    }
    const { certifyInfo, signature } = parseCertifyResponse(answer);
    return {
      format: 'tpm2-certify',
      akPublic: ak.public,
      certifyInfo: Buffer.from(certifyInfo).toString('base64url'),
      certifySignature: Buffer.from(signature).toString('base64url'),
    };
  });
}

/** NV index of the RSA 2048 EK certificate (TCG EK Credential Profile 2.0, §2.2.1.5.1). */
const EK_CERT_NV_INDEX = '0x1c00002';
const CREDENTIAL_FILE_MAGIC = 0xbadcc0de;

/**
 * The TPM maker's certificate of this TPM's RSA 2048 endorsement key (DER), or undefined when the
 * TPM has none (many firmware TPMs keep it online only; swtpm has one when made with
 * `swtpm_setup --create-ek-cert`).
 */
export function readEkCertificate(store: TpmKeyStore, alias: string): Promise<Buffer | undefined> {
  return store.withKeyHandle(alias, async (tpm) => {
    const out = tpm.file('ek-cert.der');
    try {
      await tpm.run('tpm2_nvread', [EK_CERT_NV_INDEX, '-o', out], 'reading the endorsement key certificate');
    } catch (err) {
      if (isIdentityError(err, 'tpm-error')) return undefined;
      throw err;
    }
    return readFile(out);
  });
}

/** A credential the broker made for this device's AK (broker/sdk/ek-credential.ts `makeCredential`). */
export interface EkCredentialChallenge {
  /** TPM2B_ID_OBJECT, base64url. */
  readonly credentialBlob: string;
  /** TPM2B_ENCRYPTED_SECRET, base64url. */
  readonly encryptedSecret: string;
}

/**
 * TPM2_ActivateCredential: recover the secret of a credential made for this device's AK and its
 * RSA 2048 EK. The TPM does it only if it holds that EK and an object with the AK's exact name, so
 * the answer proves the AK to whoever trusts the EK certificate. Throws `tpm-error` when the
 * credential was made for another AK or another TPM.
 */
export function activateCredential(store: TpmKeyStore, alias: string, challenge: EkCredentialChallenge): Promise<Buffer> {
  return store.withKeyHandle(alias, async (tpm) => {
    const ak = await existingAk(tpm, join(tpm.stateDir, 'tpm-attestation', 'attestation-key.json'));
    if (!ak) throw new IdentityError('tpm-error', 'this device has no attestation key to activate a credential for (enroll first)');
    const credential = tpm.file('credential.in');
    const ek = tpm.file('ek.ctx');
    const session = tpm.file('session.ctx');
    const secret = tpm.file('secret.out');
    const header = Buffer.alloc(8);
    header.writeUInt32BE(CREDENTIAL_FILE_MAGIC, 0);
    header.writeUInt32BE(1, 4);
    await writeFile(credential, Buffer.concat([header, Buffer.from(challenge.credentialBlob, 'base64url'), Buffer.from(challenge.encryptedSecret, 'base64url')]), { mode: 0o600 });
    try {
      // The EK is re-derived from its template (the same key every time), used, and flushed.
      await tpm.run('tpm2_createek', ['-c', ek, '-G', 'rsa'], 'loading the TPM endorsement key');
      await tpm.run('tpm2_flushcontext', ['-t'], 'flushing transient TPM objects');
      // The EK's policy: PolicySecret of the endorsement hierarchy (EK Credential Profile, §B.6).
      await tpm.run('tpm2_startauthsession', ['--policy-session', '-S', session], 'starting a policy session for the endorsement key');
      await tpm.run('tpm2_policysecret', ['-S', session, '-c', 'e'], 'satisfying the endorsement key policy');
      await tpm.run('tpm2_activatecredential', ['-c', ak.handle, '-C', ek, '-i', credential, '-o', secret, '-P', `session:${session}`], 'activating the credential');
    } finally {
      await tpm.run('tpm2_flushcontext', ['-t'], 'flushing transient TPM objects').catch(() => undefined);
      await tpm.run('tpm2_flushcontext', ['-s'], 'flushing TPM sessions').catch(() => undefined);
    }
    return readFile(secret);
  });
}

/** The enrollment claim `tpm_ek_activation` (docs/identity.md): the answer to the broker's EK challenge. */
export interface EkActivationClaim {
  readonly challenge_id: string;
  /** The secret the TPM recovered, base64url. */
  readonly secret: string;
}

const EkChallengeAnswerSchema = z.object({
  challengeId: z.uuid(),
  credentialBlob: z.string().regex(/^[A-Za-z0-9_-]+$/).max(1024),
  encryptedSecret: z.string().regex(/^[A-Za-z0-9_-]+$/).max(1024),
});

/**
 * Credential activation with the broker, before the enrollment request: send the TPM's EK
 * certificate and the AK (`POST {broker}/enroll/ek-challenge`), let the TPM recover the secret
 * the broker encrypted to that EK for that AK, and return the claim the enrollment request
 * carries. Never throws for what only means "not EK-attested" (no EK certificate, a broker that
 * does not check them or refuses this one, a TPM that cannot activate): `reason` says which.
 */
export async function activateWithBroker(
  store: TpmKeyStore,
  alias: string,
  brokerBase: string,
  akPublic: string,
  fetchImpl: typeof fetch = fetch,
): Promise<{ claim: EkActivationClaim } | { reason: string }> {
  const certificate = await readEkCertificate(store, alias);
  if (!certificate) return { reason: 'the TPM has no EK certificate' };
  let response: Response;
  try {
    response = await fetchImpl(`${brokerBase}/enroll/ek-challenge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ ekCertificate: certificate.toString('base64url'), akPublic }),
      redirect: 'error',
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    return { reason: `the broker could not be asked for an EK challenge (${truncate((err as Error).message, 200)})` };
  }
  const body: unknown = await response.json().catch(() => undefined);
  if (response.status === 404) return { reason: 'the broker does not check EK certificates' };
  if (!response.ok) {
    const said = z.object({ reason: z.string().regex(/^[a-z0-9-]{1,64}$/) }).safeParse(body);
    return { reason: `the broker refused the EK certificate (${said.success ? said.data.reason : `HTTP ${response.status}`})` };
  }
  const challenge = EkChallengeAnswerSchema.safeParse(body);
  if (!challenge.success) return { reason: 'the broker answered the EK challenge request with something else' };
  try {
    const secret = await activateCredential(store, alias, challenge.data);
    return { claim: { challenge_id: challenge.data.challengeId, secret: secret.toString('base64url') } };
  } catch (err) {
    if (isIdentityError(err, 'tpm-error')) return { reason: `the TPM could not activate the credential (${err.message})` };
    throw err;
  }
}
