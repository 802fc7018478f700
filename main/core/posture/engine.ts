import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { describeError, truncate } from '../errors.js';
import { ExecError } from '../exec/exec-error.js';
import type { Host, HostRecord } from '../exec/host.js';
import { RecordingHost } from '../exec/recording-host.js';
import { ReplayHost } from '../exec/replay-host.js';
import { withTimeout } from '../exec/timeout.js';
import type { CheckContext, CheckOutcome, PostureCheck } from './check.js';
import { DEFAULT_POSTURE_CONFIG, type PostureConfig } from './config.js';
import { processProbeMemo, type ProbeMemo } from './probe-cache.js';
import { probesFor } from './probes/index.js';
import type { PostureProbes } from './probes/probes.js';
import { ALL_CHECKS } from './registry.js';
import {
  POSTURE_SCHEMA_VERSION,
  type CheckResult,
  type DeviceFacts,
  type Evidence,
  type PostureSnapshot,
} from './snapshot.js';

export const DEFAULT_CHECK_TIMEOUT_MS = 3_000;
const EXCERPT_CHARS = 1_024;

export interface EngineOptions {
  readonly host: Host;
  readonly agentVersion: string;
  readonly config?: PostureConfig;
  /** Which checks to run (default: every check for the host's platform). */
  readonly checks?: readonly PostureCheck[];
  /** Override every check's own budget (tests, the `--timeout` flag). */
  readonly timeoutMs?: number;
  readonly now?: () => Date;
  readonly mode?: 'live' | 'replay';
  readonly bundleName?: string;
  /**
   * Where slow probes keep answers (default: this process's memory). Never used in replay (the
   * bundle is the only source) nor when `host` records a capture (it must hold the real answers).
   */
  readonly memo?: ProbeMemo;
}

/** Turn what a check asked of the host into evidence lines: what was run or read, and what came back. */
export function evidenceFrom(records: readonly HostRecord[]): Evidence[] {
  return records.slice(0, 200).map((r): Evidence => {
    const err = 'error' in r && r.error ? { error: r.error.code } : {};
    switch (r.kind) {
      case 'exec': {
        const out = [r.stdout ?? '', r.stderr ?? ''].filter(Boolean).join('\n');
        return {
          kind: 'exec',
          source: truncate([r.command, ...r.args].join(' '), 4000),
          ...(r.exitCode === undefined ? {} : { exitCode: r.exitCode }),
          ...(out ? { excerpt: truncate(out, EXCERPT_CHARS) } : {}),
          ...err,
        };
      }
      case 'file':
        return { kind: 'file', source: r.path, ...(r.content ? { excerpt: truncate(r.content, EXCERPT_CHARS) } : {}), ...err };
      case 'dir':
        return { kind: 'dir', source: r.path, ...(r.entries ? { excerpt: truncate(r.entries.join(' '), EXCERPT_CHARS) } : {}), ...err };
      case 'link':
        return { kind: 'link', source: r.path, ...(r.target ? { excerpt: r.target } : {}), ...err };
      case 'hash':
        return { kind: 'hash', source: r.path, ...(r.sha256 ? { excerpt: r.sha256 } : {}), ...err };
      case 'env':
        return { kind: 'env', source: r.name, ...(r.value === undefined ? { error: 'unset' } : { excerpt: truncate(r.value, 256) }) };
      case 'call':
        return { kind: 'call', source: r.key, ...err };
    }
  });
}

function remediationFor(check: PostureCheck, ctx: CheckContext, status: CheckOutcome['status']): string[] {
  return status === 'fail' ? [...(check.remediation[ctx.platform] ?? [])] : [];
}

/**
 * Run one check within its budget. Never throws: a thrown error, a timeout or a pass without
 * evidence all become an `error` result that says what happened.
 */
