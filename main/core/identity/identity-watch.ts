import { watch, type FSWatcher } from 'node:fs';

/**
 * Call `onChange` when `<stateDir>/identity.json` may have changed: `ward identity rotate` (or
 * `ward reset`) in another process. The record is replaced by a rename (atomic-file.ts), so the
 * directory is watched, not the file (a watch on the file would follow the old inode). The
 * listener only hints: the agent re-reads the record and compares thumbprints, so spurious or
 * repeated calls cost one small read.
 */
export function watchIdentityFile(stateDir: string, onChange: () => void): { close(): void } {
  let watcher: FSWatcher;
  try {
    watcher = watch(stateDir, { persistent: false }, (_event, filename) => {
      // Some platforms do not name the file: treat that as a possible change.
      if (filename === null || filename === 'identity.json') onChange();
    });
  } catch {
    return { close: () => undefined }; // no state directory: nothing is enrolled to rotate
  }
  // A state directory that disappears ends the watch; the agent's other paths (a refused event
  // channel, the broker's credential-change event) still find a rotated key.
  watcher.on('error', () => watcher.close());
  return { close: () => watcher.close() };
}
