import { hash } from 'node:crypto';
import Database from 'better-sqlite3';
import type { JWK } from 'jose';
import { BrokerError } from '../errors.js';
import { MIGRATIONS } from './migrations.js';
import { sqliteDeviceClaims } from './sqlite-device-claims.js';
import { sqliteDeviceSetQueue } from './sqlite-device-set-queue.js';
import { sqliteEkChallenges } from './sqlite-ek-challenges.js';
import type { LoginThrottleStore } from './login-throttle-store.js';
import { sqliteLoginThrottle } from './sqlite-login-throttle.js';
import { sqlitePushQueue, sqliteSetOutbox } from './sqlite-push-queue.js';
import { WalCheckpointer, type WalCheckpointerOptions } from './wal-checkpointer.js';
import { writeTransaction } from './write-transaction.js';
import type { Logger } from '../../../main/core/log.js';
import type {
  BrokerStorage,
  ChallengeRow,
  ChallengeRows,
  ComplianceStatus,
  CredentialRecord,
  CredentialRole,
  DeviceClaimStore,
  DeviceSetQueueStore,
  EkChallengeRows,
  DeviceRecord,
  DeviceWithVerdict,
  EnrollmentTokenRecord,
  EnrollResult,
  HistoryEntry,
  HistoryQuery,
  NewDevice,
  RetiredKey,
  RotatedKey,
  RotateKeyResult,
  NewHistoryEntry,
  OidcStore,
  PolicyRecord,
  PushQueueStore,
  SetOutboxStore,
  EventLog,
  VerdictRecord,
  VerdictState,
} from './storage.js';

type Row = Record<string, unknown>;

const WAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024;
const DOCUMENT_DIGEST_CACHE_MAX = 100_000;

/** The device's last accepted seq as its latest verdict has it (migration 9: `devices.last_seq` is no longer written per report). */
const VERDICT_SEQ = '(SELECT seq FROM verdicts WHERE device_id = d.id) AS verdict_seq';
/** A verdict's columns, with its documents (migration 9) as `submods_body` / `results_body` and the digests they were stored with. */
const VERDICT_COLUMNS = `v.status, v.is_compliant, v.seq, v.reported_at, v.verified_at, v.policy_version, v.report_only, v.claims, v.evaluation, v.failing_since, v.nonce,
  v.submods_digest, v.results_digest, sd.body AS submods_body, sd.digest AS submods_body_digest, rd.body AS results_body, rd.digest AS results_body_digest`;
const VERDICT_DOCUMENTS = `LEFT JOIN verdict_documents sd ON sd.device_id = v.device_id AND sd.kind = 'submods'
  LEFT JOIN verdict_documents rd ON rd.device_id = v.device_id AND rd.kind = 'results'`;

const str = (v: unknown): string => (typeof v === 'string' ? v : String(v));
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : str(v));
const json = <T>(v: unknown): T => JSON.parse(str(v)) as T;

function toDevice(r: Row): DeviceRecord {
  return {
    id: str(r.id),
    jkt: str(r.jkt),
    publicJwk: json<JWK>(r.public_jwk),
    assurance: str(r.assurance),
    name: strOrNull(r.name),
    attributes: json<Record<string, unknown>>(r.attributes),
    enrolledAtMs: num(r.enrolled_at),
    revokedAtMs: numOrNull(r.revoked_at),
    lastSeq: laterSeq(numOrNull(r.last_seq), numOrNull(r.verdict_seq)),
    accountId: strOrNull(r.account_id),
    enrollmentTokenId: strOrNull(r.enrollment_token_id),
    keyRotatedAtMs: numOrNull(r.key_rotated_at),
  };
}

function toRetiredKey(r: Row): RetiredKey {
  return { jkt: str(r.jkt), deviceId: str(r.device_id), assurance: str(r.assurance), pinnedAtMs: num(r.pinned_at), retiredAtMs: num(r.retired_at) };
}

