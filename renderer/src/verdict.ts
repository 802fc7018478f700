import type { PostureView } from '../../main/shared/ipc-contract.js';

type Check = NonNullable<PostureView['snapshot']>['checks'][number];
export type Verdict =
  | { kind: 'checking' }
  | { kind: 'compliant'; passing: number; total: number }
  | { kind: 'attention'; failing: number; passing: number; total: number }
  | { kind: 'incomplete'; incomplete: number; passing: number; total: number };

const ORDER: Record<Check['status'], number> = { fail: 0, error: 1, unknown: 2, pass: 3, unsupported: 4 };

/** The overall verdict the Status screen and the tray show. A failure outranks an unfinished check. */
export function verdictOf(view: PostureView | undefined): Verdict {
  const checks = view?.snapshot?.checks;
  if (!checks) return { kind: 'checking' };
  const passing = checks.filter((c) => c.status === 'pass').length;
  const failing = checks.filter((c) => c.status === 'fail').length;
  const incomplete = checks.filter((c) => c.status === 'error' || c.status === 'unknown').length;
  const total = checks.length;
  if (failing > 0) return { kind: 'attention', failing, passing, total };
  if (incomplete > 0) return { kind: 'incomplete', incomplete, passing, total };
  return { kind: 'compliant', passing, total };
}

/** Failing checks first, then unfinished, passing, and not-applicable last. */
export function sortChecks(checks: readonly Check[]): Check[] {
  return [...checks].sort((a, b) => ORDER[a.status] - ORDER[b.status]);
}

/** Observed facts as short "key: value" text (JSON values flattened, long ones cut). */
export function observedRows(observed: Record<string, unknown>): [string, string][] {
  return Object.entries(observed).map(([key, value]) => {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    return [key, text.length > 240 ? `${text.slice(0, 240)}…` : text];
  });
}
