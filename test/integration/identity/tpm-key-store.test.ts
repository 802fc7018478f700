import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactVerify, EmbeddedJWK, importJWK, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveHost } from '../../../main/core/exec/live-host.js';
import { openSigner } from '../../../main/core/identity/device-signer.js';
import { DpopSigner } from '../../../main/core/identity/dpop.js';
import { enroll } from '../../../main/core/identity/enrollment.js';
import { IdentityFile } from '../../../main/core/identity/identity-record.js';
import { signJwt } from '../../../main/core/identity/jws.js';
import { selectKeyStore } from '../../../main/core/identity/select-key-store.js';
import { TpmKeyStore } from '../../../main/core/identity/tpm-key-store.js';
import { parseTpmPublic } from '../../../main/core/identity/tpm-structures.js';
import { startStubEnrollmentBroker } from '../../support/stub-enrollment-broker.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.js';

// Real swtpm (software TPM 2.0) on a free loopback port, driven through tpm2-tools by the
// production allow-list (LiveHost). Nothing about the TPM is faked.
let tpm: Swtpm;
let stateDir: string;
const host = new LiveHost('linux');
const newStore = (): TpmKeyStore => new TpmKeyStore({ host, stateDir, tcti: tpm.tcti });

beforeAll(async () => {
  tpm = await startSwtpm();
  stateDir = await mkdtemp(join(tmpdir(), 'ward-tpm-state-'));
});
afterAll(async () => {
  await tpm.dispose();
});

