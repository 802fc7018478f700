import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultConfigLocations } from '../core/config/sources.js';
import { EnrollmentTokenLedger } from '../core/config/enrollment-token.js';
import { loadConfig } from '../core/config/resolve.js';
import { WardError } from '../core/errors.js';
import { enroll } from '../core/identity/enrollment.js';
import { IdentityFile } from '../core/identity/identity-record.js';
import { describeKeyAttestation } from '../core/identity/key-attestation.js';
import { takeSnapshot } from '../core/posture/engine.js';
import { AGENT_VERSION } from '../core/version.js';
import { identityEnvironment } from './identity.js';
import { EXIT, type CliIO, parseCommandArgs } from './io.js';

const HELP = `Usage: ward enroll [--broker URL] [--token TOKEN | --token-file FILE] [--json]

Enrolls this device with the access broker: creates the device key (in the TPM when there is one
and policy allows, otherwise in the OS keychain — the level is recorded and shown, never hidden),
sends the broker a request signed by that key with the enrollment token and this device's facts,
and stores the device id and the broker's signing keys.

  --broker URL       the broker (default: brokerUrl from managed configuration)
  --token TOKEN      the enrollment token from IT (also: WARD_ENROLLMENT_TOKEN, managed configuration)
  --token-file FILE  read the token from a file (keeps it out of the process list)
  --json             print the new identity as JSON

Managed configuration \`hardwareKey\` (required | preferred | any, default preferred) decides the key store.
Exit codes: 0 enrolled · 2 usage error · 3 could not enroll
`;

export async function run(args: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandArgs(
    args,
    io,
    {
      broker: { type: 'string' },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    HELP,
    { command: 'enroll' },
  );
  if ('exit' in parsed) return parsed.exit;
  const { values } = parsed;
  const env = identityEnvironment(io);
  const { config } = await loadConfig(env.host, defaultConfigLocations(env.host.platform, (n) => io.env[n]));
  const brokerUrl = values.broker ?? config.brokerUrl;
  if (!brokerUrl) {
    io.stderr('ward enroll: no broker: pass --broker URL (or ask IT to set brokerUrl in the managed configuration)\n');
    return EXIT.usage;
  }
  const ledger = new EnrollmentTokenLedger(join(env.stateDir, 'enrollment-tokens.json'));
  let token = values.token;
  let managedToken: string | undefined;
  if (!token && values['token-file']) {
    try {
      token = (await readFile(values['token-file'], 'utf8')).trim();
    } catch (err) {
      throw new WardError('token-unreadable', `could not read the token file ${values['token-file']}: ${(err as Error).message}`);
    }
  }
  token ??= io.env.WARD_ENROLLMENT_TOKEN;
  if (!token) token = managedToken = await ledger.usable(config.enrollmentToken);
  if (!token && io.prompt) token = (await io.prompt('Enrollment token from IT: ')).trim();
  if (!token) {
    io.stderr('ward enroll: no enrollment token: pass --token or --token-file (IT gives you one), or set WARD_ENROLLMENT_TOKEN\n');
    return EXIT.usage;
  }
  const snapshot = await takeSnapshot({ host: env.host, agentVersion: AGENT_VERSION, checks: [] });
  const { record, fallbackReason, keyAttestation } = await enroll(brokerUrl, token, {
    identity: new IdentityFile(env.stateDir),
    device: snapshot.device,
    policy: config.hardwareKey,
    env,
  });
  if (managedToken) await ledger.markUsed(managedToken);
  if (values.json) {
    io.stdout(`${JSON.stringify(record, null, 2)}\n`);
    return EXIT.ok;
  }
  if (fallbackReason) io.stderr(`ward enroll: note: ${fallbackReason}\n`);
  if (keyAttestation && !keyAttestation.certified) io.stderr(`ward enroll: note: the TPM did not certify the key (${keyAttestation.reason}); enrolled uncertified\n`);
  const attestation = describeKeyAttestation(record);
  io.stdout(
    `Enrolled with ${record.brokerUrl}.\n  device id   ${record.deviceId}\n  key store   ${record.keyStore} (assurance: ${record.assurance})\n  thumbprint  ${record.thumbprint}\n` +
      `  attestation ${attestation.status}: ${attestation.description}\n`,
  );
  return EXIT.ok;
}
