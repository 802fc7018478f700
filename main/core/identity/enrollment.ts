/**
 * Enrollment and key rotation: the client side. The broker side (`broker/server`) implements the
 * same wire format, written down here and in docs/identity.md.
 *
 * ## POST {broker}/enroll
 * Request: `Content-Type: application/jose`, the body is one compact JWS:
 *   header  `{ "alg": "ES256", "typ": "ward-enroll+jwt", "jwk": { "kty": "EC", "crv": "P-256", "x", "y" } }`
 *           (the new device public key; the JWS is signed by it: proof of possession)
 *   payload `{
 *     "aud": "{broker}/enroll",              the endpoint URL, exactly
 *     "iat": <seconds>, "exp": <iat + 300>, "jti": "<uuid>",
 *     "enrollment_token": "<token from IT or a signed-in user>",
 *     "jkt": "<RFC 7638 thumbprint of header.jwk>",
 *     "assurance": "hardware" | "os-keychain" | "none",
 *     "key_store": "tpm" | "os-keychain" | "memory",
 *     "device": DeviceFacts                  (main/core/posture/snapshot.ts: os, hostname, hardware, agentVersion)
 *     "tpm"?: { "public": "<base64url TPM2B_PUBLIC of the key>", "attributes": ["fixedtpm", ...],
 *               "attestation"?: { "format": "tpm2-certify", "akPublic": "<b64url TPM2B_PUBLIC of the AK>",
 *                                 "certifyInfo": "<b64url TPM2B_ATTEST>", "certifySignature": "<b64url TPMT_SIGNATURE>" } }
 *     "tpm_ek_activation"?: { "challenge_id": "<uuid>", "secret": "<b64url>" }
 *   }`
 * `tpm.attestation` (tpm-attestation.ts): TPM2_Certify of the key by the device's attestation key,
 * its qualifying data `certifyQualifyingData({ aud, jti, jkt, enrollmentToken })` of this request.
 * `tpm_ek_activation`: the answer to `POST {broker}/enroll/ek-challenge` (credential activation of
 * the AK against the TPM's EK certificate, tpm-attestation.ts `activateWithBroker`).
 * Answer 200/201 `application/json`: `{ "deviceId": "<string>", "brokerKeys": { "keys": [JWK, ...] },
 *   "keyAttestation"?: "uncertified" | "tpm-certified" | "ek-attested", "attestationKeyName"?: "<hex>" | null,
 *   "ekIssuer"?: "<DN>" | null }`
 *   (`brokerKeys`: the broker's public signing keys, pinned by the agent for policy bundles and events;
 *   `keyAttestation`: what the broker verified about the key, kept in the identity record).
 * Refusal 4xx `application/json`: `{ "error": "<code>", "error_description"?: "<sentence>" }`.
 *
 * ## POST {broker}/rotate
 * Same framing; header `typ: "ward-rotate+jwt"`, `jwk` = the NEW key, signed by the new key. Payload:
 *   `{ "aud": "{broker}/rotate", "iat", "exp", "jti", "device_id", "jkt": <new>, "old_jkt": <old>,
 *      "assurance", "key_store", "tpm"?, "old_key_proof": <compact JWS> }`
 * (`tpm.attestation` certifies the NEW key, qualifying data `{ aud, jti, jkt: <new>, deviceId }`)
 * `old_key_proof` is signed by the OLD key: header `{ "alg": "ES256", "typ": "ward-rotate-old+jwt", "kid": <old jkt> }`,
 * payload `{ "aud", "iat", "exp", "jti" (same as outer), "device_id", "new_jkt" }`.
 * The broker verifies the inner JWS with the key it pinned for `device_id`, checks `new_jkt` is the
 * outer `jwk`'s thumbprint, and pins the new key. Answer: the same as for /enroll.
 */
