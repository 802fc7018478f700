import { createHash, randomBytes } from 'node:crypto';
import { base64url, calculateJwkThumbprint, type JWK } from 'jose';
import type { DeviceSigner } from '../identity/key-store.js';

/** What a DPoP proof (RFC 9449 §4.2) says about one request. */
export interface DpopProofInput {
  /** HTTP method, upper case. */
  readonly htm: string;
  /** Target URI without query and fragment (RFC 9449 §4.2). */
  readonly htu: string;
  /** Seconds since the epoch, already corrected for the server's clock. */
  readonly iat: number;
  readonly nonce?: string;
  /** The access token the request carries: bound through `ath`. */
  readonly accessToken?: string;
}

/** Public members of the device key only: a proof header must never carry private parts. */
export function publicOnly(jwk: JWK): JWK {
  const { kty, crv, x, y } = jwk;
  return { kty, crv, x, y } as JWK;
}

/** `htu` per RFC 9449 §4.3: scheme, authority and path; no query or fragment. */
export function htuOf(url: URL | string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/**
 * Build a DPoP proof signed by the device key. The key may be non-extractable (a TPM key), so the
 * signature comes from the `DeviceSigner`, never from a WebCrypto key the OAuth library holds.
 */
export async function createDpopProof(signer: DeviceSigner, input: DpopProofInput): Promise<string> {
  const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: publicOnly(signer.publicJwk) };
  const payload: Record<string, unknown> = {
    jti: base64url.encode(randomBytes(16)),
    htm: input.htm.toUpperCase(),
    htu: input.htu,
    iat: input.iat,
  };
  if (input.nonce !== undefined) payload.nonce = input.nonce;
  if (input.accessToken !== undefined) {
    payload.ath = base64url.encode(createHash('sha256').update(input.accessToken, 'ascii').digest());
  }
  const signingInput = `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(payload))}`;
  const signature = await signer.sign(new TextEncoder().encode(signingInput));
  return `${signingInput}.${base64url.encode(signature)}`;
}

/** RFC 7638 thumbprint of the device key: the `jkt` tokens are bound to. */
export function deviceJkt(signer: DeviceSigner): Promise<string> {
  return calculateJwkThumbprint(publicOnly(signer.publicJwk), 'sha256');
}
