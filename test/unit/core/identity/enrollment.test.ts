import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactVerify, decodeProtectedHeader, EmbeddedJWK } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSigner } from '../../../../main/core/identity/device-signer.js';
import { buildEnrollmentRequest, enroll, normalizeBrokerUrl, rotateDeviceKey } from '../../../../main/core/identity/enrollment.js';
import { IdentityFile } from '../../../../main/core/identity/identity-record.js';
import { jwkThumbprint } from '../../../../main/core/identity/jws.js';
import { MemoryKeyStore } from '../../../../main/core/identity/memory-key-store.js';
import type { DeviceFacts } from '../../../../main/core/posture/snapshot.js';
import { startStubEnrollmentBroker, type StubEnrollmentBroker } from '../../../support/stub-enrollment-broker.js';

const TOKEN = 'enroll-token-0123456789';
const DEVICE: DeviceFacts = {
  os: { platform: 'linux', name: 'Debian GNU/Linux', version: '12', build: null, kernel: '6.1.0', arch: 'x64' },
  hostname: 'laptop-1',
  hardware: { vendor: null, model: null, serial: null, uuid: null, virtual: true },
  agentVersion: '0.1.0',
};

let broker: StubEnrollmentBroker;
let identity: IdentityFile;
beforeEach(async () => {
  broker = await startStubEnrollmentBroker();
  identity = new IdentityFile(await mkdtemp(join(tmpdir(), 'ward-enroll-test-')));
});
afterEach(() => broker.close());

describe('buildEnrollmentRequest', () => {
  it('is a ward-enroll+jwt signed by the new key, carrying token, facts, assurance and thumbprint', async () => {
    const store = new MemoryKeyStore();
    await store.create('k');
    const signer = await openSigner(store, 'k');
    const jws = await buildEnrollmentRequest({ signer, token: TOKEN, brokerUrl: 'https://b.example.com/ward/', device: DEVICE, now: () => 1000, jti: 'j' });
    const { payload, protectedHeader } = await compactVerify(jws, EmbeddedJWK);
    expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'ward-enroll+jwt', jwk: signer.publicJwk });
    expect(JSON.parse(new TextDecoder().decode(payload))).toEqual({
      aud: 'https://b.example.com/ward/enroll',
      iat: 1000,
      exp: 1300,
      jti: 'j',
      enrollment_token: TOKEN,
      jkt: await jwkThumbprint(signer.publicJwk),
      assurance: 'none',
      key_store: 'memory',
      device: DEVICE,
    });
  });
});

describe('enroll', () => {
  it('enrolls, pins the broker keys, and writes the identity record', async () => {
    const store = new MemoryKeyStore();
    const { record } = await enroll(broker.url, TOKEN, { identity, device: DEVICE, store });
    expect(record).toMatchObject({ deviceId: 'dev-1', keyStore: 'memory', assurance: 'none', brokerUrl: broker.url });
    expect(record.brokerKeys.keys[0]?.kid).toBe('broker-1');
    expect(await identity.read()).toEqual(record);
    expect(await store.exists(record.keyAlias)).toBe(true);
    expect(broker.requests[0]?.payload.jkt).toBe(record.thumbprint);
  });

  it('turns a refused token into enrollment-rejected with the broker reason, and deletes the new key', async () => {
    const store = new MemoryKeyStore();
    await expect(enroll(broker.url, 'wrong-token-0000000000', { identity, device: DEVICE, store })).rejects.toMatchObject({
      code: 'enrollment-rejected',
      message: expect.stringContaining('invalid_token: enrollment token unknown or used'),
    });
    expect(await identity.read()).toBeUndefined();
    // Recovery: the right token works on the same device afterwards.
    const { record } = await enroll(broker.url, TOKEN, { identity, device: DEVICE, store });
    expect(record.deviceId).toBe('dev-1');
  });

  it('refuses to enroll twice', async () => {
    const store = new MemoryKeyStore();
    await enroll(broker.url, TOKEN, { identity, device: DEVICE, store });
    await expect(enroll(broker.url, TOKEN, { identity, device: DEVICE, store })).rejects.toMatchObject({ code: 'already-enrolled' });
  });

  it('rejects answers that do not follow the protocol, including a broker key with a private part', async () => {
    const store = new MemoryKeyStore();
    broker.answerNext(200, { deviceId: 'd' });
    await expect(enroll(broker.url, TOKEN, { identity, device: DEVICE, store })).rejects.toMatchObject({ code: 'broker-response-invalid' });
    broker.answerNext(200, { deviceId: 'd', brokerKeys: { keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'c' }] } });
    await expect(enroll(broker.url, TOKEN, { identity, device: DEVICE, store })).rejects.toMatchObject({ code: 'broker-response-invalid' });
    broker.answerNext(503, {});
    await expect(enroll(broker.url, TOKEN, { identity, device: DEVICE, store })).rejects.toMatchObject({ code: 'broker-unreachable' });
    expect(await identity.read()).toBeUndefined();
  });

  it('reports an unreachable broker and refuses plain http to a non-loopback host', async () => {
    const closed = broker.url;
    await broker.close();
    broker = await startStubEnrollmentBroker();
    await expect(enroll(closed, TOKEN, { identity, device: DEVICE, store: new MemoryKeyStore() })).rejects.toMatchObject({ code: 'broker-unreachable' });
    expect(() => normalizeBrokerUrl('http://broker.example.com')).toThrow(/https/);
    expect(() => normalizeBrokerUrl('https://u:p@broker.example.com')).toThrow(/credentials/);
    expect(normalizeBrokerUrl('https://broker.example.com/base/')).toBe('https://broker.example.com/base');
  });
});

describe('rotateDeviceKey', () => {
  it('pins a new key with a request signed by both keys, rewrites the record and deletes the old key', async () => {
    const store = new MemoryKeyStore();
    const { record: before } = await enroll(broker.url, TOKEN, { identity, device: DEVICE, store });
    const after = await rotateDeviceKey({ identity, store });
    expect(after.deviceId).toBe(before.deviceId);
    expect(after.thumbprint).not.toBe(before.thumbprint);
    expect(after.rotatedAt).toBeDefined();
    expect(await store.exists(before.keyAlias)).toBe(false);
    expect(await store.exists(after.keyAlias)).toBe(true);
    const rotation = broker.requests.find((r) => r.path === '/rotate');
    expect(rotation?.payload).toMatchObject({ old_jkt: before.thumbprint, jkt: after.thumbprint, device_id: before.deviceId });
    expect(decodeProtectedHeader(String(rotation?.payload.old_key_proof))).toMatchObject({ typ: 'ward-rotate-old+jwt', kid: before.thumbprint });
    expect(await identity.read()).toEqual(after);
  });

  it('keeps the old key and record when the broker refuses the rotation', async () => {
    const store = new MemoryKeyStore();
    const { record: before } = await enroll(broker.url, TOKEN, { identity, device: DEVICE, store });
    broker.answerNext(403, { error: 'access_denied' });
    await expect(rotateDeviceKey({ identity, store })).rejects.toMatchObject({ code: 'enrollment-rejected' });
    expect(await identity.read()).toEqual(before);
    expect(await store.exists(before.keyAlias)).toBe(true);
  });
});
