import { describeError } from '../../errors.js';
import { outcome, type CheckContext, type CheckOutcome } from '../check.js';
import type { ProcessRule } from '../config.js';
import type { ProcessInfo } from '../probes/probes.js';
import type { Evidence } from '../snapshot.js';

/** What the process checks read on each OS (shared by required- and forbidden-processes). */
export const PROCESS_READS = {
  linux: '/proc/PID/comm and /proc/PID/exe for every process; SHA-256 of pinned executables',
  darwin: '`ps -axo pid=,comm=`; SHA-256 of pinned executables',
  win32: '`Get-Process` (name, path) via PowerShell; SHA-256 of pinned executables',
} as const;

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

export interface ProcessRuleRun {
  /** The configured rules, as evidence of what was compared against. */
  readonly config: Evidence;
  readonly processes: readonly ProcessInfo[];
  readonly results: readonly ProcessMatch[];
}

/**
 * List the running processes and match `rules` against them; when the processes cannot be listed,
 * the `error` outcome to return instead (with the rules as evidence).
 */
export async function runProcessRules(
  ctx: CheckContext,
  rules: readonly ProcessRule[],
  configName: string,
): Promise<ProcessRuleRun | CheckOutcome> {
  const config: Evidence = { kind: 'config', source: configName, excerpt: JSON.stringify(rules).slice(0, 2000) };
  let processes: ProcessInfo[];
  try {
    processes = await ctx.probes.listProcesses(ctx);
  } catch (err) {
    return { ...outcome.error(`could not list processes: ${describeError(err)}`), extraEvidence: [config] };
  }
  return { config, processes, results: await matchProcessRules(ctx, rules, processes) };
}
