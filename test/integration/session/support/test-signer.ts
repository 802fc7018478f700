import { generateKeyPairSync, sign } from 'node:crypto';
import type { JWK } from 'jose';
import type { DeviceSigner } from '../../../../main/core/identity/key-store.js';

/**
 * A P-256 key in this process, for tests that need a device signer but not a key store (the
 * identity module's memory store replaces it once it lands). Signs exactly like the real stores:
 * raw r‖s over SHA-256 of the input.
 */
export function testSigner(alias = 'test-device'): DeviceSigner & { readonly privateJwk: JWK } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pub = publicKey.export({ format: 'jwk' }) as JWK;
  return {
    alias,
    publicJwk: { kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y } as JWK,
    privateJwk: privateKey.export({ format: 'jwk' }) as JWK,
    assurance: 'none',
    store: 'memory',
    sign: (data) => Promise.resolve(new Uint8Array(sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' }))),
  };
}
