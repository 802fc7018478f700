import type { Host } from '../exec/host.js';
import type { Platform } from '../platform.js';
import type { PostureConfig } from './config.js';
import type { ProbeMemo } from './probe-cache.js';
import type { PostureProbes } from './probes/probes.js';
import type { CheckStatus, Evidence } from './snapshot.js';

/** What a check is given. `host` records everything asked of it, which becomes the evidence. */
export interface CheckContext {
  readonly host: Host;
  readonly platform: Platform;
  readonly probes: PostureProbes;
  readonly config: PostureConfig;
  readonly signal: AbortSignal;
  readonly now: () => Date;
  readonly agentVersion: string;
  /** Where slow probes keep answers per fingerprint of their inputs; absent in replay and capture (always ask). */
  readonly memo?: ProbeMemo;
}

/** What a check concludes; the engine adds id, title, timing, evidence and remediation. */
export interface CheckOutcome {
  readonly status: CheckStatus;
  readonly observed: Record<string, unknown>;
  readonly reason: string;
  /** Evidence that is not a host request (e.g. the configured rule a check compared against). */
  readonly extraEvidence?: readonly Evidence[];
}

export interface PostureCheck {
  /** Stable id, used in policy rules: `disk-encryption`. */
  readonly id: string;
  readonly title: string;
  /** One sentence for `ward checks` and the UI. */
  readonly description: string;
  readonly platforms: readonly Platform[];
  /** What the check reads on each OS, for `ward checks` and the README. */
  readonly reads: Readonly<Partial<Record<Platform, string>>>;
  /** Fix steps shown when the check fails, per OS. */
  readonly remediation: Readonly<Partial<Record<Platform, readonly string[]>>>;
  /** Time budget; the engine turns an overrun into `error`. Default 3000 ms. */
  readonly timeoutMs?: number;
  collect(ctx: CheckContext): Promise<CheckOutcome>;
}

/** Shorthands so probes read as verdicts. */
export const outcome = {
  pass: (reason: string, observed: Record<string, unknown> = {}): CheckOutcome => ({ status: 'pass', reason, observed }),
  fail: (reason: string, observed: Record<string, unknown> = {}): CheckOutcome => ({ status: 'fail', reason, observed }),
  unknown: (reason: string, observed: Record<string, unknown> = {}): CheckOutcome => ({ status: 'unknown', reason, observed }),
  unsupported: (reason: string, observed: Record<string, unknown> = {}): CheckOutcome => ({
    status: 'unsupported',
    reason,
    observed,
  }),
  error: (reason: string, observed: Record<string, unknown> = {}): CheckOutcome => ({ status: 'error', reason, observed }),
};
