import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaptureBundleSchema } from '../../../main/core/exec/bundle.js';
import { parseProbeCacheFile } from '../../../main/core/posture/probe-cache.js';
import { PostureSnapshotSchema } from '../../../main/core/posture/snapshot.js';

// `ward posture` as real child processes sharing a temp WARD_STATE_DIR: the real apt-get answers
// once, later runs reuse it from probe-cache.json until an input changes. APT_CONFIG points at a
// temp configuration whose dpkg status file is a copy of this machine's, so the test can touch it.

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const ward = join(repo, 'bin', 'ward.mjs');
const APT_GET = 'apt-get -s -o Debug::NoLocking=1 upgrade';

let dir: string;
let stateDir: string;
let cacheFile: string;
let status: string;
let env: NodeJS.ProcessEnv;

function wardCli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [ward, ...args], { cwd: repo, env, timeout: 120_000, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

/** The os-updates result of `ward posture --json --check os-updates`, and its apt-get evidence line. */
async function osUpdates(): Promise<{ status: string; apt: string }> {
  const ran = await wardCli(['posture', '--json', '--check', 'os-updates']);
  const snapshot = PostureSnapshotSchema.parse(JSON.parse(ran.stdout));
  const check = snapshot.checks[0];
  const apt = check?.evidence.map((e) => e.source).find((s) => s.startsWith(APT_GET));
  return { status: check?.status ?? '', apt: apt ?? `(no apt-get evidence: ${check?.reason ?? ran.stderr})` };
}

async function cacheEntries(): Promise<{ name: string; at: string }[]> {
  const parsed = parseProbeCacheFile(await readFile(cacheFile, 'utf8'));
  if (!parsed) throw new Error(`${cacheFile} is not a valid cache`);
  return parsed.entries;
}

const aptEntry = async (): Promise<{ at: string } | undefined> => (await cacheEntries()).find((e) => e.name === 'apt-get-simulate-upgrade');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ward-probe-cache-cli-'));
  stateDir = join(dir, 'state');
  cacheFile = join(stateDir, 'probe-cache.json');
  status = join(dir, 'dpkg', 'status');
  await mkdir(join(dir, 'dpkg'), { recursive: true });
  await copyFile('/var/lib/dpkg/status', status);
  await writeFile(join(dir, 'apt.conf'), `Dir::State::status "${status}";\n`);
  env = { ...process.env, WARD_STATE_DIR: stateDir, APT_CONFIG: join(dir, 'apt.conf') };
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ward posture keeps the apt-get answer in WARD_STATE_DIR across processes', () => {
  it('the first run asks apt-get and writes the cache (0600); the second reuses it and says from when', async () => {
    const first = await osUpdates();
    expect(first.apt).toBe(APT_GET);
    expect((await stat(cacheFile)).mode & 0o777).toBe(0o600);
    const kept = await aptEntry();
    expect(kept).toBeDefined();

    const second = await osUpdates();
    expect(second.apt).toBe(`${APT_GET} (answer reused from ${kept?.at}, kept in Ward's probe cache; package lists, dpkg status and APT_CONFIG unchanged since)`);
    expect(second.status).toBe(first.status);
  }, 120_000);

  it('touching the dpkg status file APT_CONFIG names makes the next run ask apt-get again', async () => {
    const before = await aptEntry();
    const later = new Date(Date.now() + 60_000);
    await utimes(status, later, later);
    const run = await osUpdates();
    expect(run.apt).toBe(APT_GET);
    expect((await aptEntry())?.at).not.toBe(before?.at);
    expect((await osUpdates()).apt).toContain('answer reused from');
  }, 120_000);

  it('a damaged cache file is ignored (apt-get runs) and rewritten whole', async () => {
    const text = await readFile(cacheFile, 'utf8');
    await writeFile(cacheFile, text.slice(0, Math.floor(text.length / 3)));
    expect((await osUpdates()).apt).toBe(APT_GET);
    expect(await aptEntry()).toBeDefined();
    await writeFile(cacheFile, '{"version":1,"entries":[{"name":"apt-get-simulate-upgrade","fingerprint":"x","at":"not a date","value":{}}]}');
    expect((await osUpdates()).apt).toBe(APT_GET);
    expect(await aptEntry()).toBeDefined();
  }, 120_000);

  it('ward capture records the real apt-get answer despite a warm cache, and neither capture nor replay touches the cache', async () => {
    expect((await osUpdates()).apt).toContain('answer reused from');
    const cacheBefore = await readFile(cacheFile, 'utf8');
    const mtimeBefore = (await stat(cacheFile)).mtimeMs;
    const bundleFile = join(dir, 'bundle.json');
    const captured = await wardCli(['capture', '--out', bundleFile]);
    expect(captured.code, captured.stderr).toBe(0);
    const bundle = CaptureBundleSchema.parse(JSON.parse(await readFile(bundleFile, 'utf8')));
    const apt = bundle.records.find((r) => r.kind === 'exec' && r.command === 'apt-get');
    expect(apt && 'args' in apt ? apt.args.join(' ') : '').toBe('-s -o Debug::NoLocking=1 upgrade');

    const replayed = await wardCli(['posture', '--json', '--check', 'os-updates', '--replay', bundleFile]);
    const check = PostureSnapshotSchema.parse(JSON.parse(replayed.stdout)).checks[0];
    expect(check?.evidence.map((e) => e.source)).toContain(APT_GET);
    expect(await readFile(cacheFile, 'utf8')).toBe(cacheBefore);
    expect((await stat(cacheFile)).mtimeMs).toBe(mtimeBefore);
  }, 180_000);
});