function toToken(r: Row): EnrollmentTokenRecord {
  return {
    id: str(r.id),
    tokenHash: str(r.token_hash),
    label: str(r.label),
    createdAtMs: num(r.created_at),
    expiresAtMs: num(r.expires_at),
    usedAtMs: numOrNull(r.used_at),
    deviceId: strOrNull(r.device_id),
  };
}

/** The larger of two seqs, either of which may be missing. */
function laterSeq(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}

/**
 * One of a verdict's documents (migration 9): the stored body, checked against the digest the
 * verdict row names. A row from before migration 9 has no digest and keeps the whole value itself.
 */
function verdictDocument(r: Row, kind: 'submods' | 'results'): { present: false } | { present: true; value: unknown } {
  const digest = r[`${kind}_digest`];
  if (digest === null || digest === undefined) return { present: false };
  const body = r[`${kind}_body`];
  if (typeof body !== 'string' || r[`${kind}_body_digest`] !== digest) {
    throw new BrokerError('storage-failed', `The stored ${kind} of device ${str(r.device_id)} do not match its latest verdict.`);
  }
  return { present: true, value: JSON.parse(body) };
}

function toVerdict(r: Row): VerdictRecord {
  const claims = json<Record<string, unknown>>(r.claims);
  const submods = verdictDocument(r, 'submods');
  if (submods.present) claims.submods = submods.value;
  const evaluation = json<unknown>(r.evaluation);
  const results = verdictDocument(r, 'results');
  if (results.present && typeof evaluation === 'object' && evaluation !== null) (evaluation as Record<string, unknown>).results = results.value;
  return {
    deviceId: str(r.device_id),
    status: str(r.status) as ComplianceStatus,
    isCompliant: num(r.is_compliant) === 1,
    seq: num(r.seq),
    reportedAtMs: num(r.reported_at),
    verifiedAtMs: num(r.verified_at),
    policyVersion: numOrNull(r.policy_version),
    reportOnly: num(r.report_only) === 1,
    claims,
    evaluation,
    failingSince: json<Record<string, number>>(r.failing_since),
    nonce: strOrNull(r.nonce),
  };
}

function toHistory(r: Row): HistoryEntry {
  return {
    id: num(r.id),
    deviceId: str(r.device_id),
    atMs: num(r.at),
    outcome: str(r.outcome) as HistoryEntry['outcome'],
    seq: numOrNull(r.seq),
    status: strOrNull(r.status) as ComplianceStatus | null,
    reason: strOrNull(r.reason),
    failures: json<unknown[]>(r.failures),
  };
}

/**
 * The embedded SQLite backend (better-sqlite3, WAL journal). Statements are prepared once; the
 * posture hot path is one small transaction per report.
 */
export class SqliteStorage implements BrokerStorage {
  readonly #db: Database.Database;
  readonly #file: string;
  readonly #stmt: Record<string, Database.Statement>;
  readonly oidc: OidcStore;
  readonly challenges: ChallengeRows;
  readonly events: EventLog;
  readonly pushQueue: PushQueueStore;
  readonly setOutbox: SetOutboxStore;
  readonly deviceClaims: DeviceClaimStore;
  readonly deviceSetQueue: DeviceSetQueueStore;
  readonly ekChallenges: EkChallengeRows;
  readonly loginThrottle: LoginThrottleStore;
  /** One transaction wrapper for every group commit, rather than a new one per call. */
  readonly #runInTransaction: (fn: () => unknown) => unknown;
  /** The verdict documents' digests last written per device (see `#putDocument`); `''`: none stored. */
  readonly #documentDigests = new Map<string, { submods?: string; results?: string }>();

