import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { WardError } from '../core/errors.js';
import { parseBundle } from '../core/exec/bundle.js';
import type { Host } from '../core/exec/host.js';
import { LiveHost } from '../core/exec/live-host.js';
import { ReplayHost } from '../core/exec/replay-host.js';
import { PostureConfigSchema, type PostureConfig } from '../core/posture/config.js';
import { takeSnapshot } from '../core/posture/engine.js';
import { defaultProbeCacheFile, ProbeMemo } from '../core/posture/probe-cache.js';
import { ALL_CHECKS } from '../core/posture/registry.js';
import type { PostureSnapshot } from '../core/posture/snapshot.js';
import { currentPlatform, isPlatform } from '../core/platform.js';
import { AGENT_VERSION } from '../core/version.js';
import { EXIT, type CliIO, parseCommandArgs } from './io.js';
import { renderPostureTable } from './posture-render.js';

const HELP = `Usage: ward posture [--json] [--check ID]... [--replay BUNDLE [--platform linux|darwin|win32]]
                    [--config FILE] [--timeout MS]

Takes a posture snapshot of this device and prints each check's status, what was observed and
how to fix a failure.

  --json            print the snapshot as JSON (schema: PostureSnapshot, schemaVersion 1)
  --check ID        run only this check (repeatable); \`ward checks\` lists the ids
  --replay BUNDLE   evaluate a bundle written by \`ward capture\` instead of this machine
  --platform P      with --replay: run P's probes (default: the bundle's platform)
  --config FILE     posture settings (required/forbidden apps, files, certificates) as JSON
  --timeout MS      time budget for every check (default: each check's own, 3000 ms for most)

Slow answers (apt-get -s upgrade) are kept for up to 6 h in probe-cache.json in Ward's state
directory (WARD_STATE_DIR) while the files they depend on are unchanged; the evidence says so.

Exit codes: 0 no check failed · 1 at least one check failed · 2 usage error · 3 could not run
`;

export class UsageError extends WardError<'usage'> {
  constructor(message: string) {
    super('usage', message);
  }
}

export interface SnapshotRequest {
  readonly checkIds?: readonly string[];
  readonly replay?: string;
  readonly platform?: string;
  readonly configFile?: string;
  readonly timeoutMs?: number;
  /** Keep slow probes' answers in this file across runs (live only; replay and capture never use it). */
  readonly probeCacheFile?: string;
}

export async function loadPostureConfig(file: string | undefined): Promise<PostureConfig | undefined> {
  if (!file) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new WardError('config-unreadable', `could not read posture settings from ${file}: ${(err as Error).message}`);
  }
  const parsed = PostureConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new WardError('config-invalid', `${file}: ${issue?.path.join('.') || '(top level)'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

export async function hostFor(request: SnapshotRequest): Promise<{ host: Host; bundleName?: string }> {
  if (request.replay) {
    let text: string;
    try {
      text = await readFile(request.replay, 'utf8');
    } catch (err) {
      throw new WardError('bundle-unreadable', `could not read the bundle ${request.replay}: ${(err as Error).message}`);
    }
    const bundle = parseBundle(text);
    const platform = request.platform ?? bundle.platform;
    if (!isPlatform(platform)) throw new UsageError(`--platform must be linux, darwin or win32, not "${platform}"`);
    return { host: new ReplayHost(platform, bundle.records), bundleName: basename(request.replay) };
  }
  if (request.platform) throw new UsageError('--platform only applies with --replay');
  const platform = currentPlatform();
  if (!platform) throw new WardError('unsupported-platform', `Ward has no posture probes for ${process.platform}`);
  return { host: new LiveHost(platform) };
}

export async function snapshotFor(request: SnapshotRequest, host?: Host): Promise<PostureSnapshot> {
  const checks = request.checkIds?.length
    ? request.checkIds.map((id) => {
        const check = ALL_CHECKS.find((c) => c.id === id);
        if (!check) throw new UsageError(`unknown check "${id}"; \`ward checks\` lists them`);
        return check;
      })
    : ALL_CHECKS;
  const chosen = host ? { host } : await hostFor(request);
  const config = await loadPostureConfig(request.configFile);
  return takeSnapshot({
    host: chosen.host,
    agentVersion: AGENT_VERSION,
    checks,
    ...(config ? { config } : {}),
    ...(request.timeoutMs ? { timeoutMs: request.timeoutMs } : {}),
    mode: request.replay ? 'replay' : 'live',
    ...(request.probeCacheFile && !request.replay ? { memo: new ProbeMemo({ file: request.probeCacheFile }) } : {}),
    ...('bundleName' in chosen && chosen.bundleName ? { bundleName: chosen.bundleName } : {}),
  });
}

export function parseTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 1 || ms > 600_000) throw new UsageError('--timeout takes a whole number of milliseconds from 1 to 600000');
  return ms;
}

export async function run(args: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandArgs(
    args,
    io,
    {
      json: { type: 'boolean', default: false },
      check: { type: 'string', multiple: true },
      replay: { type: 'string' },
      platform: { type: 'string' },
      config: { type: 'string' },
      timeout: { type: 'string' },
    },
    HELP,
    { command: 'posture' },
  );
  if ('exit' in parsed) return parsed.exit;
  const { values } = parsed;
  let snapshot: PostureSnapshot;
  try {
    snapshot = await snapshotFor({
      ...(values.check ? { checkIds: values.check } : {}),
      ...(values.replay ? { replay: values.replay } : {}),
      ...(values.platform ? { platform: values.platform } : {}),
      ...(values.config ? { configFile: values.config } : {}),
      ...(values.timeout ? { timeoutMs: parseTimeout(values.timeout) } : {}),
      ...(values.replay ? {} : { probeCacheFile: defaultProbeCacheFile(currentPlatform() ?? 'linux', (name) => io.env[name]) }),
    } as SnapshotRequest);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`ward posture: ${err.message}\n`);
      return EXIT.usage;
    }
    throw err;
  }
  if (values.json) io.stdout(`${JSON.stringify(snapshot, null, 2)}\n`);
  else io.stdout(renderPostureTable(snapshot, { colour: io.isTTY && !io.env.NO_COLOR, width: process.stdout.columns }));
  return snapshot.checks.some((c) => c.status === 'fail') ? EXIT.problem : EXIT.ok;
}
