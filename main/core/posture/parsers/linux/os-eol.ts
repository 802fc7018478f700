/**
 * End of security support for the Linux distributions Ward knows, and the verdict for a release.
 *
 * Sources (dates transcribed by hand; re-check them when a distribution publishes a new release):
 * - Debian: https://wiki.debian.org/DebianReleases (regular security support) and
 *   https://wiki.debian.org/LTS (Debian LTS, run by the Debian project after that).
 * - Ubuntu: https://ubuntu.com/about/release-cycle (standard support; Canonical gives the month,
 *   recorded here as its last day; ESM needs an Ubuntu Pro subscription Ward does not check).
 * - Fedora: https://docs.fedoraproject.org/en-US/releases/eol/
 * - RHEL: https://access.redhat.com/support/policy/updates/errata (end of Maintenance Support;
 *   Extended Life-cycle Support is a paid add-on Ward does not check).
 */
export interface EolEntry {
  readonly id: 'debian' | 'ubuntu' | 'fedora' | 'rhel';
  /** VERSION_ID as os-release prints it (RHEL: the major version). */
  readonly version: string;
  readonly name: string;
  /** Last day of the vendor's regular security support (ISO date). */
  readonly securityEnd: string;
  /** Last day of extended support: Debian LTS (free), Ubuntu ESM / RHEL ELS (paid). */
  readonly extendedEnd?: string;
  /** Whether the extended support reaches every machine (Debian LTS) or needs a subscription. */
  readonly extendedIsFree?: boolean;
}

export const EOL_SOURCES: Readonly<Record<EolEntry['id'], string>> = {
  debian: 'https://wiki.debian.org/DebianReleases, https://wiki.debian.org/LTS',
  ubuntu: 'https://ubuntu.com/about/release-cycle',
  fedora: 'https://docs.fedoraproject.org/en-US/releases/eol/',
  rhel: 'https://access.redhat.com/support/policy/updates/errata',
};

export const EOL_TABLE: readonly EolEntry[] = [
  { id: 'debian', version: '9', name: 'Debian 9 (stretch)', securityEnd: '2020-07-06', extendedEnd: '2022-06-30', extendedIsFree: true },
  { id: 'debian', version: '10', name: 'Debian 10 (buster)', securityEnd: '2022-09-10', extendedEnd: '2024-06-30', extendedIsFree: true },
  { id: 'debian', version: '11', name: 'Debian 11 (bullseye)', securityEnd: '2024-08-14', extendedEnd: '2026-08-31', extendedIsFree: true },
  { id: 'debian', version: '12', name: 'Debian 12 (bookworm)', securityEnd: '2026-06-10', extendedEnd: '2028-06-30', extendedIsFree: true },
  { id: 'debian', version: '13', name: 'Debian 13 (trixie)', securityEnd: '2028-08-09', extendedEnd: '2030-06-30', extendedIsFree: true },
  { id: 'ubuntu', version: '16.04', name: 'Ubuntu 16.04 LTS', securityEnd: '2021-04-30', extendedEnd: '2026-04-30' },
  { id: 'ubuntu', version: '18.04', name: 'Ubuntu 18.04 LTS', securityEnd: '2023-05-31', extendedEnd: '2028-04-30' },
  { id: 'ubuntu', version: '20.04', name: 'Ubuntu 20.04 LTS', securityEnd: '2025-05-31', extendedEnd: '2030-04-30' },
  { id: 'ubuntu', version: '22.04', name: 'Ubuntu 22.04 LTS', securityEnd: '2027-04-30', extendedEnd: '2032-04-30' },
  { id: 'ubuntu', version: '22.10', name: 'Ubuntu 22.10', securityEnd: '2023-07-20' },
  { id: 'ubuntu', version: '23.04', name: 'Ubuntu 23.04', securityEnd: '2024-01-25' },
  { id: 'ubuntu', version: '23.10', name: 'Ubuntu 23.10', securityEnd: '2024-07-11' },
  { id: 'ubuntu', version: '24.04', name: 'Ubuntu 24.04 LTS', securityEnd: '2029-04-30', extendedEnd: '2034-04-30' },
  { id: 'ubuntu', version: '24.10', name: 'Ubuntu 24.10', securityEnd: '2025-07-10' },
  { id: 'fedora', version: '37', name: 'Fedora 37', securityEnd: '2023-12-05' },
  { id: 'fedora', version: '38', name: 'Fedora 38', securityEnd: '2024-05-21' },
  { id: 'fedora', version: '39', name: 'Fedora 39', securityEnd: '2024-11-26' },
  { id: 'fedora', version: '40', name: 'Fedora 40', securityEnd: '2025-05-13' },
  { id: 'rhel', version: '7', name: 'Red Hat Enterprise Linux 7', securityEnd: '2024-06-30', extendedEnd: '2028-06-30' },
  { id: 'rhel', version: '8', name: 'Red Hat Enterprise Linux 8', securityEnd: '2029-05-31' },
  { id: 'rhel', version: '9', name: 'Red Hat Enterprise Linux 9', securityEnd: '2032-05-31' },
  { id: 'rhel', version: '10', name: 'Red Hat Enterprise Linux 10', securityEnd: '2035-05-31' },
];

export type EolVerdict =
  /** Regular security support, or free extended support (Debian LTS), still runs. */
  | { readonly state: 'supported'; readonly entry: EolEntry; readonly until: string; readonly phase: 'regular' | 'lts' }
  /** Regular support ended; security updates continue only with a paid subscription Ward cannot see. */
  | { readonly state: 'subscription'; readonly entry: EolEntry; readonly until: string }
  | { readonly state: 'ended'; readonly entry: EolEntry; readonly ended: string }
  | { readonly state: 'unknown'; readonly why: string };

const endOfDay = (iso: string): number => Date.parse(`${iso}T23:59:59Z`);

/** Judge an os-release (parsed) against the table at `now`. Never throws. */
export function endOfLife(release: Readonly<Record<string, string>>, now: Date): EolVerdict {
  const id = (release.ID ?? '').toLowerCase();
  const rawVersion = release.VERSION_ID ?? '';
  const known = EOL_TABLE.some((e) => e.id === id);
  if (!known) {
    const name = release.PRETTY_NAME ?? release.NAME ?? (id || 'this distribution');
    return { state: 'unknown', why: `${name} is not in Ward's end-of-life table (it knows Debian, Ubuntu, Fedora and RHEL)` };
  }
  if (!rawVersion) {
    return { state: 'unknown', why: `${release.PRETTY_NAME ?? id} has no VERSION_ID (a rolling or testing release has no fixed end of life)` };
  }
  const version = id === 'rhel' ? (rawVersion.split('.')[0] ?? rawVersion) : rawVersion;
  const entry = EOL_TABLE.find((e) => e.id === id && e.version === version);
  if (!entry) return { state: 'unknown', why: `${id} ${rawVersion} is not in Ward's end-of-life table` };
  const t = now.getTime();
  if (t <= endOfDay(entry.securityEnd)) return { state: 'supported', entry, until: entry.securityEnd, phase: 'regular' };
  if (entry.extendedEnd && t <= endOfDay(entry.extendedEnd)) {
    return entry.extendedIsFree
      ? { state: 'supported', entry, until: entry.extendedEnd, phase: 'lts' }
      : { state: 'subscription', entry, until: entry.extendedEnd };
  }
  return { state: 'ended', entry, ended: entry.extendedEnd ?? entry.securityEnd };
}
