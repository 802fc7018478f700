import type { PostureConfig } from '../config.js';

/**
 * Something a check reads that the OS tells us about when it changes: a file (watched through
 * its directory, so an atomic rename-over by dpkg or an editor is still seen), a directory
 * (any entry changing counts), or files whose name starts with the path's last component
 * (`prefix`: macOS per-host preferences are named `<domain>.<hardware UUID>.plist`).
 */
export interface WatchTarget {
  readonly path: string;
  readonly kind: 'file' | 'dir' | 'prefix';
  /** The checks to re-collect when it changes. */
  readonly checks: readonly string[];
}

export interface WatchTargetContext {
  readonly home: string | undefined;
  readonly config: PostureConfig;
  /**
   * Where the OS's absolute paths are looked for (default `/`). Tests mirror macOS paths in a
   * temporary directory with it; configured required files and home paths are not moved.
   */
  readonly root?: string;
}

/** Paths in managed config are watched on every OS: a required file's directory. */
export function configTargets(config: PostureConfig): WatchTarget[] {
  return config.requiredFiles.map((rule) => ({ path: rule.path, kind: 'file' as const, checks: ['required-files'] }));
}
