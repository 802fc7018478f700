import type { JWK } from 'jose';
import { z } from 'zod';
import { truncate } from '../errors.js';
import { IdentityError } from './errors.js';
import { assertKeyAlias, type CreatedKey, type DeviceKeyStore } from './key-store.js';
import { generateSoftwareKey, importSoftwareKey, signSoftware, type SoftwareKey } from './software-key.js';

/** The part of `@napi-rs/keyring`'s AsyncEntry this store uses (injectable for other OS keychains). */
export interface KeychainEntry {
  setPassword(password: string): Promise<void>;
  getPassword(): Promise<string | null | undefined>;
  deletePassword(): Promise<boolean>;
}
export type KeychainEntryFactory = (service: string, account: string) => KeychainEntry;

export interface KeychainKeyStoreOptions {
  /** Keychain service name the items are filed under (default `ward-device-key`). */
  readonly service?: string;
  /** Default: `@napi-rs/keyring`, pinned to the Secret Service on Linux. */
  readonly entry?: KeychainEntryFactory;
}

const SealedKeySchema = z
  .object({ kty: z.literal('EC'), crv: z.literal('P-256'), x: z.string(), y: z.string(), d: z.string() })
  .strict();

/**
 * Open an entry with @napi-rs/keyring. On Linux it is pinned to the Secret Service: left to
 * itself the crate falls back to the kernel keyring (keyutils), which forgets everything at
 * reboot; that would be a silent downgrade. A new entry per operation also means a new D-Bus
 * connection, so a keyring daemon that restarted is found again.
 */
async function defaultEntryFactory(): Promise<KeychainEntryFactory> {
  const { AsyncEntry } = await import('@napi-rs/keyring');
  return (service, account) => {
    const open = (): InstanceType<typeof AsyncEntry> => new AsyncEntry(service, account, { linux: { store: 'secret-service' } });
    return {
      setPassword: async (password) => open().setPassword(password),
      getPassword: async () => open().getPassword(),
      deletePassword: async () => open().deletePassword(),
    };
  };
}

/**
 * A software P-256 key generated in-process, its private JWK sealed (base64) in the OS keychain:
 * the Secret Service (gnome-keyring, KWallet) on Linux, Keychain on macOS, Credential Manager on
 * Windows. Assurance `os-keychain`: the key is software, so it is stated as the lower level.
 * Unsealed keys are cached for this process, so signing costs no keychain round-trip.
 */
export class KeychainKeyStore implements DeviceKeyStore {
  readonly kind = 'os-keychain' as const;
  readonly assurance = 'os-keychain' as const;
  private readonly service: string;
  private factory: KeychainEntryFactory | undefined;
  private readonly cache = new Map<string, SoftwareKey>();

  constructor(options: KeychainKeyStoreOptions = {}) {
    this.service = options.service ?? 'ward-device-key';
    this.factory = options.entry;
  }

  private async entry(alias: string): Promise<KeychainEntry> {
    assertKeyAlias(alias);
    this.factory ??= await defaultEntryFactory();
    return this.factory(this.service, alias);
  }

  /** One keychain call with its failure turned into a typed error. */
  private async call<T>(alias: string, what: string, work: (entry: KeychainEntry) => Promise<T>): Promise<T> {
    try {
      return await work(await this.entry(alias));
    } catch (err) {
      throw keychainFailure(err, what);
    }
  }

  async create(alias: string): Promise<CreatedKey> {
    if (await this.exists(alias)) throw new IdentityError('key-exists', `a device key named ${alias} already exists in the OS keychain`);
    const { key, privateJwk } = generateSoftwareKey();
    const sealed = Buffer.from(JSON.stringify(privateJwk), 'utf8').toString('base64');
    await this.call(alias, 'storing the device key', (e) => e.setPassword(sealed));
    this.cache.set(alias, key);
    return { alias, publicJwk: key.publicJwk, assurance: this.assurance, store: this.kind };
  }

  private async unseal(alias: string): Promise<SoftwareKey | undefined> {
    const sealed = await this.call(alias, 'reading the device key', (e) => e.getPassword());
    if (sealed === null || sealed === undefined) return undefined;
    let jwk: unknown;
    try {
      jwk = JSON.parse(Buffer.from(sealed, 'base64').toString('utf8'));
    } catch {
      jwk = undefined;
    }
    const parsed = SealedKeySchema.safeParse(jwk);
    if (!parsed.success) {
      throw new IdentityError('keychain-error', `the OS keychain item for ${alias} is not a Ward device key`, {
        hint: 'Run `ward reset` and enroll again.',
      });
    }
    return importSoftwareKey(parsed.data);
  }

  private async load(alias: string): Promise<SoftwareKey> {
    const cached = this.cache.get(alias);
    if (cached) return cached;
    const key = await this.unseal(alias);
    if (!key) {
      throw new IdentityError('key-not-found', `the OS keychain has no device key named ${alias}`, {
        hint: 'The keychain item was deleted. Run `ward reset`, then `ward enroll`.',
      });
    }
    this.cache.set(alias, key);
    return key;
  }

  async sign(alias: string, data: Uint8Array): Promise<Uint8Array> {
    return signSoftware(await this.load(alias), data);
  }

  async publicJwk(alias: string): Promise<JWK> {
    return (await this.load(alias)).publicJwk;
  }

  async exists(alias: string): Promise<boolean> {
    return (await this.call(alias, 'looking up the device key', (e) => e.getPassword())) != null;
  }

  /** Re-read the keychain (not the cache): is the key still there and readable? */
  async check(alias: string): Promise<void> {
    this.cache.delete(alias);
    await this.load(alias);
  }

  async delete(alias: string): Promise<void> {
    this.cache.delete(alias);
    await this.call(alias, 'deleting the device key', (e) => e.deletePassword());
  }
}

/**
 * What the keychain libraries say, as something a person can act on. The messages are those
 * @napi-rs/keyring gives on Linux (see REAL-COMPONENTS.md); the item's contents never appear.
 */
export function keychainFailure(err: unknown, what: string): IdentityError {
  if (err instanceof IdentityError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/unlock prompt was dismissed|is locked|locked collection/i.test(message)) {
    return new IdentityError('keychain-locked', `the OS keychain is locked, so Ward could not finish ${what}`, {
      cause: err,
      hint: 'Unlock your login keyring (log in to the desktop session, or unlock "Login" in Passwords and Keys), then try again.',
    });
  }
  if (/AccessDenied|DBus error|D-Bus|not provided by any \.service|Failed to connect|session does not exist|no secret service|platform failure|autolaunch/i.test(message)) {
    return new IdentityError('keychain-unavailable', `no OS keychain is reachable, so Ward could not finish ${what}`, {
      cause: err,
      hint: 'Ward needs a Secret Service (gnome-keyring or KWallet) in your desktop session: install and start gnome-keyring, or ask IT to enroll this device with a TPM.',
    });
  }
  return new IdentityError('keychain-error', `the OS keychain failed while ${what}: ${truncate(message, 200)}`, { cause: err });
}
