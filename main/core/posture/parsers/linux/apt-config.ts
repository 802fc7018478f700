/**
 * Parse `apt-config dump`: `Key::Path "value";` lines. A key that appears more than once (list
 * items such as `Allowed-Origins::`) keeps every value in order.
 */
export function parseAptConfigDump(output: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of output.split('\n')) {
    const m = /^(\S+) "(.*)";$/.exec(raw.trim());
    if (!m) continue;
    const key = m[1] ?? '';
    const list = out.get(key) ?? [];
    list.push(m[2] ?? '');
    out.set(key, list);
  }
  return out;
}

/** The last value of a key (APT's own rule when a scalar is set twice), or undefined. */
export function aptValue(config: ReadonlyMap<string, readonly string[]>, key: string): string | undefined {
  const values = config.get(key);
  return values?.[values.length - 1];
}

/**
 * APT::Periodic intervals are days ("1"), or "always" (apt 1.5+); "0" or an empty value is off.
 * https://salsa.debian.org/apt-team/apt/-/blob/main/debian/apt.systemd.daily
 */
export function periodicEnabled(value: string | undefined): boolean {
  if (value === undefined) return false;
  const v = value.trim().toLowerCase();
  if (v === 'always') return true;
  return /^\d+[smhd]?$/.test(v) && Number.parseInt(v, 10) > 0;
}

/** `dpkg-query -W -f '${db:Status-Abbrev}|${Version}\n' PKG`: installed when the status starts with `ii`. */
export function parseDpkgStatus(output: string): { installed: boolean; version: string | null } {
  const line = output.split('\n').find((l) => l.includes('|')) ?? '';
  const [status = '', version = ''] = line.split('|');
  const installed = status.trim().startsWith('ii');
  return { installed, version: installed && version.trim() ? version.trim() : null };
}
