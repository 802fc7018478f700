import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { readStateFile, writeFileAtomic } from './atomic-file.js';
import { KEY_ALIAS_PATTERN } from './key-store.js';

/**
 * A key rotation in progress: written (atomically, 0600) before the new key is made and before
 * the request leaves, removed once the identity names the new key and the old key is gone.
 *
 * Why: between the broker pinning the new key and `identity.json` naming it, a crash (or a lost
 * answer) would leave the device with a record the broker no longer accepts and a new key nobody
 * remembers. With the journal, the next `ward identity rotate` finds the new key again and
 * finishes: it re-sends the request with the same new key, and the broker either pins it now or
 * answers `same-key` (it pinned it the first time). See `rotateDeviceKey` in enrollment.ts.
 */
export const RotationJournalSchema = z
  .object({
    version: z.literal(1),
    deviceId: z.string().min(1).max(200),
    oldKeyAlias: z.string().regex(KEY_ALIAS_PATTERN),
    newKeyAlias: z.string().regex(KEY_ALIAS_PATTERN),
    startedAt: z.iso.datetime(),
  })
  .strict();
export type RotationJournalEntry = z.infer<typeof RotationJournalSchema>;

/** `<stateDir>/rotation.json`. */
export class RotationJournal {
  readonly path: string;

  constructor(stateDir: string) {
    this.path = join(stateDir, 'rotation.json');
  }

  /** The unfinished rotation, if any. A damaged journal is `identity-corrupt` (never half-read). */
  read(): Promise<RotationJournalEntry | undefined> {
    return readStateFile(this.path, RotationJournalSchema, 'the key rotation journal');
  }

  async write(entry: RotationJournalEntry): Promise<void> {
    await writeFileAtomic(this.path, `${JSON.stringify(RotationJournalSchema.parse(entry), null, 2)}\n`);
  }

  async remove(): Promise<void> {
    await rm(this.path, { force: true });
  }
}
