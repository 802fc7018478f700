import type { CheckStatus } from '../posture/snapshot.js';
import type { Expectation, Policy, PolicyRule } from './schema.js';

/**
 * What policy evaluation reads: the checks of a `PostureSnapshot` (which satisfies this type as
 * is) or of a verified posture report (`postureViewFromReport` in the broker SDK).
 */
export interface PostureView {
  readonly checks: readonly {
    readonly id: string;
    readonly status: CheckStatus;
    readonly observed: Readonly<Record<string, unknown>>;
    readonly remediation?: readonly string[];
  }[];
}

export interface EvaluateOptions {
  /** The evaluation time (injected clock); default `new Date()`. */
  readonly now?: Date;
  /**
   * When each rule (by id) started failing, as kept by the caller between evaluations. A failing
   * rule absent here is taken to fail since `now`. Grace periods count from this time.
   */
  readonly firstFailedAt?: Readonly<Record<string, string | number | Date>>;
}

export interface RuleResult {
  readonly ruleId: string;
  readonly check: string;
  readonly severity: 'warn' | 'block';
  /** The expectation in words: `status = pass`, `maxScreenLockDelaySeconds <= 900`. */
  readonly expected: string;
  /** What the snapshot holds: the status, the observed field's value, or `null` when absent. */
  readonly actual: unknown;
  readonly passed: boolean;
  /** One sentence: why the rule passed or failed. */
  readonly reason: string;
  /** A failing `block` rule whose grace period has not run out: it warns, it does not deny. */
  readonly inGrace: boolean;
  /** When this rule started failing (ISO), for the caller to keep; `null` when it passes. */
  readonly firstFailedAt: string | null;
  /** When a failing `block` rule starts denying (ISO); `null` when not applicable. */
  readonly graceEndsAt: string | null;
  /** What to tell the user: the rule's message, else the check's own remediation steps. */
  readonly remediation: readonly string[];
}

export type PolicyDecision = 'allow' | 'warn' | 'deny';

export interface PolicyEvaluation {
  /** `false` only when the decision is `deny`. Always `true` in report-only mode. */
  readonly compliant: boolean;
  readonly decision: PolicyDecision;
  readonly reportOnly: boolean;
  /** Whether the policy would deny if it were enforced (differs from `!compliant` only in report-only mode). */
  readonly wouldDeny: boolean;
  readonly evaluatedAt: string;
  readonly results: readonly RuleResult[];
}

const OP_WORDS = { equals: '=', notEquals: '≠', in: 'in', lt: '<', lte: '<=', gt: '>', gte: '>=', atLeast: '≥ version', atMost: '≤ version' } as const;

/**
 * Describe an expectation in words, as shown in results.
 *
 * @example
 * ```ts
 * describeExpectation({ field: 'maxScreenLockDelaySeconds', op: 'lte', value: 900 }); // 'maxScreenLockDelaySeconds <= 900'
 * ```
 */
export function describeExpectation(expect: Expectation): string {
  if ('status' in expect) return `status ${Array.isArray(expect.status) ? `in [${expect.status.join(', ')}]` : `= ${expect.status}`}`;
  return `${expect.field} ${OP_WORDS[expect.op]} ${JSON.stringify(expect.value)}`;
}

/** Read a dot path from observed facts without walking into prototypes. */
function readField(observed: Readonly<Record<string, unknown>>, path: string): { found: boolean; value: unknown } {
  let current: unknown = observed;
  for (const part of path.split('.')) {
    if (typeof current !== 'object' || current === null || Array.isArray(current) || !Object.hasOwn(current, part)) return { found: false, value: null };
    current = (current as Record<string, unknown>)[part];
  }
  return { found: true, value: current };
}

/**
 * Compare two version strings by their numeric parts (`10.0.19045` vs `10.0.19044`, `14.4` vs
 * `14.4.1`, `6.1.0-21-amd64`); missing parts count as 0. `undefined` when either has no digits.
 *
 * @example
 * ```ts
 * compareVersions('14.4.1', '14.4'); // 1
 * ```
 */
