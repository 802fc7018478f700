import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../../main/core/log.js';
import { ACCOUNT_POLICY, ADDRESS_POLICY, LoginThrottle, SignInThrottleConfigSchema, ThrottlePolicySchema, addressKey, lockSeconds, type Attempt, type Locked } from '../../../../broker/server/login-throttle.js';
import { SqliteStorage } from '../../../../broker/server/storage/sqlite-storage.js';
import { base32Encode, matchTotpStep, totpCode } from '../../../../broker/server/totp.js';

// The sign-in throttle on real SQLite (all migrations) with an injected clock. The login page that
// uses it is tested over HTTP in test/integration/broker/sign-in-throttle.test.ts.

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function database(): { file: string; open: () => SqliteStorage } {
  const dir = mkdtempSync(join(tmpdir(), 'ward-login-throttle-'));
  dirs.push(dir);
  const file = join(dir, 'broker.db');
  return { file, open: () => new SqliteStorage(file) };
}

function throttleOn(storage: SqliteStorage, clock: { t: number }): LoginThrottle {
  return new LoginThrottle({ store: storage.loginThrottle, secret: 'test-secret', now: () => clock.t, log: silentLogger() });
}

const allowed = (a: Locked | Attempt): Attempt => {
  if (!a.allowed) throw new Error(`expected an allowed attempt, got a lock of ${a.retryAfterSeconds} s`);
  return a;
};

