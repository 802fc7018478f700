import { rmSync } from 'node:fs';
import { request } from 'node:http';
import { Writable } from 'node:stream';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../main/core/log.js';
import type { CliIO } from '../../../main/cli/io.js';
import { main } from '../../../broker/server/cli.js';
import { totpCode } from '../../../broker/server/totp.js';
import { ADMIN_TOKEN, ALICE, CookieJar, discover, follow, restartBroker, startBroker, wardClient, type RunningBroker } from './helpers.js';

/** A login page the browser reached through a fresh authorization request. */
interface LoginPage {
  readonly url: URL;
  readonly csrf: string;
  readonly jar: CookieJar;
}

interface Answer {
  readonly status: number;
  readonly retryAfter: string | undefined;
  readonly location: string | undefined;
  /** The page's error message (what the user reads). */
  readonly message: string;
}

describe('sign-in throttling on the real broker login page (injected clock, real oidc-provider)', () => {
  let running: RunningBroker;
  let clock = Date.parse('2026-03-02T09:00:00Z');
  const logLines: string[] = [];
  const logger = createLogger({
    destination: new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    }),
  });
  const options = { now: () => clock, logger };

  beforeAll(async () => {
    running = await startBroker(options);
  });
  afterAll(async () => {
    const { dataDir } = running;
    await running.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function openLogin(acrValues?: string): Promise<LoginPage> {
    const { broker } = running;
    const as = await discover(broker);
    const auth = new URL(as.authorization_endpoint!);
    auth.search = new URLSearchParams({
      client_id: wardClient.client_id,
      redirect_uri: 'http://127.0.0.1:53682/callback',
      response_type: 'code',
      scope: 'openid',
      code_challenge: await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier()),
      code_challenge_method: 'S256',
      ...(acrValues ? { acr_values: acrValues } : {}),
    }).toString();
    const jar = new CookieJar();
    const { url, res } = await follow(jar, auth.href, () => false);
    const html = await res.text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
    if (!csrf) throw new Error(`no login page: ${html.slice(0, 200)}`);
    return { url, csrf, jar };
  }

  /** POST the login form from `localAddress` (any 127.x address: the broker sees it as the client). */
  async function login(user: { username: string; password: string; otp?: string }, from = '127.0.0.1', acrValues?: string): Promise<Answer> {
    const page = await openLogin(acrValues);
    const body = new URLSearchParams({ csrf: page.csrf, username: user.username, password: user.password, ...(user.otp ? { otp: user.otp } : {}) }).toString();
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: running.broker.port,
          path: `${page.url.pathname}/login`,
          method: 'POST',
          localAddress: from,
          headers: { cookie: page.jar.header(), origin: page.url.origin, 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          let html = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (html += c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              retryAfter: res.headers['retry-after'],
              location: res.headers.location,
              message: /<p class="err">([^<]*)<\/p>/.exec(html)?.[1] ?? '',
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  const wrong = (username: string) => ({ username, password: 'not the password' });
  const advance = (seconds: number) => {
    clock += seconds * 1000;
  };

  it('locks an account after 5 failures, and answers an unknown username exactly the same way', async () => {
    const seen: Record<string, Answer[]> = { alice: [], nobody: [] };
    for (const username of ['alice', 'nobody']) {
      for (let i = 0; i < 5; i++) seen[username]!.push(await login(wrong(username), '127.0.0.2'));
      // Locked: even the right password is refused without being checked.
      seen[username]!.push(await login({ username, password: ALICE.password }, '127.0.0.2'));
    }
    const shape = (a: Answer) => ({ status: a.status, retryAfter: a.retryAfter, message: a.message, signedIn: a.location !== undefined });
    expect(seen.alice!.map(shape)).toEqual(seen.nobody!.map(shape));
    expect(seen.alice!.slice(0, 4).map((a) => [a.status, a.message])).toEqual(Array(4).fill([401, 'Wrong username or password.']));
    expect(seen.alice![4]).toMatchObject({ status: 429, retryAfter: '30', message: 'Wrong username or password. Too many failed sign-in attempts. Try again in 30 seconds.' });
    expect(seen.alice![5]).toMatchObject({ status: 429, retryAfter: '30', message: 'Too many failed sign-in attempts. Try again in 30 seconds.', location: undefined });

    advance(30);
    expect((await login(ALICE, '127.0.0.2')).location).toMatch(/\/auth\//);
    // Success started alice over: a wrong password is one plain failure again.
    expect(await login(wrong('alice'), '127.0.0.2')).toMatchObject({ status: 401, retryAfter: undefined });
    expect((await login(ALICE, '127.0.0.2')).location).toBeDefined();

    const lockLines = logLines.filter((l) => l.includes('sign-in account locked'));
    expect(lockLines.some((l) => (JSON.parse(l) as { username?: string }).username === 'alice')).toBe(true);
    expect(lockLines.some((l) => (JSON.parse(l) as { username?: string }).username === '(not a user)')).toBe(true);
    expect(logLines.join('\n')).not.toContain('nobody');
    expect(logLines.join('\n')).not.toContain('not the password');
    expect(logLines.join('\n')).not.toContain(ALICE.password);
  });

  it('doubles the lock with each further failure, up to 15 minutes', async () => {
    const locks: (string | undefined)[] = [];
    for (let i = 0; i < 4; i++) await login(wrong('mallory'), '127.0.0.3');
    for (let i = 0; i < 7; i++) {
      const answer = await login(wrong('mallory'), '127.0.0.3');
      locks.push(answer.retryAfter);
      advance(Number(answer.retryAfter));
    }
    expect(locks).toEqual(['30', '60', '120', '240', '480', '900', '900']);
  });

  it('limits one client address spraying many usernames, without locking those accounts elsewhere', async () => {
    const answers: Answer[] = [];
    for (let i = 0; i < 20; i++) answers.push(await login(wrong(`spray-${i}`), '127.0.0.4'));
    expect(answers.slice(0, 19).every((a) => a.status === 401)).toBe(true);
    expect(answers[19]).toMatchObject({ status: 429, retryAfter: '30' });
    // A fresh username, even alice with her password, from that address: refused.
    expect(await login(ALICE, '127.0.0.4')).toMatchObject({ status: 429, retryAfter: '30', location: undefined });
    // From another address alice signs in.
    expect((await login(ALICE, '127.0.0.5')).location).toBeDefined();
    expect(logLines.some((l) => l.includes('sign-in address locked') && l.includes('"address":"127.0.0.4"'))).toBe(true);
    advance(30);
  });

  it('counts wrong one-time codes, and accepts each code only once', async () => {
    const mfa = 'urn:ward:acr:mfa';
    const answers: Answer[] = [];
    for (let i = 0; i < 5; i++) answers.push(await login({ ...ALICE, otp: '000000' }, '127.0.0.6', mfa));
    expect(answers[0]).toMatchObject({ status: 401, message: 'The one-time code is wrong or expired.' });
    expect(answers[4]).toMatchObject({ status: 429, retryAfter: '30' });
    advance(30);

    const code = totpCode(ALICE.totpSecret, clock);
    expect((await login({ ...ALICE, otp: code }, '127.0.0.6', mfa)).location).toBeDefined();
    expect(await login({ ...ALICE, otp: code }, '127.0.0.6', mfa)).toMatchObject({
      status: 401,
      message: 'This one-time code was already used. Wait for the next code in your authenticator app.',
    });
    // The previous step's code is still inside the ±1 window but older than the one used: refused too.
    expect((await login({ ...ALICE, otp: totpCode(ALICE.totpSecret, clock, -1) }, '127.0.0.6', mfa)).status).toBe(401);
    advance(30);
    expect((await login({ ...ALICE, otp: totpCode(ALICE.totpSecret, clock) }, '127.0.0.6', mfa)).location).toBeDefined();
  });

  const cli = async (args: string[]): Promise<{ code: number; out: string }> => {
    let out = '';
    const io: CliIO = { stdout: (t) => (out += t), stderr: (t) => (out += t), isTTY: false, env: { WARD_BROKER_DATA: running.dataDir, WARD_BROKER_ADMIN_TOKEN: ADMIN_TOKEN } };
    return { code: await main(args, io), out };
  };

  it('keeps a lock across a restart; `users list` shows it and `users unlock` lifts it', async () => {
    for (let i = 0; i < 5; i++) await login(wrong('alice'), '127.0.0.7');
    advance(10);
    running = await restartBroker(running, options);
    expect(await login(ALICE, '127.0.0.7')).toMatchObject({ status: 429, retryAfter: '20' });

    const list = await cli(['users', 'list']);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/^USERNAME +NAME +TOTP +FAILURES +SIGN-IN$/m);
    expect(list.out).toMatch(new RegExp(`^alice +Alice +yes +5 +locked until ${new Date(clock + 20_000).toISOString()}$`, 'm'));

    const unlock = await cli(['users', 'unlock', 'alice']);
    expect(unlock.code).toBe(0);
    expect(JSON.parse(unlock.out)).toMatchObject({ username: 'alice', known: true, before: { failures: 5, hardLocked: false } });
    expect((await login(ALICE, '127.0.0.7')).location).toBeDefined();
    expect((await cli(['users', 'list'])).out).toMatch(/^alice +Alice +yes +0 +ok$/m);
    expect(logLines.some((l) => l.includes('unlocked by an admin') && l.includes('"username":"alice"'))).toBe(true);
  });

  it('hard-locks after the configured consecutive failures until an admin unlocks (no Retry-After)', async () => {
    const signInThrottle = { account: { freeFailures: 2, baseLockSeconds: 1, maxLockSeconds: 2, resetAfterSeconds: 60, hardLockAfter: 4 } };
    running = await restartBroker(running, { ...options, config: { signInThrottle } });
    for (let i = 0; i < 3; i++) {
      await login(wrong('alice'), '127.0.0.8');
      advance(2);
    }
    expect(await login(wrong('alice'), '127.0.0.8')).toMatchObject({ status: 403, retryAfter: undefined });
    advance(3600);
    expect(await login(ALICE, '127.0.0.8')).toMatchObject({
      status: 403,
      retryAfter: undefined,
      message: 'Sign-in with this username is locked after too many failed attempts. Ask IT to unlock it.',
    });
    expect((await cli(['users', 'list'])).out).toMatch(/^alice +Alice +yes +4 +locked \(ward-broker users unlock\)$/m);
    expect((await cli(['users', 'unlock', 'alice'])).code).toBe(0);
    expect((await login(ALICE, '127.0.0.8')).location).toBeDefined();
  });
});
