import { access } from 'node:fs/promises';
import { resetDevice } from '../core/identity/device-identity.js';
import { IdentityFile } from '../core/identity/identity-record.js';
import { identityEnvironment } from './identity.js';
import { EXIT, type CliIO, parseCommandArgs } from './io.js';

const HELP = `Usage: ward reset [--yes]

Deletes this device's key and its identity record. Afterwards the device is not enrolled: the
broker can no longer recognise it, tokens bound to the old key stop working, and you need a new
enrollment token from IT to run \`ward enroll\` again. The broker keeps the old device entry until IT
removes it. Asks for confirmation unless --yes is given.
`;

const CONSEQUENCES = `This deletes the device key and this device's identity.
  - The broker will no longer recognise this device; sessions bound to the key stop working.
  - Enrolling again needs a new enrollment token from IT (\`ward enroll\`).
  - A TPM key is removed from the TPM; a keychain key is removed from the keychain.
`;

export async function run(args: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandArgs(args, io, { yes: { type: 'boolean', default: false } }, HELP, { command: 'reset' });
  if ('exit' in parsed) return parsed.exit;
  const { values } = parsed;
  const env = identityEnvironment(io);
  const file = new IdentityFile(env.stateDir);
  const record = await file.read().catch(() => undefined);
  const present = record !== undefined || (await access(file.path).then(() => true, () => false));
  if (!present) {
    io.stdout('This device has no identity; nothing to reset.\n');
    return EXIT.ok;
  }
  if (!values.yes) {
    if (!io.prompt) {
      io.stderr(`ward reset: ${CONSEQUENCES}Re-run with --yes to confirm (no terminal to ask on).\n`);
      return EXIT.usage;
    }
    io.stderr(`${CONSEQUENCES}${record ? `Device id: ${record.deviceId}\n` : ''}`);
    const answer = (await io.prompt('Type "reset" to continue: ')).trim();
    if (answer !== 'reset') {
      io.stdout('Nothing was changed.\n');
      return EXIT.ok;
    }
  }
  const result = await resetDevice({ env });
  if (!result.removedIdentity) {
    io.stdout('This device had no identity; nothing to reset.\n');
    return EXIT.ok;
  }
  if (result.keyError) {
    io.stderr(`ward reset: the identity was removed, but the key could not be deleted: ${result.keyError.message}\n`);
  }
  io.stdout('The device identity was removed. Run `ward enroll` to enroll this device again.\n');
  return EXIT.ok;
}
