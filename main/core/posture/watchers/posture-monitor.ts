import { EventEmitter } from 'node:events';
import { networkInterfaces } from 'node:os';
import type { Logger } from '../../log.js';
import type { Platform } from '../../platform.js';
import { systemClock, type Clock, type TimerHandle } from '../../session/clock.js';
import { recheck, takeSnapshot, type EngineOptions } from '../engine.js';
import type { PostureSnapshot } from '../snapshot.js';
import { PostureWatcher, type WatchFn } from './posture-watcher.js';
import type { WatchTarget } from './watch-target.js';

export type RecheckTrigger = 'start' | 'watch' | 'periodic' | 'manual' | 'power' | 'network';

export interface PostureUpdate {
  readonly snapshot: PostureSnapshot;
  /** Checks whose status or observed facts differ from the previous snapshot. */
  readonly changedChecks: readonly string[];
  readonly trigger: RecheckTrigger;
  /** What the OS told us changed, when the trigger is `watch`. */
  readonly paths?: readonly string[];
  /** When the change was first noticed (ms, by the monitor's clock). */
  readonly noticedAt: number;
}

export interface PostureMonitorOptions {
  readonly engine: EngineOptions;
  readonly targets: readonly WatchTarget[];
  readonly clock?: Clock;
  /** The safety net: a full re-check at least this often (default 60 s). */
  readonly fullRecheckMs?: number;
  /**
   * Checks too costly for the 60 s safety net (os-updates runs an apt simulation for seconds):
   * they are re-collected when their files change, and otherwise every `heavyRecheckMs`.
   */
  readonly heavyChecks?: readonly string[];
  /** Default 15 minutes. */
  readonly heavyRecheckMs?: number;
  /** Poll the network interface list this often (0 turns it off; default 5 s). */
  readonly networkPollMs?: number;
  /** Checks that depend on the network (re-collected when interfaces change). */
  readonly networkChecks?: readonly string[];
  readonly debounceMs?: number;
  readonly watch?: WatchFn;
  readonly log?: Logger;
}

export interface PostureMonitorEvents {
  update: [update: PostureUpdate];
  error: [err: Error];
}

/**
 * Checks left out of the 60 s safety net by default; they re-run on their watches and every 15 min.
 * Linux: both run package-manager commands for up to seconds (apt lists, apt.conf.d and dpkg status
 * are watched). macOS: `softwareupdate -l` asks Apple's servers. Windows: `Get-HotFix` is a WMI
 * query and the rule counts days. Windows and macOS auto-update read one registry key or plist,
 * so they stay in the 60 s pass (on Windows nothing else would notice the registry change).
 */
export const DEFAULT_HEAVY_CHECKS: Readonly<Record<Platform, readonly string[]>> = {
  linux: ['os-updates', 'auto-update'],
  darwin: ['os-updates'],
  win32: ['os-updates'],
};

function fingerprint(check: PostureSnapshot['checks'][number]): string {
  return `${check.status}|${JSON.stringify(check.observed)}`;
}

function networkFingerprint(): string {
  const ifaces = networkInterfaces();
  return Object.keys(ifaces)
    .sort()
    .map((name) => `${name}=${(ifaces[name] ?? []).map((a) => a.address).sort().join(',')}`)
    .join(';');
}

/**
 * Keeps a current posture snapshot: file-system events re-collect only the affected checks, a
 * full re-check runs every `fullRecheckMs` as a safety net, and network interface changes
 * re-collect the network-dependent checks. Rechecks are serialised; requests that arrive while
 * one runs are merged into the next.
 */
export class PostureMonitor extends EventEmitter<PostureMonitorEvents> {
  readonly #o: PostureMonitorOptions;
  readonly #clock: Clock;
  readonly #watcher: PostureWatcher;
  #snapshot: PostureSnapshot | undefined;
  #fullTimer: TimerHandle | undefined;
  #netTimer: TimerHandle | undefined;
  #netPrint = '';
  #lastHeavyAt = 0;
  #running: Promise<void> = Promise.resolve();
  #queued: { ids: Set<string> | 'all'; trigger: RecheckTrigger; paths: Set<string>; noticedAt: number } | undefined;
  #busy = false;
  #stopped = false;

