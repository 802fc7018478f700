import { randomBytes } from 'node:crypto';
import { reject, type Rejection } from './errors.js';

/** A single-use challenge nonce (32 random bytes, base64url: valid as an RFC 9711 `eat_nonce`). */
export interface Challenge {
  readonly nonce: string;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
  /** What the challenge was issued for (typically a device id); checked on consume. */
  readonly subject?: string;
}

export interface ChallengeOptions {
  /** Lifetime of the nonce. Default 120 s. */
  readonly ttlSeconds?: number;
  /** Injected clock. Default `() => new Date()`. */
  readonly now?: () => Date;
  readonly subject?: string;
}

export type ChallengeRejectReason = 'unknown-nonce' | 'expired-nonce' | 'subject-mismatch';
export type ChallengeVerdict = { readonly ok: true; readonly challenge: Challenge } | Rejection<ChallengeRejectReason>;

/**
 * Lifetime of a challenge when none is given.
 *
 * @example
 * ```ts
 * new MemoryChallengeStore({ ttlSeconds: DEFAULT_CHALLENGE_TTL_SECONDS / 2 });
 * ```
 */
export const DEFAULT_CHALLENGE_TTL_SECONDS = 120;

/**
 * Make a fresh challenge nonce with an expiry. Keep it in a {@link ChallengeStore} so it can be
 * used once.
 *
 * @example
 * ```ts
 * const challenge = createChallenge({ ttlSeconds: 60, subject: deviceId });
 * send(deviceId, { type: 'challenge', nonce: challenge.nonce });
 * ```
 */
export function createChallenge(options: ChallengeOptions = {}): Challenge {
  const issuedAt = (options.now ?? (() => new Date()))();
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_CHALLENGE_TTL_SECONDS;
  return {
    nonce: randomBytes(32).toString('base64url'),
    issuedAt,
    expiresAt: new Date(issuedAt.getTime() + ttlSeconds * 1000),
    ...(options.subject === undefined ? {} : { subject: options.subject }),
  };
}

/**
 * Where issued challenges wait to be answered. `consume` removes the nonce whatever the outcome,
 * so a nonce is accepted at most once. Brokers with several processes implement this over
 * shared storage; {@link MemoryChallengeStore} is the in-process one.
 */
export interface ChallengeStore {
  issue(options?: { subject?: string; ttlSeconds?: number }): Challenge | Promise<Challenge>;
  consume(nonce: string, subject?: string): ChallengeVerdict | Promise<ChallengeVerdict>;
}

export interface MemoryChallengeStoreOptions {
  readonly ttlSeconds?: number;
  readonly now?: () => Date;
  /** Outstanding challenges kept at most; the oldest are dropped first. Default 100,000. */
  readonly maxOutstanding?: number;
}

/**
 * An in-memory {@link ChallengeStore} with single-use nonces, a TTL and an injected clock.
 *
 * @example
 * ```ts
 * const store = new MemoryChallengeStore({ ttlSeconds: 60 });
 * const { nonce } = store.issue({ subject: deviceId });
 * // … the report comes back with eat_nonce = nonce …
 * const verdict = store.consume(claims.eat_nonce ?? '', deviceId);
 * if (!verdict.ok) refuse(verdict.reason); // unknown-nonce | expired-nonce | subject-mismatch
 * ```
 */
export class MemoryChallengeStore implements ChallengeStore {
  private readonly outstanding = new Map<string, Challenge>();
  private readonly ttlSeconds: number;
  private readonly now: () => Date;
  private readonly maxOutstanding: number;
  private issuedSincePrune = 0;

  constructor(options: MemoryChallengeStoreOptions = {}) {
    this.ttlSeconds = options.ttlSeconds ?? DEFAULT_CHALLENGE_TTL_SECONDS;
    this.now = options.now ?? (() => new Date());
    this.maxOutstanding = options.maxOutstanding ?? 100_000;
  }

  /** Number of challenges issued and not yet consumed or pruned. */
  get size(): number {
    return this.outstanding.size;
  }

  issue(options: { subject?: string; ttlSeconds?: number } = {}): Challenge {
    // Pruning walks every outstanding challenge: do it now and then, and when full, not per issue.
    if (++this.issuedSincePrune >= 1024 || this.outstanding.size >= this.maxOutstanding) {
      this.issuedSincePrune = 0;
      this.prune();
    }
    while (this.outstanding.size >= this.maxOutstanding) {
      const oldest = this.outstanding.keys().next().value;
      if (oldest === undefined) break;
      this.outstanding.delete(oldest);
    }
    const challenge = createChallenge({ ttlSeconds: options.ttlSeconds ?? this.ttlSeconds, now: this.now, ...(options.subject === undefined ? {} : { subject: options.subject }) });
    this.outstanding.set(challenge.nonce, challenge);
    return challenge;
  }

  consume(nonce: string, subject?: string): ChallengeVerdict {
    const challenge = typeof nonce === 'string' ? this.outstanding.get(nonce) : undefined;
    if (!challenge) return reject('unknown-nonce', 'this nonce was never issued or was already used');
    this.outstanding.delete(nonce);
    if (this.now().getTime() >= challenge.expiresAt.getTime()) return reject('expired-nonce', 'the challenge expired before it was answered');
    if (challenge.subject !== undefined && challenge.subject !== subject) return reject('subject-mismatch', 'the challenge was issued for another device');
    return { ok: true, challenge };
  }

  /** Drop expired challenges; returns how many were dropped. */
  prune(): number {
    const nowMs = this.now().getTime();
    let dropped = 0;
    for (const [nonce, challenge] of this.outstanding) {
      if (nowMs >= challenge.expiresAt.getTime()) {
        this.outstanding.delete(nonce);
        dropped++;
      }
    }
    return dropped;
  }
}
