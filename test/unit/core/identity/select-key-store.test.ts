import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LiveHost } from '../../../../main/core/exec/live-host.js';
import { keychainFailure } from '../../../../main/core/identity/keychain-key-store.js';
import { openKeyStore, selectKeyStore } from '../../../../main/core/identity/select-key-store.js';
import { freePort } from '../../../support/ports.js';

// A TCTI pointing at a loopback port nobody listens on: the real "no TPM" answer from tpm2-tools.
async function noTpmEnv() {
  return { host: new LiveHost('linux'), stateDir: await mkdtemp(join(tmpdir(), 'ward-select-')), tcti: `swtpm:host=127.0.0.1,port=${await freePort(2)}` };
}

describe('selectKeyStore', () => {
  it('fails enrollment with hardware-required when policy requires hardware and no TPM answers', async () => {
    await expect(selectKeyStore('required', await noTpmEnv())).rejects.toMatchObject({
      code: 'hardware-required',
      message: expect.stringMatching(/requires a hardware-backed key, but no TPM is usable/),
    });
  });

  it('falls back to the OS keychain under "preferred", and says so', async () => {
    const selected = await selectKeyStore('preferred', await noTpmEnv());
    expect(selected.store.kind).toBe('os-keychain');
    expect(selected.store.assurance).toBe('os-keychain');
    expect(selected.fallbackReason).toMatch(/no TPM is usable/);
  });

  it('uses the OS keychain under "any" without a fallback note', async () => {
    const selected = await selectKeyStore('any', await noTpmEnv());
    expect(selected.store.kind).toBe('os-keychain');
    expect(selected.fallbackReason).toBeUndefined();
  });

  it('never opens the memory store for a production identity', async () => {
    expect(() => openKeyStore('memory', { host: new LiveHost('linux'), stateDir: '/nonexistent' })).toThrow(
      expect.objectContaining({ code: 'memory-store-forbidden' }),
    );
  });
});

describe('keychainFailure', () => {
  // The messages @napi-rs/keyring gives on Linux (REAL-COMPONENTS.md, and seen in the integration tests).
  it.each([
    ["Couldn't access platform storage: AccessDenied", 'keychain-unavailable'],
    ["Couldn't access platform storage: Secret Service: unlock prompt was dismissed", 'keychain-locked'],
    ['Platform failure: DBus error: The name org.freedesktop.secrets was not provided by any .service files', 'keychain-unavailable'],
    ['Platform failure: DBus error: Failed to connect to socket /run/user/1000/bus: No such file or directory', 'keychain-unavailable'],
    ['something new', 'keychain-error'],
  ])('maps "%s" to %s with a sentence to act on', (message, code) => {
    const err = keychainFailure(new Error(message), 'reading the device key');
    expect(err.code).toBe(code);
    expect(err.message).toMatch(/reading the device key/);
    if (code !== 'keychain-error') expect(err.hint).toMatch(/keyring|Secret Service/);
  });
});
