import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactVerify, importJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIO } from '../../../main/cli/io.js';
import { main } from '../../../main/cli.js';
import { openSigner } from '../../../main/core/identity/device-signer.js';
import { KeychainKeyStore } from '../../../main/core/identity/keychain-key-store.js';
import { signJwt } from '../../../main/core/identity/jws.js';
import { startKeyring, type TestKeyring } from '../../support/keyring.js';
import { startStubEnrollmentBroker } from '../../support/stub-enrollment-broker.js';

// Real gnome-keyring (Secret Service) on a private D-Bus session in a throw-away HOME.
let keyring: TestKeyring;
const SERVICE = 'ward-device-key-test';
const newStore = (): KeychainKeyStore => new KeychainKeyStore({ service: SERVICE });

beforeAll(async () => {
  keyring = await startKeyring();
  keyring.useInThisProcess();
});
afterAll(async () => {
  await keyring.dispose();
});

describe('KeychainKeyStore on a real gnome-keyring', () => {
  it('seals the key in the Secret Service (not the kernel keyring), and signatures verify with jose', async () => {
    const created = await newStore().create('sealed');
    expect(created).toMatchObject({ store: 'os-keychain', assurance: 'os-keychain' });
    // The item is visible to another Secret Service client: it lives in gnome-keyring.
    const item = await keyring.secretTool(['lookup', 'service', SERVICE, 'username', 'sealed']);
    expect(JSON.parse(Buffer.from(item, 'base64').toString('utf8'))).toMatchObject({ kty: 'EC', crv: 'P-256', x: created.publicJwk.x });
    // A new store object (an agent restart) unseals the same key.
    const jws = await signJwt(await openSigner(newStore(), 'sealed'), {}, { hi: 1 });
    await expect(compactVerify(jws, await importJWK(created.publicJwk, 'ES256'))).resolves.toBeDefined();
  });

  it('signs ten times concurrently', async () => {
    const created = await newStore().create('concurrent');
    const store = newStore();
    const key = await importJWK(created.publicJwk, 'ES256');
    const signer = await openSigner(store, 'concurrent');
    const jwts = await Promise.all(Array.from({ length: 10 }, (_, i) => signJwt(signer, {}, { i })));
    for (const jwt of jwts) await expect(compactVerify(jwt, key)).resolves.toBeDefined();
  });

  it('gives keychain-locked while the keyring is locked, and recovers once it is unlocked', async () => {
    await newStore().create('locked');
    await keyring.lock();
    await expect(newStore().sign('locked', Buffer.from('x'))).rejects.toMatchObject({
      code: 'keychain-locked',
      hint: expect.stringMatching(/Unlock your login keyring/),
    });
    await keyring.unlock();
    expect((await newStore().sign('locked', Buffer.from('x'))).length).toBe(64);
  });

  it('gives keychain-unavailable when no Secret Service runs, and recovers when it is back', async () => {
    await newStore().create('outage');
    await keyring.stopDaemon();
    try {
      await expect(newStore().sign('outage', Buffer.from('x'))).rejects.toMatchObject({ code: 'keychain-unavailable' });
    } finally {
      await keyring.startDaemon();
    }
    expect((await newStore().sign('outage', Buffer.from('x'))).length).toBe(64);
  });

  it('gives key-not-found when the item was deleted behind Ward\'s back, and can make a new one', async () => {
    await newStore().create('deleted');
    await keyring.secretTool(['clear', 'service', SERVICE, 'username', 'deleted']);
    const store = newStore();
    await expect(store.sign('deleted', Buffer.from('x'))).rejects.toMatchObject({ code: 'key-not-found' });
    await expect(store.check('deleted')).rejects.toMatchObject({ code: 'key-not-found' });
    await store.create('deleted');
    expect((await store.sign('deleted', Buffer.from('x'))).length).toBe(64);
  });
});

describe('ward identity / enroll / reset with the OS keychain', () => {
  function io(env: NodeJS.ProcessEnv) {
    const out: string[] = [];
    const err: string[] = [];
    const cli: CliIO = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), isTTY: false, env };
    return { cli, out, err };
  }

  it('explains "not enrolled", enrolls, shows the identity, reports a corrupt file, and resets', async () => {
    const home = await mkdtemp(join(tmpdir(), 'ward-cli-home-'));
    const env: NodeJS.ProcessEnv = { HOME: home, WARD_STATE_DIR: join(home, 'state'), TPM2TOOLS_TCTI: 'swtpm:host=127.0.0.1,port=9' };
    const broker = await startStubEnrollmentBroker();
    try {
      let r = io(env);
      expect(await main(['identity'], r.cli)).toBe(1);
      expect(r.out.join('')).toMatch(/not enrolled/);

      r = io({ ...env, WARD_ENROLLMENT_TOKEN: 'enroll-token-0123456789' });
      expect(await main(['enroll', '--broker', broker.url], r.cli)).toBe(0);
      expect(r.out.join('')).toMatch(/device id\s+dev-1/);
      expect(r.err.join('')).toMatch(/note: no TPM is usable/); // policy "preferred" fell back, and said so
      expect(r.out.join('') + r.err.join('')).not.toContain('enroll-token-0123456789');

      r = io(env);
      expect(await main(['identity'], r.cli)).toBe(0);
      expect(r.out.join('')).toMatch(/assurance\s+os-keychain/);
      expect(r.out.join('')).toMatch(/key\s+present and usable/);

      await writeFile(join(home, 'state', 'identity.json'), '{"version":1,"deviceId":');
      r = io(env);
      expect(await main(['identity'], r.cli)).toBe(1);
      expect(r.out.join('')).toMatch(/damaged.*truncated/);

      r = io(env);
      expect(await main(['reset'], r.cli)).toBe(2); // no terminal, no --yes: nothing happens
      expect(await main(['reset', '--yes'], io(env).cli)).toBe(0);
      r = io(env);
      expect(await main(['identity'], r.cli)).toBe(1);
      expect(r.out.join('')).toMatch(/not enrolled/);
    } finally {
      await broker.close();
    }
  });
});
