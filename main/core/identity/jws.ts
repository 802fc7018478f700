import { calculateJwkThumbprint, type JWK } from 'jose';
import type { DeviceSigner } from './key-store.js';

/** The public members of a P-256 JWK, in the form every Ward message carries (`kty`, `crv`, `x`, `y`). */
export interface EcPublicJwk {
  readonly kty: 'EC';
  readonly crv: 'P-256';
  readonly x: string;
  readonly y: string;
}

export function base64url(data: Uint8Array | string): string {
  return Buffer.from(typeof data === 'string' ? Buffer.from(data, 'utf8') : data).toString('base64url');
}

/** Strip a P-256 JWK to its public members, so no private part can ride along by accident. */
export function publicPart(jwk: JWK): EcPublicJwk {
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
    throw new TypeError('expected a P-256 public JWK');
  }
  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y };
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url): the key id brokers pin and DPoP's `cnf.jkt`. */
export function jwkThumbprint(jwk: JWK): Promise<string> {
  return calculateJwkThumbprint(jwk, 'sha256');
}

/**
 * Sign a compact JWS (ES256) with a device key. `header` may set `typ`, `kid`, `jwk`, ...; `alg`
 * is always ES256, because every Ward device key is P-256. The signer sees only the signing input
 * (RFC 7515 §5.1), so it works the same for TPM, keychain and test keys.
 *
 * @example
 *   const jwt = await signJwt(signer, { typ: 'ward-posture+jwt' }, { eat_nonce, seq });
 */
export async function signJwt(
  signer: Pick<DeviceSigner, 'sign'>,
  header: Readonly<Record<string, unknown>>,
  payload: Readonly<Record<string, unknown>>,
): Promise<string> {
  const input = `${base64url(JSON.stringify({ ...header, alg: 'ES256' }))}.${base64url(JSON.stringify(payload))}`;
  const signature = await signer.sign(Buffer.from(input, 'ascii'));
  if (signature.length !== 64) throw new TypeError(`ES256 signature must be 64 bytes, got ${signature.length}`);
  return `${input}.${base64url(signature)}`;
}
