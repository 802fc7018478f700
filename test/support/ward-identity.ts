import { run as identityCommand } from '../../main/cli/identity.js';

/** What `ward identity` (in this process, as the CLI runs it) printed, and its exit code. */
export interface WardIdentityOutput {
  readonly code: number;
  readonly out: string;
}

/**
 * Run `ward identity [args]` against a state directory (`WARD_STATE_DIR`), with a swtpm's TCTI
 * for TPM keys, or any other environment (a throw-away keyring's D-Bus address).
 */
export async function wardIdentity(args: readonly string[], env: NodeJS.ProcessEnv): Promise<WardIdentityOutput> {
  const out: string[] = [];
  const code = await identityCommand([...args], { stdout: (t) => out.push(t), stderr: (t) => out.push(t), isTTY: false, env });
  return { code, out: out.join('') };
}

/** The `attestation` row of `ward identity`'s table (its value), and the `--json` view of it. */
export async function wardIdentityAttestation(env: NodeJS.ProcessEnv): Promise<{ row: string; json: { status: string; description: string }; recorded: unknown }> {
  const table = await wardIdentity([], env);
  // The row's value, its wrapped continuation lines joined again.
  const match = /^ {2}attestation +(.*(?:\n {15}.*)*)$/m.exec(table.out);
  const row = match?.[1]?.replace(/\n {15}/g, ' ') ?? `(no attestation row in: ${table.out})`;
  const json = JSON.parse((await wardIdentity(['--json'], env)).out) as { attestation: { status: string; description: string }; record: { keyAttestation?: unknown } };
  return { row, json: json.attestation, recorded: json.record.keyAttestation };
}
