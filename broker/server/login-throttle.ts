import { createHmac } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import type { Logger } from '../../main/core/log.js';
import type { LoginThrottleStore, ThrottleRow } from './storage/login-throttle-store.js';

/**
 * How one kind of counter (accounts, client addresses) throttles: `freeFailures` consecutive
 * failures cost nothing, the next ones lock for `baseLockSeconds` doubling with each failure up to
 * `maxLockSeconds`; `hardLockAfter` consecutive failures (0: never) lock until an admin unlocks
 * (NIST SP 800-63B §5.2.2: at most 100 consecutive failures per account). A counter with no
 * failure for `resetAfterSeconds` starts again from zero.
 */
export const ThrottlePolicySchema = z
  .object({
    freeFailures: z.number().int().min(1).max(1000),
    baseLockSeconds: z.number().int().min(1).max(3600),
    maxLockSeconds: z.number().int().min(1).max(86_400),
    resetAfterSeconds: z.number().int().min(60).max(30 * 86_400),
    hardLockAfter: z.number().int().min(0).max(100_000),
  })
  .strict()
  .refine((p) => p.maxLockSeconds >= p.baseLockSeconds, 'maxLockSeconds must be at least baseLockSeconds')
  .refine((p) => p.resetAfterSeconds > p.maxLockSeconds, 'resetAfterSeconds must be longer than maxLockSeconds')
  .refine((p) => p.hardLockAfter === 0 || p.hardLockAfter > p.freeFailures, 'hardLockAfter must be 0 or more than freeFailures');
export type ThrottlePolicy = z.infer<typeof ThrottlePolicySchema>;

/** Per account: OWASP's "a few" free tries, then 30 s doubling to 15 min; NIST's 100 as the hard stop. */
export const ACCOUNT_POLICY: ThrottlePolicy = { freeFailures: 5, baseLockSeconds: 30, maxLockSeconds: 900, resetAfterSeconds: 86_400, hardLockAfter: 100 };
/** Per client address (one source spraying many usernames): more room (shared NATs), no hard lock. */
export const ADDRESS_POLICY: ThrottlePolicy = { freeFailures: 20, baseLockSeconds: 30, maxLockSeconds: 900, resetAfterSeconds: 3600, hardLockAfter: 0 };
/** Counters kept at most (unknown usernames make rows too); the least recently failed go first. */
const MAX_ROWS = 100_000;

/** The config file's `signInThrottle` (both parts optional: the defaults above). */
export const SignInThrottleConfigSchema = z.object({ account: ThrottlePolicySchema.optional(), address: ThrottlePolicySchema.optional() }).strict();

/** Seconds of lock after `failures` consecutive failures (0 while within the free ones). */
export function lockSeconds(policy: ThrottlePolicy, failures: number): number {
  if (failures < policy.freeFailures) return 0;
  const doublings = Math.min(failures - policy.freeFailures, 30);
  return Math.min(policy.maxLockSeconds, policy.baseLockSeconds * 2 ** doublings);
}

/**
 * The counter key of a client's TCP peer address: IPv4 as is (also when IPv4-mapped), IPv6 by its
 * /64 (one host usually holds a whole /64, so per-address counting would be trivial to dodge),
 * anything else `ip:unknown`. Never throws.
 */
export function addressKey(remote: string | undefined): string {
  const address = (remote ?? '').replace(/%.*$/, '').toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(address);
  if (mapped?.[1] && isIPv4(mapped[1])) return `ip:${mapped[1]}`;
  if (isIPv4(address)) return `ip:${address}`;
  if (!isIPv6(address)) return 'ip:unknown';
  const [head = '', tail] = address.split('::');
  const groups = (part: string | undefined): string[] => (part ? part.split(':').filter((g) => !g.includes('.')) : []);
  // A trailing dotted quad is the last 32 bits: it never reaches the /64 prefix, only the count.
  const tailGroups = groups(tail);
  const dotted = address.includes('.') ? 2 : 0;
  const left = groups(head);
  const missing = tail === undefined ? 0 : 8 - left.length - tailGroups.length - dotted;
  const all = [...left, ...Array<string>(Math.max(missing, 0)).fill('0'), ...tailGroups];
  return `ip:${all.slice(0, 4).map((g) => Number.parseInt(g, 16).toString(16)).join(':')}::/64`;
}

/** Refused before any password is checked: when, if ever, to try again. */
export interface Locked {
  readonly allowed: false;
  /** Seconds until the lock ends; undefined for a hard lock (an admin must unlock). */
  readonly retryAfterSeconds: number | undefined;
}

/** An attempt counted as failed from its start (so parallel guesses cannot slip past a lock). */
export interface Attempt {
  readonly allowed: true;
  /** The password (and code) were right: the account starts over; the address gets this one back. */
  succeeded(): void;
  /** They were wrong: what the next attempt faces. `knownUser` is only for the log line. */
  failed(knownUser: string | undefined): Locked | undefined;
}

/** An account's sign-in state for admins (`ward-broker users list`). */
export interface AccountLockState {
  readonly failures: number;
  readonly lockedUntil: string | null;
  readonly hardLocked: boolean;
}

/**
 * Sign-in throttling for the login page (OWASP Authentication Cheat Sheet, "Login Throttling";
 * NIST SP 800-63B §5.2.2): a counter per account and per client address, both kept in SQLite so a
 * restart lifts no lock. Unknown usernames get counters and locks exactly like real ones (the key
 * is an HMAC of whatever was typed), so neither the answers nor their timing say who exists.
 */
