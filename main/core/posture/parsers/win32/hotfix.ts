import { outcome, type CheckOutcome } from '../../check.js';
import { field, parsePsObjects } from './powershell-output.js';

/** Windows ships security updates monthly; a machine with nothing newer than this has missed one. */
export const MAX_UPDATE_AGE_DAYS = 45;

/**
 * Dates as `Get-HotFix` prints them depend on the locale (`5/16/2019` in en-US, `16.05.2019` in
 * de-DE). ISO dates (what Ward's script emits) are read directly. Otherwise the day/month order is
 * learned from any date whose first or second number is over 12, and applied to all; with no such
 * date, the order is not known and the dates are not read.
 */
function readDates(raw: readonly string[]): (Date | null)[] | undefined {
  const parts = raw.map((s) => /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})/.exec(s.trim()));
  let order: 'md' | 'dm' | undefined;
  for (const p of parts) {
    if (!p) continue;
    if (Number(p[1]) > 12) order = 'dm';
    else if (Number(p[2]) > 12) order = 'md';
  }
  const out: (Date | null)[] = [];
  for (let i = 0; i < raw.length; i++) {
    const iso = /^(\d{4})-(\d{2})-(\d{2})/.exec(raw[i]?.trim() ?? '');
    const p = parts[i];
    if (iso) out.push(new Date(Date.UTC(Number(iso[1]), Number(iso[2]) - 1, Number(iso[3]))));
    else if (p && order) {
      const [m, d] = order === 'md' ? [p[1], p[2]] : [p[2], p[1]];
      out.push(new Date(Date.UTC(Number(p[3]), Number(m) - 1, Number(d))));
    } else if (p) return undefined;
    else out.push(null);
  }
  return out;
}

/** `Get-HotFix`: how long ago the newest update was installed. */
export function interpretHotfixes(text: string, now: Date): CheckOutcome {
  const objects = parsePsObjects(text);
  if (!objects.ok) return { status: objects.status, reason: objects.reason, observed: {} };
  const rows = objects.value.filter((o) => field(o, 'HotFixID'));
  if (rows.length === 0) return outcome.unknown('Get-HotFix listed no installed updates', { hotfixCount: 0 });
  const dates = readDates(rows.map((r) => field(r, 'InstalledOn') ?? ''));
  if (!dates) return outcome.unknown('the install dates are in a locale whose day/month order cannot be told from these dates', { hotfixCount: rows.length });
  let newest: { id: string; date: Date } | undefined;
  rows.forEach((r, i) => {
    const date = dates[i];
    if (date && (!newest || date > newest.date)) newest = { id: field(r, 'HotFixID') ?? '', date };
  });
  if (!newest) return outcome.unknown('no installed update has an install date', { hotfixCount: rows.length });
  const ageDays = Math.floor((now.getTime() - newest.date.getTime()) / 86_400_000);
  const observed = { hotfixCount: rows.length, newestHotfix: newest.id, newestInstalledOn: newest.date.toISOString().slice(0, 10), ageDays, maxAgeDays: MAX_UPDATE_AGE_DAYS };
  if (ageDays > MAX_UPDATE_AGE_DAYS) {
    return outcome.fail(`the newest installed update (${newest.id}) is ${ageDays} days old; Windows ships security updates monthly`, observed);
  }
  return outcome.pass(`the newest installed update (${newest.id}) is ${ageDays} days old`, observed);
}
