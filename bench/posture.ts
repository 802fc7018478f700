import { performance } from 'node:perf_hooks';
import si from 'systeminformation';
import { LiveHost } from '../main/core/exec/live-host.js';
import { takeSnapshot } from '../main/core/posture/engine.js';
import { currentPlatform } from '../main/core/platform.js';
import { AGENT_VERSION } from '../main/core/version.js';
import { percentile, report, round } from './stats.js';

/**
 * The full default posture snapshot against systeminformation.getAllData(), the naive way to
 * learn about a machine, measured in the same run on the same machine.
 */
export async function run(args: string[]): Promise<void> {
  const json = args.includes('--json');
  const runs = Math.max(20, Number(args.find((a) => a.startsWith('--runs='))?.slice(7) ?? 20));
  const baselineRuns = Math.max(5, Math.min(runs, Number(args.find((a) => a.startsWith('--baseline-runs='))?.slice(16) ?? 10)));
  const platform = currentPlatform();
  if (!platform) throw new Error(`no probes for ${process.platform}`);

  // One cold snapshot first: the first run pays for module loading and filesystem caches.
  const coldStart = performance.now();
  const first = await takeSnapshot({ host: new LiveHost(platform), agentVersion: AGENT_VERSION });
  const coldMs = performance.now() - coldStart;

  const ours: number[] = [];
  for (let i = 0; i < runs; i++) {
    const host = new LiveHost(platform); // a fresh host each run: no command-path cache carried over
    const t = performance.now();
    await takeSnapshot({ host, agentVersion: AGENT_VERSION });
    ours.push(performance.now() - t);
  }
  const baseline: number[] = [];
  for (let i = 0; i < baselineRuns; i++) {
    const t = performance.now();
    await si.getAllData();
    baseline.push(performance.now() - t);
  }
  const p50 = percentile(ours, 50);
  const p95 = percentile(ours, 95);
  const baselineP50 = percentile(baseline, 50);
  const figures = {
    bench: 'posture',
    checks: first.checks.length,
    runs,
    coldMs: round(coldMs),
    p50Ms: round(p50),
    p95Ms: round(p95),
    baselineRuns,
    baselineP50Ms: round(baselineP50),
    baselineP95Ms: round(percentile(baseline, 95)),
    speedup: round(baselineP50 / p50),
  };
  report(
    json,
    [
      `posture: full default snapshot (${first.checks.length} checks) over ${runs} runs`,
      `  ours      p50 ${figures.p50Ms} ms   p95 ${figures.p95Ms} ms   (cold first run ${figures.coldMs} ms)`,
      `  baseline  systeminformation.getAllData() over ${baselineRuns} runs: p50 ${figures.baselineP50Ms} ms   p95 ${figures.baselineP95Ms} ms`,
      `  speedup   ${figures.speedup}× (baseline p50 / our p50)   targets: p50 ≤ 150 ms, ≥ 8×`,
    ],
    figures,
  );
  process.exit(0); // systeminformation leaves timers behind
}
