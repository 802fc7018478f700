import { EventEmitter } from 'node:events';
import { watch as fsWatch } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from '../../log.js';
import { systemClock, type Clock, type TimerHandle } from '../../session/clock.js';
import type { WatchTarget } from './watch-target.js';

/** `fs.watch`, injectable so a test can count what is armed; production uses the real one. */
export type WatchFn = (path: string, listener: (eventType: string, filename: string | null) => void) => { close(): void; on(event: 'error', l: (err: Error) => void): unknown };

export interface PostureWatcherOptions {
  readonly targets: readonly WatchTarget[];
  readonly clock?: Clock;
  /** Events within this window after the first one form one batch (default 100 ms). */
  readonly debounceMs?: number;
  readonly watch?: WatchFn;
  readonly log?: Logger;
}

export interface PostureWatcherEvents {
  /** Checks to re-collect, and the paths whose change caused it. */
  changed: [checkIds: string[], paths: string[]];
}

interface DirWatch {
  readonly dir: string;
  /** basename → checks; `*` → checks for any entry; `name*` → entries starting with `name`. */
  readonly rules: Map<string, Set<string>>;
  handle?: { close(): void };
}

/**
 * Turns file-system events on what the checks read into "re-collect these checks", debounced:
 * a package upgrade touching dpkg's status file a dozen times becomes one batch, and the first
 * event of a batch is at most `debounceMs` from the recheck.
 */
export class PostureWatcher extends EventEmitter<PostureWatcherEvents> {
  readonly #clock: Clock;
  readonly #debounceMs: number;
  readonly #watch: WatchFn;
  readonly #log: Logger | undefined;
  #dirs = new Map<string, DirWatch>();
  #pendingChecks = new Set<string>();
  #pendingPaths = new Set<string>();
  #timer: TimerHandle | undefined;

  constructor(options: PostureWatcherOptions) {
    super();
    this.#clock = options.clock ?? systemClock;
    this.#debounceMs = options.debounceMs ?? 100;
    this.#watch = options.watch ?? ((path, listener) => fsWatch(path, { persistent: false }, listener));
    this.#log = options.log;
    this.setTargets(options.targets);
  }

  /** Replace the targets (config changed). Directories already watched stay armed. */
  setTargets(targets: readonly WatchTarget[]): void {
    const next = new Map<string, DirWatch>();
    for (const t of targets) {
      const dir = t.kind === 'dir' ? t.path : dirname(t.path);
      const name = t.kind === 'dir' ? '*' : t.kind === 'prefix' ? `${basename(t.path)}*` : basename(t.path);
      const entry = next.get(dir) ?? { dir, rules: new Map<string, Set<string>>(), ...(this.#dirs.get(dir)?.handle ? { handle: this.#dirs.get(dir)!.handle! } : {}) };
      const set = entry.rules.get(name) ?? new Set<string>();
      for (const c of t.checks) set.add(c);
      entry.rules.set(name, set);
      next.set(dir, entry);
    }
    for (const [dir, old] of this.#dirs) if (!next.has(dir)) old.handle?.close();
    this.#dirs = next;
  }

  /**
   * Arm a watch on every directory that exists; returns what is watched and what is not (yet).
   * Call again later to pick up directories that appeared (the monitor does, every full re-check).
   */
  arm(): { watched: string[]; missing: string[] } {
    const watched: string[] = [];
    const missing: string[] = [];
    for (const entry of this.#dirs.values()) {
      if (entry.handle) {
        watched.push(entry.dir);
        continue;
      }
      try {
        const handle = this.#watch(entry.dir, (_event, filename) => this.#onEvent(entry, filename));
        handle.on('error', (err) => {
          // The directory went away (or was replaced): re-armed at the next arm().
          this.#log?.debug({ mod: 'watch', dir: entry.dir, err: err.message }, 'watch lost');
          handle.close();
          delete entry.handle;
          this.#queue(entry, [...entry.rules.values()].flatMap((s) => [...s]), entry.dir);
        });
        entry.handle = handle;
        watched.push(entry.dir);
      } catch {
        missing.push(entry.dir);
      }
    }
    return { watched, missing };
  }

  stop(): void {
    for (const entry of this.#dirs.values()) {
      entry.handle?.close();
      delete entry.handle;
    }
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #onEvent(entry: DirWatch, filename: string | Buffer | null): void {
    const name = filename === null ? null : String(filename);
    const checks: string[] = [];
    for (const [rule, ids] of entry.rules) {
      // No filename (some platforms) means "something in here changed": take every rule.
      if (rule === '*' || name === null || rule === name || (rule.endsWith('*') && name.startsWith(rule.slice(0, -1)))) checks.push(...ids);
    }
    if (checks.length > 0) this.#queue(entry, checks, name === null ? entry.dir : `${entry.dir}/${name}`);
  }

  #queue(_entry: DirWatch, checks: readonly string[], path: string): void {
    for (const c of checks) this.#pendingChecks.add(c);
    this.#pendingPaths.add(path);
    if (this.#timer !== undefined) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      const ids = [...this.#pendingChecks].sort();
      const paths = [...this.#pendingPaths].sort();
      this.#pendingChecks.clear();
      this.#pendingPaths.clear();
      this.emit('changed', ids, paths);
    }, this.#debounceMs);
  }
}
