import { createHash, createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import { BrokerSdkError, reject, type Rejection } from './errors.js';

/**
 * Anything that makes an ES256 signature over a JWS signing input: a {@link es256Signer} around
 * a private key, or the agent's `DeviceSigner` (TPM, keychain), which has the same shape.
 *
 * @example
 * ```ts
 * const signer: JwsSigner = { alg: 'ES256', kid: 'broker-2025', sign: (data) => hsm.sign(data) };
 * ```
 */
export interface JwsSigner {
  readonly alg?: 'ES256';
  /** Put in the JWS header as `kid` when present. */
  readonly kid?: string;
  /** Raw r‖s ES256 signature (64 bytes) over `data`. */
  sign(data: Uint8Array): Promise<Uint8Array> | Uint8Array;
}

/** A P-256 public key ready for the hot path: imported once, named by its RFC 7638 thumbprint. */
export interface DeviceKey {
  /** RFC 7638 JWK SHA-256 thumbprint, base64url. */
  readonly thumbprint: string;
  /** `{ kty: 'EC', crv: 'P-256', x, y }` — public members only. */
  readonly publicJwk: JWK;
  readonly keyObject: KeyObject;
}

/** A public key as callers hold it: a JWK, a `KeyObject`, or an already imported {@link DeviceKey}. */
export type PublicKeyInput = JWK | KeyObject | DeviceKey;

/**
 * A trusted verification key named by the `kid` tokens carry (policy bundles, SETs).
 *
 * @example
 * ```ts
 * const keys: VerificationKey[] = [{ kid: 'policy-2025', key: publicJwk }];
 * ```
 */
export interface VerificationKey {
  readonly kid: string;
  readonly key: PublicKeyInput;
}

/**
 * Verify a parsed JWS with the trusted key its `kid` names.
 *
 * @example
 * ```ts
 * const outcome = verifyWithKid(parsed, keys);
 * if (outcome !== 'ok') return reject(outcome, '…');
 * ```
 */
export function verifyWithKid(parsed: ParsedJws, keys: readonly VerificationKey[]): 'ok' | 'unknown-key' | 'bad-signature' {
  const entry = typeof parsed.header.kid === 'string' ? keys.find((k) => k.kid === parsed.header.kid) : undefined;
  if (!entry) return 'unknown-key';
  let key: DeviceKey;
  try {
    key = importDeviceKey(entry.key);
  } catch {
    return 'unknown-key';
  }
  return verifyEs256(parsed, key.keyObject) ? 'ok' : 'bad-signature';
}

const B64URL = /^[A-Za-z0-9_-]*$/;
const MAX_TOKEN_CHARS = 256 * 1024;
const KEY_CACHE_MAX = 50_000;
const keyCache = new Map<string, DeviceKey>();

/**
 * RFC 7638 JWK thumbprint (SHA-256, base64url) of a P-256 public key, computed synchronously.
 *
 * @example
 * ```ts
 * const kid = jwkThumbprint({ kty: 'EC', crv: 'P-256', x, y }); // 43 base64url characters
 * ```
 */
export function jwkThumbprint(jwk: JWK): string {
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
    throw new BrokerSdkError('invalid-key', 'only P-256 EC public keys are supported');
  }
  // RFC 7638 §3.2: required members only, lexicographic order, no whitespace.
  const canonical = `{"crv":"P-256","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`;
  return createHash('sha256').update(canonical).digest('base64url');
}

function isDeviceKey(key: PublicKeyInput): key is DeviceKey {
  return typeof key === 'object' && key !== null && 'thumbprint' in key && 'keyObject' in key;
}

function isKeyObject(key: PublicKeyInput): key is KeyObject {
  return typeof (key as KeyObject).export === 'function' && typeof (key as KeyObject).type === 'string';
}

/**
 * Import a P-256 public key once and cache it by its coordinates, so verifying many reports
 * from the same device never re-imports the key. Throws `BrokerSdkError('invalid-key')` for
 * anything that is not a P-256 public key.
 *
 * @example
 * ```ts
 * const key = importDeviceKey(device.publicJwk);
 * key.thumbprint; // what the broker pins at enrollment
 * ```
 */
