import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../../broker/server/broker.js';
import type { CliIO } from '../../../main/cli/io.js';
import { main } from '../../../main/cli.js';
import { startKeyring, type TestKeyring } from '../../support/keyring.js';
import { ALICE, CookieJar, signInInBrowser, startBroker } from '../broker/helpers.js';

/**
 * `ward enroll | login | status | logout` in-process, against the reference broker, with the
 * device key and the tokens in a real gnome-keyring (private D-Bus, throw-away HOME).
 */
let keyring: TestKeyring;
let broker: Broker;
let cleanup: () => Promise<void>;
let dir: string;

function io(onStderr: (text: string) => void = () => undefined): CliIO & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (t) => out.push(t),
    stderr: (t) => {
      err.push(t);
      onStderr(t);
    },
    isTTY: false,
    env: { HOME: keyring.home, WARD_STATE_DIR: join(dir, 'state'), XDG_CONFIG_HOME: join(dir, 'config'), PATH: process.env.PATH },
  };
}

beforeAll(async () => {
  keyring = await startKeyring();
  keyring.useInThisProcess();
  ({ broker, cleanup } = await startBroker());
  dir = mkdtempSync(join(tmpdir(), 'ward-cli-session-'));
});
afterAll(async () => {
  await cleanup?.();
  await keyring?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('ward login | status | logout', () => {
  it('enrolls, signs in through the printed browser URL, reports signed-in, and signs out', async () => {
    const { token } = broker.admin.createEnrollmentToken({ label: 'cli' });
    expect(await main(['enroll', '--broker', broker.url, '--token', token], io())).toBe(0);

    const before = io();
    expect(await main(['status'], before)).toBe(1);
    expect(before.out.join('')).toMatch(/state\s+enrolled/);

    let browsing: Promise<unknown> | undefined;
    const login = io((text) => {
      const url = /(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)/.exec(text)?.[1];
      if (url && !browsing) {
        const redirectUri = new URL(url).searchParams.get('redirect_uri')!;
        browsing = signInInBrowser(new CookieJar(), url, redirectUri, ALICE).then((callback) => fetch(callback));
      }
    });
    expect(await main(['login'], login)).toBe(0);
    await browsing;
    expect(login.out.join('')).toContain('Signed in as alice');
    // The refresh token is in the Secret Service, never printed.
    expect(await keyring.secretTool(['search', '--all', 'service', 'ward'])).toContain('tokens:');
    expect([...login.out, ...login.err].join('')).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}\./);

    const after = io();
    expect(await main(['status', '--json'], after)).toBe(0);
    expect(JSON.parse(after.out.join(''))).toMatchObject({ daemon: false, status: { state: 'signed-in', user: { subject: 'alice' } } });

    expect(await main(['logout'], io())).toBe(0);
    const out = io();
    expect(await main(['status'], out)).toBe(1);
    expect(out.out.join('')).toMatch(/state\s+enrolled/);
  });
});

describe('ward daemon', () => {
  it('serves status and sign-in to the CLI over its loopback API, and reports posture to the broker', async () => {
    const env = io().env;
    const daemon = spawn(process.execPath, ['bin/ward.mjs', 'daemon', '--log-level', 'warn'], {
      env: { ...env, DBUS_SESSION_BUS_ADDRESS: keyring.busAddress },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let browsing: Promise<unknown> | undefined;
    daemon.stderr.on('data', (chunk: Buffer) => {
      const url = /(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)/.exec(chunk.toString())?.[1];
      if (url && !browsing) {
        browsing = signInInBrowser(new CookieJar(), url, new URL(url).searchParams.get('redirect_uri')!, ALICE).then((callback) => fetch(callback));
      }
    });
    try {
      await new Promise<void>((resolve, reject) => {
        daemon.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('loopback API on') && resolve());
        daemon.once('exit', (code) => reject(new Error(`ward daemon exited with ${code}`)));
      });
      const login = io();
      expect(await main(['login'], login)).toBe(0);
      expect(login.out.join('')).toContain('Signed in as alice');
      const status = io();
      await main(['status', '--json'], status);
      const parsed = JSON.parse(status.out.join('')) as { daemon: boolean; status: { state: string }; posture: { lastReportedAt: string | null } };
      expect(parsed.daemon).toBe(true);
      expect(['signed-in', 'compliant', 'non-compliant']).toContain(parsed.status.state);
      // The daemon's first report reached the broker: it holds a verdict for this device.
      const devices = broker.admin.listDevices() as unknown as Array<{ status?: string | null }>;
      expect(JSON.stringify(devices)).toMatch(/allow|warn|deny/);
    } finally {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon.once('exit', r));
    }
    // The daemon's start-up takes a full posture snapshot (apt's simulated upgrade alone takes
    // seconds) before it serves; on a loaded 2-core CI machine that outgrows the default 30 s.
  }, 120_000);
});
