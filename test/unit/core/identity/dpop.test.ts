import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSigner } from '../../../../main/core/identity/device-signer.js';
import { DpopSigner, isUseDpopNonce } from '../../../../main/core/identity/dpop.js';
import { MemoryKeyStore } from '../../../../main/core/identity/memory-key-store.js';

async function signer() {
  const store = new MemoryKeyStore();
  await store.create('dpop');
  return openSigner(store, 'dpop');
}

describe('DpopSigner.proof', () => {
  it('is a dpop+jwt that jose verifies with the embedded key, with htm, htu (no query), iat, jti and ath', async () => {
    const dpop = new DpopSigner(await signer(), { now: () => 1_700_000_000, newJti: () => 'jti-1' });
    const proof = await dpop.proof({ method: 'post', url: 'https://rs.example.com/api/x?q=1#f', accessToken: 'at-123' });
    const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', currentDate: new Date(1_700_000_000_000) });
    expect(protectedHeader.alg).toBe('ES256');
    expect(protectedHeader.jwk).not.toHaveProperty('d');
    expect(payload).toEqual({
      jti: 'jti-1',
      htm: 'POST',
      htu: 'https://rs.example.com/api/x',
      iat: 1_700_000_000,
      ath: createHash('sha256').update('at-123').digest('base64url'),
    });
    expect(await dpop.thumbprint()).toBe(await calculateJwkThumbprint(protectedHeader.jwk!));
  });

  it('uses a fresh jti for every proof and the nonce it was last given for that origin', async () => {
    const dpop = new DpopSigner(await signer());
    dpop.rememberNonce('https://as.example.com/token', { headers: new Headers({ 'DPoP-Nonce': 'n-1' }) });
    const a = await dpop.proof({ method: 'GET', url: 'https://as.example.com/other' });
    const b = await dpop.proof({ method: 'GET', url: 'https://elsewhere.example.com/' });
    const pa = (await jwtVerify(a, EmbeddedJWK)).payload;
    const pb = (await jwtVerify(b, EmbeddedJWK)).payload;
    expect(pa.nonce).toBe('n-1');
    expect(pb.nonce).toBeUndefined();
    expect(pa.jti).not.toBe(pb.jti);
    expect(decodeProtectedHeader(a).typ).toBe('dpop+jwt');
  });
});

describe('DpopSigner.fetch against a server that demands a nonce (RFC 9449 §8, §9)', () => {
  const seen: { dpop: string | undefined; authorization: string | undefined }[] = [];
  let base = '';
  const server = createServer((req, res) => {
    const dpop = req.headers.dpop as string | undefined;
    seen.push({ dpop, authorization: req.headers.authorization });
    void jwtVerify(dpop ?? '', EmbeddedJWK).then(
      ({ payload }) => {
        if (req.url === '/token') {
          if (payload.nonce !== 'as-nonce') {
            res.writeHead(400, { 'content-type': 'application/json', 'dpop-nonce': 'as-nonce' });
            return res.end(JSON.stringify({ error: 'use_dpop_nonce' }));
          }
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end('{"ok":true}');
        }
        if (payload.nonce !== 'rs-nonce') {
          res.writeHead(401, { 'www-authenticate': 'DPoP error="use_dpop_nonce", error_description="nonce required"', 'dpop-nonce': 'rs-nonce' });
          return res.end();
        }
        res.writeHead(200);
        return res.end('resource');
      },
      () => {
        res.writeHead(400);
        res.end();
      },
    );
  });
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('retries once with the authorization server nonce (400 use_dpop_nonce)', async () => {
    const dpop = new DpopSigner(await signer());
    const response = await dpop.fetch(`${base}/token`, { method: 'POST', body: 'grant_type=x' });
    expect(response.status).toBe(200);
    expect(dpop.nonceFor(base)).toBe('as-nonce');
  });

  it('retries once with the resource server nonce (401 WWW-Authenticate DPoP) and sends Authorization: DPoP', async () => {
    seen.length = 0;
    const dpop = new DpopSigner(await signer());
    const response = await dpop.fetch(`${base}/resource`, { accessToken: 'at-9' });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('resource');
    expect(seen).toHaveLength(2);
    expect(seen[1]?.authorization).toBe('DPoP at-9');
    const { payload } = await jwtVerify(seen[1]?.dpop ?? '', EmbeddedJWK);
    expect(payload.ath).toBe(createHash('sha256').update('at-9').digest('base64url'));
  });

  it('recognises the two use_dpop_nonce shapes and nothing else', async () => {
    expect(await isUseDpopNonce(new Response('{"error":"use_dpop_nonce"}', { status: 400, headers: { 'content-type': 'application/json' } }))).toBe(true);
    expect(await isUseDpopNonce(new Response(null, { status: 401, headers: { 'www-authenticate': 'DPoP error="use_dpop_nonce"' } }))).toBe(true);
    expect(await isUseDpopNonce(new Response('{"error":"invalid_grant"}', { status: 400, headers: { 'content-type': 'application/json' } }))).toBe(false);
    expect(await isUseDpopNonce(new Response(null, { status: 401, headers: { 'www-authenticate': 'Bearer error="use_dpop_nonce"' } }))).toBe(false);
  });
});
