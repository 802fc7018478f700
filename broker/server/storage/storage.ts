import type { JWK } from 'jose';
import type { SetQueueStore } from '../../sdk/index.js';
import type { LoginThrottleStore } from './login-throttle-store.js';

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
  getVerdictState(deviceId: string): VerdictState | undefined;
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
  /** Challenges issued by `POST /devices/{id}/challenge`, used or not, until they expire. */
  challenges: ChallengeRows;
  /** What went down the agents' event channels, with the SSE ids `Last-Event-ID` refers to. */
  events: EventLog;
  /** SETs waiting for the RFC 8935 push receiver, oldest first, and those it gave up on. */
  pushQueue: PushQueueStore;
  /** SETs staged with the change they report, until they are logged and queued. */
  setOutbox: SetOutboxStore;
  /** SETs devices transmitted about themselves: their claims, not the broker's verdict. */
  deviceClaims: DeviceClaimStore;
  /** Each device's RFC 8936 poll queue: SETs addressed to it and not yet acknowledged. */
  deviceSetQueue: DeviceSetQueueStore;
  /** Pending EK credential-activation challenges (`POST /enroll/ek-challenge`), until they expire. */
  ekChallenges: EkChallengeRows;
  /** Failed sign-in counters and locks, and each user's last TOTP step (login-throttle.ts). */
  loginThrottle: LoginThrottleStore;

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
  /**
   * `evaluation.results` as JSON, when the writer already serialised it (the broker's answer to
   * the device carries the same text): saves serialising it twice. Never read back.
   */
  readonly resultsJson?: string;
  /** SHA-256 (base64url) of {@link resultsJson}, when the writer computed it. Never read back. */
  readonly resultsDigest?: string;
}

/**
 * What the broker needs of a device's latest verdict to evaluate and record the next report:
 * grace periods, compliance changes, and whether the verdict changed at all (history).
 */