export async function runCheck(
  check: PostureCheck,
  base: Omit<CheckContext, 'host' | 'signal'> & { host: Host },
  timeoutMs?: number,
): Promise<CheckResult> {
  const started = performance.now();
  const recorder = new RecordingHost(base.host);
  const abort = new AbortController();
  const ctx: CheckContext = { ...base, host: recorder, signal: abort.signal };
  const budget = timeoutMs ?? check.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  let result: CheckOutcome;
  if (!check.platforms.includes(ctx.platform)) {
    result = { status: 'unsupported', observed: {}, reason: `${check.title} is not available on ${ctx.platform}` };
  } else {
    try {
      result = await withTimeout(check.collect(ctx), budget, `the ${check.id} check`);
    } catch (err) {
      abort.abort();
      const timedOut = err instanceof ExecError && err.code === 'timeout';
      result = {
        status: 'error',
        observed: {},
        reason: timedOut ? `did not finish within its ${budget} ms budget` : `the check failed: ${truncate(describeError(err), 500)}`,
      };
    }
  }
  const evidence = [...(result.extraEvidence ?? []), ...evidenceFrom(recorder.records)];
  if (result.status === 'pass' && evidence.length === 0) {
    // A pass must show what it is based on; a check that cannot is a bug, not a pass.
    result = { status: 'error', observed: result.observed, reason: 'the check claimed a pass without evidence' };
  }
  return {
    id: check.id,
    title: check.title,
    status: result.status,
    observed: JSON.parse(JSON.stringify(result.observed ?? {})) as Record<string, unknown>,
    evidence,
    reason: truncate(result.reason, 1900),
    durationMs: Math.round((performance.now() - started) * 10) / 10,
    remediation: remediationFor(check, ctx, result.status),
  };
}

async function collectFacts(probes: PostureProbes, ctx: CheckContext, budget: number): Promise<DeviceFacts> {
  try {
    return await withTimeout(probes.deviceFacts(ctx), budget, 'device facts');
  } catch {
    // The header must never block the snapshot: fall back to what Node itself knows.
    const os = await import('node:os');
    return {
      os: { platform: ctx.platform, name: ctx.platform, version: 'unknown', build: null, kernel: null, arch: os.arch() },
      hostname: os.hostname(),
      hardware: { vendor: null, model: null, serial: null, uuid: null, virtual: null },
      agentVersion: ctx.agentVersion,
    };
  }
}

function contextBase(options: EngineOptions): Omit<CheckContext, 'signal'> {
  return {
    host: options.host,
    platform: options.host.platform,
    probes: probesFor(options.host.platform),
    config: options.config ?? DEFAULT_POSTURE_CONFIG,
    now: options.now ?? (() => new Date()),
    agentVersion: options.agentVersion,
    ...(usesMemo(options) ? { memo: options.memo ?? processProbeMemo } : {}),
  };
}

function usesMemo(options: EngineOptions): boolean {
  return options.mode !== 'replay' && !(options.host instanceof ReplayHost) && !(options.host instanceof RecordingHost);
}

/** Take a posture snapshot: every check in parallel, each within its own budget. */
export async function takeSnapshot(options: EngineOptions): Promise<PostureSnapshot> {
  const started = performance.now();
  const base = contextBase(options);
  const { probes, now } = base;
  const checks = options.checks ?? ALL_CHECKS;
  const factsCtx: CheckContext = { ...base, signal: new AbortController().signal };
  const [device, ...results] = await Promise.all([
    collectFacts(probes, factsCtx, options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS),
    ...checks.map((check) => runCheck(check, base, options.timeoutMs)),
  ]);
  return {
    schemaVersion: POSTURE_SCHEMA_VERSION,
    snapshotId: randomUUID(),
    takenAt: now().toISOString(),
    durationMs: Math.round((performance.now() - started) * 10) / 10,
    source: { mode: options.mode ?? 'live', ...(options.bundleName ? { bundle: options.bundleName } : {}) },
    device,
    checks: results,
  };
}

/** Re-run only some checks and merge them into an earlier snapshot (event-driven re-evaluation). */
export async function recheck(
  previous: PostureSnapshot,
  ids: readonly string[],
  options: EngineOptions,
): Promise<PostureSnapshot> {
  const wanted = new Set(ids);
  const checks = (options.checks ?? ALL_CHECKS).filter((c) => wanted.has(c.id));
  const started = performance.now();
  const base = contextBase(options);
  const { now } = base;
  const fresh = new Map((await Promise.all(checks.map((c) => runCheck(c, base, options.timeoutMs)))).map((r) => [r.id, r]));
  return {
    ...previous,
    snapshotId: randomUUID(),
    takenAt: now().toISOString(),
    durationMs: Math.round((performance.now() - started) * 10) / 10,
    checks: previous.checks.map((c) => fresh.get(c.id) ?? c),
  };
}
