import { createPrivateKey, generateKeyPairSync, sign as nodeSign, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import { publicPart, type EcPublicJwk } from './jws.js';

/** A P-256 key held in process memory (what the keychain store unseals, and the test store keeps). */
export interface SoftwareKey {
  readonly privateKey: KeyObject;
  readonly publicJwk: EcPublicJwk;
}

export function generateSoftwareKey(): { key: SoftwareKey; privateJwk: JWK } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    key: { privateKey, publicJwk: publicPart(publicKey.export({ format: 'jwk' }) as JWK) },
    privateJwk: privateKey.export({ format: 'jwk' }) as JWK,
  };
}

/** Throws a TypeError (never echoing the key) when the JWK is not a P-256 private key. */
export function importSoftwareKey(privateJwk: JWK): SoftwareKey {
  if (privateJwk.kty !== 'EC' || privateJwk.crv !== 'P-256' || typeof privateJwk.d !== 'string') {
    throw new TypeError('not a P-256 private JWK');
  }
  const privateKey = createPrivateKey({ key: privateJwk as JsonWebKey, format: 'jwk' });
  return { privateKey, publicJwk: publicPart(privateJwk) };
}

/** ES256: ECDSA P-256 over SHA-256 of `data`, raw r‖s (the JWS form, RFC 7518 §3.4). */
export function signSoftware(key: SoftwareKey, data: Uint8Array): Uint8Array {
  return nodeSign('sha256', data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
}
