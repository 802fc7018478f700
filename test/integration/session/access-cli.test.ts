import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../../broker/server/broker.js';
import type { CliIO } from '../../../main/cli/io.js';
import { main } from '../../../main/cli.js';
import { startKeyring, type TestKeyring } from '../../support/keyring.js';
import { ALICE, CookieJar, signInInBrowser, startBroker, unusedTotp } from '../broker/helpers.js';

/**
 * `ward access URL` against the reference broker's demo resource (real oidc-provider, DPoP,
 * RFC 9470 step-up), with the device key and tokens in a real gnome-keyring: through a `ward
 * daemon` child process over the loopback API, and in-process. The "browser" is the broker's
 * login pages driven over HTTP, as a person would fill them in.
 */
let keyring: TestKeyring;
let broker: Broker;
let cleanup: () => Promise<void>;
let dir: string;
let demo: string;
/** Whether the next browser sign-in enters the one-time code (reaches urn:ward:acr:mfa). */
let withOtp = false;
const signIns: string[] = [];

const AUTH_URL = /(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)/;
const JWT = /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./;

/** Act as the browser for an authorization URL Ward printed. */
async function browse(url: string): Promise<unknown> {
  signIns.push(url);
  const user = { ...ALICE, ...(withOtp ? { otp: await unusedTotp(ALICE.totpSecret) } : {}) };
  return signInInBrowser(new CookieJar(), url, new URL(url).searchParams.get('redirect_uri')!, user).then((callback) => fetch(callback));
}

type TestIO = CliIO & { out: string[]; err: string[]; asked: string[] };

function io(options: { answer?: string; onStderr?: (text: string) => void } = {}): TestIO {
  const out: string[] = [];
  const err: string[] = [];
  const asked: string[] = [];
  return {
    out,
    err,
    asked,
    stdout: (t) => out.push(t),
    stderr: (t) => {
      err.push(t);
      options.onStderr?.(t);
    },
    isTTY: false,
    env: { HOME: keyring.home, WARD_STATE_DIR: join(dir, 'state'), XDG_CONFIG_HOME: join(dir, 'config'), PATH: process.env.PATH },
    ...(options.answer === undefined
      ? {}
      : {
          prompt: async (question: string) => {
            asked.push(question);
            return options.answer!;
          },
        }),
  };
}

/** An io whose printed sign-in URLs are followed (the in-process browser opener prints them). */
function browsingIo(answer?: string): TestIO & { browsing: () => Promise<unknown> } {
  let browsing: Promise<unknown> = Promise.resolve();
  const out = io({
    ...(answer === undefined ? {} : { answer }),
    onStderr: (text) => {
      const url = AUTH_URL.exec(text)?.[1];
      if (url) browsing = browse(url);
    },
  });
  return Object.assign(out, { browsing: () => browsing });
}

async function untilCompliant(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const status = io();
    await main(['status', '--json'], status);
    const state = (JSON.parse(status.out.join('')) as { status: { state: string } }).status.state;
    if (state === 'compliant') return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the daemon never became compliant');
}

