import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = join(import.meta.dirname, '..', '..', '..');
const home = mkdtempSync(join(tmpdir(), 'ward-doctor-home-'));
let server: Server;
let base = '';

beforeAll(async () => {
  server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: base })));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  mkdirSync(join(home, '.config', 'ward'), { recursive: true });
  writeFileSync(join(home, '.config', 'ward', 'config.json'), JSON.stringify({ brokerUrl: base, hardwareKey: 'preferred' }));
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(home, { recursive: true, force: true });
});

/** `ward doctor --json` in a child, with a throw-away HOME; `session` adds a private D-Bus + gnome-keyring. */
function doctor(session: boolean): Promise<{ code: number; report: { checks: { id: string; status: string; data?: Record<string, unknown> }[] } }> {
  const ward = `node ${JSON.stringify(join(repo, 'bin', 'ward.mjs'))} doctor --json`;
  const [file, args] = session
    ? ['/usr/bin/dbus-run-session', ['--', 'sh', '-c', `eval "$(printf %s doctor-test | gnome-keyring-daemon --unlock --components=secrets)"; export GNOME_KEYRING_CONTROL; exec ${ward}`]]
    : ['/bin/sh', ['-c', `exec ${ward}`]];
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_DATA_HOME: join(home, '.local', 'share'), XDG_RUNTIME_DIR: home };
  return new Promise((resolve, reject) => {
    execFile(file, args as string[], { env, cwd: repo, timeout: 60_000 }, (err, stdout) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      try {
        resolve({ code, report: JSON.parse(stdout) as never });
      } catch {
        reject(err ?? new Error(`doctor printed no JSON: ${stdout}`));
      }
    });
  });
}

describe('ward doctor against a real keyring (gnome-keyring over a private D-Bus session)', () => {
  it('finds the Secret Service usable, reaches the stand-in broker, and exits 0 with only warnings', async () => {
    const { code, report } = await doctor(true);
    const keyStore = report.checks.find((c) => c.id === 'key-store');
    expect(keyStore?.data?.keychain).toMatchObject({ available: true });
    expect(keyStore?.status).toBe('warn'); // no TPM here: a keychain key is the lower assurance, said out loud
    expect(report.checks.find((c) => c.id === 'broker')?.status).toBe('ok');
    expect(report.checks.find((c) => c.id === 'clock')?.status).toBe('ok');
    expect(code).toBe(0);
  });

  it('without a session bus, reports the keychain unusable, fails the key store and exits 1', async () => {
    const { code, report } = await doctor(false);
    const keyStore = report.checks.find((c) => c.id === 'key-store');
    expect(keyStore?.data?.keychain).toMatchObject({ available: false });
    expect(keyStore?.status).toBe('fail');
    expect(code).toBe(1);
  });
});
