import { hash, randomUUID } from 'node:crypto';
import type { Logger } from '../../main/core/log.js';
import { evaluatePolicy, type PolicyEvaluation } from '../../main/core/policy/evaluate.js';
import { parsePolicy, type Policy } from '../../main/core/policy/schema.js';
import { postureViewFromReport, signPolicyBundle, verifyEnrollment, verifyKeyRotation, verifyPostureReport, type SubjectId } from '../sdk/index.js';
import type { z } from 'zod';
import type { KeyAttestation } from '../sdk/enrollment.js';
import { DurableChallenges } from './durable-challenges.js';
import { EkActivation, type EkChallengeBody } from './ek-activation.js';
import type { BrokerConfig } from './config.js';
import { BrokerError } from './errors.js';
import type { EventHub } from './events.js';
import { GroupCommit } from './group-commit.js';
import { hashSecret, newSecret, type BrokerKeys } from './keys.js';
import type { SignalEmitter, StagedEmit } from './signals.js';
import type { BrokerStorage, CredentialRecord, CredentialRole, DeviceRecord, HistoryEntry, VerdictRecord, VerdictState } from './storage/storage.js';

const EMPTY_POLICY: Policy = { schemaVersion: 1, reportOnly: false, rules: [] };
/** `previous` when it has exactly `next`'s entries (keep the older, likely promoted, object), else `next`. */
function sameOrNew(previous: Record<string, number> | undefined, next: Record<string, number>): Record<string, number> {
  if (previous === undefined) return next;
  const keys = Object.keys(next);
  if (keys.length !== Object.keys(previous).length) return next;
  for (const k of keys) if (previous[k] !== next[k]) return next;
  return previous;
}

/** A cache entry updated in place (see `ingest`). */
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Minimum spacing of posture group commits while writes keep arriving (see `GroupCommit`). */
const COMMIT_INTERVAL_MS = 2;
/** Most posture writes one group commit waits to gather (see `GroupCommit`). */
const COMMIT_BATCH_MAX = 16;
const MAX_DEVICE_NAME = 200;
/** How the device key is vouched for, weakest first (docs/broker-sdk.md, "TPM key attestation"). */
const KEY_ATTESTATIONS = ['uncertified', 'tpm-certified', 'ek-attested'] as const;

/** What the broker verified about the device key: kept in the device's attributes and told to the agent. */
export interface DeviceKeyAttestation {
  readonly keyAttestation: (typeof KEY_ATTESTATIONS)[number];
  /** The TPM name (hex) of the attestation key that certified the key. */
  readonly attestationKeyName: string | null;
  /** Issuer of the EK certificate the attestation key was activated against (`ek-attested`). */
  readonly ekIssuer: string | null;
}

export interface CoreDeps {
  readonly storage: BrokerStorage;
  readonly hub: EventHub;
  readonly keys: BrokerKeys;
  readonly config: BrokerConfig;
  readonly issuer: string;
  readonly signals: SignalEmitter;
  readonly log: Logger;
  readonly now: () => number;
}

export interface CreatedEnrollmentToken {
  readonly id: string;
  /** The secret to hand to the device's user; shown once, stored only as a hash. */
  readonly token: string;
  readonly label: string;
  readonly expiresAt: string;
}

export interface EnrollmentAnswer extends DeviceKeyAttestation {
  readonly deviceId: string;
  /** The broker's public keys (JWKS) that sign policy bundles and SETs: agents pin them. */
  readonly brokerKeys: { keys: unknown[] };
  readonly issuer: string;
  readonly clientId: string;
  readonly thumbprint: string;
  /** The current signed policy bundle, when a policy is set. */
  readonly policyBundle?: string;
}

export interface IngestResult {
  readonly deviceId: string;
  readonly seq: number;
  readonly decision: VerdictRecord['status'];
  readonly compliant: boolean;
  readonly reportOnly: boolean;
  readonly policyVersion: number | null;
  readonly evaluation: PolicyEvaluation;
  /** `evaluation.results` as JSON (the same text is stored with the verdict). */
  readonly resultsJson: string;
}

