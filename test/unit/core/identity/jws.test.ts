import { compactVerify, decodeProtectedHeader, EmbeddedJWK, importJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { openSigner } from '../../../../main/core/identity/device-signer.js';
import { jwkThumbprint, publicPart, signJwt } from '../../../../main/core/identity/jws.js';
import { MemoryKeyStore } from '../../../../main/core/identity/memory-key-store.js';

describe('jwkThumbprint', () => {
  it('gives the RFC 7638 §3.1 example thumbprint for the example key', async () => {
    const rfcKey = {
      kty: 'RSA',
      n:
        '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMst' +
        'n64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91' +
        'CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
      alg: 'RS256',
      kid: '2011-04-29',
    };
    expect(await jwkThumbprint(rfcKey)).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });
});

describe('signJwt', () => {
  it('makes an ES256 compact JWS that jose verifies, with the caller header and payload', async () => {
    const store = new MemoryKeyStore();
    await store.create('k');
    const signer = await openSigner(store, 'k');
    const jwt = await signJwt(signer, { typ: 'ward-posture+jwt', jwk: signer.publicJwk, alg: 'none' }, { seq: 7, eat_nonce: 'n' });
    const { payload, protectedHeader } = await compactVerify(jwt, EmbeddedJWK);
    expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'ward-posture+jwt' });
    expect(JSON.parse(new TextDecoder().decode(payload))).toEqual({ seq: 7, eat_nonce: 'n' });
  });

  it('is refused by jose under a different key', async () => {
    const store = new MemoryKeyStore();
    await store.create('a');
    await store.create('b');
    const jwt = await signJwt(await openSigner(store, 'a'), {}, { x: 1 });
    const other = await importJWK(await store.publicJwk('b'), 'ES256');
    await expect(compactVerify(jwt, other)).rejects.toThrow(/signature verification failed/);
    expect(decodeProtectedHeader(jwt).alg).toBe('ES256');
  });

  it('refuses a signer that does not return 64 bytes', async () => {
    await expect(signJwt({ sign: async () => new Uint8Array(70) }, {}, {})).rejects.toThrow(/64 bytes/);
  });
});

describe('publicPart', () => {
  it('drops private and extra members', () => {
    expect(publicPart({ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'secret', kid: 'k' })).toEqual({ kty: 'EC', crv: 'P-256', x: 'a', y: 'b' });
    expect(() => publicPart({ kty: 'RSA', n: 'a', e: 'b' })).toThrow(TypeError);
  });
});
