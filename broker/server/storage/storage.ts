import type { JWK } from 'jose';

/**
 * The reference broker's storage, kept small so a fleet-scale backend (PostgreSQL) can implement
 * it later. Times are epoch milliseconds. Every method is synchronous on purpose: the embedded
 * SQLite backend is, and the broker's hot path (posture ingestion) stays free of awaits.
 */
export interface BrokerStorage {
  /** Small key/value records the broker owns (signing keys, cookie secrets). */
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;

  createEnrollmentToken(token: EnrollmentTokenRecord): void;
  listEnrollmentTokens(): EnrollmentTokenRecord[];
  /** Consume the token and add the device in one transaction. */
  enrollDevice(tokenHash: string, device: NewDevice, nowMs: number): EnrollResult;

  getDevice(id: string): DeviceRecord | undefined;
  getDeviceByJkt(jkt: string): DeviceRecord | undefined;
  listDevices(): DeviceWithVerdict[];
  revokeDevice(id: string, nowMs: number): DeviceRecord | undefined;
  /**
   * Pin a new key for a device in one transaction, only if `oldJkt` is still its pinned key (so two
   * concurrent rotations cannot both win); the old key moves to the device's key history.
   */
  rotateDeviceKey(deviceId: string, oldJkt: string, next: RotatedKey, nowMs: number): RotateKeyResult;
  /** A key that was pinned for a device and replaced by a rotation, or undefined. */
  retiredKey(jkt: string): RetiredKey | undefined;
  /** The device's replaced keys, most recent first. */
  keyHistory(deviceId: string): RetiredKey[];
  /** Remember which signed-in account last used this device key for tokens. */
  linkDeviceAccount(jkt: string, accountId: string): void;
  devicesOfAccount(accountId: string): DeviceRecord[];

  getVerdict(deviceId: string): VerdictRecord | undefined;
  /** Only what the next evaluation needs (the hot path skips parsing the stored claims). */
  getVerdictState(deviceId: string): Pick<VerdictRecord, 'isCompliant' | 'failingSince'> | undefined;
  /** Store an accepted report's verdict, the device's new `seq` and a history row, atomically. */
  saveVerdict(verdict: VerdictRecord): void;
  addHistory(entry: NewHistoryEntry): void;
  history(query: HistoryQuery): HistoryEntry[];
  /** Run several writes as one transaction (posture ingestion: verdict + seq + history). */
  transaction<T>(fn: () => T): T;

  savePolicy(document: unknown, nowMs: number): PolicyRecord;
  currentPolicy(): PolicyRecord | undefined;

  createCredential(cred: CredentialRecord & { tokenHash: string }): void;
  findCredential(tokenHash: string): CredentialRecord | undefined;
  countCredentials(role: CredentialRole): number;

  /** oidc-provider adapter rows (see oidc/adapter.ts). */
  oidc: OidcStore;

  close(): void;
}

export type CredentialRole = 'admin' | 'query';

export interface CredentialRecord {
  readonly id: string;
  readonly role: CredentialRole;
  readonly label: string;
  readonly createdAtMs: number;
  readonly revokedAtMs: number | null;
}

export interface EnrollmentTokenRecord {
  readonly id: string;
  readonly tokenHash: string;
  readonly label: string;
  readonly createdAtMs: number;
  readonly expiresAtMs: number;
  readonly usedAtMs: number | null;
  readonly deviceId: string | null;
}

export interface NewDevice {
  readonly id: string;
  readonly jkt: string;
  readonly publicJwk: JWK;
  readonly assurance: string;
  readonly name: string | null;
  readonly attributes: Record<string, unknown>;
}

export interface DeviceRecord extends NewDevice {
  readonly enrolledAtMs: number;
  readonly revokedAtMs: number | null;
  /** The highest report `seq` accepted so far (null before the first report). */
  readonly lastSeq: number | null;
  readonly accountId: string | null;
  readonly enrollmentTokenId: string | null;
  /** When the pinned key was last replaced by a rotation (null: the enrolled key). */
  readonly keyRotatedAtMs: number | null;
}