  constructor(file: string) {
    try {
      this.#db = new Database(file);
    } catch (err) {
      throw new BrokerError('storage-failed', `Cannot open the broker database at ${file}.`, { cause: err });
    }
    this.#file = file;
    this.#db.pragma('journal_mode = WAL');
    // When a commit starts the WAL over (after a complete checkpoint), cut the file back to this
    // size rather than keep its high-water mark.
    this.#db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    // WAL + NORMAL: a crash can lose the last transactions but never corrupts the database.
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma('foreign_keys = ON');
    this.#db.pragma('busy_timeout = 5000');
    this.#migrate();
    const p = (sql: string) => this.#db.prepare(sql);
    this.#stmt = {
      getMeta: p('SELECT value FROM meta WHERE key = ?'),
      setMeta: p('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      insertToken: p(
        'INSERT INTO enrollment_tokens (id, token_hash, label, created_at, expires_at, used_at, device_id) VALUES (@id, @tokenHash, @label, @createdAtMs, @expiresAtMs, @usedAtMs, @deviceId)',
      ),
      listTokens: p('SELECT * FROM enrollment_tokens ORDER BY created_at DESC'),
      tokenByHash: p('SELECT * FROM enrollment_tokens WHERE token_hash = ?'),
      useToken: p('UPDATE enrollment_tokens SET used_at = ?, device_id = ? WHERE id = ? AND used_at IS NULL'),
      insertDevice: p(
        'INSERT INTO devices (id, jkt, public_jwk, assurance, name, attributes, enrolled_at, enrollment_token_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      deviceById: p(`SELECT d.*, ${VERDICT_SEQ} FROM devices d WHERE id = ?`),
      deviceByJkt: p(`SELECT d.*, ${VERDICT_SEQ} FROM devices d WHERE jkt = ?`),
      listDevices: p(
        `SELECT d.*, v.device_id AS v_device_id, v.seq AS verdict_seq, ${VERDICT_COLUMNS} FROM devices d LEFT JOIN verdicts v ON v.device_id = d.id ${VERDICT_DOCUMENTS} ORDER BY d.enrolled_at`,
      ),
      revokeDevice: p('UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?'),
      retireKey: p(
        'INSERT INTO device_key_history (jkt, device_id, public_jwk, assurance, pinned_at, retired_at) VALUES (@jkt, @deviceId, @publicJwk, @assurance, @pinnedAtMs, @retiredAtMs)',
      ),
      pinKey: p('UPDATE devices SET jkt = ?, public_jwk = ?, assurance = ?, attributes = ?, key_rotated_at = ? WHERE id = ? AND jkt = ?'),
      retiredKey: p('SELECT * FROM device_key_history WHERE jkt = ?'),
      keyHistory: p('SELECT * FROM device_key_history WHERE device_id = ? ORDER BY retired_at DESC, rowid DESC'),
      linkAccount: p('UPDATE devices SET account_id = ? WHERE jkt = ? AND (account_id IS NULL OR account_id <> ?)'),
      devicesOfAccount: p(`SELECT d.*, ${VERDICT_SEQ} FROM devices d WHERE account_id = ?`),
      getVerdict: p(`SELECT v.device_id, ${VERDICT_COLUMNS} FROM verdicts v ${VERDICT_DOCUMENTS} WHERE v.device_id = ?`),
      documentDigest: p('SELECT digest FROM verdict_documents WHERE device_id = ? AND kind = ?'),
      putDocument: p(`INSERT INTO verdict_documents (device_id, kind, digest, body) VALUES (?, ?, ?, ?)
        ON CONFLICT (device_id, kind) DO UPDATE SET digest = excluded.digest, body = excluded.body`),
      getVerdictState: p('SELECT is_compliant, failing_since, status, policy_version, report_only, results_digest FROM verdicts WHERE device_id = ?'),
      upsertVerdict: p(`INSERT INTO verdicts (device_id, status, is_compliant, seq, reported_at, verified_at, policy_version, report_only, claims, evaluation, failing_since, nonce, submods_digest, results_digest)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (device_id) DO UPDATE SET status = excluded.status, is_compliant = excluded.is_compliant, seq = excluded.seq,
          reported_at = excluded.reported_at, verified_at = excluded.verified_at, policy_version = excluded.policy_version,
          report_only = excluded.report_only, claims = excluded.claims, evaluation = excluded.evaluation,
          failing_since = excluded.failing_since, nonce = excluded.nonce, submods_digest = excluded.submods_digest,
          results_digest = excluded.results_digest`),
      insertHistory: p(
        'INSERT INTO posture_history (device_id, at, outcome, seq, status, reason, failures, has_failures) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      insertPolicy: p('INSERT INTO policies (document, created_at) VALUES (?, ?)'),
      currentPolicy: p('SELECT * FROM policies ORDER BY version DESC LIMIT 1'),
      insertCredential: p('INSERT INTO credentials (id, token_hash, role, label, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)'),
      credentialByHash: p('SELECT * FROM credentials WHERE token_hash = ? AND revoked_at IS NULL'),
      countCredentials: p('SELECT COUNT(*) AS n FROM credentials WHERE role = ? AND revoked_at IS NULL'),
    };
    this.#runInTransaction = writeTransaction(this.#db, (fn: () => unknown) => fn());
    this.oidc = this.#oidcStore();
    this.challenges = this.#challengeRows();
    this.events = this.#eventLog();
    this.pushQueue = sqlitePushQueue(this.#db);
    this.setOutbox = sqliteSetOutbox(this.#db);
    this.deviceClaims = sqliteDeviceClaims(this.#db);
    this.deviceSetQueue = sqliteDeviceSetQueue(this.#db);
    this.ekChallenges = sqliteEkChallenges(this.#db);
    this.loginThrottle = sqliteLoginThrottle(this.#db);
  }

  #migrate(): void {
    const current = Number(this.#db.pragma('user_version', { simple: true }));
    MIGRATIONS.forEach((sql, index) => {
      const version = index + 1;
      if (version <= current) return;
      writeTransaction(this.#db, () => {
        this.#db.exec(sql);
        this.#db.pragma(`user_version = ${version}`);
      })();
    });
  }

  getMeta(key: string): string | undefined {
    const row = this.#stmt.getMeta!.get(key) as Row | undefined;
    return row ? str(row.value) : undefined;
  }

  setMeta(key: string, value: string): void {
    this.#stmt.setMeta!.run(key, value);
  }

  createEnrollmentToken(token: EnrollmentTokenRecord): void {
    this.#stmt.insertToken!.run(token);
  }

  listEnrollmentTokens(): EnrollmentTokenRecord[] {
    return (this.#stmt.listTokens!.all() as Row[]).map(toToken);
  }

  enrollDevice(tokenHash: string, device: NewDevice, nowMs: number): EnrollResult {
    return writeTransaction(this.#db, (): EnrollResult => {
      const row = this.#stmt.tokenByHash!.get(tokenHash) as Row | undefined;
      if (!row) return { ok: false, reason: 'token-unknown' };
      const token = toToken(row);
      if (token.usedAtMs !== null) return { ok: false, reason: 'token-used' };
      if (token.expiresAtMs <= nowMs) return { ok: false, reason: 'token-expired' };
      if (this.#stmt.deviceByJkt!.get(device.jkt) || this.#stmt.retiredKey!.get(device.jkt)) return { ok: false, reason: 'key-already-enrolled' };
      this.#stmt.insertDevice!.run(
        device.id,
        device.jkt,
        JSON.stringify(device.publicJwk),
        device.assurance,
        device.name,
        JSON.stringify(device.attributes),
        nowMs,
        token.id,
      );
      this.#stmt.useToken!.run(nowMs, device.id, token.id);
      return {
        ok: true,
        device: toDevice(this.#stmt.deviceById!.get(device.id) as Row),
        token: { ...token, usedAtMs: nowMs, deviceId: device.id },
      };
    })();
  }

  getDevice(id: string): DeviceRecord | undefined {
    const row = this.#stmt.deviceById!.get(id) as Row | undefined;
    return row ? toDevice(row) : undefined;
  }

  getDeviceByJkt(jkt: string): DeviceRecord | undefined {
    const row = this.#stmt.deviceByJkt!.get(jkt) as Row | undefined;
    return row ? toDevice(row) : undefined;
  }

  listDevices(): DeviceWithVerdict[] {
    return (this.#stmt.listDevices!.all() as Row[]).map((r) => ({
      device: toDevice(r),
      verdict: r.v_device_id === null ? undefined : toVerdict({ ...r, device_id: r.v_device_id }),
    }));
  }

  revokeDevice(id: string, nowMs: number): DeviceRecord | undefined {
    this.#stmt.revokeDevice!.run(nowMs, id);
    return this.getDevice(id);
  }

  rotateDeviceKey(deviceId: string, oldJkt: string, next: RotatedKey, nowMs: number): RotateKeyResult {
    return writeTransaction(this.#db, (): RotateKeyResult => {
      const row = this.#stmt.deviceById!.get(deviceId) as Row | undefined;
      if (!row) return { ok: false, reason: 'unknown-device' };
      const previous = toDevice(row);
      if (previous.revokedAtMs !== null) return { ok: false, reason: 'device-revoked' };
      if (previous.jkt !== oldJkt) return { ok: false, reason: 'key-changed' };
      if (this.#stmt.deviceByJkt!.get(next.jkt) || this.#stmt.retiredKey!.get(next.jkt)) return { ok: false, reason: 'key-already-used' };
      this.#stmt.retireKey!.run({
        jkt: previous.jkt,
        deviceId,
        publicJwk: JSON.stringify(previous.publicJwk),
        assurance: previous.assurance,
        pinnedAtMs: previous.keyRotatedAtMs ?? previous.enrolledAtMs,
        retiredAtMs: nowMs,
      });
      const attributes = JSON.stringify({ ...previous.attributes, ...next.attributes });
      this.#stmt.pinKey!.run(next.jkt, JSON.stringify(next.publicJwk), next.assurance, attributes, nowMs, deviceId, oldJkt);
      return { ok: true, device: toDevice(this.#stmt.deviceById!.get(deviceId) as Row), previous };
    })();
  }

  retiredKey(jkt: string): RetiredKey | undefined {
    const row = this.#stmt.retiredKey!.get(jkt) as Row | undefined;
    return row ? toRetiredKey(row) : undefined;
  }

  keyHistory(deviceId: string): RetiredKey[] {
    return (this.#stmt.keyHistory!.all(deviceId) as Row[]).map(toRetiredKey);
  }

  linkDeviceAccount(jkt: string, accountId: string): void {
    this.#stmt.linkAccount!.run(accountId, jkt, accountId);
  }

  devicesOfAccount(accountId: string): DeviceRecord[] {
    return (this.#stmt.devicesOfAccount!.all(accountId) as Row[]).map(toDevice);
  }

  getVerdict(deviceId: string): VerdictRecord | undefined {
    const row = this.#stmt.getVerdict!.get(deviceId) as Row | undefined;
    return row ? toVerdict(row) : undefined;
  }

  getVerdictState(deviceId: string): VerdictState | undefined {
    const row = this.#stmt.getVerdictState!.get(deviceId) as Row | undefined;
    return row
      ? {
          isCompliant: num(row.is_compliant) === 1,
          failingSince: json<Record<string, number>>(row.failing_since),
          status: str(row.status) as ComplianceStatus,
          policyVersion: numOrNull(row.policy_version),
          reportOnly: num(row.report_only) === 1,
          resultsDigest: strOrNull(row.results_digest),
        }
      : undefined;
  }

  // The two writes of every accepted report bind positionally, without spreading the record into
  // a new object: named binding looks each parameter up by name on every run.
  saveVerdict(v: VerdictRecord): void {
    const { submods, ...envelope } = v.claims;
    const evaluation = typeof v.evaluation === 'object' && v.evaluation !== null ? (v.evaluation as Record<string, unknown>) : undefined;
    const { results, ...evaluationRest } = evaluation ?? {};
    this.#stmt.upsertVerdict!.run(
      v.deviceId,
      v.status,
      v.isCompliant ? 1 : 0,
      v.seq,
      v.reportedAtMs,
      v.verifiedAtMs,
      v.policyVersion,
      v.reportOnly ? 1 : 0,
      JSON.stringify(envelope),
      evaluation ? JSON.stringify(evaluationRest) : JSON.stringify(v.evaluation ?? null),
      JSON.stringify(v.failingSince),
      v.nonce,
      submods === undefined ? null : this.#putDocument(v.deviceId, 'submods', JSON.stringify(submods)),
      results === undefined ? null : this.#putDocument(v.deviceId, 'results', v.resultsJson ?? JSON.stringify(results), v.resultsDigest),
    );
  }

  /**
   * Store one of a device's verdict documents unless it is the one already stored (same
   * SHA-256); returns its digest. The digests last written are remembered per device, so an
   * unchanged document costs a hash, not a read or a write; they are forgotten whenever a
   * transaction fails, since what it wrote is then not in the database.
   */
  #putDocument(deviceId: string, kind: 'submods' | 'results', body: string, knownDigest?: string): string {
    const digest = knownDigest ?? hash('sha256', body, 'base64url');
    let known = this.#documentDigests.get(deviceId);
    if (!known) {
      if (this.#documentDigests.size >= DOCUMENT_DIGEST_CACHE_MAX) this.#documentDigests.clear();
      known = {};
      this.#documentDigests.set(deviceId, known);
    }
    known[kind] ??= (this.#stmt.documentDigest!.get(deviceId, kind) as { digest: string } | undefined)?.digest ?? '';
    if (known[kind] !== digest) {
      this.#stmt.putDocument!.run(deviceId, kind, digest, body);
      known[kind] = digest;
    }
    return digest;
  }

  addHistory(e: NewHistoryEntry): void {
    const hasFailures = e.failures.length > 0 || e.outcome === 'refused' ? 1 : 0;
    this.#stmt.insertHistory!.run(e.deviceId, e.atMs, e.outcome, e.seq, e.status, e.reason, JSON.stringify(e.failures), hasFailures);
  }

  /** Run several writes as one transaction (one commit): used by posture ingestion. */
  transaction<T>(fn: () => T): T {
    try {
      return this.#runInTransaction(fn) as T;
    } catch (err) {
      this.#documentDigests.clear();
      throw err;
    }
  }

  history(q: HistoryQuery): HistoryEntry[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.deviceId !== undefined) {
      where.push('device_id = ?');
      args.push(q.deviceId);
    }
    if (q.onlyFailures) where.push('has_failures = 1');
    if (q.sinceMs !== undefined) {
      where.push('at >= ?');
      args.push(q.sinceMs);
    }
    const sql = `SELECT * FROM posture_history ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    return (this.#db.prepare(sql).all(...args, q.limit) as Row[]).map(toHistory);
  }

  savePolicy(document: unknown, nowMs: number): PolicyRecord {
    const info = this.#stmt.insertPolicy!.run(JSON.stringify(document), nowMs);
    return { version: Number(info.lastInsertRowid), document, createdAtMs: nowMs };
  }

  currentPolicy(): PolicyRecord | undefined {
    const row = this.#stmt.currentPolicy!.get() as Row | undefined;
    return row ? { version: num(row.version), document: json<unknown>(row.document), createdAtMs: num(row.created_at) } : undefined;
  }

  createCredential(c: CredentialRecord & { tokenHash: string }): void {
    this.#stmt.insertCredential!.run(c.id, c.tokenHash, c.role, c.label, c.createdAtMs, c.revokedAtMs);
  }

  findCredential(tokenHash: string): CredentialRecord | undefined {
    const r = this.#stmt.credentialByHash!.get(tokenHash) as Row | undefined;
    if (!r) return undefined;
    return { id: str(r.id), role: str(r.role) as CredentialRole, label: str(r.label), createdAtMs: num(r.created_at), revokedAtMs: numOrNull(r.revoked_at) };
  }

  countCredentials(role: CredentialRole): number {
    return num((this.#stmt.countCredentials!.get(role) as Row).n);
  }

  #oidcStore(): OidcStore {
    const p = (sql: string) => this.#db.prepare(sql);
    const upsert = p(`INSERT INTO oidc (model, id, payload, expires_at, grant_id, user_code, uid, account_id, jkt)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, expires_at = excluded.expires_at, grant_id = excluded.grant_id,
        user_code = excluded.user_code, uid = excluded.uid, account_id = excluded.account_id, jkt = excluded.jkt, consumed_at = NULL`);
    const find = p('SELECT payload, consumed_at FROM oidc WHERE model = ? AND id = ? AND (expires_at IS NULL OR expires_at > ?)');
    const byUserCode = p('SELECT payload, consumed_at FROM oidc WHERE model = ? AND user_code = ? AND (expires_at IS NULL OR expires_at > ?)');
    const byUid = p('SELECT payload, consumed_at FROM oidc WHERE model = ? AND uid = ? AND (expires_at IS NULL OR expires_at > ?)');
    const consume = p('UPDATE oidc SET consumed_at = ? WHERE model = ? AND id = ?');
    const destroy = p('DELETE FROM oidc WHERE model = ? AND id = ?');
    const revoke = p('DELETE FROM oidc WHERE grant_id = ?');
    const grantsOfAccount = p("SELECT id FROM oidc WHERE model = 'Grant' AND account_id = ?");
    const grantsOfJkt = p('SELECT DISTINCT grant_id FROM oidc WHERE jkt = ? AND grant_id IS NOT NULL');
    const sessionsOfAccount = p("SELECT id FROM oidc WHERE model = 'Session' AND account_id = ?");
    const purge = p('DELETE FROM oidc WHERE expires_at IS NOT NULL AND expires_at <= ?');
    const decode = (row: Row | undefined): Record<string, unknown> | undefined => {
      if (!row) return undefined;
      const payload = json<Record<string, unknown>>(row.payload);
      // oidc-provider reads `consumed` to detect reuse of codes and rotated refresh tokens.
      return row.consumed_at === null ? payload : { ...payload, consumed: Math.floor(num(row.consumed_at) / 1000) };
    };
    const field = (payload: Record<string, unknown>, key: string): string | null => (typeof payload[key] === 'string' ? (payload[key] as string) : null);
    return {
      upsert: (model, id, payload, expiresAtMs) => {
        upsert.run(model, id, JSON.stringify(payload), expiresAtMs, field(payload, 'grantId'), field(payload, 'userCode'), field(payload, 'uid'), field(payload, 'accountId'), field(payload, 'jkt'));
      },
      find: (model, id, nowMs) => decode(find.get(model, id, nowMs) as Row | undefined),
      findBy: (model, by, value, nowMs) => decode((by === 'userCode' ? byUserCode : byUid).get(model, value, nowMs) as Row | undefined),
      consume: (model, id, nowMs) => {
        consume.run(nowMs, model, id);
      },
      destroy: (model, id) => {
        destroy.run(model, id);
      },
      revokeByGrantId: (grantId) => {
        revoke.run(grantId);
        destroy.run('Grant', grantId);
      },
      grantIdsOfAccount: (accountId) => (grantsOfAccount.all(accountId) as Row[]).map((r) => str(r.id)),
      grantIdsOfJkt: (jkt) => (grantsOfJkt.all(jkt) as Row[]).map((r) => str(r.grant_id)),
      sessionIdsOfAccount: (accountId) => (sessionsOfAccount.all(accountId) as Row[]).map((r) => str(r.id)),
      purgeExpired: (nowMs) => purge.run(nowMs).changes,
    };
  }

  #challengeRows(): ChallengeRows {
    const p = (sql: string) => this.#db.prepare(sql);
    const insert = p('INSERT INTO challenges (nonce, device_id, issued_at, expires_at, used_at) VALUES (@nonce, @deviceId, @issuedAtMs, @expiresAtMs, @usedAtMs)');
    const use = p('UPDATE challenges SET used_at = ? WHERE nonce = ? AND used_at IS NULL');
    const live = p('SELECT * FROM challenges WHERE expires_at > ? ORDER BY issued_at');
    const purge = p('DELETE FROM challenges WHERE expires_at <= ?');
    return {
      insert: (row) => {
        insert.run(row);
      },
      markUsed: (nonce, nowMs) => {
        use.run(nowMs, nonce);
      },
      live: (nowMs) =>
        (live.all(nowMs) as Row[]).map(
          (r): ChallengeRow => ({ nonce: str(r.nonce), deviceId: str(r.device_id), issuedAtMs: num(r.issued_at), expiresAtMs: num(r.expires_at), usedAtMs: numOrNull(r.used_at) }),
        ),
      purge: (nowMs) => purge.run(nowMs).changes,
    };
  }

  #eventLog(): EventLog {
    const p = (sql: string) => this.#db.prepare(sql);
    const append = p('INSERT INTO events (device_id, event, data, created_at, expires_at) VALUES (?, ?, ?, ?, ?)');
    const since = p(
      'SELECT id, event, data FROM events WHERE id > ? AND (device_id = ? OR device_id IS NULL) AND (expires_at IS NULL OR expires_at > ?) ORDER BY id',
    );
    // sqlite_sequence keeps AUTOINCREMENT's high-water mark even when every row was pruned.
    const lastId = p("SELECT seq FROM sqlite_sequence WHERE name = 'events'");
    const watermark = p("SELECT MAX(pruned_through) AS w FROM event_watermarks WHERE scope IN (?, '*')");
    const setWatermark = p(
      'INSERT INTO event_watermarks (scope, pruned_through) VALUES (?, ?) ON CONFLICT (scope) DO UPDATE SET pruned_through = MAX(pruned_through, excluded.pruned_through)',
    );
    const nthNewest = p('SELECT id FROM events WHERE device_id IS ? ORDER BY id DESC LIMIT 1 OFFSET ?');
    const trim = p('DELETE FROM events WHERE device_id IS ? AND id <= ?');
    const oldPerScope = p("SELECT COALESCE(device_id, '*') AS scope, MAX(id) AS id FROM events WHERE created_at < ? GROUP BY device_id");
    const purge = p('DELETE FROM events WHERE created_at < ?');
    const scope = (deviceId: string | null): string => deviceId ?? '*';
    return {
      append: (deviceId, event, data, nowMs, expiresAtMs) => Number(append.run(deviceId, event, data, nowMs, expiresAtMs).lastInsertRowid),
      since: (deviceId, afterId, nowMs) => (since.all(afterId, deviceId, nowMs) as Row[]).map((r) => ({ id: num(r.id), event: str(r.event), data: str(r.data) })),
      lastId: () => num((lastId.get() as Row | undefined)?.seq ?? 0),
      watermark: (deviceId) => num((watermark.get(deviceId) as Row | undefined)?.w ?? 0),
      trim: (deviceId, keep) => {
        const row = nthNewest.get(deviceId, keep) as Row | undefined;
        if (!row) return;
        writeTransaction(this.#db, () => {
          trim.run(deviceId, row.id);
          setWatermark.run(scope(deviceId), row.id);
        })();
      },
      purgeBefore: (cutoffMs) =>
        writeTransaction(this.#db, () => {
          for (const r of oldPerScope.all(cutoffMs) as Row[]) setWatermark.run(str(r.scope), num(r.id));
          return purge.run(cutoffMs).changes;
        })(),
    };
  }

  /**
   * Take WAL checkpoints off this connection (and so off the event loop) onto a worker thread
   * with its own connection: see {@link WalCheckpointer}. Stop it before {@link close}, so that
   * this connection is the last one and SQLite checkpoints and removes the WAL as it closes.
   */
  checkpointInWorker(log: Logger, options?: WalCheckpointerOptions): WalCheckpointer {
    return new WalCheckpointer(this.#db, this.#file, log, options);
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
