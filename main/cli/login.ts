import type { SignInProgress } from '../shared/ipc-contract.js';
import { EXIT, type CliIO, parseCommandArgs } from './io.js';
import { connectDaemon, createRuntime } from './session-runtime.js';

const HELP = `Usage: ward login [--device]

Signs this device's user in to the broker it is enrolled with: OAuth authorization code + PKCE in
your system browser, redirected back to Ward on 127.0.0.1 (RFC 8252). The tokens are bound to
the device key (DPoP, RFC 9449) and kept in the OS keychain.

  --device   no browser on this machine: show a code to enter on another device (RFC 8628)
`;

function progressLine(p: SignInProgress): string | undefined {
  if (p.userCode && p.verificationUri) return `On any device, open ${p.verificationUri} and enter the code ${p.userCode}`;
  return p.message;
}

/** `ward login`: through the running daemon when there is one, else in this process. */
export async function run(args: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandArgs(args, io, { device: { type: 'boolean' } }, HELP);
  if ('exit' in parsed) return parsed.exit;
  const method = parsed.values.device ? 'device' : 'browser';
  const daemon = await connectDaemon(io);
  if (daemon) {
    await daemon.call('session.signIn', { method });
    let said = '';
    for (;;) {
      await new Promise((r) => setTimeout(r, 500));
      const status = await daemon.call('session.status', {});
      const line = progressLine(status.signIn);
      if (line && line !== said) io.stderr(`${line}\n`);
      said = line ?? said;
      if (status.signIn.stage === 'done') {
        io.stdout(`Signed in${status.user ? ` as ${status.user.subject}` : ''}. State: ${status.state}\n`);
        return EXIT.ok;
      }
      if (status.signIn.stage === 'failed') return EXIT.failure;
    }
  }
  const runtime = await createRuntime(io);
  try {
    runtime.agent.on('push', (m) => {
      if (m.event !== 'signIn.progress') return;
      const line = progressLine(m.payload);
      if (line && m.payload.stage !== 'done') io.stderr(`${line}\n`);
    });
    await runtime.agent.open();
    await runtime.agent.signIn(method);
    io.stdout(`Signed in${runtime.agent.tokens?.subject ? ` as ${runtime.agent.tokens.subject}` : ''}. Start \`ward daemon\` to keep the session and posture fresh.\n`);
    return EXIT.ok;
  } finally {
    await runtime.close();
  }
}