export interface RotatedKey {
  readonly jkt: string;
  readonly publicJwk: JWK;
  readonly assurance: string;
  /** Merged into the device's attributes (e.g. `keyStore`, `tpmAttributes` of the new key). */
  readonly attributes: Record<string, unknown>;
}

export interface RetiredKey {
  readonly jkt: string;
  readonly deviceId: string;
  readonly assurance: string;
  readonly pinnedAtMs: number;
  readonly retiredAtMs: number;
}

export type RotateKeyResult =
  | { ok: true; device: DeviceRecord; previous: DeviceRecord }
  | { ok: false; reason: 'unknown-device' | 'device-revoked' | 'key-changed' | 'key-already-used' };

export type EnrollResult =
  | { ok: true; device: DeviceRecord; token: EnrollmentTokenRecord }
  | { ok: false; reason: 'token-unknown' | 'token-expired' | 'token-used' | 'key-already-enrolled' };

/** The policy decision (`evaluatePolicy`): `allow`, `warn` (failing warn rules or block rules in grace) or `deny`. */
export type ComplianceStatus = 'allow' | 'warn' | 'deny';

export interface VerdictRecord {
  readonly deviceId: string;
  readonly status: ComplianceStatus;
  /** What access decisions use: false only for `deny` (never in report-only mode). */
  readonly isCompliant: boolean;
  readonly seq: number;
  /** The report's own `iat`, in ms. */
  readonly reportedAtMs: number;
  readonly verifiedAtMs: number;
  readonly policyVersion: number | null;
  readonly reportOnly: boolean;
  /** The verified report claims (EAT + Ward posture claims). */
  readonly claims: Record<string, unknown>;
  /** The policy evaluation, rule by rule. */
  readonly evaluation: unknown;
  /** For each failing `block` rule, when it started failing (ms) — the grace period counts from there. */
  readonly failingSince: Record<string, number>;
  /** Set when the report answered a broker challenge. */
  readonly nonce: string | null;
}

export interface NewHistoryEntry {
  readonly deviceId: string;
  readonly atMs: number;
  readonly outcome: 'accepted' | 'refused';
  readonly seq: number | null;
  readonly status: ComplianceStatus | null;
  /** The SDK's reason for a refusal, or null. */
  readonly reason: string | null;
  /** The failing rules (id, severity, expected, actual) for an accepted report. */
  readonly failures: unknown[];
}

export interface HistoryEntry extends NewHistoryEntry {
  readonly id: number;
}

export interface HistoryQuery {
  readonly deviceId?: string;
  readonly onlyFailures?: boolean;
  readonly sinceMs?: number;
  readonly limit: number;
}

export interface PolicyRecord {
  readonly version: number;
  readonly document: unknown;
  readonly createdAtMs: number;
}

export interface DeviceWithVerdict {
  readonly device: DeviceRecord;
  readonly verdict: VerdictRecord | undefined;
}

export interface OidcRow {
  readonly payload: Record<string, unknown>;
  readonly expiresAtMs: number | null;
}

export interface OidcStore {
  upsert(model: string, id: string, payload: Record<string, unknown>, expiresAtMs: number | null): void;
  find(model: string, id: string, nowMs: number): Record<string, unknown> | undefined;
  findBy(model: string, field: 'userCode' | 'uid', value: string, nowMs: number): Record<string, unknown> | undefined;
  consume(model: string, id: string, nowMs: number): void;
  destroy(model: string, id: string): void;
  revokeByGrantId(grantId: string): void;
  /** Grant ids of every grant of an account (to revoke a user's sessions). */
  grantIdsOfAccount(accountId: string): string[];
  /** Grant ids of tokens bound (DPoP `jkt`) to a device key. */
  grantIdsOfJkt(jkt: string): string[];
  /** Session ids of an account's browser sessions. */
  sessionIdsOfAccount(accountId: string): string[];
  purgeExpired(nowMs: number): number;
}
