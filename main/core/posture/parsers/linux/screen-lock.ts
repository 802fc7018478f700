/**
 * One GVariant value as `gsettings get` prints it: `true`, `uint32 300`, `300`, `'text'`.
 * Returns null for anything else.
 */
export function parseGVariant(text: string): boolean | number | string | null {
  const v = text.trim();
  if (v === 'true' || v === 'false') return v === 'true';
  const n = /^(?:u?int(?:16|32|64)|byte|double)?\s*(-?\d+(?:\.\d+)?)$/.exec(v);
  if (n) return Number(n[1]);
  const s = /^'((?:[^'\\]|\\.)*)'$/.exec(v);
  if (s) return (s[1] ?? '').replace(/\\(.)/g, '$1');
  return null;
}

/** `gsettings list-recursively SCHEMA`: `schema key value` lines into key → value. */
export function parseGsettingsList(output: string, schema: string): Map<string, boolean | number | string | null> {
  const out = new Map<string, boolean | number | string | null>();
  for (const line of output.split('\n')) {
    if (!line.startsWith(`${schema} `)) continue;
    const rest = line.slice(schema.length + 1);
    const space = rest.indexOf(' ');
    if (space <= 0) continue;
    out.set(rest.slice(0, space), parseGVariant(rest.slice(space + 1)));
  }
  return out;
}

export interface KdeScreenLocker {
  /** `Autolock` in [Daemon]; null when the file does not set it (KDE's default is true). */
  readonly autolock: boolean | null;
  /** `Timeout` in minutes; null when not set (KDE's default is 5). */
  readonly timeoutMinutes: number | null;
}

/** kscreenlockerrc (INI): the [Daemon] group's Autolock and Timeout. */
export function parseKscreenlockerrc(text: string): KdeScreenLocker {
  let group = '';
  let autolock: boolean | null = null;
  let timeoutMinutes: number | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const g = /^\[([^\]]*)\]$/.exec(line);
    if (g) {
      group = g[1] ?? '';
      continue;
    }
    if (group !== 'Daemon') continue;
    const kv = /^([A-Za-z]+)(?:\[\$[a-z]\])?\s*=\s*(.*)$/.exec(line);
    if (!kv) continue;
    const value = (kv[2] ?? '').trim().toLowerCase();
    if (kv[1] === 'Autolock' && (value === 'true' || value === 'false')) autolock = value === 'true';
    if (kv[1] === 'Timeout' && /^\d+$/.test(value)) timeoutMinutes = Number(value);
  }
  return { autolock, timeoutMinutes };
}
