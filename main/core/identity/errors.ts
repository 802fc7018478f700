import { WardError } from '../errors.js';

export type IdentityErrorCode =
  /** The TPM no longer holds the enrolled key (cleared, replaced, or the key was evicted). */
  | 'device-key-lost'
  /** No key under this alias in the store. */
  | 'key-not-found'
  /** `create` was asked for an alias that already exists. */
  | 'key-exists'
  /** The key cannot leave the store (TPM keys, by construction). */
  | 'export-refused'
  /** The OS keychain is present but locked. */
  | 'keychain-locked'
  /** No OS keychain (Secret Service) is reachable. */
  | 'keychain-unavailable'
  /** The OS keychain answered with something Ward does not understand. */
  | 'keychain-error'
  /** No TPM answered (not present, not reachable, tpm2-tools missing). */
  | 'tpm-unavailable'
  /** The TPM answered with an error Ward has no better name for. */
  | 'tpm-error'
  /** Policy requires a hardware key and this device has none Ward can use. */
  | 'hardware-required'
  /** The memory key store was asked for outside tests. */
  | 'memory-store-forbidden'
  /** The device identity file is unreadable, truncated or fails validation. */
  | 'identity-corrupt'
  /** There is no device identity yet. */
  | 'not-enrolled'
  /** `ward enroll` on a device that already has an identity. */
  | 'already-enrolled'
  /** The broker URL is not usable (bad syntax, or plain http to a non-loopback host). */
  | 'broker-url-invalid'
  /** The broker could not be reached. */
  | 'broker-unreachable'
  /** The broker refused the request (bad token, policy, ...). */
  | 'enrollment-rejected'
  /** The broker answered, but not with what the protocol says. */
  | 'broker-response-invalid'
  /** A signature failed to verify against the key it claims. */
  | 'signature-invalid'
  /** Another `ward identity rotate` is replacing the device key right now. */
  | 'rotation-in-progress';

/** Errors from `main/core/identity`: a stable `code` and a sentence the user can act on. */
export class IdentityError extends WardError<IdentityErrorCode> {}

export function isIdentityError(err: unknown, code?: IdentityErrorCode): err is IdentityError {
  return err instanceof IdentityError && (code === undefined || err.code === code);
}
