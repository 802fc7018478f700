import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { PostureConfigSchema } from '../../../../../main/core/posture/config.js';
import { takeSnapshot } from '../../../../../main/core/posture/engine.js';
import type { PostureSnapshot } from '../../../../../main/core/posture/snapshot.js';
import { PostureWatcher } from '../../../../../main/core/posture/watchers/posture-watcher.js';
import { locationId, requestId, type ProbeRead, type SafetyNetOnly, type StateLocation } from '../../../../../main/core/posture/watchers/probe-reads.js';
import { DARWIN_PROBE_READS, DARWIN_SAFETY_NET_ONLY } from '../../../../../main/core/posture/watchers/targets/darwin.js';
import { WIN32_PROBE_READS, WIN32_SAFETY_NET_ONLY } from '../../../../../main/core/posture/watchers/targets/win32.js';
import type { WatchTarget } from '../../../../../main/core/posture/watchers/watch-target.js';
import { watchTargetsFor } from '../../../../../main/core/posture/watchers/watch-targets.js';
import { AllowListedFakeHost } from '../../exec/allow-listed-fake-host.js';

/**
 * Table-driven: run every macOS and Windows probe (against a fake of that OS's commands that
 * answers empty output, so every fallback branch runs too), then check each request against the
 * per-OS read table, and each place in the table against the real watch machinery or the
 * documented safety-net list.
 */

const HOME = '/Users/tester';
const REQUIRED_FILE = '/opt/corp/agent.conf';
const CONFIG = PostureConfigSchema.parse({
  requiredProcesses: [{ name: 'corp-agent' }],
  forbiddenProcesses: [{ name: 'bad-tool' }],
  requiredFiles: [{ path: REQUIRED_FILE }],
  requiredCertificates: [{ subject: 'CN=Corp Device CA' }],
});
const DOCS = readFileSync(join(import.meta.dirname, '../../../../../docs/posture-macos-windows.md'), 'utf8');

const SPECS = [
  { platform: 'darwin', reads: DARWIN_PROBE_READS, safetyNet: DARWIN_SAFETY_NET_ONLY },
  { platform: 'win32', reads: WIN32_PROBE_READS, safetyNet: WIN32_SAFETY_NET_ONLY },
] as const satisfies readonly { platform: string; reads: readonly ProbeRead[]; safetyNet: readonly SafetyNetOnly[] }[];

/** The checks a change at `path` re-collects, through PostureWatcher with its fs.watch replaced. */
async function checksOnChange(targets: readonly WatchTarget[], dir: string, name: string): Promise<string[]> {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  try {
    const listeners = new Map<string, (event: string, filename: string | null) => void>();
    const watcher = new PostureWatcher({
      targets,
      debounceMs: 10,
      watch: (path, listener) => {
        listeners.set(path, listener);
        return { close: () => undefined, on: () => undefined };
      },
    });
    watcher.arm();
    const seen: string[] = [];
    watcher.on('changed', (ids) => seen.push(...ids));
    listeners.get(dir)?.('rename', name);
    await vi.advanceTimersByTimeAsync(10);
    return seen;
  } finally {
    vi.useRealTimers();
  }
}

/** Where a change to a location is reported: (watched directory, entry name). */
function eventFor(loc: Extract<StateLocation, { path: string }>): [string, string] {
  const path = loc.home ? join(HOME, loc.path) : loc.path;
  if (loc.kind === 'dir') return [path, 'some-entry.plist'];
  if (loc.kind === 'prefix') return [dirname(path), `${basename(path)}0A1B2C3D-UUID.plist`];
  return [dirname(path), basename(path)];
}

/** Places of `reads` whose change re-collects none (or not all) of their checks and that the safety-net list does not name. */
async function uncoveredPlaces(reads: readonly ProbeRead[], safetyNet: readonly SafetyNetOnly[], targets: readonly WatchTarget[]): Promise<string[]> {
  const listed = new Set(safetyNet.map((s) => s.location));
  const uncovered: string[] = [];
  for (const read of reads) {
    for (const loc of read.state) {
      if (listed.has(locationId(loc))) continue;
      if (loc.kind === 'registry' || loc.kind === 'opaque') {
        uncovered.push(`${locationId(loc)} (${loc.kind}; not in the safety-net list)`);
        continue;
      }
      const fired = await checksOnChange(targets, ...eventFor(loc));
      const missed = read.checks.filter((id) => !fired.includes(id));
      if (missed.length > 0) uncovered.push(`${locationId(loc)} does not re-collect ${missed.join(', ')}`);
    }
  }
  return uncovered;
}