interface Waiter {
  readonly resolve: (result: IngestResult) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * What the reference broker does, independent of HTTP: enrollment, posture ingestion with the
 * SDK's verifier and the shared policy evaluator, challenges, policy bundles, revocation and the
 * admin/query views. The HTTP layer (`http-api.ts`) and the in-process admin object call this.
 */
export class BrokerCore {
  /** Outstanding and answered challenges, durable across restarts (used nonces stay used). */
  readonly #challenges: DurableChallenges;
  readonly #ek: EkActivation;
  readonly #waiters = new Map<string, Waiter>();
  readonly #channelClosers: ((deviceId: string, reason: string) => void)[] = [];
  /**
   * Enrolled devices by key thumbprint, as last read or written by this process (the only writer:
   * the admin CLI goes through the HTTP API). Misses are not cached, so unknown keys cost a lookup.
   */
  readonly #devicesByJkt = new Map<string, DeviceRecord>();
  /** Latest verdict state per device, written synchronously so a report that arrives before the previous one is committed still sees it. */
  readonly #verdictState = new Map<string, VerdictState>();
  /** Posture writes: verdicts, history, used nonces, staged SETs (see `#persist`). */
  readonly #commits: GroupCommit;
  /** `null`: loaded, and no policy is set (so the hot path does not ask storage each time). */
  #policyCache: { version: number; policy: Policy } | null | undefined;
  #bundleCache: { version: number; bundle: string; refreshAtMs: number } | undefined;

