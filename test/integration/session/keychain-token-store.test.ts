import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeychainTokenStore } from '../../../main/core/session/token-store.js';
import type { TokenSet } from '../../../main/core/session/token-set.js';
import { startKeyring, type TestKeyring } from '../../support/keyring.js';

// Real gnome-keyring (Secret Service) on a private D-Bus session in a throw-away HOME.
let keyring: TestKeyring;
const SERVICE = 'ward-token-test';
const tokens: TokenSet = {
  issuer: 'http://127.0.0.1:8443',
  accessToken: 'access-token-value',
  refreshToken: 'refresh-token-value',
  tokenType: 'DPoP',
  expiresAt: 1_900_000_000_000,
  jkt: 'i8YvrF3DlbhKNKAmZsdGlD6tezG3lXX3KlCvG8tWKjA',
  subject: 'alice',
};

beforeAll(async () => {
  keyring = await startKeyring();
  keyring.useInThisProcess();
});
afterAll(async () => {
  await keyring.dispose();
});

describe('KeychainTokenStore on a real gnome-keyring', () => {
  it('keeps the tokens in the Secret Service across store objects, and wipes them', async () => {
    await new KeychainTokenStore('http://127.0.0.1:8443', { service: SERVICE }).save(tokens);
    const item = await keyring.secretTool(['lookup', 'service', SERVICE, 'username', 'tokens:http://127.0.0.1:8443']);
    expect(JSON.parse(item)).toMatchObject({ subject: 'alice', tokenType: 'DPoP' });
    const again = new KeychainTokenStore('http://127.0.0.1:8443', { service: SERVICE });
    expect(await again.load()).toEqual(tokens);
    await again.clear();
    expect(await again.load()).toBeUndefined();
    await again.clear(); // clearing twice is fine
  });

  it('treats a corrupt entry as signed out rather than half-reading it', async () => {
    const { AsyncEntry } = await import('@napi-rs/keyring');
    await new AsyncEntry(SERVICE, 'tokens:corrupt', { linux: { store: 'secret-service' } }).setPassword('{"accessToken": "trunc');
    expect(await new KeychainTokenStore('corrupt', { service: SERVICE }).load()).toBeUndefined();
  });

  it('says what to do when the keyring daemon is gone, without the token in the message', async () => {
    await keyring.stopDaemon();
    try {
      const err = await new KeychainTokenStore('http://127.0.0.1:8443', { service: SERVICE }).save(tokens).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'keychain-unavailable' });
      expect(String((err as Error).message)).not.toContain('access-token-value');
    } finally {
      await keyring.startDaemon();
    }
    await new KeychainTokenStore('http://127.0.0.1:8443', { service: SERVICE }).save(tokens);
  });
});
