import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EkActivation } from '../../../../broker/server/ek-activation.js';
import { BrokerError } from '../../../../broker/server/errors.js';
import { SqliteStorage } from '../../../../broker/server/storage/sqlite-storage.js';

// The reference broker's EK challenge bookkeeping on arbitrary input: every refusal is a
// BrokerError with a stable reason, never another kind of throw. The full exchange with a real
// TPM is in test/integration/identity/ek-credential.test.ts.

/** A self-signed CA certificate made by openssl (any CA will do: no EK chains to it). */
function selfSignedPem(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ward-ek-ca-'));
  try {
    execFileSync('/usr/bin/openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=test-maker-root', '-days', '2', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'ignore' });
    return readFileSync(join(dir, 'c.pem'), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function refusal(run: () => unknown): { code: string; reason: string | undefined } {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(BrokerError);
    return { code: (err as BrokerError).code, reason: (err as BrokerError).reason };
  }
  throw new Error('expected a refusal');
}

const b64url = fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b).toString('base64url'));

/** A fresh broker database (real SQLite, all migrations) in a temp directory. */
function tempDatabase(): string {
  return join(mkdtempSync(join(tmpdir(), 'ward-ek-db-')), 'broker.db');
}

describe('EkActivation', () => {
  const now = (): number => Date.now();
  const rows = new SqliteStorage(':memory:').ekChallenges;

  it('without maker CAs the challenge endpoint is not there (404)', () => {
    expect(refusal(() => new EkActivation({ roots: [] }, rows, now).challenge({ ekCertificate: 'AA', akPublic: 'AA' }))).toMatchObject({ code: 'not-found' });
  });

  it('refuses a configured CA that is not a certificate at start-up (config-invalid)', () => {
    fc.assert(
      fc.property(fc.string(), (pem) => {
        expect(refusal(() => EkActivation.fromPems([pem], rows, now))).toMatchObject({ code: 'config-invalid' });
      }),
      { numRuns: 100 },
    );
  });

  it('refuses arbitrary EK certificates and attestation keys with an ek-cert or attestation reason', () => {
    const activation = EkActivation.fromPems([selfSignedPem()], rows, now);
    expect(activation.isEnabled).toBe(true);
    fc.assert(
      fc.property(b64url, b64url, (ekCertificate, akPublic) => {
        const { code, reason } = refusal(() => activation.challenge({ ekCertificate, akPublic }));
        expect(code).toBe('enrollment-invalid');
        expect(reason).toMatch(/^(ek-cert-(malformed|untrusted|expired|unsupported)|attestation-(malformed|attributes))$/);
      }),
      { numRuns: 200 },
    );
  });

  it('redeems nothing it did not issue: arbitrary claims are malformed or unknown challenges', () => {
    const activation = new EkActivation({ roots: [] }, rows, now);
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.record({ challenge_id: fc.uuid(), secret: fc.string() })), fc.string(), (claim, akName) => {
        const { reason } = refusal(() => activation.redeem(claim, akName));
        expect(['ek-activation-malformed', 'ek-challenge-unknown']).toContain(reason);
      }),
      { numRuns: 300 },
    );
  });
});

// The challenge rows are what POST /enroll/ek-challenge writes (the full exchange, with a real TPM
// and a real broker restart, is in test/integration/identity/ek-credential.test.ts).
describe('EkActivation: pending challenges in SQLite', () => {
  const AK = `000b${'ab'.repeat(32)}`;
  function pending(file: string, nowMs: number, ttlMs = 300_000): { id: string; secret: string } {
    const storage = new SqliteStorage(file);
    const secret = randomBytes(32);
    const id = randomUUID();
    storage.ekChallenges.insert(
      { id, secretSha256: createHash('sha256').update(secret).digest('base64url'), akName: AK, issuer: 'CN=maker', createdAtMs: nowMs, expiresAtMs: nowMs + ttlMs },
      100,
    );
    storage.close();
    return { id, secret: secret.toString('base64url') };
  }

  it('redeems a challenge once, with the right secret, also after the database was closed and opened again; a used one stays used', () => {
    const file = tempDatabase();
    const t0 = 1_800_000_000_000;
    const { id, secret } = pending(file, t0);
    const reopened = new SqliteStorage(file);
    const activation = new EkActivation({ roots: [] }, reopened.ekChallenges, () => t0 + 1000);
    expect(activation.redeem({ challenge_id: id, secret }, AK)).toEqual({ issuer: 'CN=maker' });
    expect(refusal(() => activation.redeem({ challenge_id: id, secret }, AK)).reason).toBe('ek-challenge-unknown');
    reopened.close();
    const again = new SqliteStorage(file);
    expect(refusal(() => new EkActivation({ roots: [] }, again.ekChallenges, () => t0 + 2000).redeem({ challenge_id: id, secret }, AK)).reason).toBe('ek-challenge-unknown');
    again.close();
  });

  it('a wrong secret or another AK spends the challenge: the right answer afterwards is refused', () => {
    const file = tempDatabase();
    const t0 = Date.now();
    const wrong = pending(file, t0);
    const other = pending(file, t0);
    const reopened = new SqliteStorage(file);
    const live = new EkActivation({ roots: [] }, reopened.ekChallenges, () => t0);
    expect(refusal(() => live.redeem({ challenge_id: wrong.id, secret: randomBytes(32).toString('base64url') }, AK)).reason).toBe('ek-activation-failed');
    expect(refusal(() => live.redeem({ challenge_id: wrong.id, secret: wrong.secret }, AK)).reason).toBe('ek-challenge-unknown');
    expect(refusal(() => live.redeem({ challenge_id: other.id, secret: other.secret }, `000b${'cd'.repeat(32)}`)).reason).toBe('ek-activation-mismatch');
    expect(refusal(() => live.redeem({ challenge_id: other.id, secret: other.secret }, AK)).reason).toBe('ek-challenge-unknown');
    reopened.close();
  });

  it('refuses a challenge past its TTL, and forgets expired ones at start', () => {
    const file = tempDatabase();
    const t0 = 1_800_000_000_000;
    const { id, secret } = pending(file, t0, 1000);
    const kept = pending(file, t0, 600_000);
    const storage = new SqliteStorage(file);
    expect(refusal(() => new EkActivation({ roots: [] }, storage.ekChallenges, () => t0 + 1000).redeem({ challenge_id: id, secret }, AK)).reason).toBe('ek-challenge-unknown');
    // Starting at t0 + 2 s purges the expired row (nothing else could ever use it) and keeps the live one.
    new EkActivation({ roots: [] }, storage.ekChallenges, () => t0 + 2000);
    expect(storage.ekChallenges.purge(t0 + 2000)).toBe(0);
    expect(new EkActivation({ roots: [] }, storage.ekChallenges, () => t0 + 3000).redeem({ challenge_id: kept.id, secret: kept.secret }, AK)).toEqual({ issuer: 'CN=maker' });
    storage.close();
  });

  it('keeps at most maxRows challenges, dropping the oldest first', () => {
    const { ekChallenges } = new SqliteStorage(':memory:');
    const t0 = Date.now();
    const ids = Array.from({ length: 5 }, (_, i) => {
      const id = randomUUID();
      ekChallenges.insert({ id, secretSha256: 'x', akName: AK, issuer: 'CN=maker', createdAtMs: t0 + i, expiresAtMs: t0 + 60_000 }, 3);
      return id;
    });
    const live = ids.map((id) => ekChallenges.spend(id, t0 + 10) !== undefined);
    expect(live).toEqual([false, false, true, true, true]);
  });
});
