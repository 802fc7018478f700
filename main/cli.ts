import { EXIT, processIO, type CliIO, type CommandRunner } from './cli/io.js';
import { WardError } from './core/errors.js';
import { AGENT_VERSION } from './core/version.js';

interface CommandEntry {
  readonly summary: string;
  readonly load: () => Promise<{ run: CommandRunner }>;
}

/** Commands load lazily so `ward posture` does not pay for the broker client or the UI server. */
const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  posture: { summary: 'Take a posture snapshot (table, or --json)', load: () => import('./cli/posture.js') },
  checks: { summary: 'List the posture checks and what each reads on each OS', load: () => import('./cli/checks.js') },
  capture: { summary: 'Write a bundle of every command and file the probes read (for support)', load: () => import('./cli/capture.js') },
  identity: { summary: "Show this device's identity: device id, key store, assurance, thumbprint", load: () => import('./cli/identity.js') },
  enroll: { summary: 'Enroll this device with the broker (--broker URL [--token T])', load: () => import('./cli/enroll.js') },
  reset: { summary: "Delete this device's key and identity (asks first)", load: () => import('./cli/reset.js') },
  login: { summary: 'Sign in (browser with PKCE, or --device for a code); tokens are DPoP-bound to this device', load: () => import('./cli/login.js') },
  logout: { summary: 'Sign out and remove the tokens from the OS keychain', load: () => import('./cli/logout.js') },
  status: { summary: 'Show the agent state (compliant, non-compliant, step-up-required, ...) and why (--json)', load: () => import('./cli/status.js') },
  access: { summary: "GET a broker-protected URL with this device's token; asks before an RFC 9470 step-up (--json)", load: () => import('./cli/access.js') },
  daemon: { summary: 'Run the headless agent: event-driven posture, session refresh, broker channel, loopback API', load: () => import('./cli/daemon.js') },
  doctor: { summary: 'Diagnose config sources, key store, broker, clock skew and updates (for IT tickets; --json)', load: () => import('./cli/doctor.js') },
  ui: { summary: "Serve Ward's window as a local web page on 127.0.0.1 (one-time link)", load: () => import('./cli/ui.js') },
  start: { summary: 'Start Ward: the tray app, or the agent with its local web UI when Electron cannot run', load: () => import('./cli/start.js') },
};

function usage(io: CliIO): void {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  io.stdout(
    `ward ${AGENT_VERSION} — device posture and zero-trust client\n\nUsage: ward <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun \`ward <command> --help\` for a command's options.\n`,
  );
}

export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    usage(io);
    return name ? EXIT.ok : EXIT.usage;
  }
  if (name === '--version' || name === '-v') {
    io.stdout(`${AGENT_VERSION}\n`);
    return EXIT.ok;
  }
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) {
    io.stderr(`ward: unknown command "${name}". Run \`ward --help\` for the list.\n`);
    return EXIT.usage;
  }
  try {
    const { run } = await entry.load();
    return await run(rest, io);
  } catch (err) {
    // Typed errors carry a sentence meant for people; anything else is a bug worth reporting.
    if (err instanceof WardError) {
      io.stderr(`ward ${name}: ${err.message}${err.hint ? `\n  ${err.hint}` : ''}\n`);
    } else {
      io.stderr(`ward ${name}: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
    }
    return EXIT.failure;
  }
}
