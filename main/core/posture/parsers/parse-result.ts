import { truncate } from '../../errors.js';

/**
 * What a pure parser of command output returns. It never throws: output it cannot read is an
 * `error` that keeps a truncated copy of what it saw; output that is readable but does not
 * settle the question is `unknown` with the reason.
 */
export type ParseResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly status: 'error' | 'unknown'; readonly reason: string };

export const parsed = <T>(value: T): ParseResult<T> => ({ ok: true, value });

/** The output is not in any format the parser knows. */
export function unparsable(what: string, output: string): { ok: false; status: 'error'; reason: string } {
  const shown = output.trim() ? `: "${truncate(output.trim(), 300)}"` : ' (the output was empty)';
  return { ok: false, status: 'error', reason: `could not read ${what}${shown}` };
}

/** The output was read but does not answer the question. */
export function undetermined(reason: string): { ok: false; status: 'unknown'; reason: string } {
  return { ok: false, status: 'unknown', reason };
}

/** Lines of text without trailing whitespace or carriage returns. */
export function linesOf(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.replace(/\s+$/, ''));
}
