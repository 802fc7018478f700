/**
 * Schema migrations, applied in order inside one transaction each; `PRAGMA user_version` records
 * the last one applied. Never edit a released migration: add the next one.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

  CREATE TABLE credentials (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'query')),
    label TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
  );

  CREATE TABLE enrollment_tokens (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    device_id TEXT
  );

  CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    jkt TEXT NOT NULL UNIQUE,
    public_jwk TEXT NOT NULL,
    assurance TEXT NOT NULL,
    name TEXT,
    attributes TEXT NOT NULL DEFAULT '{}',
    enrolled_at INTEGER NOT NULL,
    revoked_at INTEGER,
    last_seq INTEGER,
    account_id TEXT,
    enrollment_token_id TEXT
  );
  CREATE INDEX devices_account ON devices (account_id);

  CREATE TABLE verdicts (
    device_id TEXT PRIMARY KEY REFERENCES devices (id),
    status TEXT NOT NULL,
    is_compliant INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    reported_at INTEGER NOT NULL,
    verified_at INTEGER NOT NULL,
    policy_version INTEGER,
    report_only INTEGER NOT NULL,
    claims TEXT NOT NULL,
    evaluation TEXT NOT NULL,
    failing_since TEXT NOT NULL,
    nonce TEXT
  );

  CREATE TABLE posture_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'refused')),
    seq INTEGER,
    status TEXT,
    reason TEXT,
    failures TEXT NOT NULL,
    has_failures INTEGER NOT NULL
  );
  CREATE INDEX posture_history_device ON posture_history (device_id, id);
  CREATE INDEX posture_history_failures ON posture_history (has_failures, id);

  CREATE TABLE policies (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    document TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );

  CREATE TABLE oidc (
    model TEXT NOT NULL,
    id TEXT NOT NULL,
    payload TEXT NOT NULL,
    expires_at INTEGER,
    consumed_at INTEGER,
    grant_id TEXT,
    user_code TEXT,
    uid TEXT,
    account_id TEXT,
    jkt TEXT,
    PRIMARY KEY (model, id)
  );
  CREATE INDEX oidc_grant ON oidc (grant_id);
  CREATE INDEX oidc_user_code ON oidc (model, user_code);
  CREATE INDEX oidc_uid ON oidc (model, uid);
  CREATE INDEX oidc_account ON oidc (model, account_id);
  CREATE INDEX oidc_jkt ON oidc (jkt);
  CREATE INDEX oidc_expires ON oidc (expires_at);
  `,
  // 2: device key rotation (POST /rotate). Retired keys are kept so a report or proof signed by a
  // replaced key is refused as `foreign-key` rather than `unknown-device`, and so a retired key
  // can never be enrolled or rotated to again.
  `
  ALTER TABLE devices ADD COLUMN key_rotated_at INTEGER;
  CREATE TABLE device_key_history (
    jkt TEXT PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices (id),
    public_jwk TEXT NOT NULL,
    assurance TEXT NOT NULL,
    pinned_at INTEGER NOT NULL,
    retired_at INTEGER NOT NULL
  );
  CREATE INDEX device_key_history_device ON device_key_history (device_id, retired_at);
  `,
  // 3: durable challenges, the event channel's log (SSE ids for Last-Event-ID replay) and the
  // RFC 8935 push queue, so that none of them is lost when the broker restarts.
  `
  CREATE TABLE challenges (
    nonce TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
  );
  CREATE INDEX challenges_expires ON challenges (expires_at);

  -- device_id NULL: an event for every device (policy changes).
  CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT,
    event TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
  );
  CREATE INDEX events_device ON events (device_id, id);
  -- The highest event id pruned per device ('*': broadcast events): a Last-Event-ID below it
  -- means the agent missed events that are gone, so it is told to re-read its state.
  CREATE TABLE event_watermarks (scope TEXT PRIMARY KEY, pruned_through INTEGER NOT NULL);

  CREATE TABLE push_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    receiver TEXT NOT NULL,
    type TEXT NOT NULL,
    set_jwt TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL
  );
  `,
  // 4: SETs a device transmitted about itself (RFC 8935 push to /ssf/events). A separate table on
  // purpose: these are the device's claims, never the broker's verdict (that is `verdicts`).
  `
  CREATE TABLE device_claims (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL REFERENCES devices (id),
    jti TEXT NOT NULL,
    event_type TEXT NOT NULL,
    event TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    set_jwt TEXT NOT NULL,
    UNIQUE (device_id, jti)
  );
  `,
  // 5: each device's RFC 8936 poll queue (POST /ssf/poll): SETs the device has not acknowledged
  // yet survive a broker restart.
  `
  CREATE TABLE device_set_queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    set_jwt TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (device_id, jti)
  );
  CREATE INDEX device_set_queue_created ON device_set_queue (created_at);
  `,
  // 6: pending EK credential-activation challenges (POST /enroll/ek-challenge), so a broker
  // restart between the challenge and the enrollment loses none, and a used one stays used.
  // Only a hash of each credential's secret is kept.
  `
  CREATE TABLE ek_challenges (
    id TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    ak_name TEXT NOT NULL,
    issuer TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
  );
  CREATE INDEX ek_challenges_expires ON ek_challenges (expires_at);
  CREATE INDEX ek_challenges_created ON ek_challenges (created_at);
  `,
  // 7: nothing the broker meant to send is lost. `push_dead_letters`: SETs the push receiver
  // refused for good or that ran out of attempts, kept (bounded) until an admin resends or drops
  // them; `queue_id` is the SET's place in `push_queue`, where a resend puts it back. `set_outbox`:
  // a SET to emit, written in the same transaction as the state change it reports (a compliance
  // change with its verdict), removed once the SET is logged and queued, re-emitted at startup.
  `
  CREATE TABLE push_dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_id INTEGER NOT NULL,
    receiver TEXT NOT NULL,
    type TEXT NOT NULL,
    set_jwt TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    dead_at INTEGER NOT NULL
  );
  CREATE TABLE set_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    subject TEXT NOT NULL,
    event TEXT NOT NULL,
    device_id TEXT,
    txn TEXT,
    created_at INTEGER NOT NULL
  );
  `,
  // 8: sign-in throttling (login-throttle.ts). `login_throttle`: one row per account (`user:` +
  // an HMAC of the typed username, known or not, so no row reveals who exists or stores a
  // password typed into the username field) and per client address (`ip:` + IPv4 or IPv6 /64):
  // consecutive failures, the last one, the lock and the hard lock an admin must lift.
  // `totp_last_step`: the last TOTP time step each user signed in with, so a code works once.
  `
  CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_failure_at INTEGER NOT NULL,
    locked_until INTEGER NOT NULL DEFAULT 0,
    hard_locked INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX login_throttle_last_failure ON login_throttle (last_failure_at);
  CREATE TABLE totp_last_step (
    username TEXT PRIMARY KEY,
    step INTEGER NOT NULL,
    used_at INTEGER NOT NULL
  );
  `,
  // 9: a device's posture documents are written when they change, not with every report. Most
  // reports re-attest the posture of the one before (the same `submods`) and get the same rule
  // results, and those two were 8 KB of the latest-verdict row: rewritten whole, overflow pages
  // and all, at every report. `verdict_documents` keeps the latest of each per device; the verdict
  // row keeps the rest of the claims and of the evaluation and names the documents by SHA-256.
  // Rows written before this keep the whole claims/evaluation (their digests are NULL).
  // `devices.last_seq` is no longer written per report either: the verdict row's `seq` is the
  // device's last accepted seq, and readers take the larger of the two.
  `
  CREATE TABLE verdict_documents (
    device_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('submods', 'results')),
    digest TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (device_id, kind)
  );
  ALTER TABLE verdicts ADD COLUMN submods_digest TEXT;
  ALTER TABLE verdicts ADD COLUMN results_digest TEXT;
  `,
];