describe('login throttle', () => {
  it('lock lengths: none within the free failures, then doubling from the base up to the cap', () => {
    expect([4, 5, 6, 7, 8, 9, 10, 11, 99].map((n) => lockSeconds(ACCOUNT_POLICY, n))).toEqual([0, 30, 60, 120, 240, 480, 900, 900, 900]);
    expect([19, 20, 21].map((n) => lockSeconds(ADDRESS_POLICY, n))).toEqual([0, 30, 60]);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), (n) => {
        const s = lockSeconds(ACCOUNT_POLICY, n);
        return s >= 0 && s <= ACCOUNT_POLICY.maxLockSeconds && s <= lockSeconds(ACCOUNT_POLICY, n + 1);
      }),
    );
  });

  it('address keys: IPv4 (also IPv4-mapped) as is, IPv6 by /64, anything else unknown; never throws', () => {
    expect(addressKey('192.0.2.7')).toBe('ip:192.0.2.7');
    expect(addressKey('::ffff:192.0.2.7')).toBe('ip:192.0.2.7');
    expect(addressKey('2001:db8:1:2:3:4:5:6')).toBe('ip:2001:db8:1:2::/64');
    expect(addressKey('2001:DB8:1:2::9')).toBe('ip:2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('ip:2001:db8:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('ip:fe80:0:0:0::/64');
    expect(addressKey('64:ff9b::192.0.2.1')).toBe('ip:64:ff9b:0:0::/64');
    expect(addressKey('::1')).toBe('ip:0:0:0:0::/64');
    expect(addressKey(undefined)).toBe('ip:unknown');
    expect(addressKey('not an address')).toBe('ip:unknown');
    const shape = /^ip:(unknown|\d{1,3}(\.\d{1,3}){3}|([0-9a-f]{1,4}:){4}:\/64)$/;
    fc.assert(fc.property(fc.oneof(fc.string(), fc.ipV4(), fc.ipV6(), fc.ipV4Extended()), (s) => shape.test(addressKey(s))));
    // Every IPv6 form fast-check makes (compressed, embedded IPv4) is recognised; one /64 is one counter.
    expect(addressKey('2001:db8:1:2::1')).toBe(addressKey('2001:db8:1:2:ffff::9'));
    expect(addressKey('2001:db8:1:3::1')).not.toBe(addressKey('2001:db8:1:2::1'));
    fc.assert(fc.property(fc.ipV6(), (a) => addressKey(a) !== 'ip:unknown'));
  });

  it('policies from the config file are validated; arbitrary input never throws', () => {
    expect(ThrottlePolicySchema.safeParse({ ...ACCOUNT_POLICY, resetAfterSeconds: 600, maxLockSeconds: 900 }).success).toBe(false);
    expect(ThrottlePolicySchema.safeParse({ ...ACCOUNT_POLICY, hardLockAfter: 3 }).success).toBe(false);
    expect(SignInThrottleConfigSchema.safeParse({ account: ACCOUNT_POLICY, address: ADDRESS_POLICY }).success).toBe(true);
    fc.assert(fc.property(fc.anything(), (v) => typeof SignInThrottleConfigSchema.safeParse(v).success === 'boolean'));
  });

  it('counts an attempt from its start: the 6th of six parallel guesses is refused before any is settled', () => {
    const { open } = database();
    const storage = open();
    try {
      const clock = { t: 1_000_000 };
      const throttle = throttleOn(storage, clock);
      const attempts = Array.from({ length: 6 }, () => throttle.begin('alice', '192.0.2.1'));
      expect(attempts.slice(0, 5).every((a) => a.allowed)).toBe(true);
      expect(attempts[5]).toEqual({ allowed: false, retryAfterSeconds: 30 });
      // The fifth failing leaves the lock; had it succeeded, alice would start over.
      expect(allowed(attempts[4]!).failed('alice')).toEqual({ allowed: false, retryAfterSeconds: 30 });
      expect(throttle.state('alice')).toEqual({ failures: 5, lockedUntil: new Date(clock.t + 30_000).toISOString(), hardLocked: false });
    } finally {
      storage.close();
    }
  });

  it('success starts the account over and gives the address its attempt back', () => {
    const { open } = database();
    const storage = open();
    try {
      const clock = { t: 1_000_000 };
      const throttle = throttleOn(storage, clock);
      for (let i = 0; i < 4; i++) allowed(throttle.begin('bob', '192.0.2.2')).failed('bob');
      allowed(throttle.begin('bob', '192.0.2.2')).succeeded();
      expect(throttle.state('bob').failures).toBe(0);
      // The address kept its 4 failures: 16 more free ones, the 17th locks it.
      for (let i = 0; i < 15; i++) expect(allowed(throttle.begin(`u${i}`, '192.0.2.2')).failed(undefined)).toBeUndefined();
      expect(allowed(throttle.begin('u15', '192.0.2.2')).failed(undefined)).toEqual({ allowed: false, retryAfterSeconds: 30 });
      expect(throttle.begin('bob', '192.0.2.2')).toEqual({ allowed: false, retryAfterSeconds: 30 });
      expect(throttle.begin('bob', '192.0.2.3').allowed).toBe(true);
    } finally {
      storage.close();
    }
  });

  it('keeps locks across a reopen; a quiet counter starts over; a hard lock waits for an admin', () => {
    const { open } = database();
    const clock = { t: 5_000_000 };
    let storage = open();
    for (let i = 0; i < 5; i++) allowed(throttleOn(storage, clock).begin('carol', '192.0.2.4')).failed('carol');
    storage.close();
    storage = open();
    try {
      const throttle = throttleOn(storage, clock);
      expect(throttle.begin('carol', '192.0.2.5')).toEqual({ allowed: false, retryAfterSeconds: 30 });
      clock.t += 86_400_000 + 1;
      expect(throttle.state('carol').failures).toBe(0);

      const strict = new LoginThrottle({
        store: storage.loginThrottle,
        secret: 'test-secret',
        now: () => clock.t,
        log: silentLogger(),
        account: { freeFailures: 1, baseLockSeconds: 1, maxLockSeconds: 1, resetAfterSeconds: 60, hardLockAfter: 2 },
      });
      allowed(strict.begin('dave', '192.0.2.6')).failed('dave');
      clock.t += 1000;
      expect(allowed(strict.begin('dave', '192.0.2.6')).failed('dave')).toEqual({ allowed: false, retryAfterSeconds: undefined });
      clock.t += 30 * 86_400_000;
      expect(strict.begin('dave', '192.0.2.7')).toEqual({ allowed: false, retryAfterSeconds: undefined });
      expect(strict.purge()).toBeGreaterThanOrEqual(0);
      expect(strict.state('dave')).toMatchObject({ hardLocked: true, failures: 2 });
      expect(strict.unlock('dave')).toMatchObject({ hardLocked: true });
      expect(strict.begin('dave', '192.0.2.7').allowed).toBe(true);
    } finally {
      storage.close();
    }
  });

  it('a TOTP step is spent once, older steps never again, across a reopen', () => {
    const { open } = database();
    let storage = open();
    const clock = { t: 9_000_000 };
    expect(throttleOn(storage, clock).useTotpStep('erin', 100)).toBe(true);
    expect(throttleOn(storage, clock).useTotpStep('erin', 100)).toBe(false);
    storage.close();
    storage = open();
    try {
      const throttle = throttleOn(storage, clock);
      expect(throttle.useTotpStep('erin', 100)).toBe(false);
      expect(throttle.useTotpStep('erin', 99)).toBe(false);
      expect(throttle.useTotpStep('frank', 100)).toBe(true);
      expect(throttle.useTotpStep('erin', 101)).toBe(true);
    } finally {
      storage.close();
    }
  });

  it('purge drops quiet counters and bounds the table, least recently failed first, hard locks last', () => {
    const { open } = database();
    const storage = open();
    try {
      const store = storage.loginThrottle;
      store.put([
        { key: 'a', failures: 1, lastFailureAtMs: 10, lockedUntilMs: 0, hardLocked: false },
        { key: 'b', failures: 9, lastFailureAtMs: 20, lockedUntilMs: 0, hardLocked: true },
        { key: 'c', failures: 1, lastFailureAtMs: 300, lockedUntilMs: 0, hardLocked: false },
        { key: 'd', failures: 1, lastFailureAtMs: 400, lockedUntilMs: 0, hardLocked: false },
        { key: 'e', failures: 6, lastFailureAtMs: 50, lockedUntilMs: 1000, hardLocked: false },
      ]);
      // Quiet since 100 at time 500: only `a` (b is hard-locked, e still locked).
      expect(store.purge(100, 500, 10)).toBe(1);
      expect(store.get('a')).toBeUndefined();
      // Bound to 2: e then c go (oldest failures, not hard-locked), b and d stay.
      expect(store.purge(0, 500, 2)).toBe(2);
      expect(['b', 'c', 'd', 'e'].filter((k) => store.get(k))).toEqual(['b', 'd']);
    } finally {
      storage.close();
    }
  });

  it('arbitrary usernames, addresses and outcomes never throw, and a lock is always refused', () => {
    const { open } = database();
    const storage = open();
    try {
      const clock = { t: 1_000_000 };
      const throttle = throttleOn(storage, clock);
      fc.assert(
        fc.property(fc.string({ maxLength: 64 }), fc.oneof(fc.string(), fc.ipV4(), fc.ipV6()), fc.boolean(), fc.nat({ max: 100_000 }), (username, address, ok, advanceMs) => {
          clock.t += advanceMs;
          const attempt = throttle.begin(username, address);
          if (!attempt.allowed) return attempt.retryAfterSeconds === undefined || attempt.retryAfterSeconds > 0;
          if (ok) attempt.succeeded();
          else attempt.failed(undefined);
          return true;
        }),
      );
    } finally {
      storage.close();
    }
  });

  it('matchTotpStep: the step of the code within ±1, undefined otherwise; junk never throws', () => {
    const secret = base32Encode(Buffer.from('12345678901234567890'));
    const at = 1_700_000_000_000;
    const step = Math.floor(at / 30_000);
    expect(matchTotpStep(secret, totpCode(secret, at), at)).toBe(step);
    expect(matchTotpStep(secret, totpCode(secret, at, 1), at)).toBe(step + 1);
    expect(matchTotpStep(secret, totpCode(secret, at, -1), at)).toBe(step - 1);
    expect(matchTotpStep(secret, totpCode(secret, at, 2), at)).toBeUndefined();
    fc.assert(fc.property(fc.string(), fc.string(), fc.integer({ min: 0, max: 2 ** 45 }), (s, code, t) => {
      const m = matchTotpStep(s, code, t);
      return m === undefined || Number.isInteger(m);
    }));
  });
});
