import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaptureBundleSchema } from '../../../main/core/exec/bundle.js';
import { ALL_CHECKS } from '../../../main/core/posture/registry.js';
import { PostureSnapshotSchema, type PostureSnapshot } from '../../../main/core/posture/snapshot.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const ward = join(repo, 'bin', 'ward.mjs');

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `ward ARGS` as a real child process, the way a user runs it. */
function wardCli(args: readonly string[]): Promise<Ran> {
  return new Promise((resolve) => {
    // WARD_STATE_DIR: the probe cache goes to this test's temp dir, never the user's state.
    execFile(process.execPath, [ward, ...args], { cwd: repo, env: { ...process.env, WARD_STATE_DIR: join(dir, 'state') }, timeout: 120_000, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The documented exit code for a snapshot: 1 when a check failed, else 0 (main/cli/posture.ts). */
const expectedExit = (s: PostureSnapshot): number => (s.checks.some((c) => c.status === 'fail') ? 1 : 0);
const statuses = (s: PostureSnapshot): Record<string, string> => Object.fromEntries(s.checks.map((c) => [c.id, c.status]));

let dir: string;
let live: PostureSnapshot;
let liveRun: Ran;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ward-cli-'));
  liveRun = await wardCli(['posture', '--json']);
  live = PostureSnapshotSchema.parse(JSON.parse(liveRun.stdout));
}, 150_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ward posture on this machine', () => {
  it('prints a valid snapshot with every check, none passing without evidence, and the documented exit code', () => {
    expect(live.source.mode).toBe('live');
    expect(live.device.os.platform).toBe('linux');
    expect(live.checks.length).toBeGreaterThanOrEqual(12);
    expect(live.checks.map((c) => c.id)).toEqual(ALL_CHECKS.map((c) => c.id));
    for (const c of live.checks) {
      if (c.status === 'pass') expect(c.evidence.length, c.id).toBeGreaterThan(0);
      if (c.status === 'fail') expect(c.remediation.length, c.id).toBeGreaterThan(0);
    }
    // Every Linux probe is implemented: none says "not implemented".
    expect(live.checks.filter((c) => /not implemented/.test(c.reason))).toEqual([]);
    expect(liveRun.code).toBe(expectedExit(live));
  });

  it('prints a readable table: a header, one row per check with its status word, and a summary', async () => {
    const table = await wardCli(['posture', '--check', 'os-version', '--check', 'firewall', '--check', 'secure-boot']);
    expect(table.stdout).toMatch(/^STATUS\s+CHECK\s+OBSERVED$/m);
    for (const id of ['os-version', 'firewall', 'secure-boot']) {
      expect(table.stdout).toMatch(new RegExp(`^(PASS|FAIL|\\?|n/a|ERR)\\s+${id}\\s+\\S`, 'mi'));
    }
    expect(table.stdout).not.toContain('{');
    expect(table.stdout).toMatch(/\d+ pass/);
  }, 60_000);

  it('exits 2 on usage errors and 3 when it cannot run', async () => {
    expect((await wardCli(['posture', '--no-such-flag'])).code).toBe(2);
    const unknownCheck = await wardCli(['posture', '--check', 'no-such-check']);
    expect(unknownCheck.code).toBe(2);
    expect(unknownCheck.stderr).toContain('no-such-check');
    expect((await wardCli(['posture', '--platform', 'darwin'])).code).toBe(2);
    const missing = await wardCli(['posture', '--replay', join(dir, 'absent.json')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('absent.json');
  }, 60_000);
});

describe('ward capture --redact, then ward posture --replay', () => {
  let bundlePath: string;
  let captureRun: Ran;

  beforeAll(async () => {
    bundlePath = join(dir, 'capture.json');
    captureRun = await wardCli(['capture', '--redact', '--out', bundlePath]);
  }, 150_000);

  it('writes a redacted bundle that replays to the same statuses', async () => {
    expect(captureRun.code).toBe(0);
    const bundle = CaptureBundleSchema.parse(JSON.parse(await readFile(bundlePath, 'utf8')));
    expect(bundle.redacted).toBe(true);
    expect(bundle.platform).toBe('linux');
    expect(bundle.records.some((r) => r.kind === 'exec' && r.command === 'lsblk')).toBe(true);

    const replay = await wardCli(['posture', '--replay', bundlePath, '--json']);
    const replayed = PostureSnapshotSchema.parse(JSON.parse(replay.stdout));
    expect(replayed.source).toEqual({ mode: 'replay', bundle: 'capture.json' });
    expect(replay.code).toBe(expectedExit(replayed));
    // The capture's own verdicts are its "Failing now" line: the replay must fail exactly those.
    const failingAtCapture = /Failing now: (.*)\./.exec(captureRun.stdout)?.[1]?.split(', ') ?? [];
    expect(replayed.checks.filter((c) => c.status === 'fail').map((c) => c.id)).toEqual(failingAtCapture);
    // And it matches the live run for every check whose input other tests cannot change meanwhile
    // (remote-login reads listening sockets, which parallel tests open and close) and whose answer
    // does not depend on timing (os-updates waits for apt's simulated upgrade, which on a loaded
    // machine can overrun its budget in one process and not in the other).
    const { 'remote-login': _a, 'os-updates': _c, ...replayedStable } = statuses(replayed);
    const { 'remote-login': _b, 'os-updates': _d, ...liveStable } = statuses(live);
    expect(replayedStable).toEqual(liveStable);
  }, 120_000);

  it('replaying a bundle without a command the probes need is an error naming that command, not a crash', async () => {
    const bundle = CaptureBundleSchema.parse(JSON.parse(await readFile(bundlePath, 'utf8')));
    const trimmed = { ...bundle, records: bundle.records.filter((r) => !(r.kind === 'exec' && r.command === 'lsblk')) };
    const trimmedPath = join(dir, 'no-lsblk.json');
    await writeFile(trimmedPath, JSON.stringify(trimmed));
    const replay = await wardCli(['posture', '--replay', trimmedPath, '--json', '--check', 'disk-encryption', '--check', 'os-version']);
    const snapshot = PostureSnapshotSchema.parse(JSON.parse(replay.stdout));
    const [disk, os] = snapshot.checks;
    expect(disk?.status).toBe('error');
    expect(disk?.reason).toContain('"lsblk -J');
    expect(os?.status).toBe(statuses(live)['os-version']);
    expect(replay.code).toBe(expectedExit(snapshot));
  }, 60_000);
});
