import { join } from 'node:path';
import type { WatchTarget, WatchTargetContext } from './watch-target.js';

/**
 * Where the answer to a probe's request lives on the machine.
 * - `file` / `dir`: a path the OS reports changes of (fs.watch: inotify, FSEvents,
 *   ReadDirectoryChangesW). `prefix` is a file name prefix inside a directory (macOS per-host
 *   preference files carry the hardware UUID in their name).
 * - `registry`: a Windows registry key. fs.watch cannot see it (see `SafetyNetOnly`).
 * - `opaque`: state held by a daemon, the kernel, firmware or a remote service: nothing to watch.
 *
 * `home: true` paths are relative to the user's home; other paths are absolute on the target OS
 * and resolved under `WatchTargetContext.root` (default `/`), which lets a test mirror them in a
 * temporary directory.
 */
export type StateLocation =
  | { readonly kind: 'file' | 'dir' | 'prefix'; readonly path: string; readonly home?: boolean }
  | { readonly kind: 'registry'; readonly key: string }
  | { readonly kind: 'opaque'; readonly what: string };

/** One request a probe makes through its `Host`, the checks that make it, and where its answer lives. */
export interface ProbeRead {
  /** The allow-listed command and exact arguments, or a file the probe reads itself. */
  readonly request: { readonly exec: readonly [string, readonly string[]] } | { readonly file: string };
  readonly checks: readonly string[];
  readonly state: readonly StateLocation[];
}

/**
 * A place no watch covers, and why the 60 s safety net (or the 15-minute pass for heavy checks,
 * or the agent's own restart) is the answer there. Every `registry` and `opaque` location, and
 * any file deliberately left unwatched, must be listed; a test enforces it and that the reason
 * appears in `docs/posture-macos-windows.md`.
 */
export interface SafetyNetOnly {
  /** `locationId(...)` of the location. */
  readonly location: string;
  readonly why: string;
}

/** A stable name for a location: the path (with `~/` for home paths), the key, or the description. */
export function locationId(loc: StateLocation): string {
  switch (loc.kind) {
    case 'registry':
      return loc.key;
    case 'opaque':
      return loc.what;
    default:
      return `${loc.home ? '~/' : ''}${loc.path}${loc.kind === 'prefix' ? '*' : ''}`;
  }
}

/** How a request shows in a check's evidence (`exec` source or file path). */
export function requestId(read: ProbeRead): string {
  const r = read.request;
  return 'exec' in r ? [r.exec[0], ...r.exec[1]].join(' ') : r.file;
}

/**
 * The watch targets for the watchable locations of `reads` (every location not listed in
 * `safetyNetOnly`), merged per path. Home paths are skipped when the home is unknown.
 */
export function targetsFromReads(reads: readonly ProbeRead[], safetyNetOnly: readonly SafetyNetOnly[], ctx: WatchTargetContext): WatchTarget[] {
  const skip = new Set(safetyNetOnly.map((s) => s.location));
  const byPath = new Map<string, { kind: WatchTarget['kind']; checks: Set<string> }>();
  for (const read of reads) {
    for (const loc of read.state) {
      if (loc.kind === 'registry' || loc.kind === 'opaque' || skip.has(locationId(loc))) continue;
      if (loc.home && !ctx.home) continue;
      const path = loc.home ? join(ctx.home!, loc.path) : join(ctx.root ?? '/', loc.path);
      const entry = byPath.get(path) ?? { kind: loc.kind, checks: new Set<string>() };
      for (const c of read.checks) entry.checks.add(c);
      byPath.set(path, entry);
    }
  }
  return [...byPath].map(([path, e]) => ({ path, kind: e.kind, checks: [...e.checks].sort() }));
}