describe.each(SPECS)('$platform watch spec against its probes', ({ platform, reads, safetyNet }) => {
  let snapshot: PostureSnapshot;
  const targets = watchTargetsFor(platform, { home: HOME, config: CONFIG });
  beforeAll(async () => {
    snapshot = await takeSnapshot({ host: new AllowListedFakeHost(platform), agentVersion: '1.0.0', config: CONFIG });
  });

  it('declares every command and file a probe asks for, under the check that asks', () => {
    const undeclared: string[] = [];
    for (const check of snapshot.checks) {
      for (const ev of check.evidence) {
        if (ev.kind === 'config') continue;
        if (ev.kind === 'env') {
          // The agent's own environment is fixed for its life (Windows: SystemDrive).
          expect(`${platform} ${ev.source}`).toBe('win32 SystemDrive');
          continue;
        }
        if (ev.kind === 'hash') {
          expect([check.id, ev.source]).toEqual(['required-files', REQUIRED_FILE]);
          continue;
        }
        expect(['exec', 'file']).toContain(ev.kind);
        if (!reads.some((r) => requestId(r) === ev.source && r.checks.includes(check.id))) undeclared.push(`${check.id}: ${ev.kind} ${ev.source}`);
      }
    }
    expect(undeclared).toEqual([]);
  });

  it('declares nothing that no probe asks for', () => {
    const asked = new Set(snapshot.checks.flatMap((c) => c.evidence.map((e) => `${c.id}\u0000${e.source}`)));
    const stale = reads.flatMap((r) => r.checks.filter((id) => !asked.has(`${id}\u0000${requestId(r)}`)).map((id) => `${id}: ${requestId(r)}`));
    expect(stale).toEqual([]);
  });

  it('re-collects the checks behind every watchable place when it changes; every other place is in the safety-net list', async () => {
    expect(await uncoveredPlaces(reads, safetyNet, targets)).toEqual([]);
  });

  it('watches the configured required files', async () => {
    expect(await checksOnChange(targets, dirname(REQUIRED_FILE), basename(REQUIRED_FILE))).toEqual(['required-files']);
  });

  it('gives every safety-net entry a reason in the docs, and keeps none that nothing reads', () => {
    const used = new Set(reads.flatMap((r) => r.state.map(locationId)));
    for (const entry of safetyNet) {
      expect(used.has(entry.location), `${entry.location} is read by no probe`).toBe(true);
      expect(entry.why.length).toBeGreaterThan(20);
      expect(DOCS.includes(`\`${entry.location}\``), `docs/posture-macos-windows.md does not name ${entry.location}`).toBe(true);
    }
  });

  it('covers every check of the platform that reads the machine', () => {
    const reading = snapshot.checks.filter((c) => c.evidence.some((e) => e.kind === 'exec' || e.kind === 'file')).map((c) => c.id);
    const declared = new Set(reads.flatMap((r) => r.checks));
    expect(reading.filter((id) => !declared.has(id))).toEqual([]);
    expect(reading.length).toBeGreaterThanOrEqual(12);
  });
});

describe('the coverage rule itself', () => {
  it('reports a read whose plist nothing watches and a registry key missing from the safety-net list', async () => {
    const targets = watchTargetsFor('darwin', { home: HOME, config: CONFIG });
    const drifted: ProbeRead[] = [
      ...DARWIN_PROBE_READS,
      { request: { file: '/Library/Preferences/com.apple.new.plist' }, checks: ['firewall'], state: [{ kind: 'file', path: '/Library/Preferences/com.apple.new.plist' }] },
      { request: { file: '/x' }, checks: ['screen-lock'], state: [{ kind: 'registry', key: 'HKCU\\Software\\Example' }] },
    ];
    expect(await uncoveredPlaces(drifted, DARWIN_SAFETY_NET_ONLY, targets)).toEqual([
      '/Library/Preferences/com.apple.new.plist does not re-collect firewall',
      'HKCU\\Software\\Example (registry; not in the safety-net list)',
    ]);
  });

  it('reports a place watched for the wrong check', async () => {
    const targets: WatchTarget[] = [{ path: '/Library/Preferences/com.apple.alf.plist', kind: 'file', checks: ['screen-lock'] }];
    const firewallRead = DARWIN_PROBE_READS.filter((r) => r.checks.includes('firewall'));
    expect(await uncoveredPlaces(firewallRead, DARWIN_SAFETY_NET_ONLY, targets)).toEqual([
      '/Library/Preferences/com.apple.alf.plist does not re-collect firewall',
      '/Library/Managed Preferences does not re-collect firewall',
    ]);
  });
});
