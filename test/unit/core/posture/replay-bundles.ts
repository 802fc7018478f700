import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { parseBundle } from '../../../../main/core/exec/bundle.js';
import { ReplayHost } from '../../../../main/core/exec/replay-host.js';
import { takeSnapshot } from '../../../../main/core/posture/engine.js';
import { PostureSnapshotSchema, type CheckStatus, type PostureSnapshot } from '../../../../main/core/posture/snapshot.js';
import { BUNDLE_SPECS, buildBundle, bundlePath } from '../../../fixtures/bundles/make-bundles.js';

const root = join(import.meta.dirname, '../../../..');

export function specNamed(file: string): (typeof BUNDLE_SPECS)[number] {
  const spec = BUNDLE_SPECS.find((s) => s.file === file);
  if (!spec) throw new Error(`no bundle spec ${file}`);
  return spec;
}

/** The committed bundle, checked to be exactly what make-bundles.ts builds from the fixtures today. */
export function committedBundle(file: string): string {
  const spec = specNamed(file);
  const text = readFileSync(bundlePath(spec), 'utf8');
  expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(buildBundle(spec))));
  return text;
}

/** Snapshot through the engine with a ReplayHost answering from the bundle. */
export async function replaySnapshot(file: string, now: Date): Promise<PostureSnapshot> {
  const bundle = parseBundle(committedBundle(file));
  const snapshot = await takeSnapshot({ host: new ReplayHost(bundle.platform, bundle.records), agentVersion: '0.1.0', now: () => now, mode: 'replay', bundleName: file });
  return PostureSnapshotSchema.parse(snapshot);
}

/** `ward posture --replay FILE --platform P --json`, as a child process. */
export async function replayCli(file: string, platform: string): Promise<{ code: number; snapshot: PostureSnapshot }> {
  const args = ['bin/ward.mjs', 'posture', '--replay', bundlePath(specNamed(file)), '--platform', platform, '--json'];
  try {
    const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: root, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, snapshot: PostureSnapshotSchema.parse(JSON.parse(stdout)) };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number' || !e.stdout) throw new Error(`ward posture failed: ${e.stderr ?? String(err)}`);
    return { code: e.code, snapshot: PostureSnapshotSchema.parse(JSON.parse(e.stdout)) };
  }
}

export const statuses = (s: PostureSnapshot): Record<string, CheckStatus> => Object.fromEntries(s.checks.map((c) => [c.id, c.status]));

export function reasonOf(s: PostureSnapshot, id: string): string {
  return s.checks.find((c) => c.id === id)?.reason ?? '';
}

/** Every pass is backed by at least one host request it made (or a config line for rule checks). */
export function expectEvidenceForPasses(s: PostureSnapshot): void {
  for (const c of s.checks.filter((c) => c.status === 'pass')) expect(c.evidence.length, c.id).toBeGreaterThan(0);
}

/**
 * Statuses the same on every bundle: no bundle holds a process listing (no real capture exists),
 * and the rule checks with no rules configured pass on their configuration evidence.
 */
export const RULE_CHECKS_WITHOUT_PROCESS_LISTING = {
  'required-processes': 'error',
  'forbidden-processes': 'error',
  'required-files': 'pass',
  certificates: 'pass',
  'agent-version': 'pass',
} as const;
