import type { JWK } from 'jose';
import { IdentityError } from './errors.js';
import { assertKeyAlias, type CreatedKey, type DeviceKeyStore } from './key-store.js';
import { generateSoftwareKey, signSoftware, type SoftwareKey } from './software-key.js';

/**
 * Keys in process memory, assurance `none`. For unit tests only: the production selection
 * (`select-key-store.ts`) never constructs it and the identity loader refuses to reopen it.
 */
export class MemoryKeyStore implements DeviceKeyStore {
  readonly kind = 'memory' as const;
  readonly assurance = 'none' as const;
  private readonly keys = new Map<string, SoftwareKey>();

  create(alias: string): Promise<CreatedKey> {
    assertKeyAlias(alias);
    if (this.keys.has(alias)) return Promise.reject(new IdentityError('key-exists', `a device key named ${alias} already exists`));
    const { key } = generateSoftwareKey();
    this.keys.set(alias, key);
    return Promise.resolve({ alias, publicJwk: key.publicJwk, assurance: this.assurance, store: this.kind });
  }

  private get(alias: string): SoftwareKey {
    const key = this.keys.get(alias);
    if (!key) throw new IdentityError('key-not-found', `there is no device key named ${alias} in memory`);
    return key;
  }

  async sign(alias: string, data: Uint8Array): Promise<Uint8Array> {
    return signSoftware(this.get(alias), data);
  }

  async publicJwk(alias: string): Promise<JWK> {
    return this.get(alias).publicJwk;
  }

  async exists(alias: string): Promise<boolean> {
    return this.keys.has(alias);
  }

  async delete(alias: string): Promise<void> {
    this.keys.delete(alias);
  }

  async check(alias: string): Promise<void> {
    this.get(alias);
  }
}
