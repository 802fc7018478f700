import { describeError } from '../errors.js';
import { openSigner } from './device-signer.js';
import { IdentityError } from './errors.js';
import { IdentityFile, type IdentityRecord } from './identity-record.js';
import type { DeviceKeyStore, DeviceSigner } from './key-store.js';
import { RotationJournal, type RotationJournalEntry } from './rotation-journal.js';
import { openKeyStore, type KeyStoreEnvironment } from './select-key-store.js';

/**
 * The enrolled device identity as the agent uses it: the record, the store that holds its key,
 * and a signer for DPoP proofs, enrollment and posture reports.
 */
export interface DeviceIdentity {
  readonly record: IdentityRecord;
  readonly store: DeviceKeyStore;
  readonly signer: DeviceSigner;
}

export interface DeviceIdentityOptions {
  readonly env: KeyStoreEnvironment;
  /** Reopen the store a record names; default `openKeyStore` (tests inject their own). */
  readonly openStore?: (record: IdentityRecord) => DeviceKeyStore;
}

/** Load the identity and its key. `not-enrolled`, `identity-corrupt`, or the store's own errors. */
export async function loadDeviceIdentity(options: DeviceIdentityOptions): Promise<DeviceIdentity> {
  const record = await new IdentityFile(options.env.stateDir).require();
  const store = options.openStore ? options.openStore(record) : openKeyStore(record.keyStore, options.env);
  const signer = await openSigner(store, record.keyAlias);
  return { record, store, signer };
}

export type IdentityStatus =
  | { readonly state: 'not-enrolled'; readonly identityFile: string }
  | {
      readonly state: 'enrolled';
      readonly record: IdentityRecord;
      readonly key: 'ok' | IdentityError;
      readonly identityFile: string;
      /** A key rotation that did not finish (`ward identity rotate` finishes it). */
      readonly pendingRotation?: RotationJournalEntry;
    }
  | { readonly state: 'damaged'; readonly error: IdentityError; readonly identityFile: string };

/** What `ward identity` and the tray show: never throws for the expected states. */
export async function identityStatus(options: DeviceIdentityOptions): Promise<IdentityStatus> {
  const file = new IdentityFile(options.env.stateDir);
  let record: IdentityRecord | undefined;
  try {
    record = await file.read();
  } catch (err) {
    if (err instanceof IdentityError) return { state: 'damaged', error: err, identityFile: file.path };
    throw err;
  }
  if (!record) return { state: 'not-enrolled', identityFile: file.path };
  const pending = await new RotationJournal(options.env.stateDir).read().catch(() => undefined);
  const enrolled = { state: 'enrolled', record, identityFile: file.path, ...(pending?.deviceId === record.deviceId ? { pendingRotation: pending } : {}) } as const;
  try {
    const store = options.openStore ? options.openStore(record) : openKeyStore(record.keyStore, options.env);
    await store.check(record.keyAlias);
    return { ...enrolled, key: 'ok' };
  } catch (err) {
    const error = err instanceof IdentityError ? err : new IdentityError('keychain-error', describeError(err), { cause: err });
    return { ...enrolled, key: error };
  }
}

export interface ResetResult {
  readonly removedIdentity: boolean;
  /** Set when the key could not be deleted (the record is removed anyway). */
  readonly keyError?: IdentityError;
}

/**
 * Forget this device's identity: delete the key (if its store still answers) and the record.
 * The broker still lists the device until IT removes it; the next enrollment makes a new device.
 */
export async function resetDevice(options: DeviceIdentityOptions): Promise<ResetResult> {
  const file = new IdentityFile(options.env.stateDir);
  let record: IdentityRecord | undefined;
  try {
    record = await file.read();
  } catch (err) {
    // A damaged record cannot name its key; removing it is exactly what reset is for.
    if (!(err instanceof IdentityError)) throw err;
  }
  let keyError: IdentityError | undefined;
  const journal = new RotationJournal(options.env.stateDir);
  if (record) {
    try {
      const store = options.openStore ? options.openStore(record) : openKeyStore(record.keyStore, options.env);
      await store.delete(record.keyAlias);
      // The new key of a rotation that never finished belongs to this identity too.
      const pending = await journal.read().catch(() => undefined);
      if (pending) await store.delete(pending.newKeyAlias);
    } catch (err) {
      keyError = err instanceof IdentityError ? err : new IdentityError('keychain-error', describeError(err), { cause: err });
    }
  }
  await journal.remove();
  const existed = record !== undefined || (await fileExists(file.path));
  await file.remove();
  return { removedIdentity: existed, ...(keyError ? { keyError } : {}) };
}

async function fileExists(path: string): Promise<boolean> {
  const { access } = await import('node:fs/promises');
  return access(path).then(
    () => true,
    () => false,
  );
}
