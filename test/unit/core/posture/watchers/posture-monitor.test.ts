import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LiveHost } from '../../../../../main/core/exec/live-host.js';
import { requiredFiles } from '../../../../../main/core/posture/checks/required-files.js';
import { agentVersion } from '../../../../../main/core/posture/checks/agent-version.js';
import { PostureConfigSchema } from '../../../../../main/core/posture/config.js';
import { PostureMonitor, type PostureUpdate } from '../../../../../main/core/posture/watchers/posture-monitor.js';
import { PostureWatcher } from '../../../../../main/core/posture/watchers/posture-watcher.js';
import { watchTargetsFor } from '../../../../../main/core/posture/watchers/watch-targets.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ward-watch-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function nextUpdate(monitor: PostureMonitor, predicate: (u: PostureUpdate) => boolean): Promise<PostureUpdate> {
  return new Promise((resolve) => {
    const on = (u: PostureUpdate): void => {
      if (predicate(u)) {
        monitor.off('update', on);
        resolve(u);
      }
    };
    monitor.on('update', on);
  });
}

describe('PostureMonitor (real fs.watch, real engine)', () => {
  it('re-collects only the affected check when a watched file disappears, and reports the change', async () => {
    const required = join(dir, 'agent.conf');
    writeFileSync(required, 'ok');
    const config = PostureConfigSchema.parse({ requiredFiles: [{ path: required }] });
    const monitor = new PostureMonitor({
      engine: { host: new LiveHost('linux'), agentVersion: '1.0.0', config, checks: [requiredFiles, agentVersion] },
      targets: watchTargetsFor('linux', { home: undefined, config }),
      networkPollMs: 0,
    });
    const first = await monitor.start();
    expect(first.checks.find((c) => c.id === 'required-files')?.status).toBe('pass');
    const changed = nextUpdate(monitor, (u) => u.trigger === 'watch');
    unlinkSync(required);
    const update = await changed;
    expect(update.changedChecks).toEqual(['required-files']);
    expect(update.paths).toContain(required);
    expect(update.snapshot.checks.find((c) => c.id === 'required-files')?.status).toBe('fail');
    // The untouched check kept its earlier result (it was not re-collected).
    expect(update.snapshot.checks.find((c) => c.id === 'agent-version')).toEqual(first.checks.find((c) => c.id === 'agent-version'));
    const back = nextUpdate(monitor, (u) => u.trigger === 'watch' && u.changedChecks.includes('required-files'));
    writeFileSync(required, 'ok again');
    expect((await back).snapshot.checks.find((c) => c.id === 'required-files')?.status).toBe('pass');
    monitor.stop();
  });

  it('runs the full safety-net re-check on the injected clock', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      const monitor = new PostureMonitor({
        engine: { host: new LiveHost('linux'), agentVersion: '1.0.0', checks: [agentVersion] },
        targets: [],
        networkPollMs: 0,
        fullRecheckMs: 60_000,
      });
      const seen: string[] = [];
      monitor.on('update', (u) => seen.push(u.trigger));
      await monitor.start();
      expect(seen).toEqual(['start']);
      await vi.advanceTimersByTimeAsync(59_000);
      expect(seen).toEqual(['start']);
      await vi.advanceTimersByTimeAsync(1_000);
      await monitor.idle();
      expect(seen).toEqual(['start', 'periodic']);
      monitor.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('PostureMonitor safety net', () => {
  it('leaves heavy checks out of the 60 s re-check and runs them on their own, longer period', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      const monitor = new PostureMonitor({
        engine: { host: new LiveHost('linux'), agentVersion: '1.0.0', checks: [agentVersion, requiredFiles] },
        targets: [],
        networkPollMs: 0,
        fullRecheckMs: 60_000,
        heavyChecks: ['required-files'],
        heavyRecheckMs: 180_000,
      });
      const updates: PostureUpdate[] = [];
      monitor.on('update', (u) => updates.push(u));
      await monitor.start();
      const rerun = (i: number, id: string): boolean => updates[i]!.snapshot.checks.find((c) => c.id === id) !== updates[i - 1]!.snapshot.checks.find((c) => c.id === id);
      for (let minute = 1; minute <= 3; minute++) {
        await vi.advanceTimersByTimeAsync(60_000);
        await monitor.idle();
      }
      expect(updates.map((u) => u.trigger)).toEqual(['start', 'periodic', 'periodic', 'periodic']);
      expect([1, 2, 3].map((i) => rerun(i, 'agent-version'))).toEqual([true, true, true]);
      expect([1, 2, 3].map((i) => rerun(i, 'required-files'))).toEqual([false, false, true]);
      monitor.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('PostureWatcher', () => {
  it('batches a burst of events into one change within the debounce window', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const listeners = new Map<string, (e: string, f: string | null) => void>();
      const watcher = new PostureWatcher({
        targets: [
          { path: '/etc/ufw', kind: 'dir', checks: ['firewall'] },
          { path: '/var/lib/dpkg/status', kind: 'file', checks: ['os-updates', 'antivirus'] },
        ],
        debounceMs: 150,
        watch: (path, listener) => {
          listeners.set(path, listener);
          return { close: () => undefined, on: () => undefined };
        },
      });
      expect(watcher.arm().watched.sort()).toEqual(['/etc/ufw', '/var/lib/dpkg']);
      const batches: string[][] = [];
      watcher.on('changed', (ids) => batches.push(ids));
      listeners.get('/var/lib/dpkg')!('rename', 'status');
      listeners.get('/var/lib/dpkg')!('change', 'status-old'); // not a watched name
      listeners.get('/etc/ufw')!('change', 'ufw.conf');
      listeners.get('/var/lib/dpkg')!('change', 'status');
      await vi.advanceTimersByTimeAsync(149);
      expect(batches).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      expect(batches).toEqual([['antivirus', 'firewall', 'os-updates']]);
    } finally {
      vi.useRealTimers();
    }
  });
});
