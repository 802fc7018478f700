import { EXIT, type CliIO } from './io.js';
import { connectDaemon, createRuntime } from './session-runtime.js';

/** `ward logout`: revoke the refresh token at the broker (best effort) and wipe the keychain entry. */
export async function run(args: string[], io: CliIO): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout('Usage: ward logout\n\nSigns out: revokes the session at the broker when it is reachable and deletes the tokens from the OS keychain.\n');
    return EXIT.ok;
  }
  const daemon = await connectDaemon(io);
  if (daemon) {
    const status = await daemon.call('session.signOut', {});
    io.stdout(`Signed out. State: ${status.state}\n`);
    return EXIT.ok;
  }
  const runtime = await createRuntime(io);
  try {
    await runtime.agent.open();
    await runtime.agent.signOut();
    io.stdout('Signed out; the tokens were removed from the keychain.\n');
    return EXIT.ok;
  } finally {
    await runtime.close();
  }
}