import { randomUUID } from 'node:crypto';
import { dirname } from 'node:path';
import { z } from 'zod';
import { truncate } from '../errors.js';
import type { DeviceFacts } from '../posture/snapshot.js';
import { openSigner } from './device-signer.js';
import { IdentityError } from './errors.js';
import { BrokerJwksSchema, IDENTITY_RECORD_VERSION, type BrokerJwks, type IdentityFile, type IdentityRecord } from './identity-record.js';
import { jwkThumbprint, publicPart, signJwt } from './jws.js';
import { KeyAttestationAnswerSchema, keyAttestationRecord, type KeyAttestationAnswer } from './key-attestation.js';
import { RotationJournal } from './rotation-journal.js';
import type { DeviceKeyStore, DeviceSigner } from './key-store.js';
import { selectKeyStore, type HardwarePolicy, type KeyStoreEnvironment } from './select-key-store.js';
import { activateWithBroker, certifyQualifyingData, certifyTpmKey, type CertifyBinding, type EkActivationClaim, type TpmKeyAttestation } from './tpm-attestation.js';
import { TpmKeyStore } from './tpm-key-store.js';

export const ENROLL_TYP = 'ward-enroll+jwt';
export const ROTATE_TYP = 'ward-rotate+jwt';
export const ROTATE_OLD_TYP = 'ward-rotate-old+jwt';
const REQUEST_LIFETIME_SECONDS = 300;
const MAX_ANSWER_BYTES = 64 * 1024;

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

/** The broker's answer. Unknown members are dropped; a private key member is a protocol error. */
export const EnrollmentAnswerSchema = z.object({
  deviceId: z.string().min(1).max(200).regex(/^[\x21-\x7e]+$/),
  brokerKeys: z.object({
    keys: z
      .array(
        z
          .looseObject({})
          .refine((jwk) => !PRIVATE_JWK_MEMBERS.some((m) => m in jwk), 'a broker key must not contain private key members')
          .transform((jwk) => {
            const known = ['kty', 'kid', 'alg', 'use', 'crv', 'x', 'y', 'n', 'e'];
            return Object.fromEntries(Object.entries(jwk).filter(([k]) => known.includes(k)));
          })
          .pipe(BrokerJwksSchema.shape.keys.element),
      )
      .min(1)
      .max(20),
  }),
  ...KeyAttestationAnswerSchema.shape,
});
export interface EnrollmentAnswer extends KeyAttestationAnswer {
  readonly deviceId: string;
  readonly brokerKeys: BrokerJwks;
}

