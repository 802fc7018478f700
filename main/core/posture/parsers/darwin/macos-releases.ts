/**
 * macOS releases and the date Apple shipped the last security update for each.
 *
 * Apple publishes no end-of-life policy; in practice it patches the current release and the two
 * before it. The dates below are the last security release of each version, as listed in Apple's
 * security releases page (https://support.apple.com/en-us/100100) and tracked by
 * https://endoflife.date/macos. `endOfSupport: null` means still patched when this table was
 * written (`MACOS_TABLE_DATE`); Ward says so in the check's reason rather than guessing beyond it.
 */
export interface MacosRelease {
  /** `10.15` for 10.x releases, the major number (`14`) from Big Sur on. */
  readonly key: string;
  readonly name: string;
  readonly endOfSupport: string | null;
}

export const MACOS_TABLE_DATE = '2025-10-01';
export const MACOS_TABLE_SOURCE = 'https://support.apple.com/en-us/100100 (via https://endoflife.date/macos)';

export const MACOS_RELEASES: readonly MacosRelease[] = [
  { key: '10.9', name: 'OS X Mavericks', endOfSupport: '2016-12-13' },
  { key: '10.10', name: 'OS X Yosemite', endOfSupport: '2017-07-19' },
  { key: '10.11', name: 'OS X El Capitan', endOfSupport: '2018-07-09' },
  { key: '10.12', name: 'macOS Sierra', endOfSupport: '2019-09-26' },
  { key: '10.13', name: 'macOS High Sierra', endOfSupport: '2020-11-12' },
  { key: '10.14', name: 'macOS Mojave', endOfSupport: '2021-07-21' },
  { key: '10.15', name: 'macOS Catalina', endOfSupport: '2022-07-20' },
  { key: '11', name: 'macOS Big Sur', endOfSupport: '2023-09-11' },
  { key: '12', name: 'macOS Monterey', endOfSupport: '2024-07-29' },
  { key: '13', name: 'macOS Ventura', endOfSupport: '2025-07-29' },
  { key: '14', name: 'macOS Sonoma', endOfSupport: null },
  { key: '15', name: 'macOS Sequoia', endOfSupport: null },
  { key: '26', name: 'macOS Tahoe', endOfSupport: null },
];

/** The table entry for a product version such as `10.15.5` or `14.2.1`, if Ward knows it. */
export function macosReleaseOf(version: string): MacosRelease | undefined {
  const [major, minor] = version.split('.');
  const key = major === '10' ? `10.${minor ?? ''}` : (major ?? '');
  return MACOS_RELEASES.find((r) => r.key === key);
}
