import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PostureConfigSchema } from '../../../../../main/core/posture/config.js';
import { PostureMonitor, type PostureUpdate } from '../../../../../main/core/posture/watchers/posture-monitor.js';
import { watchTargetsFor } from '../../../../../main/core/posture/watchers/watch-targets.js';
import { AllowListedFakeHost } from '../../exec/allow-listed-fake-host.js';

/**
 * The macOS and Windows watch specs on this machine's real file system (inotify through fs.watch):
 * the macOS paths are mirrored under a temporary root (`WatchTargetContext.root`), changed the way
 * macOS changes them (cfprefsd writes a temporary file and renames it over), and the probes run
 * against a fake of that OS's commands that records what was asked. What this proves: the specs
 * and the watcher re-collect exactly the affected checks, once per burst. What it cannot prove:
 * that macOS writes these paths, or that FSEvents delivers the same events (not run on a Mac).
 */

const SYSTEM_FILES = [
  'Library/Preferences/com.apple.alf.plist',
  'Library/Preferences/com.apple.SoftwareUpdate.plist',
  'Library/Preferences/com.apple.PowerManagement.0A1B2C3D.plist',
  'Library/Keychains/System.keychain',
  'var/db/SystemPolicy-prefs.plist',
  'var/db/com.apple.xpc.launchd/disabled.plist',
];

const FIREWALL = ['exec socketfilterfw --getglobalstate'];
const AUTO_UPDATE = ['exec defaults read /Library/Preferences/com.apple.SoftwareUpdate'];
const OS_UPDATES = ['exec softwareupdate -l'];
const SCREEN_LOCK = ['exec defaults -currentHost read com.apple.screensaver idleTime', 'exec pmset -g', 'exec sysadminctl -screenLock status'];

let root: string;
let home: string;
let monitor: PostureMonitor | undefined;

beforeEach(() => {
  const base = mkdtempSync(join(tmpdir(), 'ward-mirror-'));
  root = join(base, 'root');
  home = join(base, 'home');
  for (const file of SYSTEM_FILES) {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    writeFileSync(join(root, file), '<plist/>');
  }
  mkdirSync(join(root, 'Library/Managed Preferences'), { recursive: true });
  mkdirSync(join(home, 'Library/Preferences/ByHost'), { recursive: true });
});

afterEach(() => {
  monitor?.stop();
  monitor = undefined;
  rmSync(dirname(root), { recursive: true, force: true });
});

/** Write a preference the way cfprefsd does: a temporary file renamed over the old one. */
function writePrefs(path: string, body = '<plist>changed</plist>'): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, body);
  renameSync(tmp, path);
}

interface Harness {
  readonly host: AllowListedFakeHost;
  /** Run `change`, then `sentinel`; resolve with each update since and the requests each re-collection made. */
  step(change: () => void, sentinel?: { path: string; write: () => void }): Promise<{ update: PostureUpdate; asked: string[] }[]>;
}

/** A certificate rule, so the certificates check asks the keychain (without rules it reads nothing). */
const WITH_CERT_RULE = { requiredCertificates: [{ subject: 'CN=Corp Device CA' }] };

async function startMonitor(platform: 'darwin' | 'win32', configJson: unknown = WITH_CERT_RULE): Promise<Harness> {
  const host = new AllowListedFakeHost(platform);
  const config = PostureConfigSchema.parse(configJson);
  const m = new PostureMonitor({
    engine: { host, agentVersion: '1.0.0', config },
    targets: watchTargetsFor(platform, { home, config, root }),
    networkPollMs: 0,
    debounceMs: 200,
  });
  monitor = m;
  const seen: { update: PostureUpdate; asked: string[] }[] = [];
  let mark = 0;
  m.on('update', (update) => {
    seen.push({ update, asked: host.asked.slice(mark).sort() });
    mark = host.asked.length;
  });
  await m.start();
  mark = host.asked.length;
  seen.length = 0;
  return {
    host,
    async step(change, sentinel) {
      const from = seen.length;
      change();
      sentinel?.write();
      await new Promise<void>((resolve) => {
        const done = (u: PostureUpdate): void => {
          const hit = sentinel ? u.paths?.includes(sentinel.path) : u.trigger === 'watch';
          if (hit) {
            m.off('update', done);
            resolve();
          }
        };
        m.on('update', done);
      });
      await m.idle();
      return seen.slice(from);
    },
  };
}