  constructor(private readonly d: CoreDeps) {
    this.#commits = new GroupCommit({
      intervalMs: COMMIT_INTERVAL_MS,
      maxBatch: COMMIT_BATCH_MAX,
      commit: (writes) =>
        this.d.storage.transaction(() => {
          for (const write of writes) write();
        }),
      failed: (err, writes) => {
        // The in-memory caches may now be ahead of storage: drop them, storage is the truth.
        this.#devicesByJkt.clear();
        this.#verdictState.clear();
        this.d.log.error({ err: err instanceof Error ? err.message : String(err), writes }, 'posture write failed');
        return new BrokerError('storage-failed', 'The broker could not store the report; send it again.', { cause: err });
      },
    });
    this.#challenges = new DurableChallenges(d.storage.challenges, d.now);
    this.#ek = EkActivation.fromPems(d.config.tpmEkCaCertificates, d.storage.ekChallenges, d.now);
  }

  // ---- credentials -------------------------------------------------------------------------

  createCredential(role: CredentialRole, label: string): { id: string; token: string; role: CredentialRole } {
    const token = newSecret(role === 'admin' ? 'wba' : 'wbq');
    const id = randomUUID();
    this.d.storage.createCredential({ id, role, label, createdAtMs: this.d.now(), revokedAtMs: null, tokenHash: hashSecret(token) });
    return { id, token, role };
  }

  /** Make sure a given admin secret is accepted (in-process brokers, tests). */
  ensureCredential(role: CredentialRole, token: string, label: string): void {
    if (!this.d.storage.findCredential(hashSecret(token))) {
      this.d.storage.createCredential({ id: randomUUID(), role, label, createdAtMs: this.d.now(), revokedAtMs: null, tokenHash: hashSecret(token) });
    }
  }

  authenticate(token: string | undefined, allowed: readonly CredentialRole[]): CredentialRecord {
    if (!token) throw new BrokerError('unauthorized', 'This endpoint needs a bearer credential (ward-broker credentials create).');
    const cred = this.d.storage.findCredential(hashSecret(token));
    if (!cred) throw new BrokerError('unauthorized', 'The bearer credential is not valid.');
    if (!allowed.includes(cred.role)) throw new BrokerError('forbidden', `A ${cred.role} credential cannot use this endpoint.`);
    return cred;
  }

  // ---- enrollment ----------------------------------------------------------------------------

  createEnrollmentToken(options: { label?: string; ttlSeconds?: number } = {}): CreatedEnrollmentToken {
    const token = newSecret('wet');
    const id = randomUUID();
    const now = this.d.now();
    const ttl = options.ttlSeconds ?? this.d.config.enrollmentTokenTtlSeconds;
    const label = options.label ?? '';
    this.d.storage.createEnrollmentToken({ id, tokenHash: hashSecret(token), label, createdAtMs: now, expiresAtMs: now + ttl * 1000, usedAtMs: null, deviceId: null });
    this.d.log.info({ tokenId: id, ttlSeconds: ttl }, 'enrollment token created');
    return { id, token, label, expiresAt: new Date(now + ttl * 1000).toISOString() };
  }

  async enroll(request: string, enrollmentToken: string | undefined): Promise<EnrollmentAnswer> {
    // The request names this broker's enrollment endpoint (docs/identity.md): a request made for
    // another broker cannot be replayed here.
    const verdict = verifyEnrollment(request, { now: new Date(this.d.now()), maxAgeSeconds: 300, audience: new URL('/enroll', this.d.issuer).href });
    if (!verdict.ok) {
      throw new BrokerError('enrollment-invalid', `The enrollment request was refused: ${verdict.detail}.`, { reason: verdict.reason });
    }
    const { claims, thumbprint, publicJwk } = verdict.enrollment;
    if (claims.jkt !== undefined && claims.jkt !== thumbprint) {
      throw new BrokerError('enrollment-invalid', 'The jkt claim is not the thumbprint of the signing key.', { reason: 'invalid-key' });
    }
    const claimToken = claims.enrollment_token;
    if (enrollmentToken !== undefined && claimToken !== undefined && enrollmentToken !== claimToken) {
      throw new BrokerError('enrollment-invalid', 'The enrollment token in the request body and in the signed request differ.', { reason: 'token-mismatch' });
    }
    const token = claimToken ?? enrollmentToken;
    if (!token) throw new BrokerError('enrollment-token-invalid', 'An enrollment token is needed: ask IT for one (ward-broker token create).', { reason: 'token-missing' });
    const name = claims.device?.hostname?.slice(0, MAX_DEVICE_NAME) || null;
    // `tpm-certified`: the SDK verified a TPM2_Certify of this key by the device's AK;
    // `ek-attested`: and that AK passed credential activation against a trusted EK certificate.
    const keyAttestation = this.#keyAttestationAttributes(verdict.enrollment.keyAttestation, (claims as Record<string, unknown>).tpm_ek_activation);
    const attributes: Record<string, unknown> = {
      ...(claims.key_store ? { keyStore: claims.key_store } : {}),
      ...(claims.device ? { os: claims.device.os, agentVersion: claims.device.agentVersion } : {}),
      ...(claims.tpm ? { tpmAttributes: claims.tpm.attributes } : {}),
      ...keyAttestation,
    };
    const result = this.d.storage.enrollDevice(
      hashSecret(token),
      { id: randomUUID(), jkt: thumbprint, publicJwk, assurance: claims.assurance, name, attributes },
      this.d.now(),
    );
    if (!result.ok) {
      const messages = {
        'token-unknown': 'The enrollment token is not valid.',
        'token-expired': 'The enrollment token expired: ask IT for a new one.',
        'token-used': 'The enrollment token was already used: each token enrolls one device.',
        'key-already-enrolled': 'This device key is already enrolled.',
      } as const;
      throw new BrokerError(result.reason === 'key-already-enrolled' ? 'conflict' : 'enrollment-token-invalid', messages[result.reason], { reason: result.reason });
    }
    this.d.log.info({ deviceId: result.device.id, tokenId: result.token.id, assurance: result.device.assurance }, 'device enrolled');
    return this.#deviceAnswer(result.device.id, thumbprint, keyAttestation);
  }

  /** `POST /enroll/ek-challenge` (docs/broker-sdk.md): a credential for the AK, encrypted to the verified EK. */
  ekChallenge(body: z.infer<typeof EkChallengeBody>): { challengeId: string; credentialBlob: string; encryptedSecret: string } {
    return this.#ek.challenge(body);
  }

  #keyAttestationAttributes(attestation: KeyAttestation, ekClaim: unknown): DeviceKeyAttestation {
    if (attestation.status !== 'tpm-certified') {
      if (ekClaim !== undefined) throw new BrokerError('enrollment-invalid', 'An EK activation needs a verified TPM2_Certify of the key.', { reason: 'ek-activation-mismatch' });
      return { keyAttestation: 'uncertified', attestationKeyName: null, ekIssuer: null };
    }
    const ek = ekClaim === undefined ? undefined : this.#ek.redeem(ekClaim, attestation.akName);
    return { keyAttestation: ek ? 'ek-attested' : 'tpm-certified', attestationKeyName: attestation.akName, ekIssuer: ek ? ek.issuer : null };
  }

  /**
   * After a rotation (attributes are merged, so every field is set): a new key certified by the
   * same AK that was activated against the EK at enrollment stays `ek-attested`; certified by
   * another AK, `tpm-certified`; not certified, `uncertified`.
   */
  #rotatedKeyAttestation(deviceId: string, attestation: KeyAttestation): DeviceKeyAttestation {
    if (attestation.status !== 'tpm-certified') return { keyAttestation: 'uncertified', attestationKeyName: null, ekIssuer: null };
    const before = this.d.storage.getDevice(deviceId)?.attributes;
    const sameAk = before?.keyAttestation === 'ek-attested' && before.attestationKeyName === attestation.akName;
    const ekIssuer = sameAk && typeof before.ekIssuer === 'string' ? before.ekIssuer : null;
    return { keyAttestation: sameAk ? 'ek-attested' : 'tpm-certified', attestationKeyName: attestation.akName, ekIssuer };
  }

  /**
   * What /enroll and /rotate answer: the device id, the broker keys to pin, the current policy, and
   * what the broker verified about the key (so `ward identity` can say it).
   */
  async #deviceAnswer(deviceId: string, thumbprint: string, attestation: DeviceKeyAttestation): Promise<EnrollmentAnswer> {
    const bundle = await this.policyBundle().catch(() => undefined);
    return {
      deviceId,
      ...attestation,
      brokerKeys: this.d.keys.brokerJwks,
      issuer: this.d.issuer,
      clientId: 'ward-agent',
      thumbprint,
      ...(bundle ? { policyBundle: bundle.bundle } : {}),
    };
  }

  /**
   * Replace a device's pinned key (`POST /rotate`, docs/identity.md): the SDK verifies the request
   * (new-key signature, old-key proof by the pinned key, freshness, audience); storage swaps the
   * thumbprint atomically and keeps the old one in the key history. Then everything bound to the
   * old key is dropped: its cached lookup, the OIDC grants whose tokens carry `cnf.jkt` = old key
   * (access and refresh tokens), and the event channels it opened, after a CAEP
   * `credential-change` SET went down them.
   */
  async rotateKey(request: string): Promise<EnrollmentAnswer> {
    const nowMs = this.d.now();
    const verdict = verifyKeyRotation(request, {
      pinnedKey: (deviceId) => this.d.storage.getDevice(deviceId)?.publicJwk,
      audience: new URL('/rotate', this.d.issuer).href,
      maxAgeSeconds: 300,
      now: new Date(nowMs),
    });
    if (!verdict.ok) {
      if (verdict.reason === 'unknown-device') throw new BrokerError('unknown-device', 'This device is not enrolled with this broker.', { reason: 'unknown-device' });
      throw new BrokerError('rotation-invalid', `The key rotation request was refused: ${verdict.detail}.`, { reason: verdict.reason });
    }
    const { deviceId, claims, oldThumbprint, thumbprint, publicJwk } = verdict.rotation;
    const keyAttestation = this.#rotatedKeyAttestation(deviceId, verdict.rotation.keyAttestation);
    const attributes: Record<string, unknown> = {
      ...(claims.key_store ? { keyStore: claims.key_store } : {}),
      ...(claims.tpm ? { tpmAttributes: claims.tpm.attributes } : {}),
      ...keyAttestation,
    };
    const result = this.d.storage.rotateDeviceKey(deviceId, oldThumbprint, { jkt: thumbprint, publicJwk, assurance: claims.assurance, attributes }, nowMs);
    if (!result.ok) {
      const refusals = {
        'unknown-device': ['unknown-device', 'This device is not enrolled with this broker.'],
        'device-revoked': ['device-revoked', 'This device was revoked by an administrator: its key cannot be rotated.'],
        'key-changed': ['conflict', 'The device key changed while this request was checked; rotate again.'],
        'key-already-used': ['conflict', 'The new key is, or was, already pinned for a device: make a fresh key.'],
      } as const;
      const [code, message] = refusals[result.reason];
      throw new BrokerError(code, message, { reason: result.reason });
    }
    const device = result.device;
    this.#devicesByJkt.delete(oldThumbprint);
    this.#cacheDevice(device);
    const oidc = this.d.storage.oidc;
    const grants = oidc.grantIdsOfJkt(oldThumbprint);
    for (const grantId of grants) oidc.revokeByGrantId(grantId);
    this.d.log.info({ deviceId, assurance: device.assurance, previousAssurance: result.previous.assurance, grantsRevoked: grants.length }, 'device key rotated');
    await this.d.signals
      .emit(
        'credential-change',
        this.#deviceSubject(device),
        {
          credential_type: 'device-key',
          change_type: 'update',
          friendly_name: `device key ${thumbprint}`,
          initiating_entity: 'user',
          reason_admin: { en: `device key rotated (assurance ${device.assurance}); tokens bound to the previous key were revoked` },
        },
        { deviceId },
      )
      .catch((err: unknown) => this.d.log.error({ err, deviceId }, 'could not emit credential-change'));
    // Channels opened with the old key's DPoP proof end: the agent reconnects with the new key.
    this.#endChannels(deviceId, 'key-rotated');
    return this.#deviceAnswer(deviceId, thumbprint, keyAttestation);
  }

  listEnrollmentTokens(): Record<string, unknown>[] {
    return this.d.storage.listEnrollmentTokens().map((t) => ({
      id: t.id,
      label: t.label,
      createdAt: new Date(t.createdAtMs).toISOString(),
      expiresAt: new Date(t.expiresAtMs).toISOString(),
      usedAt: t.usedAtMs === null ? null : new Date(t.usedAtMs).toISOString(),
      deviceId: t.deviceId,
    }));
  }

  brokerJwks(): { keys: unknown[] } {
    return this.d.keys.brokerJwks;
  }

  // ---- devices -------------------------------------------------------------------------------

  /** The enrolled, unrevoked device holding this key, or a typed refusal. */
  deviceForKey(jkt: string): DeviceRecord {
    let device = this.#devicesByJkt.get(jkt);
    if (!device) {
      device = this.d.storage.getDeviceByJkt(jkt);
      if (device) this.#cacheDevice(device);
    }
    if (!device) {
      if (this.d.storage.retiredKey(jkt)) {
        throw new BrokerError('unknown-device', 'This device key was replaced by a key rotation: sign with the current device key.', { reason: 'foreign-key' });
      }
      throw new BrokerError('unknown-device', 'This device key is not enrolled with this broker.', { reason: 'unknown-device' });
    }
    if (device.revokedAtMs !== null) throw new BrokerError('device-revoked', 'This device was revoked by an administrator.', { reason: 'device-revoked' });
    return device;
  }

  #cacheDevice(device: DeviceRecord): void {
    if (this.#devicesByJkt.size >= 100_000) this.#devicesByJkt.clear();
    this.#devicesByJkt.set(device.jkt, device);
  }

  requireDevice(id: string): DeviceRecord {
    const device = this.d.storage.getDevice(id);
    if (!device) throw new BrokerError('not-found', `No device ${id}.`);
    return device;
  }

  async revokeDevice(id: string, reason = 'revoked by an administrator'): Promise<DeviceRecord> {
    const before = this.requireDevice(id);
    const device = this.d.storage.revokeDevice(id, this.d.now()) ?? before;
    this.#devicesByJkt.set(device.jkt, device);
    for (const grantId of this.d.storage.oidc.grantIdsOfJkt(device.jkt)) this.d.storage.oidc.revokeByGrantId(grantId);
    this.d.log.info({ deviceId: id }, 'device revoked');
    await this.#emitSessionRevoked(device, reason);
    this.#endChannels(id, 'device-revoked');
    return device;
  }

  /**
   * Also end these channels when a device's are ended (revoked, key rotated): the report streams
   * (report-stream.ts), which are built after the core.
   */
  onChannelsEnd(close: (deviceId: string, reason: string) => void): void {
    this.#channelClosers.push(close);
  }

  #endChannels(deviceId: string, reason: string): void {
    this.d.hub.disconnect(deviceId);
    for (const close of this.#channelClosers) close(deviceId, reason);
  }

  /** Revoke every session and grant of a user; tell their devices (CAEP `session-revoked`). */
  async revokeSessions(username: string, reason = 'sessions revoked by an administrator'): Promise<{ grants: number; devices: number }> {
    const oidc = this.d.storage.oidc;
    const grants = oidc.grantIdsOfAccount(username);
    for (const grantId of grants) oidc.revokeByGrantId(grantId);
    for (const sessionId of oidc.sessionIdsOfAccount(username)) oidc.destroy('Session', sessionId);
    const devices = this.d.storage.devicesOfAccount(username);
    for (const device of devices) await this.#emitSessionRevoked(device, reason);
    this.d.log.info({ account: username, grants: grants.length }, 'sessions revoked');
    return { grants: grants.length, devices: devices.length };
  }

  #deviceSubject(device: DeviceRecord): SubjectId {
    return {
      format: 'complex',
      device: { format: 'opaque', id: device.id },
      ...(device.accountId ? { user: { format: 'iss_sub', iss: this.d.issuer, sub: device.accountId } } : {}),
    };
  }

  async #emitSessionRevoked(device: DeviceRecord, reason: string): Promise<void> {
    await this.d.signals.emit('session-revoked', this.#deviceSubject(device), { initiating_entity: 'admin', reason_admin: { en: reason } }, { deviceId: device.id });
  }

  // ---- posture -------------------------------------------------------------------------------

  /**
   * Queue a posture write for the next group commit ({@link GroupCommit}): at 2,000 reports/s
   * one commit carries several reports' writes (~120 µs of CPU for one report alone, ~60 µs per
   * report for four together).
   */
  #persist(write: () => void): Promise<void> {
    return this.#commits.write(write);
  }

  /**
   * Verify and record one posture report from `device` (already authenticated by its DPoP
   * proof). Synchronous from verification to the in-memory seq update, so two reports of one
   * device never race; the promise resolves once the verdict is stored.
   */
  async ingest(device: DeviceRecord, jwt: string): Promise<IngestResult> {
    const nowMs = this.d.now();
    const verdict = verifyPostureReport(jwt, {
      deviceKey: device.publicJwk,
      deviceId: device.id,
      lastSeq: device.lastSeq,
      maxAgeSeconds: this.d.config.reportMaxAgeSeconds,
      now: new Date(nowMs),
    });
    if (!verdict.ok) this.#refuse(device, verdict.reason, verdict.detail, nowMs);
    const claims = verdict.report.claims;
    let nonce: string | null = null;
    let markNonceUsed: (() => void) | undefined;
    if (claims.eat_nonce !== undefined) {
      nonce = claims.eat_nonce;
      const answer = this.#challenges.use(nonce, device.id);
      if (!answer.ok) this.#refuse(device, answer.reason, answer.detail, nowMs, answer.markUsed);
      markNonceUsed = answer.markUsed;
    }
    const policy = this.#currentPolicy();
    const previous = this.#verdictState.get(device.id) ?? this.d.storage.getVerdictState(device.id);
    const evaluation = evaluatePolicy(postureViewFromReport(claims), policy?.policy ?? EMPTY_POLICY, {
      now: new Date(nowMs),
      ...(previous ? { firstFailedAt: previous.failingSince } : {}),
    });
    const failing = evaluation.results.filter((r) => !r.passed);
    const resultsJson = JSON.stringify(evaluation.results);
    const resultsDigest = hash('sha256', resultsJson, 'base64url');
    const record: VerdictRecord = {
      deviceId: device.id,
      status: evaluation.decision,
      isCompliant: evaluation.compliant,
      seq: claims.seq,
      reportedAtMs: claims.iat * 1000,
      verifiedAtMs: nowMs,
      policyVersion: policy?.version ?? null,
      reportOnly: evaluation.reportOnly,
      claims: claims as unknown as Record<string, unknown>,
      evaluation,
      failingSince: sameOrNew(previous?.failingSince, Object.fromEntries(failing.map((r) => [r.ruleId, Date.parse(r.firstFailedAt ?? '') || nowMs]))),
      nonce,
      resultsJson,
      resultsDigest,
    };
    // The history keeps what changed (docs/broker-server.md, "History"): a report that verifies
    // with the same results, decision and policy as the device's previous one only moves the
    // latest verdict's time and seq. Answers to a challenge are always kept.
    const changed =
      previous === undefined ||
      previous.resultsDigest !== resultsDigest ||
      previous.status !== record.status ||
      previous.policyVersion !== record.policyVersion ||
      previous.reportOnly !== record.reportOnly ||
      nonce !== null;
    const wasCompliant = previous ? previous.isCompliant : true;
    // Only on a change: staged with the verdict (set_outbox), emitted once committed or at the next start.
    const complianceChange = wasCompliant === record.isCompliant ? undefined : this.#complianceChange(device.id, wasCompliant, failing);
    const stored = this.#persist(() => {
      markNonceUsed?.();
      complianceChange?.stage();
      this.d.storage.saveVerdict(record);
      if (!changed) return;
      this.d.storage.addHistory({
        deviceId: device.id,
        atMs: nowMs,
        outcome: 'accepted',
        seq: claims.seq,
        status: record.status,
        reason: null,
        failures: failing.map((r) => ({ ruleId: r.ruleId, check: r.check, severity: r.severity, expected: r.expected, actual: r.actual, inGrace: r.inGrace })),
      });
    });
    // Both caches are updated in place when they hold the device already: a new object per report
    // could outlive a scavenge or two and be promoted, garbage in the old generation that brings
    // the next mark-compact (a ~10–40 ms stall) sooner.
    const lastSeq = Math.max(device.lastSeq ?? -1, claims.seq);
    if (this.#devicesByJkt.get(device.jkt) === device) (device as Mutable<DeviceRecord>).lastSeq = lastSeq;
    else this.#cacheDevice({ ...device, lastSeq });
    const state = this.#verdictState.get(device.id) as Mutable<VerdictState> | undefined;
    if (state) {
      state.isCompliant = record.isCompliant;
      state.failingSince = record.failingSince;
      state.status = record.status;
      state.policyVersion = record.policyVersion;
      state.reportOnly = record.reportOnly;
      // Equal but new: keep the old string (a new one would live until this device's next report,
      // long enough to be promoted, and die in the old generation).
      if (state.resultsDigest !== resultsDigest) state.resultsDigest = resultsDigest;
    } else {
      if (this.#verdictState.size >= 100_000) this.#verdictState.clear();
      this.#verdictState.set(device.id, {
        isCompliant: record.isCompliant,
        failingSince: record.failingSince,
        status: record.status,
        policyVersion: record.policyVersion,
        reportOnly: record.reportOnly,
        resultsDigest,
      });
    }
    await stored;
    complianceChange?.send();
    const result: IngestResult = {
      deviceId: device.id,
      seq: claims.seq,
      decision: record.status,
      compliant: record.isCompliant,
      reportOnly: record.reportOnly,
      policyVersion: record.policyVersion,
      evaluation,
      resultsJson: record.resultsJson as string,
    };
    if (nonce) {
      const waiter = this.#waiters.get(nonce);
      if (waiter) {
        clearTimeout(waiter.timer);
        this.#waiters.delete(nonce);
        waiter.resolve(result);
      }
    }
    return result;
  }

  /** The `device-compliance-change` SET for a device whose compliance flipped (errors are logged by the emitter). */
  #complianceChange(deviceId: string, wasCompliant: boolean, failing: readonly { ruleId: string }[]): StagedEmit {
    return this.d.signals.staged(
      'device-compliance-change',
      { format: 'complex', device: { format: 'opaque', id: deviceId } },
      {
        previous_status: wasCompliant ? 'compliant' : 'not-compliant',
        current_status: wasCompliant ? 'not-compliant' : 'compliant',
        initiating_entity: 'policy',
        reason_admin: { en: wasCompliant ? `failing: ${failing.map((r) => r.ruleId).join(', ')}` : 'the device meets the policy' },
      },
      { deviceId },
    );
  }

  #refuse(device: DeviceRecord, reason: string, detail: string, nowMs: number, alsoWrite?: () => void): never {
    this.#persist(() => {
      alsoWrite?.();
      this.d.storage.addHistory({ deviceId: device.id, atMs: nowMs, outcome: 'refused', seq: null, status: null, reason, failures: [] });
    }).catch(() => undefined);
    this.d.log.warn({ deviceId: device.id, reason }, 'posture report refused');
    throw new BrokerError('report-refused', `The posture report was refused: ${detail}.`, { reason });
  }

  /** Forget expired challenges (the broker's periodic purge). */
  purgeExpired(): void {
    this.#challenges.prune();
  }

  /**
   * Ask a device for a fresh report: a single-use nonce goes down its event channel and the
   * promise resolves with the verdict of the report that answers it (or rejects on timeout).
   */
  challenge(deviceId: string, timeoutMs = this.d.config.challengeTimeoutSeconds * 1000): Promise<IngestResult & { nonce: string }> {
    const device = this.requireDevice(deviceId);
    if (device.revokedAtMs !== null) throw new BrokerError('device-revoked', 'This device was revoked.', { reason: 'device-revoked' });
    if (!this.d.hub.isConnected(deviceId)) {
      throw new BrokerError('device-offline', 'The device has no open event channel, so it cannot be challenged now. Its latest report is at GET /devices/{id}.');
    }
    // Durable before it goes out: a report answering it is accepted after a broker restart too.
    const challenge = this.#challenges.issue(deviceId, Math.ceil(timeoutMs / 1000) + 30);
    const promise = new Promise<IngestResult & { nonce: string }>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(challenge.nonce);
        reject(new BrokerError('challenge-timeout', `The device did not answer the challenge within ${Math.round(timeoutMs / 1000)} s.`));
      }, timeoutMs);
      this.#waiters.set(challenge.nonce, { resolve: (r) => resolve({ ...r, nonce: challenge.nonce }), timer });
    });
    this.d.hub.send(
      deviceId,
      'challenge',
      { nonce: challenge.nonce, expiresAt: challenge.expiresAt.toISOString(), reportUrl: new URL('/posture', this.d.issuer).href },
      { expiresAtMs: challenge.expiresAt.getTime() },
    );
    return promise;
  }

  // ---- policy --------------------------------------------------------------------------------

  setPolicy(document: unknown): { version: number } {
    const parsed = parsePolicy(document);
    if (!parsed.ok) throw new BrokerError('validation-failed', `The policy is not valid: ${parsed.detail}.`);
    const record = this.d.storage.savePolicy(parsed.policy, this.d.now());
    this.#policyCache = { version: record.version, policy: parsed.policy };
    this.#bundleCache = undefined;
    this.d.log.info({ version: record.version, rules: parsed.policy.rules.length, reportOnly: parsed.policy.reportOnly }, 'policy set');
    this.d.hub.broadcast('policy', { version: record.version, url: new URL('/policy', this.d.issuer).href });
    return { version: record.version };
  }

  /** Load a policy file at start when it differs from the stored policy. */
  loadPolicyIfChanged(document: unknown): { version: number; changed: boolean } {
    const current = this.#currentPolicy();
    const parsed = parsePolicy(document);
    if (!parsed.ok) throw new BrokerError('config-invalid', `The policy file is not valid: ${parsed.detail}.`);
    if (current && JSON.stringify(current.policy) === JSON.stringify(parsed.policy)) return { version: current.version, changed: false };
    return { ...this.setPolicy(document), changed: true };
  }

  currentPolicy(): { version: number; policy: Policy } | undefined {
    return this.#currentPolicy();
  }

  #currentPolicy(): { version: number; policy: Policy } | undefined {
    if (this.#policyCache !== undefined) return this.#policyCache ?? undefined;
    const record = this.d.storage.currentPolicy();
    if (!record) {
      this.#policyCache = null;
      return undefined;
    }
    const parsed = parsePolicy(record.document);
    if (!parsed.ok) throw new BrokerError('storage-failed', `The stored policy version ${record.version} is not valid: ${parsed.detail}.`);
    this.#policyCache = { version: record.version, policy: parsed.policy };
    return this.#policyCache;
  }

  /** The current policy as a signed bundle (re-signed when half its lifetime has passed). */
  async policyBundle(): Promise<{ version: number; bundle: string }> {
    const policy = this.#currentPolicy();
    if (!policy) throw new BrokerError('no-policy', 'No policy is set yet (ward-broker policy set FILE).');
    const nowMs = this.d.now();
    const cached = this.#bundleCache;
    if (cached && cached.version === policy.version && cached.refreshAtMs > nowMs) return cached;
    const ttlMs = this.d.config.policyBundleTtlSeconds * 1000;
    const bundle = await signPolicyBundle(policy.policy, this.d.keys.signer, {
      version: policy.version,
      expiresAt: new Date(nowMs + ttlMs),
      issuer: this.d.issuer,
      now: new Date(nowMs),
    });
    this.#bundleCache = { version: policy.version, bundle, refreshAtMs: nowMs + ttlMs / 2 };
    return this.#bundleCache;
  }

  // ---- queries -------------------------------------------------------------------------------

  deviceSummary(device: DeviceRecord, verdict: VerdictRecord | undefined, withClaims: boolean): Record<string, unknown> {
    const nowMs = this.d.now();
    return {
      deviceId: device.id,
      name: device.name,
      assurance: device.assurance,
      thumbprint: device.jkt,
      account: device.accountId,
      enrolledAt: new Date(device.enrolledAtMs).toISOString(),
      keyRotatedAt: device.keyRotatedAtMs === null ? null : new Date(device.keyRotatedAtMs).toISOString(),
      // Devices enrolled before key attestation existed have no such attribute: uncertified.
      keyAttestation: KEY_ATTESTATIONS.find((k) => k === device.attributes.keyAttestation) ?? 'uncertified',
      attestationKeyName: typeof device.attributes.attestationKeyName === 'string' ? device.attributes.attestationKeyName : null,
      ekIssuer: typeof device.attributes.ekIssuer === 'string' ? device.attributes.ekIssuer : null,
      revokedAt: device.revokedAtMs === null ? null : new Date(device.revokedAtMs).toISOString(),
      lastSeq: device.lastSeq,
      connected: this.d.hub.isConnected(device.id),
      posture: verdict
        ? {
            decision: verdict.status,
            compliant: device.revokedAtMs === null && verdict.isCompliant,
            reportOnly: verdict.reportOnly,
            policyVersion: verdict.policyVersion,
            seq: verdict.seq,
            reportedAt: new Date(verdict.reportedAtMs).toISOString(),
            verifiedAt: new Date(verdict.verifiedAtMs).toISOString(),
            ageSeconds: Math.max(0, Math.round((nowMs - verdict.reportedAtMs) / 1000)),
            nonce: verdict.nonce,
            failing: ((verdict.evaluation as PolicyEvaluation | null)?.results ?? []).filter((r) => !r.passed),
            ...(withClaims ? { evaluation: verdict.evaluation, claims: verdict.claims } : {}),
          }
        : null,
    };
  }

  listDevices(): Record<string, unknown>[] {
    return this.d.storage.listDevices().map(({ device, verdict }) => this.deviceSummary(device, verdict, false));
  }

  deviceDetail(id: string): Record<string, unknown> {
    const device = this.requireDevice(id);
    return this.deviceSummary(device, this.d.storage.getVerdict(id), true);
  }

  history(query: { deviceId?: string; onlyFailures?: boolean; limit?: number }): Record<string, unknown>[] {
    return this.d.storage
      .history({ limit: Math.min(query.limit ?? 100, 1000), ...(query.deviceId ? { deviceId: query.deviceId } : {}), ...(query.onlyFailures ? { onlyFailures: true } : {}) })
      .map((e: HistoryEntry) => ({ ...e, at: new Date(e.atMs).toISOString() }));
  }

  close(): void {
    this.#commits.flush();
    for (const waiter of this.#waiters.values()) clearTimeout(waiter.timer);
    this.#waiters.clear();
  }
}
