import type Database from 'better-sqlite3';
import type { EkChallengeRow, EkChallengeRows } from './storage.js';
import { writeTransaction } from './write-transaction.js';

type Row = Record<string, unknown>;

/** The `ek_challenges` table (migration 6) behind {@link EkChallengeRows}. */
export function sqliteEkChallenges(db: Database.Database): EkChallengeRows {
  const insert = db.prepare(
    'INSERT INTO ek_challenges (id, secret_sha256, ak_name, issuer, created_at, expires_at) VALUES (@id, @secretSha256, @akName, @issuer, @createdAtMs, @expiresAtMs)',
  );
  // Spending is one conditional UPDATE: of two redemptions of the same id, racing or one before
  // and one after a restart, exactly one changes the row.
  const spend = db.prepare('UPDATE ek_challenges SET used_at = ? WHERE id = ? AND used_at IS NULL AND expires_at > ?');
  const byId = db.prepare('SELECT * FROM ek_challenges WHERE id = ?');
  const purge = db.prepare('DELETE FROM ek_challenges WHERE expires_at <= ?');
  const count = db.prepare('SELECT COUNT(*) AS n FROM ek_challenges');
  const dropOldest = db.prepare('DELETE FROM ek_challenges WHERE id IN (SELECT id FROM ek_challenges ORDER BY created_at, rowid LIMIT ?)');
  const spendTx = writeTransaction(db, (id: string, nowMs: number): EkChallengeRow | undefined => {
    if (spend.run(nowMs, id, nowMs).changes !== 1) return undefined;
    const r = byId.get(id) as Row;
    return { id, secretSha256: String(r.secret_sha256), akName: String(r.ak_name), issuer: String(r.issuer), createdAtMs: Number(r.created_at), expiresAtMs: Number(r.expires_at) };
  });
  const insertTx = writeTransaction(db, (row: EkChallengeRow, maxRows: number) => {
    purge.run(row.createdAtMs);
    const n = Number((count.get() as { n: number }).n);
    if (n >= maxRows) dropOldest.run(n - maxRows + 1);
    insert.run(row);
  });
  return {
    insert: (row, maxRows) => void insertTx(row, maxRows),
    spend: (id, nowMs) => spendTx(id, nowMs),
    purge: (nowMs) => purge.run(nowMs).changes,
  };
}
