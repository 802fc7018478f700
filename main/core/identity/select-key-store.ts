import type { Host } from '../exec/host.js';
import { IdentityError } from './errors.js';
import { KeychainKeyStore, type KeychainKeyStoreOptions } from './keychain-key-store.js';
import type { DeviceKeyStore, KeyStoreKind } from './key-store.js';
import { TpmKeyStore } from './tpm-key-store.js';

/**
 * Managed-config `hardwareKey`:
 *  - `required`: a TPM key or nothing: enrollment fails with `hardware-required` when there is no TPM.
 *  - `preferred`: a TPM key when a TPM answers; otherwise the OS keychain, and the reason is
 *    recorded in the identity and printed (assurance `os-keychain`, never presented as hardware).
 *  - `any`: a software key sealed in the OS keychain; the TPM is not used.
 */
export type HardwarePolicy = 'required' | 'preferred' | 'any';

/** What opening a production key store needs. There is no way to ask for the memory store here. */
export interface KeyStoreEnvironment {
  readonly host: Host;
  readonly stateDir: string;
  /** tpm2-tools TCTI (default: the agent's TPM2TOOLS_TCTI or /dev/tpmrm0). */
  readonly tcti?: string;
  readonly keychain?: KeychainKeyStoreOptions;
}

export interface SelectedKeyStore {
  readonly store: DeviceKeyStore;
  /** Set when policy preferred hardware and Ward fell back: say it, record it. */
  readonly fallbackReason?: string;
}

export async function selectKeyStore(policy: HardwarePolicy, env: KeyStoreEnvironment): Promise<SelectedKeyStore> {
  if (policy === 'any') return { store: openKeyStore('os-keychain', env) };
  const probe = await TpmKeyStore.probe(env.host, env.tcti);
  if (probe.available) return { store: openKeyStore('tpm', env) };
  if (policy === 'required') {
    throw new IdentityError('hardware-required', `this device's policy requires a hardware-backed key, but no TPM is usable: ${probe.reason}`, {
      hint: 'Enable the TPM in the firmware settings (and make /dev/tpmrm0 readable), or ask IT whether a keychain key is acceptable.',
    });
  }
  return { store: openKeyStore('os-keychain', env), fallbackReason: `no TPM is usable (${probe.reason}); using a software key sealed in the OS keychain` };
}

/** Reopen the store an identity record names. Only production stores: `memory` is refused. */
export function openKeyStore(kind: KeyStoreKind, env: KeyStoreEnvironment): DeviceKeyStore {
  switch (kind) {
    case 'tpm':
      return new TpmKeyStore({ host: env.host, stateDir: env.stateDir, ...(env.tcti ? { tcti: env.tcti } : {}) });
    case 'os-keychain':
      return new KeychainKeyStore(env.keychain);
    case 'memory':
      throw new IdentityError('memory-store-forbidden', 'this identity was made with the in-memory test key store, which the agent never uses', {
        hint: 'Run `ward reset` and enroll again.',
      });
    case 'secure-enclave':
    case 'cng':
      throw new IdentityError('tpm-unavailable', `the ${kind} key store is not built yet in this version of Ward`);
  }
}
