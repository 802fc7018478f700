/**
 * One counter of failed sign-ins (migration 8, `login_throttle`): an account (`user:` + an HMAC of
 * the typed username) or a client address (`ip:` + address). Times are epoch milliseconds.
 */
export interface ThrottleRow {
  readonly key: string;
  /** Consecutive failures (an attempt counts as one from its start until it succeeds). */
  readonly failures: number;
  readonly lastFailureAtMs: number;
  /** No attempt before this (0: not locked). */
  readonly lockedUntilMs: number;
  /** Locked until an admin unlocks it (`ward-broker users unlock`). */
  readonly hardLocked: boolean;
}

/** Storage behind the sign-in throttle (login-throttle.ts) and TOTP single use. */
export interface LoginThrottleStore {
  get(key: string): ThrottleRow | undefined;
  /** Insert or replace the rows, in one transaction. */
  put(rows: readonly ThrottleRow[]): void;
  /** Remove a counter; true when there was one. */
  delete(key: string): boolean;
  /**
   * Delete counters whose last failure is before `quietSinceMs` and that are neither hard-locked
   * nor locked at `nowMs`; then, beyond `maxRows`, the least recently failed ones (hard locks
   * last). Returns how many went.
   */
  purge(quietSinceMs: number, nowMs: number, maxRows: number): number;
  /**
   * Record that `username` signed in with the TOTP code of time step `step`, only if `step` is
   * later than the last one recorded; true when recorded, false for a code already used (or an
   * older one). One conditional statement, so of two concurrent uses exactly one wins.
   */
  useTotpStep(username: string, step: number, nowMs: number): boolean;
}