export function compareVersions(a: string, b: string): -1 | 0 | 1 | undefined {
  const parts = (v: string): number[] => (v.match(/\d+/g) ?? []).slice(0, 8).map(Number);
  const pa = parts(a);
  const pb = parts(b);
  if (pa.length === 0 || pb.length === 0) return undefined;
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function compareField(op: Exclude<Expectation, { status: unknown }>['op'], actual: unknown, expected: unknown): { passed: boolean; why?: string } {
  switch (op) {
    case 'equals':
      return { passed: actual === expected };
    case 'notEquals':
      return { passed: actual !== expected };
    case 'in':
      return { passed: Array.isArray(expected) && expected.includes(actual) };
    case 'lt':
    case 'lte':
    case 'gt':
    case 'gte': {
      if (typeof actual !== 'number' || typeof expected !== 'number') return { passed: false, why: 'is not a number' };
      const passed = op === 'lt' ? actual < expected : op === 'lte' ? actual <= expected : op === 'gt' ? actual > expected : actual >= expected;
      return { passed };
    }
    case 'atLeast':
    case 'atMost': {
      if (typeof actual !== 'string' && typeof actual !== 'number') return { passed: false, why: 'is not a version' };
      const cmp = compareVersions(String(actual), String(expected));
      if (cmp === undefined) return { passed: false, why: 'is not a comparable version' };
      return { passed: op === 'atLeast' ? cmp >= 0 : cmp <= 0 };
    }
  }
}

function toMillis(value: string | number | Date | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : typeof value === 'number' ? value : Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

function evaluateRule(rule: PolicyRule, view: PostureView): Pick<RuleResult, 'actual' | 'passed' | 'reason'> & { remediation: readonly string[] } {
  const check = view.checks.find((c) => c.id === rule.check);
  if (!check) return { actual: null, passed: false, reason: `the posture report has no "${rule.check}" check`, remediation: [] };
  const remediation = check.remediation ?? [];
  const expect = rule.expect;
  if ('status' in expect) {
    const allowed: readonly CheckStatus[] = Array.isArray(expect.status) ? expect.status : [expect.status];
    const passed = allowed.includes(check.status);
    return { actual: check.status, passed, reason: `${rule.check} is ${check.status}${passed ? '' : `, expected ${allowed.join(' or ')}`}`, remediation };
  }
  const { found, value } = readField(check.observed, expect.field);
  if (!found) return { actual: null, passed: false, reason: `${rule.check} did not report ${expect.field} (status ${check.status})`, remediation };
  const { passed, why } = compareField(expect.op, value, expect.value);
  const shown = JSON.stringify(value) ?? 'null';
  const reason = why
    ? `${rule.check} ${expect.field} = ${shown.slice(0, 200)} ${why}`
    : `${rule.check} ${expect.field} = ${shown.slice(0, 200)}${passed ? '' : `, expected ${describeExpectation(expect)}`}`;
  return { actual: value ?? null, passed, reason, remediation };
}

/**
 * Evaluate a posture policy against a snapshot (the agent, for instant local feedback) or a
 * verified report (the broker, authoritatively) — the same code on both sides.
 *
 * A failing `warn` rule warns. A failing `block` rule warns during its grace period (counted
 * from `firstFailedAt[rule.id]`, or from `now` when the rule just started failing) and denies
 * afterwards. In `reportOnly` mode nothing denies; `wouldDeny` says what enforcement would do.
 *
 * @example
 * ```ts
 * const policy = PolicySchema.parse({
 *   schemaVersion: 1,
 *   rules: [
 *     { id: 'disk', check: 'disk-encryption', expect: { status: 'pass' }, severity: 'block', graceSeconds: 86400 },
 *     { id: 'lock', check: 'screen-lock', expect: { field: 'maxScreenLockDelaySeconds', op: 'lte', value: 900 }, severity: 'warn' },
 *   ],
 * });
 * const verdict = evaluatePolicy(snapshot, policy, { now: new Date(), firstFailedAt: stored });
 * if (!verdict.compliant) deny(verdict.results.filter((r) => !r.passed));
 * ```
 */
export function evaluatePolicy(view: PostureView, policy: Policy, options: EvaluateOptions = {}): PolicyEvaluation {
  const now = options.now ?? new Date();
  const nowMs = now.getTime();
  let wouldDeny = false;
  let anyFailed = false;
  const results: RuleResult[] = policy.rules.map((rule) => {
    const { actual, passed, reason, remediation } = evaluateRule(rule, view);
    let inGrace = false;
    let firstFailedAt: string | null = null;
    let graceEndsAt: string | null = null;
    if (!passed) {
      anyFailed = true;
      // A recorded start in the future (clock change) counts as now: grace never grows back.
      const since = Math.min(toMillis(options.firstFailedAt?.[rule.id]) ?? nowMs, nowMs);
      firstFailedAt = new Date(since).toISOString();
      if (rule.severity === 'block') {
        const endsMs = since + (rule.graceSeconds ?? 0) * 1000;
        graceEndsAt = new Date(endsMs).toISOString();
        inGrace = nowMs < endsMs;
        if (!inGrace) wouldDeny = true;
      }
    }
    return {
      ruleId: rule.id,
      check: rule.check,
      severity: rule.severity,
      expected: describeExpectation(rule.expect),
      actual,
      passed,
      reason,
      inGrace,
      firstFailedAt,
      graceEndsAt,
      remediation: passed ? [] : rule.message ? [rule.message] : remediation,
    };
  });
  const reportOnly = policy.reportOnly ?? false;
  const decision: PolicyDecision = wouldDeny && !reportOnly ? 'deny' : anyFailed ? 'warn' : 'allow';
  return { compliant: decision !== 'deny', decision, reportOnly, wouldDeny, evaluatedAt: now.toISOString(), results };
}