  constructor(options: PostureMonitorOptions) {
    super();
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#watcher = new PostureWatcher({
      targets: options.targets,
      clock: this.#clock,
      ...(options.debounceMs === undefined ? {} : { debounceMs: options.debounceMs }),
      ...(options.watch ? { watch: options.watch } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
    this.#watcher.on('changed', (ids, paths) => this.request(ids, 'watch', paths));
  }

  get snapshot(): PostureSnapshot | undefined {
    return this.#snapshot;
  }

  get isChecking(): boolean {
    return this.#busy;
  }

  /** Take the first snapshot, arm the watches and the timers. */
  async start(): Promise<PostureSnapshot> {
    this.#stopped = false;
    const armed = this.#watcher.arm();
    this.#o.log?.info({ mod: 'posture-monitor', watched: armed.watched.length, missing: armed.missing.length }, 'posture watches armed');
    this.request('all', 'start');
    await this.idle();
    this.#lastHeavyAt = this.#clock.now();
    this.#scheduleFull();
    if ((this.#o.networkPollMs ?? 5_000) > 0) {
      this.#netPrint = networkFingerprint();
      this.#scheduleNet();
    }
    return this.#snapshot!;
  }

  stop(): void {
    this.#stopped = true;
    this.#watcher.stop();
    if (this.#fullTimer !== undefined) this.#clock.clearTimeout(this.#fullTimer);
    if (this.#netTimer !== undefined) this.#clock.clearTimeout(this.#netTimer);
  }

  setTargets(targets: readonly WatchTarget[]): void {
    this.#watcher.setTargets(targets);
    this.#watcher.arm();
  }

  /** Resolves when no recheck is running or queued. */
  async idle(): Promise<void> {
    while (this.#busy || this.#queued) await this.#running;
  }

  /** Ask for a recheck of some checks (or all). Returns when that recheck has run. */
  request(ids: readonly string[] | 'all', trigger: RecheckTrigger, paths: readonly string[] = []): Promise<void> {
    const now = this.#clock.now();
    if (!this.#queued) this.#queued = { ids: ids === 'all' ? 'all' : new Set(ids), trigger, paths: new Set(paths), noticedAt: now };
    else {
      if (ids === 'all') this.#queued.ids = 'all';
      else if (this.#queued.ids !== 'all') for (const id of ids) this.#queued.ids.add(id);
      for (const p of paths) this.#queued.paths.add(p);
    }
    if (!this.#busy) this.#running = this.#loop();
    return this.#running;
  }

  async #loop(): Promise<void> {
    this.#busy = true;
    try {
      while (this.#queued && !this.#stopped) {
        const job = this.#queued;
        this.#queued = undefined;
        try {
          await this.#run(job);
        } catch (err) {
          this.emit('error', err instanceof Error ? err : new Error(String(err)));
        }
      }
    } finally {
      this.#busy = false;
    }
  }

  async #run(job: { ids: Set<string> | 'all'; trigger: RecheckTrigger; paths: Set<string>; noticedAt: number }): Promise<void> {
    const previous = this.#snapshot;
    const next =
      job.ids === 'all' || !previous
        ? await takeSnapshot({ ...this.#o.engine, now: () => new Date(this.#clock.now()) })
        : await recheck(previous, [...job.ids], { ...this.#o.engine, now: () => new Date(this.#clock.now()) });
    const before = new Map((previous?.checks ?? []).map((c) => [c.id, fingerprint(c)]));
    const changedChecks = next.checks.filter((c) => before.get(c.id) !== fingerprint(c)).map((c) => c.id);
    this.#snapshot = next;
    this.emit('update', {
      snapshot: next,
      changedChecks,
      trigger: job.trigger,
      ...(job.paths.size > 0 ? { paths: [...job.paths] } : {}),
      noticedAt: job.noticedAt,
    });
  }

  #scheduleFull(): void {
    if (this.#stopped) return;
    this.#fullTimer = this.#clock.setTimeout(() => {
      this.#watcher.arm(); // pick up directories created since
      const now = this.#clock.now();
      const heavyDue = now - this.#lastHeavyAt >= (this.#o.heavyRecheckMs ?? 15 * 60_000);
      const heavy = new Set(this.#o.heavyChecks ?? DEFAULT_HEAVY_CHECKS[this.#o.engine.host.platform]);
      const ids = heavyDue ? 'all' : (this.#snapshot?.checks ?? []).map((c) => c.id).filter((id) => !heavy.has(id));
      if (heavyDue) this.#lastHeavyAt = now;
      void this.request(ids, 'periodic').finally(() => this.#scheduleFull());
    }, this.#o.fullRecheckMs ?? 60_000);
  }

  #scheduleNet(): void {
    if (this.#stopped) return;
    this.#netTimer = this.#clock.setTimeout(() => {
      const print = networkFingerprint();
      if (print !== this.#netPrint) {
        this.#netPrint = print;
        void this.request(this.#o.networkChecks ?? ['firewall', 'remote-login'], 'network');
      }
      this.#scheduleNet();
    }, this.#o.networkPollMs ?? 5_000);
  }
}
