import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { readStateFile, writeFileAtomic } from './atomic-file.js';
import { IdentityError } from './errors.js';
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

/** `<stateDir>/rotation.json`, and `<stateDir>/rotation.lock` while a process rotates. */
export class RotationJournal {
  readonly path: string;
  readonly lockPath: string;

  constructor(stateDir: string) {
    this.path = join(stateDir, 'rotation.json');
    this.lockPath = join(stateDir, 'rotation.lock');
  }

  /**
   * Hold the rotation lock while `work` runs: two rotations at once could each make a key under
   * the journal's alias. The lock file names its process; one whose process is gone (killed in
   * the middle) is taken over. Another live holder → `rotation-in-progress`.
   */
  async locked<T>(work: () => Promise<T>): Promise<T> {
    await mkdir(join(this.lockPath, '..'), { recursive: true, mode: 0o700 });
    for (let attempt = 0; ; attempt++) {
      try {
        const handle = await open(this.lockPath, 'wx', 0o600);
        await handle.writeFile(String(process.pid));
        await handle.close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const holder = Number.parseInt(await readFile(this.lockPath, 'utf8').catch(() => ''), 10);
        // A lock without a pid yet is one being taken right now (open, then write): held, unless
        // it has been empty for longer than any write takes (its process died in between).
        const beingTaken = Number.isNaN(holder) && (await lockAgeMs(this.lockPath)) < EMPTY_LOCK_STALE_MS;
        if (attempt > 0 || beingTaken || isAlive(holder)) {
          throw new IdentityError('rotation-in-progress', 'another `ward identity rotate` is replacing the device key right now', {
            hint: `Wait for it to finish, then run \`ward identity\`. If no such process runs, delete ${this.lockPath}.`,
          });
        }
        await rm(this.lockPath, { force: true }); // its process is gone
      }
    }
    try {
      return await work();
    } finally {
      await rm(this.lockPath, { force: true });
    }
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

/** How long a lock file may stay empty (created, pid not yet written) before it counts as stale. */
const EMPTY_LOCK_STALE_MS = 10_000;

/** Age of the lock file; a lock that vanished meanwhile counts as stale (Infinity). */
async function lockAgeMs(path: string): Promise<number> {
  try {
    return Date.now() - (await stat(path)).mtimeMs;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, owned by someone else
  }
}
