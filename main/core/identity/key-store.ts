import type { JWK } from 'jose';

/**
 * How a device key is held, stated in every attestation. Nothing silently falls back to a weaker
 * level: the broker's policy decides what it accepts.
 *  - `hardware`: TPM 2.0 / Secure Enclave / Platform Crypto Provider, non-exportable
 *  - `os-keychain`: a software key sealed in the OS keychain
 *  - `none`: a key with no protection (unit tests only; never selectable in production config)
 */
export type AssuranceLevel = 'hardware' | 'os-keychain' | 'none';

export type KeyStoreKind = 'tpm' | 'os-keychain' | 'secure-enclave' | 'cng' | 'memory';

export interface CreatedKey {
  readonly alias: string;
  /** Public P-256 key as a JWK (`kty: EC`, `crv: P-256`, `x`, `y`), no private parts. */
  readonly publicJwk: JWK;
  readonly assurance: AssuranceLevel;
  readonly store: KeyStoreKind;
}

/**
 * A store of P-256 device keys that never leave it. `sign` returns a raw ES256 signature (r‖s,
 * 64 bytes) over SHA-256 of `data`, ready for a JWS.
 */
export interface DeviceKeyStore {
  readonly kind: KeyStoreKind;
  readonly assurance: AssuranceLevel;
  create(alias: string): Promise<CreatedKey>;
  sign(alias: string, data: Uint8Array): Promise<Uint8Array>;
  publicJwk(alias: string): Promise<JWK>;
  exists(alias: string): Promise<boolean>;
  delete(alias: string): Promise<void>;
  /**
   * Confirm the key is still usable where it lives (the TPM still holds it, the keychain is
   * unlocked and still has it). Throws the typed error a signature would (`device-key-lost`,
   * `keychain-locked`, `tpm-unavailable`, ...); resolves when all is well.
   */
  check(alias: string): Promise<void>;
}

/** Aliases name files and keychain entries: keep them to a safe, printable alphabet. */
export const KEY_ALIAS_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function assertKeyAlias(alias: string): void {
  if (!KEY_ALIAS_PATTERN.test(alias)) throw new TypeError(`invalid key alias ${JSON.stringify(alias.slice(0, 40))}`);
}

/** A device key bound to one alias: what DPoP proofs, enrollment and posture reports sign with. */
export interface DeviceSigner {
  readonly alias: string;
  readonly publicJwk: JWK;
  readonly assurance: AssuranceLevel;
  readonly store: KeyStoreKind;
  /** ES256 over `data` (the JWS signing input), raw r‖s. */
  sign(data: Uint8Array): Promise<Uint8Array>;
}