export function importDeviceKey(input: PublicKeyInput): DeviceKey {
  if (isDeviceKey(input)) return input;
  let jwk: JWK;
  if (isKeyObject(input)) {
    if (input.type !== 'public' && input.type !== 'private') throw new BrokerSdkError('invalid-key', 'expected an EC public key');
    jwk = input.export({ format: 'jwk' }) as JWK;
  } else {
    jwk = input;
  }
  if (typeof jwk !== 'object' || jwk === null || jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
    throw new BrokerSdkError('invalid-key', 'only P-256 EC public keys are supported');
  }
  if (!B64URL.test(jwk.x) || !B64URL.test(jwk.y) || jwk.x.length !== 43 || jwk.y.length !== 43) {
    throw new BrokerSdkError('invalid-key', 'the key coordinates are not 32-byte base64url values');
  }
  const cacheKey = `${jwk.x}.${jwk.y}`;
  const cached = keyCache.get(cacheKey);
  if (cached) return cached;
  const publicJwk: JWK = { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y };
  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey({ key: publicJwk as JsonWebKey, format: 'jwk' });
  } catch (err) {
    throw new BrokerSdkError('invalid-key', 'the key is not a point on P-256', { cause: err });
  }
  const key: DeviceKey = { thumbprint: jwkThumbprint(publicJwk), publicJwk, keyObject };
  if (keyCache.size >= KEY_CACHE_MAX) {
    const oldest = keyCache.keys().next().value;
    if (oldest !== undefined) keyCache.delete(oldest);
  }
  keyCache.set(cacheKey, key);
  return key;
}

/**
 * A {@link JwsSigner} over a P-256 private key held in this process (a broker's policy or SET
 * signing key). Device keys sign through their `DeviceSigner` instead.
 *
 * @example
 * ```ts
 * const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
 * const signer = es256Signer(privateKey, 'policy-2025-01');
 * ```
 */
export function es256Signer(privateKey: KeyObject | JWK, kid?: string): JwsSigner {
  let key: KeyObject;
  try {
    key = isKeyObject(privateKey as PublicKeyInput)
      ? (privateKey as KeyObject)
      : createPrivateKey({ key: privateKey as JsonWebKey, format: 'jwk' });
  } catch (err) {
    throw new BrokerSdkError('invalid-key', 'the signing key is not a usable private key', { cause: err });
  }
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new BrokerSdkError('invalid-key', 'the signing key must be a P-256 private key');
  }
  return {
    alg: 'ES256',
    ...(kid === undefined ? {} : { kid }),
    sign: (data) => cryptoSign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }),
  };
}

/**
 * Sign a compact JWS (`alg: ES256`) with any {@link JwsSigner}. `payload` is JSON-serialised.
 *
 * @example
 * ```ts
 * const jws = await signCompactJws({ typ: 'ward-policy+jwt' }, { version: 3 }, signer);
 * ```
 */