export class LoginThrottle {
  readonly #store: LoginThrottleStore;
  readonly #key: Buffer;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #account: ThrottlePolicy;
  readonly #address: ThrottlePolicy;

  constructor(deps: { store: LoginThrottleStore; secret: string; now: () => number; log: Logger; account?: ThrottlePolicy | undefined; address?: ThrottlePolicy | undefined }) {
    this.#store = deps.store;
    this.#key = createHmac('sha256', deps.secret).update('ward login-throttle key v1').digest();
    this.#now = deps.now;
    this.#log = deps.log;
    this.#account = deps.account ?? ACCOUNT_POLICY;
    this.#address = deps.address ?? ADDRESS_POLICY;
  }

  #accountKey(username: string): string {
    return `user:${createHmac('sha256', this.#key).update(username).digest('base64url')}`;
  }

  /** The row as it stands at `nowMs` (a quiet, unlocked counter has started over). */
  #current(key: string, policy: ThrottlePolicy, nowMs: number): ThrottleRow {
    const row = this.#store.get(key);
    const fresh = { key, failures: 0, lastFailureAtMs: 0, lockedUntilMs: 0, hardLocked: false };
    if (!row) return fresh;
    const quiet = !row.hardLocked && row.lockedUntilMs <= nowMs && nowMs - row.lastFailureAtMs > policy.resetAfterSeconds * 1000;
    return quiet ? fresh : row;
  }

  #counted(row: ThrottleRow, policy: ThrottlePolicy, nowMs: number): ThrottleRow {
    const failures = row.failures + 1;
    const lock = lockSeconds(policy, failures);
    return {
      key: row.key,
      failures,
      lastFailureAtMs: nowMs,
      lockedUntilMs: lock > 0 ? nowMs + lock * 1000 : 0,
      hardLocked: policy.hardLockAfter > 0 && failures >= policy.hardLockAfter,
    };
  }

  /**
   * Start a sign-in attempt for `username` from `remoteAddress`. Refused (nothing counted, no
   * password checked) while the account or the address is locked; otherwise counted as a failure
   * now, in one transaction, and settled by `succeeded()` or `failed()`.
   */
  begin(username: string, remoteAddress: string | undefined): Locked | Attempt {
    const nowMs = this.#now();
    const account = this.#current(this.#accountKey(username), this.#account, nowMs);
    const address = this.#current(addressKey(remoteAddress), this.#address, nowMs);
    const refused = this.#refusal([account, address], nowMs);
    if (refused) return refused;
    const nextAccount = this.#counted(account, this.#account, nowMs);
    const nextAddress = this.#counted(address, this.#address, nowMs);
    this.#store.put([nextAccount, nextAddress]);
    let settled = false;
    return {
      allowed: true,
      succeeded: () => {
        if (settled) return;
        settled = true;
        this.#store.delete(nextAccount.key);
        const now = this.#current(nextAddress.key, this.#address, this.#now());
        const failures = Math.max(0, now.failures - 1);
        this.#store.put([{ ...now, failures, lockedUntilMs: failures < this.#address.freeFailures ? 0 : now.lockedUntilMs }]);
      },
      failed: (knownUser) => {
        if (settled) return undefined;
        settled = true;
        for (const [row, what] of [
          [nextAccount, 'account'],
          [nextAddress, 'address'],
        ] as const) {
          if (row.lockedUntilMs > 0 || row.hardLocked) {
            this.#log.warn(
              {
                ...(what === 'account' ? { username: knownUser ?? '(not a user)' } : { address: row.key.slice(3) }),
                failures: row.failures,
                ...(row.hardLocked ? { hardLocked: true } : { lockedUntil: new Date(row.lockedUntilMs).toISOString() }),
              },
              `sign-in ${what} locked after repeated failures`,
            );
          }
        }
        return this.#refusal([nextAccount, nextAddress], this.#now());
      },
    };
  }

  #refusal(rows: readonly ThrottleRow[], nowMs: number): Locked | undefined {
    if (rows.some((r) => r.hardLocked)) return { allowed: false, retryAfterSeconds: undefined };
    const until = Math.max(...rows.map((r) => r.lockedUntilMs));
    return until > nowMs ? { allowed: false, retryAfterSeconds: Math.ceil((until - nowMs) / 1000) } : undefined;
  }

  /** An account's failures and lock, for admins. */
  state(username: string): AccountLockState {
    const nowMs = this.#now();
    const row = this.#current(this.#accountKey(username), this.#account, nowMs);
    return { failures: row.failures, lockedUntil: row.lockedUntilMs > nowMs ? new Date(row.lockedUntilMs).toISOString() : null, hardLocked: row.hardLocked };
  }

  /** Clear an account's failures and lock (`ward-broker users unlock`); returns what it was. */
  unlock(username: string): AccountLockState {
    const before = this.state(username);
    this.#store.delete(this.#accountKey(username));
    this.#log.info({ username, ...before }, 'sign-in account unlocked by an admin');
    return before;
  }

  /**
   * Spend the TOTP time step `step` for `username`: true the first time, false when that code (or
   * an older one) was already used (RFC 6238 §5.2: a verifier must not accept an OTP twice).
   */
  useTotpStep(username: string, step: number): boolean {
    return this.#store.useTotpStep(username, step, this.#now());
  }

  /** Drop counters that have started over anyway, and bound the table. */
  purge(): number {
    const nowMs = this.#now();
    const quiet = Math.max(this.#account.resetAfterSeconds, this.#address.resetAfterSeconds) * 1000;
    return this.#store.purge(nowMs - quiet, nowMs, MAX_ROWS);
  }
}