describe('TpmKeyStore on a real swtpm', () => {
  it('is found by the probe and chosen by the "required" policy', async () => {
    expect(await TpmKeyStore.probe(host, tpm.tcti)).toMatchObject({ available: true });
    const { store, fallbackReason } = await selectKeyStore('required', { host, stateDir, tcti: tpm.tcti });
    expect(store.kind).toBe('tpm');
    expect(store.assurance).toBe('hardware');
    expect(fallbackReason).toBeUndefined();
  });

  it('creates a P-256 key whose signatures jose verifies, as a JWS and as a DPoP proof', async () => {
    const store = newStore();
    const created = await store.create('sig');
    expect(created).toMatchObject({ store: 'tpm', assurance: 'hardware', publicJwk: { kty: 'EC', crv: 'P-256' } });
    const signer = await openSigner(store, 'sig');
    const jws = await signJwt(signer, { typ: 'test+jwt' }, { hello: 'tpm' });
    const key = await importJWK(created.publicJwk, 'ES256');
    expect(JSON.parse(new TextDecoder().decode((await compactVerify(jws, key)).payload))).toEqual({ hello: 'tpm' });
    const proof = await new DpopSigner(signer).proof({ method: 'GET', url: 'https://rs.example.com/x' });
    expect((await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt' })).payload.htm).toBe('GET');
  });

  it('makes a non-exportable key: fixedtpm|fixedparent|sensitivedataorigin, and the TPM refuses to duplicate it', async () => {
    const store = newStore();
    await store.create('noexport');
    const { area, attributes } = await store.publicArea('noexport');
    expect(attributes).toEqual(['fixedtpm', 'fixedparent', 'sensitivedataorigin', 'userwithauth', 'sign']);
    expect(parseTpmPublic(area).attributeNames).toContain('fixedparent');
    const handle = /"handle": "(0x[0-9a-f]+)"/.exec(await import('node:fs/promises').then((fs) => fs.readFile(join(stateDir, 'tpm-keys', 'noexport.json'), 'utf8')))?.[1];
    expect(handle).toMatch(/^0x81/);
    // Try to export it the only way TPM 2.0 has, TPM2_Duplicate to a new parent: the TPM says no.
    const parent = join(stateDir, 'new-parent.ctx');
    await tpm.tool('tpm2_createprimary', ['-C', 'o', '-g', 'sha256', '-G', 'ecc256', '-c', parent]);
    await tpm.tool('tpm2_flushcontext', ['-t']);
    const attempt = tpm.tool('tpm2_duplicate', ['-C', parent, '-c', handle!, '-G', 'null', '-r', join(stateDir, 'dup.priv'), '-s', join(stateDir, 'dup.seed')]);
    await expect(attempt).rejects.toThrow(/Esys_Duplicate|Unable to run tpm2_duplicate/);
    await tpm.tool('tpm2_flushcontext', ['-t']);
  });

  it('signs ten times concurrently, every signature valid', async () => {
    const store = newStore();
    const created = await store.create('concurrent');
    const key = await importJWK(created.publicJwk, 'ES256');
    const signer = await openSigner(store, 'concurrent');
    const jwts = await Promise.all(Array.from({ length: 10 }, (_, i) => signJwt(signer, {}, { i })));
    const payloads = await Promise.all(jwts.map(async (j) => JSON.parse(new TextDecoder().decode((await compactVerify(j, key)).payload)) as { i: number }));
    expect(payloads.map((p) => p.i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('keeps the key across an agent restart (new store object) and a TPM power cycle', async () => {
    const created = await newStore().create('survivor');
    await tpm.stop();
    await tpm.start();
    const again = newStore();
    expect(await again.exists('survivor')).toBe(true);
    const jws = await signJwt(await openSigner(again, 'survivor'), {}, { after: 'restart' });
    await expect(compactVerify(jws, await importJWK(created.publicJwk, 'ES256'))).resolves.toBeDefined();
  });

  it('gives tpm-unavailable while the TPM is stopped, and works again once it is back', async () => {
    const store = newStore();
    await store.create('outage');
    await tpm.stop();
    try {
      await expect(store.sign('outage', Buffer.from('x'))).rejects.toMatchObject({ code: 'tpm-unavailable', message: expect.stringMatching(/no TPM answered/) });
    } finally {
      await tpm.start();
    }
    expect((await store.sign('outage', Buffer.from('x'))).length).toBe(64);
  });

  it('reports a deleted key as key-not-found', async () => {
    const store = newStore();
    await store.create('deleted');
    await store.delete('deleted');
    expect(await store.exists('deleted')).toBe(false);
    await expect(store.sign('deleted', Buffer.from('x'))).rejects.toMatchObject({ code: 'key-not-found' });
  });

  it('enrolls with the TPM public area in the request', async () => {
    const broker = await startStubEnrollmentBroker();
    try {
      const identity = new IdentityFile(await mkdtemp(join(tmpdir(), 'ward-tpm-enroll-')));
      const { record } = await enroll(broker.url, 'enroll-token-0123456789', {
        identity,
        device: { os: { platform: 'linux', name: 'l', version: '1', build: null, kernel: null, arch: 'x64' }, hostname: 'h', hardware: { vendor: null, model: null, serial: null, uuid: null, virtual: null }, agentVersion: '0' },
        policy: 'required',
        env: { host, stateDir, tcti: tpm.tcti },
      });
      expect(record).toMatchObject({ keyStore: 'tpm', assurance: 'hardware' });
      const sent = broker.requests[0]?.payload as { tpm: { public: string; attributes: string[] }; assurance: string };
      expect(sent.assurance).toBe('hardware');
      expect(parseTpmPublic(Buffer.from(sent.tpm.public, 'base64url')).publicJwk).toEqual(record.publicJwk);
    } finally {
      await broker.close();
    }
  });

  // Last: these replace the TPM's contents.
  it('reports a cleared TPM as "device key lost: re-enroll" and never makes a new key silently', async () => {
    const store = newStore();
    await store.create('cleared');
    await tpm.tool('tpm2_clear', []);
    await expect(store.sign('cleared', Buffer.from('x'))).rejects.toMatchObject({ code: 'device-key-lost', message: expect.stringMatching(/^device key lost: re-enroll/) });
    await expect(store.check('cleared')).rejects.toMatchObject({ code: 'device-key-lost' });
    expect(await store.exists('cleared')).toBe(true); // the record stays until the user resets
    // Recovery is re-enrollment: delete (nothing left in the TPM) and create again.
    await store.delete('cleared');
    await store.create('cleared');
    expect((await store.sign('cleared', Buffer.from('x'))).length).toBe(64);
  });

  it('reports a replaced TPM holding another key at the same handle as device-key-lost', async () => {
    const store = newStore();
    await store.create('replaced');
    await tpm.replace();
    // A fresh TPM where some other key now sits at the handle Ward used.
    const otherDir = await mkdtemp(join(tmpdir(), 'ward-tpm-other-'));
    await new TpmKeyStore({ host, stateDir: otherDir, tcti: tpm.tcti }).create('intruder');
    await expect(store.sign('replaced', Buffer.from('x'))).rejects.toMatchObject({ code: 'device-key-lost' });
    await expect(store.check('replaced')).rejects.toMatchObject({ code: 'device-key-lost' });
  });
});