export async function signCompactJws(header: Record<string, unknown>, payload: unknown, signer: JwsSigner): Promise<string> {
  const fullHeader = { ...header, alg: 'ES256', ...(signer.kid !== undefined && header.kid === undefined ? { kid: signer.kid } : {}) };
  const signingInput = `${Buffer.from(JSON.stringify(fullHeader)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  let signature: Uint8Array;
  try {
    signature = await signer.sign(new TextEncoder().encode(signingInput));
  } catch (err) {
    throw new BrokerSdkError('signing-failed', 'the signer could not sign the token', { cause: err });
  }
  if (signature.length !== 64) throw new BrokerSdkError('signing-failed', `the signer returned ${signature.length} bytes, not a 64-byte ES256 signature`);
  return `${signingInput}.${Buffer.from(signature).toString('base64url')}`;
}

/** A compact JWS split into its parts, with the protected header parsed. */
export interface ParsedJws {
  readonly header: Readonly<Record<string, unknown>>;
  readonly headerB64: string;
  readonly payloadB64: string;
  /** `header.payload`, the bytes the signature covers. */
  readonly signingInput: string;
  readonly signature: Buffer;
}

// The protected header of a device's reports is byte-identical from one report to the next:
// parse it once (bounded cache, most recently inserted wins).
const HEADER_CACHE_MAX = 10_000;
const headerCache = new Map<string, Readonly<Record<string, unknown>>>();

function parseHeader(headerB64: string): Readonly<Record<string, unknown>> | undefined {
  const cached = headerCache.get(headerB64);
  if (cached) return cached;
  const parsed = parseJsonSegment(headerB64);
  if (parsed === undefined || typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const header = Object.freeze(parsed as Record<string, unknown>);
  if (headerCache.size >= HEADER_CACHE_MAX) headerCache.clear();
  headerCache.set(headerB64, header);
  return header;
}

/**
 * Decode a base64url JSON segment; `undefined` when it is not base64url or not JSON.
 *
 * @example
 * ```ts
 * parseJsonSegment(jwt.split('.')[1]!); // the payload object, unverified
 * ```
 */
export function parseJsonSegment(segment: string): unknown {
  if (!B64URL.test(segment)) return undefined;
  try {
    return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Decode the payload of a JWS whose signature has already been verified: the bytes are the
 * signer's own, so the alphabet check of {@link parseJsonSegment} (a quarter of the decoding
 * cost on a 4 KB report) is skipped. `undefined` when it is not JSON.
 *
 * @example
 * ```ts
 * if (verifyEs256(parsed, key)) claims = decodeVerifiedPayload(parsed);
 * ```
 */
export function decodeVerifiedPayload(parsed: ParsedJws): unknown {
  try {
    return JSON.parse(Buffer.from(parsed.payloadB64, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Split and decode a compact JWS without verifying it. Never throws: anything that is not three
 * base64url segments with a JSON-object header and a 64-byte signature is `malformed`.
 *
 * @example
 * ```ts
 * const parsed = parseCompactJws(token);
 * if ('ok' in parsed) return parsed; // malformed
 * parsed.header.typ;
 * ```
 */
export function parseCompactJws(token: unknown): ParsedJws | Rejection<'malformed'> {
  if (typeof token !== 'string') return reject('malformed', 'the token is not a string');
  if (token.length > MAX_TOKEN_CHARS) return reject('malformed', `the token is longer than ${MAX_TOKEN_CHARS} characters`);
  const first = token.indexOf('.');
  const last = token.lastIndexOf('.');
  if (first <= 0 || last === first || token.indexOf('.', first + 1) !== last) return reject('malformed', 'a compact JWS has exactly three dot-separated parts');
  const headerB64 = token.slice(0, first);
  const payloadB64 = token.slice(first + 1, last);
  const signatureB64 = token.slice(last + 1);
  if (!B64URL.test(signatureB64) || signatureB64.length !== 86) return reject('malformed', 'the signature is not a 64-byte base64url ES256 signature');
  const header = parseHeader(headerB64);
  if (!header) return reject('malformed', 'the protected header is not a base64url JSON object');
  // The payload's alphabet is checked when it is decoded (parseJsonSegment), not twice.
  return { header, headerB64, payloadB64, signingInput: token.slice(0, last), signature: Buffer.from(signatureB64, 'base64url') };
}

/**
 * Check an ES256 signature of a parsed JWS against one public key (`node:crypto`, r‖s form).
 *
 * @example
 * ```ts
 * if (!verifyEs256(parsed, importDeviceKey(jwk).keyObject)) return reject('bad-signature', '…');
 * ```
 */
export function verifyEs256(parsed: ParsedJws, key: KeyObject): boolean {
  try {
    return cryptoVerify('sha256', Buffer.from(parsed.signingInput, 'latin1'), { key, dsaEncoding: 'ieee-p1363' }, parsed.signature);
  } catch {
    return false;
  }
}

/** The reasons {@link keyFromJwkHeader} can refuse a self-signed request's header with. */
export type JwkHeaderRejectReason = 'wrong-typ' | 'unsupported-alg' | 'malformed' | 'invalid-key';

/**
 * Check the header of a request signed by the key it carries (enrollment, key rotation): the
 * expected `typ`, ES256, no `crit`, a public P-256 `jwk` (no private parts) and a `kid`, if any,
 * equal to its RFC 7638 thumbprint. Returns the imported key, or why the header is refused.
 * The signature is not checked here.
 *
 * @example
 * ```ts
 * const key = keyFromJwkHeader(parsed, 'ward-enroll+jwt', 'enrollment requests');
 * if ('ok' in key) return key; // refused
 * ```
 */
export function keyFromJwkHeader(parsed: ParsedJws, typ: string, what: string): DeviceKey | Rejection<JwkHeaderRejectReason> {
  const { header } = parsed;
  if (header.typ !== typ) return reject('wrong-typ', `the typ is not ${typ}`);
  if (header.alg !== 'ES256') return reject('unsupported-alg', `${what} must be signed with ES256`);
  if (header.crit !== undefined) return reject('malformed', 'the header has crit parameters this verifier does not understand');
  const jwk = header.jwk;
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return reject('invalid-key', 'the header carries no jwk');
  if ('d' in jwk) return reject('invalid-key', 'the jwk header must not contain private key material');
  let key: DeviceKey;
  try {
    key = importDeviceKey(jwk as JWK);
  } catch {
    return reject('invalid-key', 'the jwk header is not a P-256 public key');
  }
  if (header.kid !== undefined && header.kid !== key.thumbprint) return reject('invalid-key', 'the kid is not the thumbprint of the jwk');
  return key;
}
