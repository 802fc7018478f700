/**
 * Parser for the text `reg query <key> /s` prints on Windows. Pure: tested on captured real output
 * (test/fixtures/win32/reg-query-*) on any OS.
 *
 * The format: a key path line (`HKEY_LOCAL_MACHINE\...`), then one line per value, indented by four
 * spaces: `name    TYPE    data`, fields separated by four spaces. Names may contain single
 * spaces (`Start Page`); data may be absent (an empty REG_SZ prints no data column). REG_MULTI_SZ
 * data joins its strings with a literal `\0`. Without `/s`, subkeys are listed as bare key lines.
 */

export type RegValueType =
  | 'REG_SZ' | 'REG_EXPAND_SZ' | 'REG_MULTI_SZ' | 'REG_DWORD' | 'REG_QWORD' | 'REG_BINARY' | 'REG_NONE';

export interface RegValue {
  readonly name: string;
  readonly type: RegValueType | string;
  /** Decoded data: string, number (DWORD/QWORD), string[] (MULTI_SZ). */
  readonly data: string | number | readonly string[];
}

export interface RegKey {
  /** Full key path as printed, e.g. `HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Ward`. */
  readonly path: string;
  readonly values: readonly RegValue[];
}

export interface RegQueryResult {
  readonly keys: readonly RegKey[];
  /** Lines that were neither a key nor a value (kept for diagnostics, never an exception). */
  readonly unparsed: readonly string[];
}

const KEY_LINE = /^(HKEY_[A-Z_]+|HK(?:LM|CU|CR|U|CC))(\\.*)?$/;
const VALUE_LINE = /^ {4}(.*?) {4}(REG_[A-Z_]+)(?: {4}(.*))?$/;

function decode(type: string, raw: string): RegValue['data'] {
  switch (type) {
    case 'REG_DWORD':
    case 'REG_QWORD': {
      const n = /^0x[0-9a-f]+$/i.test(raw) ? Number.parseInt(raw.slice(2), 16) : Number.NaN;
      return Number.isSafeInteger(n) ? n : raw;
    }
    case 'REG_MULTI_SZ':
      return raw === '' ? [] : raw.split('\\0');
    default:
      return raw;
  }
}

export function parseRegQuery(text: string): RegQueryResult {
  const keys: { path: string; values: RegValue[] }[] = [];
  const unparsed: string[] = [];
  let current: { path: string; values: RegValue[] } | undefined;
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.replace(/\r$/, '');
    if (line.trim() === '') continue;
    const value = VALUE_LINE.exec(line);
    if (value && current) {
      const [, name = '', type = '', data = ''] = value;
      current.values.push({ name, type, data: decode(type, data) });
      continue;
    }
    if (KEY_LINE.test(line)) {
      current = { path: line, values: [] };
      keys.push(current);
      continue;
    }
    unparsed.push(line);
  }
  return { keys, unparsed };
}

/** `HKLM\...` and `HKEY_LOCAL_MACHINE\...` name the same key. */
export function normalizeKeyPath(path: string): string {
  return path
    .replace(/^HKLM(?=\\|$)/i, 'HKEY_LOCAL_MACHINE')
    .replace(/^HKCU(?=\\|$)/i, 'HKEY_CURRENT_USER')
    .replace(/\\+$/, '')
    .toLowerCase();
}

export interface RegistryTreeProblem {
  readonly key: string;
  readonly message: string;
}

/**
 * Turn the keys under `root` into a plain object: values become properties, subkeys nested
 * objects. A subkey whose values are all named 1, 2, 3... (the layout an ADMX `<list>` writes)
 * becomes an array in that order.
 */
export function registryToObject(result: RegQueryResult, root: string): { value: Record<string, unknown>; problems: RegistryTreeProblem[] } {
  const rootNorm = normalizeKeyPath(root);
  const out: Record<string, unknown> = {};
  const problems: RegistryTreeProblem[] = [];
  for (const key of result.keys) {
    const norm = normalizeKeyPath(key.path);
    if (norm !== rootNorm && !norm.startsWith(`${rootNorm}\\`)) continue;
    const segments = key.path.replace(/\\+$/, '').split('\\').slice(rootNorm.split('\\').length);
    let node: Record<string, unknown> = out;
    for (const segment of segments) {
      const existing = Object.hasOwn(node, segment) ? node[segment] : undefined;
      if (existing === undefined) node[segment] = {};
      else if (typeof existing !== 'object' || existing === null || Array.isArray(existing)) {
        problems.push({ key: segments.join('.'), message: `the subkey ${segment} has the same name as a value` });
        break;
      }
      node = node[segment] as Record<string, unknown>;
    }
    for (const v of key.values) {
      const name = v.name === '(Default)' ? '' : v.name;
      if (name === '') continue;
      node[name] = v.data;
    }
  }
  return { value: listify(out) as Record<string, unknown>, problems };
}

function listify(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > 0 && entries.every(([k, v]) => /^[1-9]\d*$/.test(k) && typeof v !== 'object')) {
    return entries.sort((a, b) => Number(a[0]) - Number(b[0])).map(([, v]) => v);
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, listify(v)]));
}
