import { monitorEventLoopDelay, PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';

/** How long the event loop was blocked and by how much garbage collection, over one window. */
export interface LoopStats {
  readonly seconds: number;
  /** Event-loop delay (`monitorEventLoopDelay`, 1 ms resolution): how late a timer ran, in ms. */
  readonly delayP50Ms: number;
  readonly delayP99Ms: number;
  readonly delayMaxMs: number;
  /** GC pauses by kind (`minor` = scavenge of the young generation): count, total and longest ms. */
  readonly gc: Record<string, { readonly count: number; readonly totalMs: number; readonly maxMs: number }>;
}

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

const round = (ms: number): number => Math.round(ms * 100) / 100;

/**
 * A diagnostic for the ingestion benchmark, off unless `WARD_BROKER_LOOP_STATS=1` (the
 * histogram's timer and the GC observer cost a little on every turn): each `signal` prints one
 * `loop-stats {json}` line to `write` with the figures since the previous one, then starts over.
 * The bench's device process sends the signal as its open loop starts and ends.
 */
export function startLoopStats(write: (line: string) => void, signal: NodeJS.Signals = 'SIGUSR2'): () => void {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  let gc: Record<string, { count: number; totalMs: number; maxMs: number }> = {};
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[]) {
      const kind = GC_KINDS[entry.detail?.kind ?? -1] ?? 'other';
      const figures = (gc[kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
      figures.count++;
      figures.totalMs += entry.duration;
      figures.maxMs = Math.max(figures.maxMs, entry.duration);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  delay.enable();
  let since = performance.now();
  const dump = (): void => {
    const stats: LoopStats = {
      seconds: round((performance.now() - since) / 1000),
      delayP50Ms: round(delay.percentile(50) / 1e6),
      delayP99Ms: round(delay.percentile(99) / 1e6),
      delayMaxMs: round(delay.max / 1e6),
      gc: Object.fromEntries(Object.entries(gc).map(([k, v]) => [k, { count: v.count, totalMs: round(v.totalMs), maxMs: round(v.maxMs) }])),
    };
    write(`loop-stats ${JSON.stringify(stats)}\n`);
    delay.reset();
    gc = {};
    since = performance.now();
  };
  process.on(signal, dump);
  return () => {
    process.off(signal, dump);
    delay.disable();
    observer.disconnect();
  };
}
