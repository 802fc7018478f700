import { createChallenge, type Challenge } from '../sdk/index.js';
import type { ChallengeRows } from './storage/storage.js';

/** At most this many challenges are held in memory (oldest dropped first); each lives ≤ 330 s. */
const MAX_CHALLENGES = 100_000;

export type ChallengeUse =
  | { readonly ok: true; readonly challenge: Challenge; readonly markUsed: () => void }
  | { readonly ok: false; readonly reason: 'unknown-nonce' | 'replayed-nonce' | 'expired-nonce' | 'subject-mismatch'; readonly detail: string; readonly markUsed?: () => void };

interface Entry {
  readonly challenge: Challenge & { subject: string };
  usedAtMs: number | null;
}

/**
 * The broker's outstanding challenges (`POST /devices/{id}/challenge`), kept in SQLite so that a
 * challenge issued before a restart can still be answered after it, until its TTL, and a used one
 * stays used. Reads come from memory (loaded once at start), so answering a challenge costs no
 * extra query on the posture path; the "used" mark is written by the caller inside its own
 * transaction (`markUsed`, the posture group commit), so it is durable with the verdict.
 */
export class DurableChallenges {
  readonly #entries = new Map<string, Entry>();

  constructor(
    private readonly rows: ChallengeRows,
    private readonly now: () => number,
  ) {
    for (const row of rows.live(now())) {
      this.#entries.set(row.nonce, {
        challenge: { nonce: row.nonce, issuedAt: new Date(row.issuedAtMs), expiresAt: new Date(row.expiresAtMs), subject: row.deviceId },
        usedAtMs: row.usedAtMs,
      });
    }
  }

  /** Issue a single-use nonce for a device; durable before it is returned. */
  issue(deviceId: string, ttlSeconds: number): Challenge {
    const nowMs = this.now();
    if (this.#entries.size >= MAX_CHALLENGES) this.prune(nowMs);
    while (this.#entries.size >= MAX_CHALLENGES) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
    const challenge = createChallenge({ ttlSeconds, subject: deviceId, now: () => new Date(nowMs) });
    this.rows.insert({ nonce: challenge.nonce, deviceId, issuedAtMs: nowMs, expiresAtMs: challenge.expiresAt.getTime(), usedAtMs: null });
    this.#entries.set(challenge.nonce, { challenge: { ...challenge, subject: deviceId }, usedAtMs: null });
    return challenge;
  }

  /**
   * Use a nonce for `deviceId`'s report. Whatever the outcome, a found nonce is spent (in memory at
   * once; `markUsed` makes it durable): a nonce is accepted at most once.
   */
  use(nonce: string, deviceId: string): ChallengeUse {
    const nowMs = this.now();
    const entry = this.#entries.get(nonce);
    if (!entry) return { ok: false, reason: 'unknown-nonce', detail: 'this nonce was never issued or has expired and been forgotten' };
    if (entry.usedAtMs !== null) return { ok: false, reason: 'replayed-nonce', detail: 'this challenge was already answered' };
    entry.usedAtMs = nowMs;
    const markUsed = () => this.rows.markUsed(nonce, nowMs);
    if (nowMs >= entry.challenge.expiresAt.getTime()) return { ok: false, reason: 'expired-nonce', detail: 'the challenge expired before it was answered', markUsed };
    if (entry.challenge.subject !== deviceId) return { ok: false, reason: 'subject-mismatch', detail: 'the challenge was issued for another device', markUsed };
    return { ok: true, challenge: entry.challenge, markUsed };
  }

  /** Forget expired challenges (memory and storage). */
  prune(nowMs = this.now()): void {
    for (const [nonce, entry] of this.#entries) if (entry.challenge.expiresAt.getTime() <= nowMs) this.#entries.delete(nonce);
    this.rows.purge(nowMs);
  }
}