export interface VerdictState extends Pick<VerdictRecord, 'isCompliant' | 'failingSince' | 'status' | 'policyVersion' | 'reportOnly'> {
  /** SHA-256 (base64url) of the latest results as stored (migration 9); null for older rows. */
  readonly resultsDigest: string | null;
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

export interface ChallengeRow {
  readonly nonce: string;
  readonly deviceId: string;
  readonly issuedAtMs: number;
  readonly expiresAtMs: number;
  /** When it was answered (or a report tried to use it); null while outstanding. */
  readonly usedAtMs: number | null;
}

export interface ChallengeRows {
  insert(row: ChallengeRow): void;
  markUsed(nonce: string, nowMs: number): void;
  /** Every challenge not yet expired at `nowMs` (used ones too, so a reuse is still a replay). */
  live(nowMs: number): ChallengeRow[];
  /** Delete challenges that expired before `nowMs`; returns how many. */
  purge(nowMs: number): number;
}

export interface LoggedEvent {
  readonly id: number;
  readonly event: string;
  readonly data: string;
}

export interface EventLog {
  /** Append an event for one device (`null`: for every device); returns its id. */
  append(deviceId: string | null, event: string, data: string, nowMs: number, expiresAtMs: number | null): number;
  /** The device's (and broadcast) events after `afterId`, oldest first, skipping expired ones. */
  since(deviceId: string, afterId: number, nowMs: number): LoggedEvent[];
  /** The highest id ever handed out (0 when none). */
  lastId(): number;
  /** The highest id pruned that the device could have received (its own or a broadcast). */
  watermark(deviceId: string): number;
  /** Keep only the newest `keep` events of one device (`null`: broadcast events). */
  trim(deviceId: string | null, keep: number): void;
  /** Drop events created before `cutoffMs`; returns how many. */
  purgeBefore(cutoffMs: number): number;
}

export interface QueuedSet {
  readonly id: number;
  readonly receiver: string;
  readonly type: string;
  readonly setJwt: string;
  readonly createdAtMs: number;
  readonly attempts: number;
  readonly nextAttemptAtMs: number;
}

/** Why a queued SET was given up: the receiver's last answer, never our credentials. */
export interface PushFailure {
  /** The last HTTP status (null: the receiver could not be reached or did not answer). */
  readonly lastStatus: number | null;
  /** The receiver's `err` code and description, or ours (`network`, `queue-full`, …). */
  readonly lastError: string;
}

/** A SET the push delivery gave up on, kept until an admin resends or drops it. */
export interface DeadLetter extends PushFailure {
  readonly id: number;
  /** Its id in the push queue: a resend puts it back at that place, ahead of later SETs. */
  readonly queueId: number;
  readonly receiver: string;
  readonly type: string;
  readonly setJwt: string;
  /** When it was first queued. */
  readonly createdAtMs: number;
  readonly attempts: number;
  readonly deadAtMs: number;
}

/** Bounds of the push queue and its dead letters; beyond them the oldest go (and are counted). */
export interface PushLimits {
  readonly maxQueued: number;
  readonly maxDeadLetters: number;
}

export interface PushQueueStore {
  /**
   * Queue a SET; when the queue already holds `maxQueued`, the oldest become dead letters
   * (`queue-full`), and beyond `maxDeadLetters` the oldest dead letters are dropped.
   */
  enqueue(receiver: string, type: string, setJwt: string, nowMs: number, limits: PushLimits): { id: number; deadLettered: number; dropped: number };
  /** The oldest queued SET for this receiver. */
  head(receiver: string): QueuedSet | undefined;
  recordAttempt(id: number, attempts: number, nextAttemptAtMs: number): void;
  remove(id: number): void;
  /** Move SETs queued for another receiver URL (their audience is that URL) to the dead letters. */
  deadLetterOtherReceivers(receiver: string, nowMs: number, maxDeadLetters: number): { deadLettered: number; dropped: number };
  size(): number;
  /** Move a queued SET to the dead letters, in one transaction; beyond `maxDeadLetters` the oldest are dropped. */
  deadLetter(id: number, attempts: number, failure: PushFailure, nowMs: number, maxDeadLetters: number): { dropped: number };
  /** Dead letters, oldest first. */
  deadLetters(limit: number): DeadLetter[];
  deadLetterCount(): number;
  getDeadLetter(id: number): DeadLetter | undefined;
  /**
   * Put dead letters back in the queue, each at its old place (so in their original order, ahead
   * of SETs queued after them), due now with no attempts; in one transaction. Returns the ids moved.
   */
  resend(ids: readonly number[], nowMs: number): number[];
  /** Delete a dead letter for good; false when there is none with that id. */
  dropDeadLetter(id: number): boolean;
}

/** A SET to emit, written in the same transaction as the state change it reports. */
export interface StagedSet {
  readonly id: number;
  /** The CAEP event short name. */
  readonly type: string;
  readonly subject: unknown;
  readonly event: unknown;
  /** Also sent down this device's event channel and poll queue (null: the push receiver only). */
  readonly deviceId: string | null;
  readonly txn: string | null;
  /** When the change happened: the SET's `iat`. */
  readonly createdAtMs: number;
}

export interface SetOutboxStore {
  add(set: Omit<StagedSet, 'id'>): number;
  /** Every staged SET, oldest first (those the broker had not emitted when it stopped). */
  pending(): StagedSet[];
  remove(id: number): void;
}

/** A verified SET a device pushed about itself (RFC 8935, `POST /ssf/events`). */
export interface NewDeviceClaim {
  readonly deviceId: string;
  readonly jti: string;
  /** The CAEP event short name, e.g. `device-compliance-change`. */
  readonly eventType: string;
  /** The verified event payload. */
  readonly event: Record<string, unknown>;
  /** The SET's `iat`, in ms. */
  readonly issuedAtMs: number;
  readonly receivedAtMs: number;
  /** The SET as received (its signature is the device's). */
  readonly setJwt: string;
}

export interface DeviceClaimRecord extends NewDeviceClaim {
  readonly id: number;
}

export interface DeviceClaimStore {
  /**
   * Record a claim once per (device, jti): `duplicate` when the same SET was recorded before (a
   * redelivery), `conflict` when another SET already used that jti.
   */
  add(claim: NewDeviceClaim): 'added' | 'duplicate' | 'conflict';
  /** A device's claims, newest first. */
  list(deviceId: string, limit: number): DeviceClaimRecord[];
}

export interface DeviceSetQueueStore {
  /** One device's queue, as the SDK's `MemorySetQueue` stores it (oldest first, keyed by jti). */
  forDevice(deviceId: string): SetQueueStore;
  /** Drop SETs queued before `cutoffMs`, whatever the device; returns how many. */
  purgeBefore(cutoffMs: number): number;
}

/** A credential made for an attestation key by `POST /enroll/ek-challenge` (ek-activation.ts). */
export interface EkChallengeRow {
  readonly id: string;
  /** SHA-256 of the credential's secret, base64url: the secret itself is never stored. */
  readonly secretSha256: string;
  /** The AK's TPM name, hex: the only key the challenge can vouch for. */
  readonly akName: string;
  /** Issuer of the verified EK certificate. */
  readonly issuer: string;
  readonly createdAtMs: number;
  readonly expiresAtMs: number;
}

export interface EkChallengeRows {
  /** Add a challenge, first dropping expired ones and, beyond `maxRows`, the oldest. */
  insert(row: EkChallengeRow, maxRows: number): void;
  /**
   * Mark a challenge used, atomically, if it exists, is unused and has not expired at `nowMs`;
   * returns it then, else undefined. A used row stays (used) until it expires.
   */
  spend(id: string, nowMs: number): EkChallengeRow | undefined;
  /** Delete challenges that expired at or before `nowMs`; returns how many. */
  purge(nowMs: number): number;
}
