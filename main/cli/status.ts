import type { AgentState, PostureView, SessionStatus } from '../shared/ipc-contract.js';
import { EXIT, type CliIO, parseCommandArgs } from './io.js';
import { connectDaemon, createRuntime } from './session-runtime.js';

const HELP = `Usage: ward status [--json]

The agent's state (unenrolled, enrolled, signed-in, compliant, non-compliant, step-up-required,
revoked, offline) and why, the signed-in user and token expiry (never the token), and the failing
checks. Asks the running \`ward daemon\`; without one, says what it can from the identity and keychain.

Exit codes: 0 compliant or signed in · 1 anything that blocks access · 3 could not run
`;

const OK_STATES: readonly AgentState[] = ['compliant', 'signed-in'];

function render(status: SessionStatus, posture: PostureView | undefined, daemon: boolean): string {
  const lines = [`state      ${status.state}${daemon ? '' : '  (agent not running: start `ward daemon`)'}`];
  if (status.reason) lines.push(`why        ${status.reason}`);
  if (status.broker) lines.push(`broker     ${status.broker.url}`);
  if (status.user) lines.push(`user       ${status.user.subject}`);
  if (status.expiresAt) lines.push(`token      expires ${status.expiresAt} (DPoP-bound to this device)`);
  if (status.pendingStepUp) lines.push(`step-up    ${status.pendingStepUp.reason} (until ${status.pendingStepUp.deadline})`);
  const failing = posture?.snapshot?.checks.filter((c) => c.status === 'fail') ?? [];
  if (posture?.snapshot) lines.push(`posture    ${posture.snapshot.checks.length} checks, ${failing.length} failing${posture.lastReportedAt ? `; last reported ${posture.lastReportedAt}` : ''}`);
  for (const c of failing) lines.push(`  ✗ ${c.title}: ${c.reason}`);
  return `${lines.join('\n')}\n`;
}

export async function run(args: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandArgs(args, io, { json: { type: 'boolean' } }, HELP);
  if ('exit' in parsed) return parsed.exit;
  const { values } = parsed;
  const daemon = await connectDaemon(io);
  let status: SessionStatus;
  let posture: PostureView | undefined;
  if (daemon) {
    status = await daemon.call('session.status', {});
    posture = await daemon.call('posture.snapshot', {});
  } else {
    const runtime = await createRuntime(io);
    try {
      await runtime.agent.open();
      status = runtime.agent.sessionStatus();
    } finally {
      await runtime.close();
    }
  }
  if (values.json) io.stdout(`${JSON.stringify({ daemon: daemon !== undefined, status, posture: posture ?? null })}\n`);
  else io.stdout(render(status, posture, daemon !== undefined));
  return OK_STATES.includes(status.state) ? EXIT.ok : EXIT.problem;
}