beforeAll(async () => {
  keyring = await startKeyring();
  keyring.useInThisProcess();
  ({ broker, cleanup } = await startBroker()); // the demo resource asks for urn:ward:acr:mfa by default
  demo = new URL('/demo/resource', broker.url).href;
  dir = mkdtempSync(join(tmpdir(), 'ward-access-cli-'));
  const { token } = broker.admin.createEnrollmentToken({ label: 'access' });
  expect(await main(['enroll', '--broker', broker.url, '--token', token], io())).toBe(0);
});
afterAll(async () => {
  await cleanup?.();
  await keyring?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('ward access: what it refuses', () => {
  let bystander: Server;
  const seen: Array<{ url: string; authorization: string | undefined; dpop: string | undefined }> = [];
  beforeAll(async () => {
    bystander = createServer((req, res) => {
      seen.push({ url: req.url ?? '', authorization: req.headers.authorization, dpop: req.headers.dpop as string | undefined });
      res.end('hello');
    });
    await new Promise<void>((r) => bystander.listen(0, '127.0.0.1', () => r()));
  });
  afterAll(() => new Promise<void>((r) => bystander.close(() => r())));

  it('refuses a URL on another origin and sends it nothing', async () => {
    const other = io();
    const url = `http://127.0.0.1:${(bystander.address() as AddressInfo).port}/steal`;
    expect(await main(['access', url], other)).toBe(1);
    expect(other.err.join('')).toMatch(/refused: http:\/\/127\.0\.0\.1:\d+ is not the broker this device is enrolled with/);
    expect(other.out).toEqual([]);
    expect(seen).toEqual([]);
  });

  it('refuses non-http(s) URLs and wrong usage', async () => {
    const file = io();
    expect(await main(['access', 'file:///etc/passwd'], file)).toBe(1);
    expect(file.err.join('')).toContain('only http(s) URLs');
    expect(await main(['access'], io())).toBe(2);
    expect(await main(['access', demo, demo], io())).toBe(2);
    expect(await main(['access', demo, '--bogus'], io())).toBe(2);
  });

  it('says to sign in first when there is no session (could not run)', async () => {
    const out = io();
    expect(await main(['access', demo], out)).toBe(3);
    expect(out.err.join('')).toMatch(/sign in first[\s\S]*ward login/);
  });
});

describe('ward access through ward daemon', () => {
  let daemon: ChildProcessWithoutNullStreams;

  beforeAll(async () => {
    daemon = spawn(process.execPath, ['bin/ward.mjs', 'daemon', '--log-level', 'warn'], {
      env: { ...io().env, DBUS_SESSION_BUS_ADDRESS: keyring.busAddress },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    daemon.stderr.on('data', (chunk: Buffer) => {
      const url = AUTH_URL.exec(chunk.toString())?.[1];
      if (url) void browse(url);
    });
    await new Promise<void>((resolve, reject) => {
      daemon.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('loopback API on') && resolve());
      daemon.once('exit', (code) => reject(new Error(`ward daemon exited with ${code}`)));
    });
    withOtp = false; // a password-only sign-in: not enough for the demo resource
    expect(await main(['login'], io())).toBe(0);
    await untilCompliant();
  });
  afterAll(async () => {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.once('exit', r));
  });

  it('with no terminal to ask on, explains the step-up and stops with exit 1', async () => {
    const out = io();
    expect(await main(['access', demo], out)).toBe(1);
    const err = out.err.join('');
    expect(err).toContain('asks you to sign in again');
    expect(err).toContain('a multi-factor sign-in (password and a one-time code) (acr_values urn:ward:acr:mfa)');
    expect(err).toContain('a sign-in no older than 60 minutes (max_age 3600)');
    expect(err).toContain('There is no terminal to ask you on.');
    expect(err).toMatch(/needs a fresh sign-in, which was declined/);
    expect(out.out).toEqual([]);
  });

  it('declined at the prompt: exit 1 with the message, and no new sign-in', async () => {
    const before = signIns.length;
    const out = io({ answer: 'n' });
    expect(await main(['access', demo, '--json'], out)).toBe(1);
    expect(out.asked).toEqual(['Sign in again now? [y/N] ']);
    expect(out.err.join('')).toMatch(/declined; access stays restricted|which was declined/);
    expect(signIns.length).toBe(before);
  });

  it('--no-step-up does not ask even with a terminal', async () => {
    const out = io({ answer: 'y' });
    expect(await main(['access', demo, '--no-step-up'], out)).toBe(1);
    expect(out.asked).toEqual([]);
    expect(out.err.join('')).toContain('Not asking (--no-step-up).');
  });

  it('consent → browser sign-in with acr_values, max_age and prompt=login → the retried request succeeds', async () => {
    withOtp = true;
    const before = signIns.length;
    const out = io({ answer: 'y' });
    expect(await main(['access', demo, '--json'], out)).toBe(0);
    expect(out.asked).toHaveLength(1);
    const stepUp = new URL(signIns[before]!);
    expect(stepUp.searchParams.get('acr_values')).toBe('urn:ward:acr:mfa');
    expect(stepUp.searchParams.get('max_age')).toBe('3600');
    expect(stepUp.searchParams.get('prompt')).toBe('login');
    const result = JSON.parse(out.out.join('')) as { status: number; ok: boolean; steppedUp: boolean; body: string };
    expect(result).toMatchObject({ status: 200, ok: true, steppedUp: true });
    expect(JSON.parse(result.body)).toMatchObject({ sub: 'alice', acr: 'urn:ward:acr:mfa', decision: 'allow' });
    expect([...out.out, ...out.err].join('')).not.toMatch(JWT);
  });

  it('with enough acr now, answers 200 without asking', async () => {
    const out = io({ answer: 'n' });
    expect(await main(['access', demo], out)).toBe(0);
    expect(out.asked).toEqual([]);
    expect(out.out.join('')).toMatch(/^HTTP 200 OK {2}http:\/\/127\.0\.0\.1:\d+\/demo\/resource\n.*Hello from the Ward demo resource/);
    expect(out.out.join('')).not.toMatch(JWT);
  });
});

describe('ward access in-process (no daemon)', () => {
  it('uses the tokens from the keychain: 200 with the MFA sign-in the daemon made', async () => {
    const out = io();
    expect(await main(['access', demo, '--json'], out)).toBe(0);
    expect(JSON.parse(out.out.join(''))).toMatchObject({ status: 200, ok: true, steppedUp: false });
  });

  it('after a password-only sign-in: asks, steps up through the browser, retries and succeeds', async () => {
    withOtp = false;
    expect(await main(['logout'], io())).toBe(0);
    const login = browsingIo();
    expect(await main(['login'], login)).toBe(0);
    await login.browsing();

    withOtp = true;
    const out = browsingIo('yes');
    expect(await main(['access', demo], out)).toBe(0);
    await out.browsing();
    expect(out.asked).toHaveLength(1);
    expect(out.err.join('')).toContain('acr_values urn:ward:acr:mfa');
    expect(out.out.join('')).toContain('"acr":"urn:ward:acr:mfa"');
    expect([...out.out, ...out.err].join('')).not.toMatch(JWT);
  });
});
