import { openSigner } from '../../../../main/core/identity/device-signer.js';
import type { DeviceSigner } from '../../../../main/core/identity/key-store.js';
import { MemoryKeyStore } from '../../../../main/core/identity/memory-key-store.js';

/** A device signer on the identity module's in-memory key store (tests only; assurance `none`). */
export async function testSigner(alias = 'test-device'): Promise<DeviceSigner> {
  const store = new MemoryKeyStore();
  await store.create(alias);
  return openSigner(store, alias);
}