/** A broker base URL: https, or http only to loopback; no credentials, query or fragment. */
export function normalizeBrokerUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new IdentityError('broker-url-invalid', `"${truncate(value, 100)}" is not a URL`);
  }
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);
  if (!(url.protocol === 'https:' || (url.protocol === 'http:' && loopback))) {
    throw new IdentityError('broker-url-invalid', `the broker URL must be https:// (http:// only for 127.0.0.1), not ${url.protocol}//${url.host}`);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new IdentityError('broker-url-invalid', 'the broker URL must not carry credentials, a query or a fragment');
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

export interface EnrollmentRequestInput {
  readonly signer: DeviceSigner;
  readonly token: string;
  readonly brokerUrl: string;
  readonly device: DeviceFacts;
  /** For TPM keys: the TPM2B_PUBLIC the TPM returned, its attribute names and, if made, its attestation. */
  readonly tpm?: { readonly publicArea: Uint8Array; readonly attributes: readonly string[]; readonly attestation?: TpmKeyAttestation };
  /** The answer to the broker's EK challenge (`tpm_ek_activation` claim), when the AK was activated. */
  readonly ekActivation?: EkActivationClaim;
  readonly now?: () => number;
  readonly jti?: string;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

async function keyClaims(signer: DeviceSigner, tpm: EnrollmentRequestInput['tpm']): Promise<Record<string, unknown>> {
  return {
    jkt: await jwkThumbprint(signer.publicJwk),
    assurance: signer.assurance,
    key_store: signer.store,
    ...(tpm
      ? { tpm: { public: Buffer.from(tpm.publicArea).toString('base64url'), attributes: tpm.attributes, ...(tpm.attestation ? { attestation: tpm.attestation } : {}) } }
      : {}),
  };
}

/** The compact JWS `POST {broker}/enroll` carries (format at the top of this file). */
export async function buildEnrollmentRequest(input: EnrollmentRequestInput): Promise<string> {
  const base = normalizeBrokerUrl(input.brokerUrl);
  const iat = (input.now ?? nowSeconds)();
  return signJwt(
    input.signer,
    { typ: ENROLL_TYP, jwk: publicPart(input.signer.publicJwk) },
    {
      aud: `${base}/enroll`,
      iat,
      exp: iat + REQUEST_LIFETIME_SECONDS,
      jti: input.jti ?? randomUUID(),
      enrollment_token: input.token,
      ...(await keyClaims(input.signer, input.tpm)),
      ...(input.ekActivation ? { tpm_ek_activation: input.ekActivation } : {}),
      device: input.device,
    },
  );
}

/** A 4xx answer from the broker: a definite refusal. `reason` is its finer reason when it gave one (e.g. `same-key`). */
export class BrokerRefusal extends IdentityError {
  readonly reason: string | undefined;

  constructor(message: string, reason: string | undefined, hint = 'Ask IT for a new enrollment token if yours has expired or was used already.') {
    super('enrollment-rejected', message, { hint });
    this.reason = reason;
  }
}

/** POST a compact JWS to a broker endpoint and validate the answer. */
export async function postToBroker(endpoint: string, jws: string, fetchImpl: typeof fetch = fetch): Promise<EnrollmentAnswer> {
  const where = new URL(endpoint).origin;
  let response: Response;
  try {
    response = await fetchImpl(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/jose', accept: 'application/json' },
      body: jws,
      redirect: 'error',
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new IdentityError('broker-unreachable', `could not reach the broker at ${where}: ${truncate((err as Error).message, 200)}`, {
      cause: err,
      hint: 'Check the broker URL and your network connection, then try again.',
    });
  }
  const text = (await response.text()).slice(0, MAX_ANSWER_BYTES + 1);
  let body: unknown;
  try {
    body = text.length > MAX_ANSWER_BYTES ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (response.status >= 500) {
    throw new IdentityError('broker-unreachable', `the broker at ${where} failed (HTTP ${response.status}); try again later`);
  }
  if (!response.ok) {
    const refusal = z
      .object({ error: z.string().max(100), error_description: z.string().optional(), reason: z.string().regex(/^[a-z0-9-]{1,64}$/).optional() })
      .safeParse(body);
    // The broker's words are shown to the user: printable characters only, and bounded.
    const said = refusal.success
      ? `${refusal.data.error}${refusal.data.error_description ? `: ${refusal.data.error_description}` : ''}`.replace(/[^\x20-\x7e]/g, ' ')
      : `HTTP ${response.status}`;
    throw new BrokerRefusal(`the broker at ${where} refused the request (${truncate(said, 300)})`, refusal.success ? refusal.data.reason : undefined);
  }
  const parsed = EnrollmentAnswerSchema.safeParse(body);
  if (!parsed.success) {
    throw new IdentityError('broker-response-invalid', `the broker at ${where} answered with something that is not an enrollment answer`);
  }
  return parsed.data as EnrollmentAnswer;
}

export function newKeyAlias(): string {
  return `ward-device-${randomUUID()}`;
}

async function tpmFacts(store: DeviceKeyStore, alias: string): Promise<EnrollmentRequestInput['tpm']> {
  if (!(store instanceof TpmKeyStore)) return undefined;
  const { area, attributes } = await store.publicArea(alias);
  return { publicArea: area, attributes };
}

/**
 * For a TPM key at enrollment: {@link tpmFacts} plus a TPM2_Certify of the key bound to the
 * request, then credential activation of the AK with the broker (tpm-attestation.ts). A TPM that
 * cannot certify (no endorsement key, endorsement auth set by IT) does not stop enrollment: the
 * request goes uncertified and `attestationError` says why; likewise `ekReason` when the AK could
 * not be chained to an EK certificate.
 */
async function attestedTpmFacts(
  store: DeviceKeyStore,
  alias: string,
  binding: CertifyBinding,
  /** Enrollment: activate the AK with this broker. Rotation: no (the broker keeps what it knows of the AK). */
  ek: { readonly brokerBase: string; readonly fetch: typeof fetch | undefined } | undefined,
): Promise<{ tpm: EnrollmentRequestInput['tpm']; attestationError?: string; ekActivation?: EkActivationClaim; ekReason?: string }> {
  const tpm = await tpmFacts(store, alias);
  if (!tpm || !(store instanceof TpmKeyStore)) return { tpm };
  let attestation: TpmKeyAttestation;
  try {
    attestation = await certifyTpmKey(store, alias, certifyQualifyingData(binding));
  } catch (err) {
    if (!(err instanceof IdentityError) || err.code !== 'tpm-error') throw err;
    return { tpm, attestationError: err.message };
  }
  if (!ek) return { tpm: { ...tpm, attestation } };
  const activated = await activateWithBroker(store, alias, ek.brokerBase, attestation.akPublic, ek.fetch);
  return { tpm: { ...tpm, attestation }, ...('claim' in activated ? { ekActivation: activated.claim } : { ekReason: activated.reason }) };
}

export interface EnrollOptions {
  readonly identity: IdentityFile;
  readonly device: DeviceFacts;
  /** Production: choose the store by policy. */
  readonly policy?: HardwarePolicy;
  readonly env?: KeyStoreEnvironment;
  /** Tests: use this store instead of choosing one. */
  readonly store?: DeviceKeyStore;
  readonly fetch?: typeof fetch;
  readonly now?: () => Date;
}

export interface EnrollResult {
  readonly record: IdentityRecord;
  readonly fallbackReason: string | undefined;
  /**
   * TPM keys: whether the request carried a TPM2_Certify of the key (and if not, why), and whether
   * its AK was chained to the TPM's EK certificate by credential activation (and if not, why).
   */
  readonly keyAttestation?:
    | { readonly certified: true; readonly ekAttested: true }
    | { readonly certified: true; readonly ekAttested: false; readonly ekReason: string }
    | { readonly certified: false; readonly reason: string };
}

/**
 * Enroll this device: choose the key store by policy (no silent downgrade), create a new key,
 * send the signed request to `{broker}/enroll`, and write the identity record. A failure after the
 * key was created deletes the key again, so a retry starts clean.
 */
export async function enroll(brokerUrl: string, token: string, options: EnrollOptions): Promise<EnrollResult> {
  const base = normalizeBrokerUrl(brokerUrl);
  if (await options.identity.read()) {
    throw new IdentityError('already-enrolled', 'this device is already enrolled', {
      hint: 'Run `ward identity` to see it, or `ward reset` first to enroll again.',
    });
  }
  let store = options.store;
  let fallbackReason: string | undefined;
  if (!store) {
    if (!options.env) throw new TypeError('enroll needs either a store or a key-store environment');
    const selected = await selectKeyStore(options.policy ?? 'preferred', options.env);
    store = selected.store;
    fallbackReason = selected.fallbackReason;
  }
  const alias = newKeyAlias();
  await store.create(alias);
  try {
    const signer = await openSigner(store, alias);
    const jti = randomUUID();
    const binding = { aud: `${base}/enroll`, jti, jkt: await jwkThumbprint(signer.publicJwk), enrollmentToken: token };
    const { tpm, attestationError, ekActivation, ekReason } = await attestedTpmFacts(store, alias, binding, { brokerBase: base, fetch: options.fetch });
    const jws = await buildEnrollmentRequest({ signer, token, brokerUrl: base, device: options.device, jti, ...(tpm ? { tpm } : {}), ...(ekActivation ? { ekActivation } : {}) });
    const answer = await postToBroker(`${base}/enroll`, jws, options.fetch);
    const keyAttestation = keyAttestationRecord(answer, {
      keyStore: store.kind,
      certified: tpm?.attestation !== undefined,
      ...(attestationError ? { certifyError: attestationError } : {}),
      ...(ekReason ? { ekReason } : {}),
    });
    const record: IdentityRecord = {
      version: IDENTITY_RECORD_VERSION,
      deviceId: answer.deviceId,
      keyAlias: alias,
      keyStore: store.kind,
      assurance: store.assurance,
      thumbprint: await jwkThumbprint(signer.publicJwk),
      publicJwk: publicPart(signer.publicJwk),
      brokerUrl: base,
      brokerKeys: answer.brokerKeys,
      enrolledAt: (options.now?.() ?? new Date()).toISOString(),
      ...(fallbackReason ? { fallbackReason } : {}),
      ...(keyAttestation ? { keyAttestation } : {}),
    };
    await options.identity.write(record);
    const sent: EnrollResult['keyAttestation'] =
      tpm &&
      (!tpm.attestation
        ? { certified: false, reason: attestationError ?? 'not made' }
        : ekActivation
          ? { certified: true, ekAttested: true }
          : { certified: true, ekAttested: false, ekReason: ekReason ?? 'not tried' });
    return { record, fallbackReason, ...(sent ? { keyAttestation: sent } : {}) };
  } catch (err) {
    await store.delete(alias).catch(() => undefined);
    throw err;
  }
}

export interface RotateOptions {
  readonly identity: IdentityFile;
  /** The store holding the current key (the new key is made in the same store). */
  readonly store: DeviceKeyStore;
  readonly fetch?: typeof fetch;
  readonly now?: () => Date;
}

/** The two-signature rotation request (format at the top of this file). */
export async function buildRotationRequest(input: {
  readonly oldSigner: DeviceSigner;
  readonly newSigner: DeviceSigner;
  readonly deviceId: string;
  readonly brokerUrl: string;
  readonly tpm?: EnrollmentRequestInput['tpm'];
  readonly now?: () => number;
  /** Given when a TPM2_Certify in `tpm.attestation` was bound to it. */
  readonly jti?: string;
}): Promise<string> {
  const base = normalizeBrokerUrl(input.brokerUrl);
  const iat = (input.now ?? nowSeconds)();
  const common = { aud: `${base}/rotate`, iat, exp: iat + REQUEST_LIFETIME_SECONDS, jti: input.jti ?? randomUUID(), device_id: input.deviceId };
  const oldJkt = await jwkThumbprint(input.oldSigner.publicJwk);
  const newClaims = await keyClaims(input.newSigner, input.tpm);
  const oldKeyProof = await signJwt(input.oldSigner, { typ: ROTATE_OLD_TYP, kid: oldJkt }, { ...common, new_jkt: newClaims.jkt });
  return signJwt(
    input.newSigner,
    { typ: ROTATE_TYP, jwk: publicPart(input.newSigner.publicJwk) },
    { ...common, ...newClaims, old_jkt: oldJkt, old_key_proof: oldKeyProof },
  );
}

/**
 * Replace the device key: a new key in the same store, a request signed by both keys, the new key
 * pinned by the broker, the record rewritten, and the old key deleted.
 *
 * Nothing is lost at any point (the rotation journal, rotation-journal.ts, names both keys until
 * the end):
 *  - the broker refuses (4xx): the new key is deleted, the old key and record stay as they were;
 *  - the broker is down, fails (5xx) or the answer is lost: whether it pinned the new key is
 *    unknown, so both keys and the journal are kept; the next call re-sends the request with the
 *    same new key, and the broker either pins it then or answers `same-key` (it did the first time);
 *  - the process dies after the broker pinned the key but before `identity.json` names it: the
 *    same as a lost answer (the old key is refused until then: run `ward identity rotate` again);
 *  - the process dies after the record was written: the next call deletes the old key and ends.
 */
export async function rotateDeviceKey(options: RotateOptions): Promise<IdentityRecord> {
  const journal = new RotationJournal(dirname(options.identity.path));
  return journal.locked(() => rotateLocked(options, journal));
}

async function rotateLocked(options: RotateOptions, journal: RotationJournal): Promise<IdentityRecord> {
  const { identity, store } = options;
  const current = await identity.require();
  let pending = await journal.read();
  if (pending && pending.deviceId === current.deviceId && pending.newKeyAlias === current.keyAlias) {
    // Interrupted after the record was written: only the old key's deletion is left.
    await finishRotation(store, journal, pending.oldKeyAlias);
    return current;
  }
  if (pending && (pending.deviceId !== current.deviceId || pending.oldKeyAlias !== current.keyAlias)) {
    // Left over from an identity that no longer exists (reset, enrolled again): an orphan key.
    await store.delete(pending.newKeyAlias).catch(() => undefined);
    await journal.remove();
    pending = undefined;
  }
  const oldSigner = await openSigner(store, current.keyAlias);
  pending ??= { version: 1, deviceId: current.deviceId, oldKeyAlias: current.keyAlias, newKeyAlias: newKeyAlias(), startedAt: (options.now?.() ?? new Date()).toISOString() };
  // Written before the key exists, so no crash can leave a key that nothing names.
  await journal.write(pending);
  const alias = pending.newKeyAlias;
  try {
    if (!(await store.exists(alias))) await store.create(alias);
  } catch (err) {
    await journal.remove();
    throw err;
  }
  const newSigner = await openSigner(store, alias);
  // The new TPM key is certified by the AK, bound to this request (docs/identity.md).
  const jti = randomUUID();
  const binding = { aud: `${current.brokerUrl}/rotate`, jti, jkt: await jwkThumbprint(newSigner.publicJwk), deviceId: current.deviceId };
  const { tpm, attestationError } = await attestedTpmFacts(store, alias, binding, undefined);
  const jws = await buildRotationRequest({ oldSigner, newSigner, deviceId: current.deviceId, brokerUrl: current.brokerUrl, jti, ...(tpm ? { tpm } : {}) });
  let brokerKeys: BrokerJwks;
  // What the broker verified about the NEW key; what it said of the old key no longer applies.
  let answered: KeyAttestationAnswer = {};
  try {
    const answer = await postToBroker(`${current.brokerUrl}/rotate`, jws, options.fetch);
    if (answer.deviceId !== current.deviceId) {
      throw new IdentityError('broker-response-invalid', 'the broker answered the key rotation for a different device');
    }
    brokerKeys = answer.brokerKeys;
    answered = answer;
  } catch (err) {
    if (err instanceof BrokerRefusal && err.reason === 'same-key') {
      brokerKeys = current.brokerKeys; // an earlier attempt with this key was accepted (its answer, lost, is not known)
    } else if (err instanceof BrokerRefusal) {
      await store.delete(alias).catch(() => undefined);
      await journal.remove();
      throw new BrokerRefusal(err.message, err.reason, 'The device key was not changed: the old key stays in use.');
    } else if (err instanceof IdentityError) {
      throw new IdentityError(err.code, err.message, {
        cause: err,
        hint: 'The broker may or may not have taken the new key. Both keys are kept: run `ward identity rotate` again to finish.',
      });
    } else {
      throw err;
    }
  }
  const { keyAttestation: previous, ...rest } = current;
  const keyAttestation = keyAttestationRecord(answered, {
    keyStore: store.kind,
    certified: tpm?.attestation !== undefined,
    ...(attestationError ? { certifyError: attestationError } : {}),
    ...(previous ? { previous } : {}),
  });
  const record: IdentityRecord = {
    ...rest,
    version: IDENTITY_RECORD_VERSION,
    ...(keyAttestation ? { keyAttestation } : {}),
    keyAlias: alias,
    thumbprint: await jwkThumbprint(newSigner.publicJwk),
    publicJwk: publicPart(newSigner.publicJwk),
    brokerKeys,
    rotatedAt: (options.now?.() ?? new Date()).toISOString(),
  };
  await identity.write(record);
  await finishRotation(store, journal, current.keyAlias);
  return record;
}

async function finishRotation(store: DeviceKeyStore, journal: RotationJournal, oldKeyAlias: string): Promise<void> {
  await store.delete(oldKeyAlias).catch(() => undefined);
  await journal.remove();
}
