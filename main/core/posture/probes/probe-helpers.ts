import { describeError, truncate } from '../../errors.js';
import { isExecError } from '../../exec/exec-error.js';
import type { ExecOptions, ExecResult } from '../../exec/host.js';
import { outcome, type CheckContext, type CheckOutcome } from '../check.js';
import type { ParseResult } from '../parsers/parse-result.js';

/** Run an allow-listed command for a probe; the exit code is part of the answer, so any is accepted. */
export function runProbe(ctx: CheckContext, command: readonly [string, readonly string[]], options: ExecOptions = {}): Promise<ExecResult> {
  return ctx.host.run(command[0], command[1], { okExitCodes: 'any', signal: ctx.signal, ...options });
}

/** stdout and stderr together: several macOS tools answer on stderr. */
export const allOutput = (r: ExecResult): string => [r.stdout, r.stderr].filter((s) => s.trim()).join('\n');

/**
 * Turn a failed request into a verdict that names it. A tool that is not installed is `unknown`
 * (this machine cannot answer); a replay bundle without the recording, a timeout or an unexpected
 * failure is `error`.
 */
export function outcomeFromFailure(err: unknown, what: string): CheckOutcome {
  if (isExecError(err)) {
    switch (err.code) {
      case 'not-found':
      case 'permission-denied':
        return outcome.unknown(`${what}: ${err.message}`);
      case 'exit': {
        const out = truncate([err.stdout, err.stderr].filter(Boolean).join('\n').trim(), 300);
        return outcome.error(`${what}: ${err.message}${out ? `: "${out}"` : ''}`);
      }
      default:
        return outcome.error(`${what}: ${err.message}`);
    }
  }
  return outcome.error(`${what} failed: ${describeError(err)}`);
}

/** A parser's failure as a verdict. */
export function outcomeFromParse(result: Extract<ParseResult<unknown>, { ok: false }>, observed: Record<string, unknown> = {}): CheckOutcome {
  return { status: result.status, reason: result.reason, observed };
}

/** Run a probe body, turning a thrown host error into a verdict naming `what`. */
export async function guarded(what: string, body: () => Promise<CheckOutcome>): Promise<CheckOutcome> {
  try {
    return await body();
  } catch (err) {
    return outcomeFromFailure(err, what);
  }
}

export type AgentState = 'healthy' | 'unhealthy' | 'absent' | 'undetermined';
export interface AgentReport {
  readonly agent: string;
  readonly state: AgentState;
  readonly detail: string;
}

/** One verdict from several EDR agents: any healthy agent passes; none installed fails. */
export function edrVerdict(agents: readonly AgentReport[]): CheckOutcome {
  const observed = { agents: agents.map((a) => ({ agent: a.agent, state: a.state, detail: a.detail })) };
  const healthy = agents.filter((a) => a.state === 'healthy');
  if (healthy.length) return outcome.pass(`${healthy.map((a) => a.detail).join('; ')}`, observed);
  const unhealthy = agents.filter((a) => a.state === 'unhealthy');
  if (unhealthy.length) return outcome.fail(unhealthy.map((a) => a.detail).join('; '), observed);
  const undetermined = agents.filter((a) => a.state === 'undetermined');
  if (undetermined.length) {
    const failedToRun = undetermined.some((a) => /replay bundle|timeout|did not finish/i.test(a.detail));
    const why = undetermined.map((a) => `${a.agent}: ${a.detail}`).join('; ');
    return failedToRun ? outcome.error(why, observed) : outcome.unknown(why, observed);
  }
  return outcome.fail(`no EDR agent is installed (looked for ${agents.map((a) => a.agent).join(', ')})`, observed);
}
