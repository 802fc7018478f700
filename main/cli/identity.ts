import { WardError } from '../core/errors.js';
import { LiveHost } from '../core/exec/live-host.js';
import { identityStatus, loadDeviceIdentity, type IdentityStatus } from '../core/identity/device-identity.js';
import { rotateDeviceKey } from '../core/identity/enrollment.js';
import { IdentityFile, type IdentityRecord } from '../core/identity/identity-record.js';
import { describeKeyAttestation } from '../core/identity/key-attestation.js';
import { RotationJournal } from '../core/identity/rotation-journal.js';
import { describeTpmSigner } from '../core/identity/native-tpm.js';
import type { KeyStoreEnvironment } from '../core/identity/select-key-store.js';
import { defaultStateDir } from '../core/identity/state-dir.js';
import { TpmKeyStore } from '../core/identity/tpm-key-store.js';
import { currentPlatform } from '../core/platform.js';
import { EXIT, type CliIO, parseCommandArgs } from './io.js';

const HELP = `Usage: ward identity [--json]
       ward identity rotate

Shows this device's identity: the device id the broker issued, where its key is held (key store
and assurance level), what the broker verified about the key at enrollment or the last rotation
(attestation: ek-attested, tpm-certified or uncertified, and what that proves), the key's RFC 7638
thumbprint, and whether the key is usable right now.
\`rotate\` replaces the device key (a request signed by both the old and the new key). If a
rotation was interrupted (crash, broker down), running it again finishes it with the same new key.

State lives in $WARD_STATE_DIR, else $XDG_STATE_HOME/ward or ~/.local/state/ward.
Exit codes: 0 enrolled and the key works · 1 not enrolled or the key has a problem · 3 could not run
`;

/** The key-store environment of this machine and user, as the CLI sees it. */
export function identityEnvironment(io: CliIO): KeyStoreEnvironment {
  const platform = currentPlatform();
  if (!platform) throw new WardError('unsupported-platform', `Ward has no device identity support for ${process.platform}`);
  const env = (name: string): string | undefined => io.env[name];
  const tcti = io.env.TPM2TOOLS_TCTI;
  return { host: new LiveHost(platform), stateDir: defaultStateDir(platform, env), ...(tcti ? { tcti } : {}) };
}

const STORE_WORDS: Record<IdentityRecord['keyStore'], string> = {
  tpm: 'TPM 2.0 (the key was made in the TPM and cannot leave it)',
  'os-keychain': 'OS keychain (a software key sealed in the keychain)',
  'secure-enclave': 'Secure Enclave',
  cng: 'Windows Platform Crypto Provider',
  memory: 'in-memory test store (not for real use)',
};

/** `tpmLine`: what the TPM probe found (not enrolled); `signerLine`: who signs for a TPM key. */
export function renderIdentity(status: IdentityStatus, tpmLine?: string, signerLine?: string): string {
  if (status.state === 'not-enrolled') {
    return [
      'This device is not enrolled: it has no device key and no identity yet.',
      'Until it is, the broker cannot tell this device from any other, and sign-in tokens cannot be bound to it.',
      ...(tpmLine ? [`  ${tpmLine}`] : []),
      '',
      'To enroll, run:  ward enroll --broker https://broker.example.com --token <token from IT>',
      `(identity file: ${status.identityFile})`,
      '',
    ].join('\n');
  }
  if (status.state === 'damaged') {
    return `The device identity is damaged: ${status.error.message}\n  ${status.error.hint ?? 'Run `ward reset`, then `ward enroll`.'}\n`;
  }
  const r = status.record;
  const attestation = describeKeyAttestation(r);
  const rows: [string, string][] = [
    ['device id', r.deviceId],
    ['broker', r.brokerUrl],
    ['key store', STORE_WORDS[r.keyStore]],
    ['assurance', r.assurance],
    ['attestation', `${attestation.status}: ${attestation.description}`],
    ['thumbprint', r.thumbprint],
    ['enrolled', r.enrolledAt],
    ...(r.rotatedAt ? ([['key rotated', r.rotatedAt]] as [string, string][]) : []),
    ...(r.fallbackReason ? ([['note', r.fallbackReason]] as [string, string][]) : []),
    ['key', status.key === 'ok' ? 'present and usable' : `PROBLEM: ${status.key.message}`],
    ...(signerLine ? ([['signer', signerLine]] as [string, string][]) : []),
    ...(status.pendingRotation
      ? ([['rotation', `unfinished (started ${status.pendingRotation.startedAt}): run \`ward identity rotate\` to finish it`]] as [string, string][])
      : []),
    ['state file', status.identityFile],
  ];
  const lines = rows.map(([k, v]) => `  ${k.padEnd(12)} ${k === 'attestation' ? wrap(v, 86, ' '.repeat(15)) : v}`);
  const hint = status.key !== 'ok' && status.key.hint ? [`  ${status.key.hint}`] : [];
  return ['Device identity', ...lines, ...hint, ''].join('\n');
}

/** Break a sentence at spaces into lines of at most `width` characters, continued with `indent`. */
function wrap(text: string, width: number, indent: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  lines.push(line);
  return lines.join(`\n${indent}`);
}

function statusJson(status: IdentityStatus): unknown {
  if (status.state === 'enrolled') {
    return { ...status, key: status.key === 'ok' ? { ok: true } : { ok: false, ...status.key.toJSON() }, attestation: describeKeyAttestation(status.record) };
  }
  if (status.state === 'damaged') return { ...status, error: status.error.toJSON() };
  return status;
}

export async function run(args: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandArgs(args, io, { json: { type: 'boolean', default: false } }, HELP, { command: 'identity', allowPositionals: true });
  if ('exit' in parsed) return parsed.exit;
  const env = identityEnvironment(io);
  const [sub, ...extra] = parsed.positionals;
  if (sub === 'rotate' && extra.length === 0) {
    const pending = await new RotationJournal(env.stateDir).read();
    if (pending) io.stderr(`Finishing the key rotation started at ${pending.startedAt}.\n`);
    const { store } = await loadDeviceIdentity({ env });
    const record = await rotateDeviceKey({ identity: new IdentityFile(env.stateDir), store });
    io.stdout(`The device key was replaced. New thumbprint: ${record.thumbprint}\n`);
    io.stdout('Sign-ins bound to the old key end: a running Ward agent switches to the new key and asks you to sign in again.\n');
    return EXIT.ok;
  }
  if (sub !== undefined) {
    io.stderr(`ward identity: unknown argument "${sub}"\n\n${HELP}`);
    return EXIT.usage;
  }
  const status = await identityStatus({ env });
  const tpmSigner = status.state === 'enrolled' && status.record.keyStore === 'tpm' ? describeTpmSigner() : undefined;
  if (parsed.values.json) {
    io.stdout(`${JSON.stringify({ ...(statusJson(status) as object), ...(tpmSigner ? { tpmSigner } : {}) }, null, 2)}\n`);
  } else {
    let tpmLine: string | undefined;
    if (status.state === 'not-enrolled') {
      const probe = await TpmKeyStore.probe(env.host, env.tcti);
      tpmLine = probe.available
        ? `A TPM is available${probe.manufacturer ? ` (${probe.manufacturer})` : ''}: enrollment will make a hardware key.`
        : `No TPM is usable (${probe.reason}); enrollment can use the OS keychain unless policy requires hardware.`;
    }
    io.stdout(renderIdentity(status, tpmLine, tpmSigner?.detail));
  }
  return status.state === 'enrolled' && status.key === 'ok' ? EXIT.ok : EXIT.problem;
}
