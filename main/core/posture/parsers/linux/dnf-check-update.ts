export interface DnfUpdate {
  readonly name: string;
  readonly arch: string;
  readonly version: string;
  readonly repo: string;
}

/**
 * Parse `dnf check-update` (exit 100 when updates exist): `name.arch  version  repo` rows after
 * a metadata line, then possibly an `Obsoleting Packages` section, which is not an update list.
 */
export function parseDnfCheckUpdate(output: string): DnfUpdate[] {
  const updates: DnfUpdate[] = [];
  for (const raw of output.split('\n')) {
    const line = raw.trimEnd();
    if (/^Obsoleting Packages/i.test(line)) break;
    const cols = line.trim().split(/\s+/);
    if (cols.length !== 3 || raw.startsWith(' ')) continue;
    const [pkg = '', version = '', repo = ''] = cols;
    const dot = pkg.lastIndexOf('.');
    if (dot <= 0 || !/\d/.test(version)) continue;
    updates.push({ name: pkg.slice(0, dot), arch: pkg.slice(dot + 1), version, repo });
  }
  return updates;
}
