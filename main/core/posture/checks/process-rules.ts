import { describeError } from '../../errors.js';
import type { CheckContext } from '../check.js';
import type { ProcessRule } from '../config.js';
import type { ProcessInfo } from '../probes/probes.js';

export interface ProcessMatch {
  readonly rule: ProcessRule;
  /** Processes whose name matches the rule (and whose executable hash matches, if pinned). */
  readonly matches: readonly { pid: number; exe: string | null }[];
  /** Processes with the right name whose executable hash did not match or could not be read. */
  readonly mismatched: readonly { pid: number; exe: string | null; problem: string }[];
}

/** Executable names compare case-insensitively on Windows and macOS, exactly on Linux. */
function sameName(platform: CheckContext['platform'], a: string, b: string): boolean {
  return platform === 'linux' ? a === b : a.toLowerCase() === b.toLowerCase();
}

/** Match process rules against the running processes, hashing each executable at most once. */
export async function matchProcessRules(
  ctx: CheckContext,
  rules: readonly ProcessRule[],
  processes: readonly ProcessInfo[],
): Promise<ProcessMatch[]> {
  const hashes = new Map<string, Promise<string>>();
  const hashOf = (exe: string): Promise<string> => {
    let h = hashes.get(exe);
    if (!h) {
      h = ctx.host.hashFile(exe, { signal: ctx.signal });
      hashes.set(exe, h);
    }
    return h;
  };
  return Promise.all(
    rules.map(async (rule) => {
      const named = processes.filter((p) => sameName(ctx.platform, p.name, rule.name));
      const matches: { pid: number; exe: string | null }[] = [];
      const mismatched: { pid: number; exe: string | null; problem: string }[] = [];
      for (const p of named) {
        if (!rule.sha256) {
          matches.push({ pid: p.pid, exe: p.exe });
          continue;
        }
        if (!p.exe) {
          mismatched.push({ pid: p.pid, exe: null, problem: 'its executable path could not be read' });
          continue;
        }
        try {
          const digest = await hashOf(p.exe);
          if (digest === rule.sha256) matches.push({ pid: p.pid, exe: p.exe });
          else mismatched.push({ pid: p.pid, exe: p.exe, problem: `its executable hash is ${digest}` });
        } catch (err) {
          mismatched.push({ pid: p.pid, exe: p.exe, problem: `its executable could not be hashed: ${describeError(err)}` });
        }
      }
      return { rule, matches, mismatched };
    }),
  );
}

export function describeRule(rule: ProcessRule): string {
  return rule.sha256 ? `${rule.name} (sha256 ${rule.sha256.slice(0, 12)}…)` : rule.name;
}
