import { ParseError } from './parse-error.js';

export interface PendingPackage {
  readonly name: string;
  readonly installed: string | null;
  readonly candidate: string;
  /** The archives that offer the candidate, e.g. `Debian-Security:12/oldstable-security`. */
  readonly origins: readonly string[];
  readonly security: boolean;
}

export interface AptSimulation {
  readonly upgradable: readonly PendingPackage[];
  readonly securityCount: number;
  /** `N not upgraded` from the summary: held back packages. */
  readonly heldBack: number;
}

// Inst libssl3 [3.0.15-1~deb12u1] (3.0.17-1~deb12u2 Debian-Security:12/oldstable-security [amd64]) []
const INST = /^Inst (\S+)(?: \[([^\]]*)\])? \((\S+) (.*) \[[^\]]+\]\)/;
const SUMMARY = /^(\d+) upgraded, (\d+) newly installed, (\d+) to remove and (\d+) not upgraded\.?$/m;

/** A security archive: Debian's `*-security` suites and Ubuntu's `<codename>-security` pocket. */
const isSecurityOrigin = (origin: string): boolean => /(^|[-/:\s])security\b|-security\b/i.test(origin);

/**
 * Parse `apt-get -s upgrade`: one `Inst` line per package that would be upgraded, and the
 * summary line that proves apt got to the end. Throws `ParseError` without that summary.
 */
export function parseAptSimulate(output: string): AptSimulation {
  const summary = SUMMARY.exec(output);
  if (!summary) throw new ParseError('the output of apt-get -s upgrade (no summary line)', output);
  const upgradable: PendingPackage[] = [];
  for (const line of output.split('\n')) {
    const m = INST.exec(line.trim());
    if (!m) continue;
    const origins = (m[4] ?? '').split(', ').map((o) => o.trim()).filter(Boolean);
    upgradable.push({
      name: m[1] ?? '',
      installed: m[2] ?? null,
      candidate: m[3] ?? '',
      origins,
      security: origins.some(isSecurityOrigin),
    });
  }
  return { upgradable, securityCount: upgradable.filter((p) => p.security).length, heldBack: Number(summary[4]) };
}
