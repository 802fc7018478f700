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

const MAX_TEXT = 240;
const cut = (text: string): string => (text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text);

function scalarText(value: unknown): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value) && value.every((v) => typeof v !== 'object' || v === null)) return value.length === 0 ? 'none' : value.map(scalarText).join(', ');
  return JSON.stringify(value);
}

/** One object as "key: value · key: value" (what a person scans), nested values as compact JSON. */
function objectText(value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return cut(scalarText(value));
  return cut(
    Object.entries(value)
      .map(([k, v]) => `${k}: ${scalarText(v)}`)
      .join(' · '),
  );
}

/**
 * Observed facts for display: a scalar or a list of scalars becomes one line; an object or a
 * list of objects (volumes, firewalls, agents) becomes one line per item.
 */
export function observedRows(observed: Record<string, unknown>): [string, string[]][] {
  return Object.entries(observed).map(([key, value]) => {
    if (Array.isArray(value) && value.some((v) => typeof v === 'object' && v !== null)) return [key, value.slice(0, 20).map(objectText)];
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return [key, [objectText(value)]];
    return [key, [cut(scalarText(value))]];
  });
}
