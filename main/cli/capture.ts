import { mkdir, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname } from 'node:path';
import { makeBundle, redactBundle } from '../core/exec/bundle.js';
import { LiveHost } from '../core/exec/live-host.js';
import { RecordingHost } from '../core/exec/recording-host.js';
import { WardError } from '../core/errors.js';
import { currentPlatform } from '../core/platform.js';
import { AGENT_VERSION } from '../core/version.js';
import { EXIT, type CliIO, parseCommandArgs } from './io.js';
import { snapshotFor } from './posture.js';

const HELP = `Usage: ward capture [--out FILE] [--redact] [--config FILE]

Runs every posture probe on this machine and writes a bundle (JSON) of each command run and file
read, with exit codes and output. Support staff replay it anywhere with
\`ward posture --replay FILE\` to see why a check fails on this device.

  --out FILE     where to write (default: ward-capture-<host>-<date>.json)
  --redact       replace the host name, user names, serial number and hardware UUID
  --config FILE  posture settings, as for \`ward posture\`
`;

export async function run(args: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandArgs(
    args,
    io,
    { out: { type: 'string' }, redact: { type: 'boolean', default: false }, config: { type: 'string' } },
    HELP,
    { command: 'capture' },
  );
  if ('exit' in parsed) return parsed.exit;
  const { values } = parsed;
  const platform = currentPlatform();
  if (!platform) throw new WardError('unsupported-platform', `Ward has no posture probes for ${process.platform}`);
  const recorder = new RecordingHost(new LiveHost(platform));
  // No probe cache here: a bundle must hold what the commands really answered (apt-get included),
  // and the engine never uses a memo when the host is recording.
  const snapshot = await snapshotFor(values.config ? { configFile: values.config } : {}, recorder);
  let bundle = makeBundle(platform, AGENT_VERSION, recorder.records, new Date());
  if (values.redact) {
    const secrets = new Map<string, string>([
      [os.hostname(), '<hostname>'],
      [os.userInfo().username, '<user>'],
    ]);
    const hw = snapshot.device.hardware;
    if (hw.serial) secrets.set(hw.serial, '<serial>');
    if (hw.uuid) secrets.set(hw.uuid, '<hardware-uuid>');
    bundle = redactBundle(bundle, secrets);
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const out = values.out ?? `ward-capture-${values.redact ? 'redacted' : os.hostname()}-${stamp}.json`;
  await mkdir(dirname(out), { recursive: true });
  // Write beside the target and rename, so an interrupted capture never leaves half a bundle.
  const tmp = `${out}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(bundle, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, out);
  const failing = snapshot.checks.filter((c) => c.status === 'fail').map((c) => c.id);
  io.stdout(
    `Wrote ${out}: ${bundle.records.length} recordings from ${snapshot.checks.length} checks${values.redact ? ', redacted' : ''}.\n` +
      (failing.length ? `Failing now: ${failing.join(', ')}.\n` : '') +
      `Replay it with: ward posture --replay ${out}\n`,
  );
  return EXIT.ok;
}
