import { WardError } from '../errors.js';

/**
 * Why an update was refused. Stable codes: the tray shows them, IT searches logs for them.
 *  - `unsigned`            the manifest came without a signature
 *  - `signature-invalid`   the signature does not verify with a pinned key (tampered manifest or foreign key)
 *  - `wrong-channel`       signed for another channel than the one this device follows
 *  - `manifest-invalid`    signed, but not an update manifest Ward understands
 *  - `downgrade`           the offered version is older than the running one
 *  - `not-newer`           the offered version is the running one
 *  - `not-in-rollout`      staged rollout: this device's bucket is not yet included
 *  - `artifact-unknown`    the downloaded file is not listed in the manifest
 *  - `artifact-unreadable` the downloaded file could not be read
 *  - `size-mismatch`       the downloaded file's size differs from the manifest
 *  - `hash-mismatch`       the downloaded file's SHA-512 differs from the manifest
 */
export type UpdateRefusalCode =
  | 'unsigned'
  | 'signature-invalid'
  | 'wrong-channel'
  | 'manifest-invalid'
  | 'downgrade'
  | 'not-newer'
  | 'not-in-rollout'
  | 'artifact-unknown'
  | 'artifact-unreadable'
  | 'size-mismatch'
  | 'hash-mismatch';

export class UpdateRefusedError extends WardError<UpdateRefusalCode> {}