// Generous ceilings for a loaded CI machine; nothing here asserts a duration.
describe('macOS watch spec on a mirrored tree (real fs.watch)', { timeout: 30_000 }, () => {
  it('a firewall plist rewritten five times re-collects the firewall check once, and nothing else', async () => {
    const h = await startMonitor('darwin');
    const alf = join(root, 'Library/Preferences/com.apple.alf.plist');
    const updates = await h.step(() => {
      for (let i = 0; i < 5; i++) writePrefs(alf, `<plist>${i}</plist>`);
    });
    expect(updates).toHaveLength(1);
    expect(updates[0]!.update.trigger).toBe('watch');
    expect(updates[0]!.update.paths).toContain(alf);
    expect(updates[0]!.asked).toEqual(FIREWALL);
  });

  it('each mirrored place re-collects exactly the checks that read it', async () => {
    const h = await startMonitor('darwin');
    const cases: [string, string[]][] = [
      ['Library/Preferences/com.apple.SoftwareUpdate.plist', [...AUTO_UPDATE, ...OS_UPDATES].sort()],
      ['Library/Preferences/com.apple.PowerManagement.0A1B2C3D.plist', ['exec pmset -g', 'exec sysadminctl -screenLock status', 'exec defaults -currentHost read com.apple.screensaver idleTime'].sort()],
      ['Library/Keychains/System.keychain', ['exec security find-certificate -a -Z /Library/Keychains/System.keychain']],
      ['var/db/SystemPolicy-prefs.plist', ['exec spctl --status', 'file /Library/Apple/System/Library/CoreServices/XProtect.bundle/Contents/Info.plist', 'file /System/Library/CoreServices/XProtect.bundle/Contents/Info.plist'].sort()],
      ['var/db/com.apple.xpc.launchd/disabled.plist', ['exec systemsetup -getremotelogin']],
    ];
    for (const [file, asked] of cases) {
      const path = join(root, file);
      const updates = await h.step(() => writePrefs(path));
      expect(updates.map((u) => u.asked), file).toEqual([asked]);
      // A prefix rule also sees the writer's temporary file (`<name>.tmp-…`) in the same batch.
      expect(updates[0]!.update.paths?.filter((p) => !p.startsWith(path))).toEqual([]);
      expect(updates[0]!.update.paths).toContain(path);
    }
  });

  it('a configuration profile in Managed Preferences re-collects firewall, screen lock and auto-update', async () => {
    const h = await startMonitor('darwin');
    const profile = join(root, 'Library/Managed Preferences/com.apple.security.firewall.plist');
    const updates = await h.step(() => writePrefs(profile));
    expect(updates.map((u) => u.asked)).toEqual([[...FIREWALL, ...SCREEN_LOCK, ...AUTO_UPDATE].sort()]);
  });

  it("the user's per-host screen saver plist re-collects screen lock; another app's per-host plist re-collects nothing", async () => {
    const h = await startMonitor('darwin');
    const byHost = join(home, 'Library/Preferences/ByHost');
    const other = join(byHost, 'com.apple.Bluetooth.0A1B2C3D.plist');
    const saver = join(byHost, 'com.apple.screensaver.0A1B2C3D.plist');
    // The unrelated write goes first: had it triggered anything, it would show as its own update or in the saver's batch.
    const updates = await h.step(() => writePrefs(other), { path: saver, write: () => writePrefs(saver) });
    expect(updates).toHaveLength(1);
    expect(updates[0]!.update.paths).toContain(saver);
    expect(updates[0]!.update.paths?.filter((p) => !p.startsWith(saver))).toEqual([]);
    expect(updates[0]!.asked).toEqual([...SCREEN_LOCK].sort());
  });

  it('an unrelated preference file next to a watched one re-collects nothing', async () => {
    const h = await startMonitor('darwin');
    const unrelated = join(root, 'Library/Preferences/com.apple.dock.plist');
    const sentinel = join(root, 'Library/Preferences/com.apple.alf.plist');
    const updates = await h.step(() => writePrefs(unrelated), { path: sentinel, write: () => writePrefs(sentinel) });
    expect(updates.map((u) => [u.update.paths, u.asked])).toEqual([[[sentinel], FIREWALL]]);
  });
});

describe('Windows watch spec on real files', { timeout: 30_000 }, () => {
  it('watches only the configured required files; a change re-collects required-files alone', async () => {
    const required = join(root, 'corp-agent.conf');
    writeFileSync(required, 'ok');
    const h = await startMonitor('win32', { requiredFiles: [{ path: required }] });
    const updates = await h.step(() => rmSync(required));
    expect(updates.map((u) => u.asked)).toEqual([[`hash ${required}`]]);
    expect(h.host.launches.filter((l) => l.command === 'reg')).toEqual([]);
  });
});
