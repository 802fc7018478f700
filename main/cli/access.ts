import { WardError } from '../core/errors.js';
import { accessResource, printable, type ResourceResult } from '../core/session/protected-resource.js';
import type { SessionStatus, StepUpRequest, StepUpResult } from '../shared/ipc-contract.js';
import { EXIT, type CliIO, parseCommandArgs } from './io.js';
import { connectDaemon, createRuntime } from './session-runtime.js';

const HELP = `Usage: ward access URL [--json] [--no-step-up]

Fetches a protected resource (GET) with this device's DPoP-bound access token and prints the
HTTP status and the start of the body (never a token). Only http(s) URLs on the broker this
device is enrolled with are accessed; any other origin is refused, so the token never leaves.

When the resource asks for a stronger or more recent sign-in (RFC 9470
insufficient_user_authentication), Ward says what is asked and asks you first; on yes it opens
the browser sign-in with the requested acr_values, max_age and prompt=login, then retries.
Goes through the running \`ward daemon\` when there is one, else runs in this process.

  --json         print one JSON object {url, status, ok, contentType, body, truncated, steppedUp}
  --no-step-up   never ask: a step-up request ends the command with exit code 1

Exit codes: 0 the resource answered 2xx · 1 refused, step-up declined or a non-2xx answer ·
2 usage · 3 could not run (not enrolled, not signed in, agent or broker unreachable)
`;

/** Poll interval while waiting for the resource (a step-up prompt can appear meanwhile). */
const POLL_MS = 200;

/** What an access needs, in-process or through the daemon. */
interface AccessBackend {
  access(url: string): Promise<ResourceResult>;
  status(): Promise<SessionStatus>;
  decide(id: string, decision: 'accept' | 'decline'): Promise<StepUpResult>;
}

const ACR_WORDS: Readonly<Record<string, string>> = {
  'urn:ward:acr:mfa': 'a multi-factor sign-in (password and a one-time code)',
  'urn:ward:acr:pwd': 'a password sign-in',
};

function duration(seconds: number): string {
  if (seconds < 120) return `${seconds} seconds`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} minutes`;
  return `${Math.round(seconds / 3600)} hours`;
}

/** The RFC 9470 request in plain words. */
export function explainStepUp(request: Pick<StepUpRequest, 'reason' | 'acr_values' | 'max_age' | 'resource'>): string {
  const lines = [`${request.resource ? printable(request.resource) : 'The resource'} asks you to sign in again.`, `  why:  ${printable(request.reason)}`];
  const acrs = request.acr_values?.split(' ').filter(Boolean) ?? [];
  if (acrs.length > 0) lines.push(`  how:  ${acrs.map((a) => ACR_WORDS[a] ?? `"${printable(a)}"`).join(' or ')} (acr_values ${printable(acrs.join(' '))})`);
  if (request.max_age !== undefined) {
    lines.push(`  when: ${request.max_age === 0 ? 'a sign-in made just now' : `a sign-in no older than ${duration(request.max_age)}`} (max_age ${request.max_age})`);
  }
  return `${lines.join('\n')}\n`;
}

function render(result: ResourceResult): string {
  const head = `HTTP ${result.status}${result.statusText ? ` ${result.statusText}` : ''}  ${result.url}${result.location ? `\n(redirects to ${printable(result.location)}; not followed)` : ''}`;
  return `${head}\n${result.body}${result.truncated ? '\n… [body truncated]' : ''}\n`;
}

/**
 * Run the access while watching for the agent's step-up prompt; answer it from the terminal
 * (or decline it when there is none, or with --no-step-up).
 */
async function accessWithConsent(backend: AccessBackend, url: string, io: CliIO, allowStepUp: boolean): Promise<{ result: ResourceResult; steppedUp: boolean }> {
  let settled = false;
  const work = backend.access(url).finally(() => {
    settled = true;
  });
  work.catch(() => undefined); // observed below; avoid an unhandled rejection while we poll
  const answered = new Set<string>();
  let steppedUp = false;
  while (!settled) {
    await Promise.race([work.catch(() => undefined), new Promise((r) => setTimeout(r, POLL_MS))]);
    if (settled) break;
    const pending = (await backend.status()).pendingStepUp;
    if (!pending || answered.has(pending.id)) continue;
    answered.add(pending.id);
    io.stderr(explainStepUp(pending));
    let accept = false;
    if (!allowStepUp) io.stderr('Not asking (--no-step-up).\n');
    else if (!io.prompt) io.stderr('There is no terminal to ask you on.\n');
    else accept = /^y(es)?$/i.test((await io.prompt('Sign in again now? [y/N] ')).trim());
    steppedUp = accept;
    await backend.decide(pending.id, accept ? 'accept' : 'decline');
    if (accept) io.stderr('Opening the sign-in…\n');
  }
  return { result: await work, steppedUp };
}

export async function run(args: string[], io: CliIO): Promise<number> {
  // No option takes a value, so anything that is not a flag is the URL.
  const positionals = args.filter((a) => !a.startsWith('-'));
  const parsed = parseCommandArgs(
    args.filter((a) => a.startsWith('-')),
    io,
    { json: { type: 'boolean' }, 'no-step-up': { type: 'boolean' } },
    HELP,
  );
  if ('exit' in parsed) return parsed.exit;
  const url = positionals[0];
  if (positionals.length !== 1 || !url) {
    io.stderr(`ward access: give exactly one URL\n${HELP}`);
    return EXIT.usage;
  }
  const allowStepUp = parsed.values['no-step-up'] !== true;
  const daemon = await connectDaemon(io);
  let outcome: { result: ResourceResult; steppedUp: boolean };
  try {
    if (daemon) {
      outcome = await accessWithConsent(
        {
          access: (u) => daemon.accessResource(u),
          status: () => daemon.call('session.status', {}),
          decide: (id, decision) => daemon.call('session.stepUp', { id, decision }),
        },
        url,
        io,
        allowStepUp,
      );
    } else {
      const runtime = await createRuntime(io);
      try {
        await runtime.agent.open();
        const { agent } = runtime;
        outcome = await accessWithConsent(
          { access: (u) => accessResource(agent, u), status: async () => agent.sessionStatus(), decide: async (id, d) => agent.decideStepUp(id, d) },
          url,
          io,
          allowStepUp,
        );
      } finally {
        await runtime.close();
      }
    }
  } catch (err) {
    // Refused by Ward itself or declined by the user: a clear "no", not a failure to run.
    if (err instanceof WardError && ['resource-not-allowed', 'resource-url-invalid', 'step-up-declined'].includes(err.code)) {
      io.stderr(`ward access: ${err.message}${err.hint ? `\n  ${err.hint}` : ''}\n`);
      return EXIT.problem;
    }
    throw err;
  }
  const { result, steppedUp } = outcome;
  const ok = result.status >= 200 && result.status < 300;
  if (parsed.values.json) io.stdout(`${JSON.stringify({ ...result, ok, steppedUp })}\n`);
  else io.stdout(render(result));
  return ok ? EXIT.ok : EXIT.problem;
}
