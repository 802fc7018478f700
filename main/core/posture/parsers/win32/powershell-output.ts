import { linesOf, parsed, unparsable, type ParseResult } from '../parse-result.js';

/** One object PowerShell printed, with every property as text (`''` for an empty one). */
export type PsObject = Readonly<Record<string, string>>;

function scalar(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    // ConvertTo-Json writes booleans as true/false; the text formats say True/False.
    return typeof value === 'boolean' ? (value ? 'True' : 'False') : String(value);
  }
  return JSON.stringify(value);
}

function fromJson(text: string): PsObject[] | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  const items = Array.isArray(doc) ? doc : [doc];
  if (!items.every((i) => i && typeof i === 'object' && !Array.isArray(i))) return undefined;
  return items.map((i) => Object.fromEntries(Object.entries(i as Record<string, unknown>).map(([k, v]) => [k, scalar(v)])));
}

/** `Format-List` style: `Name : Value` lines, objects separated by blank lines, long values wrapped with indentation. */
function fromList(lines: readonly string[]): PsObject[] | undefined {
  const objects: Record<string, string>[] = [];
  let current: Record<string, string> | undefined;
  let last: string | undefined;
  let sawField = false;
  for (const line of lines) {
    if (!line.trim()) {
      current = undefined;
      last = undefined;
      continue;
    }
    const m = /^([A-Za-z_][\w.-]*)\s*:(?: (.*))?$/.exec(line);
    if (m?.[1]) {
      if (!current) {
        current = {};
        objects.push(current);
      }
      current[m[1]] = (m[2] ?? '').trim();
      last = m[1];
      sawField = true;
    } else if (current && last && /^\s{2,}\S/.test(line)) {
      current[last] = `${current[last] ?? ''}${line.trim()}`;
    } else {
      return undefined;
    }
  }
  return sawField ? objects : undefined;
}

/**
 * `Format-Table` style: header line(s), a line of dashes that fixes the columns, then rows. Headers
 * wrapped over two lines ("Mount" / "Point") are joined; a column's name loses its spaces
 * ("Protection Status" → "ProtectionStatus") so it matches the property name.
 */
function fromTable(lines: readonly string[]): PsObject[] | undefined {
  const rule = lines.findIndex((l) => /^-[- ]*$/.test(l) && l.includes('-'));
  if (rule < 1) return undefined;
  const ruleLine = lines[rule] ?? '';
  const spans: [number, number][] = [];
  for (const m of ruleLine.matchAll(/-+/g)) spans.push([m.index, m.index + m[0].length]);
  // A column runs from its dashes to the start of the next column's dashes.
  const cols = spans.map(([start], i) => [start, spans[i + 1]?.[0] ?? Infinity] as const);
  const headerLines = lines.slice(0, rule).filter((l) => l.trim());
  const names = cols.map(([a, b]) => headerLines.map((h) => h.slice(a, b === Infinity ? undefined : b).trim()).filter(Boolean).join(' ').replace(/\s+/g, ''));
  if (names.some((n) => !n)) return undefined;
  const rows = lines.slice(rule + 1).filter((l) => l.trim());
  return rows.map((row) => Object.fromEntries(names.map((n, i) => {
    const [a, b] = cols[i] ?? [0, 0];
    return [n, row.slice(a, b === Infinity ? undefined : b).trim()];
  })));
}

/**
 * Read what a PowerShell command printed: `ConvertTo-Json` output (one object or an array), or the
 * cmdlet's default list or table text (the formats in most published captures).
 */
export function parsePsObjects(text: string): ParseResult<PsObject[]> {
  const trimmed = text.trim();
  if (!trimmed) return parsed([]);
  if (/^[[{]/.test(trimmed)) {
    const json = fromJson(trimmed);
    if (json) return parsed(json);
  }
  const lines = linesOf(text);
  const body = lines.slice(lines.findIndex((l) => l.trim() !== ''));
  const objects = fromTable(body) ?? fromList(body);
  return objects ? parsed(objects) : unparsable('the PowerShell output', text);
}

/** A property by any of its names (`OsVersion` from Get-ComputerInfo, `Version` from Win32_OperatingSystem). */
export function field(obj: PsObject, ...names: string[]): string | undefined {
  for (const name of names) {
    const key = Object.keys(obj).find((k) => k.toLowerCase() === name.toLowerCase());
    const value = key === undefined ? undefined : obj[key];
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

/** PowerShell's text for a boolean: True / False (any case); anything else is not a boolean. */
export function psBool(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  return v === 'true' ? true : v === 'false' ? false : undefined;
}

/** A PowerShell error record written to stderr ("Cmdlet : message" then "At line:1 char:1"). */
export function psErrorMessage(text: string): string | undefined {
  const m = /^([\w-]+) : (.+?)(?:\s+At line:\d+|\r?\n|$)/m.exec(text) ?? /^([\w-]+): (.+)$/m.exec(text);
  return m?.[2]?.trim();
}
