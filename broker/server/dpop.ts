import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { importDeviceKey, parseCompactJws, parseJsonSegment, verifyEs256, type DeviceKey } from '../sdk/index.js';
import { BrokerError } from './errors.js';

/** How far a proof's `iat` may be from our clock (RFC 9449 §11.1 leaves it to the server). */
const IAT_WINDOW_SECONDS = 60;
const MAX_JTI_CHARS = 256;
const MAX_REMEMBERED_JTIS = 200_000;
const PRUNE_TO = MAX_REMEMBERED_JTIS * 0.9;
/** Expired entries forgotten per proof remembered: more than one, so the cache shrinks after a burst. */
const EXPIRE_PER_PROOF = 4;

export interface VerifiedDpopProof {
  /** RFC 7638 thumbprint of the proof key (what tokens are bound to, `cnf.jkt`). */
  readonly jkt: string;
  readonly key: DeviceKey;
  readonly jti: string;
}

function refuse(detail: string): BrokerError {
  return new BrokerError('invalid-dpop-proof', `The DPoP proof is not valid: ${detail}.`, { reason: 'invalid-dpop-proof' });
}

/**
 * Verifies DPoP proofs (RFC 9449 §4.3) for the broker's own endpoints: ES256 only (device keys
 * are P-256), `typ: dpop+jwt`, an embedded public `jwk`, `htm`/`htu` matching this request,
 * `iat` within ±60 s, `ath` when an access token is presented, and each `jti` accepted once.
 * Keys are imported once per key (the SDK's cache), so a proof costs one ES256 verification.
 */
export class DpopVerifier {
  /** `jkt:jti` → when the proof's `iat` window ends, in whole seconds. */
  readonly #seen = new Map<string, number>();
  /**
   * The same entries in the order they were remembered, for expiring them from the oldest end a
   * few per proof. Proofs arrive in about expiry order (`iat` + 60 s), so this keeps the map near
   * its live size without the full scan of {@link prune}, which at 2,000 proofs/s took 75–100 ms
   * of event loop every ~40 s. (A Map's own oldest-first iteration would do, but V8 leaves deleted
   * entries as holes until it rehashes, so each iteration from the start would walk them again.)
   */
  readonly #orderIds: string[] = [];
  /** Expiry of `#orderIds[i]` in whole seconds (a small integer: no heap number per entry). */
  readonly #orderExpiry: number[] = [];
  #orderHead = 0;
  /** This process's DPoP-Nonce (RFC 9449 §8): new at every start, so no earlier proof carries it. */
  readonly nonce = randomBytes(16).toString('base64url');
  #nonceRequiredUntilMs = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Until `untilMs`, refuse proofs that do not carry {@link nonce} (401 `use_dpop_nonce` with a
   * `DPoP-Nonce` header; RFC 9449 clients retry once with it). The broker calls this at start
   * while proofs accepted before its restart could still pass the `iat` window: the replay cache
   * did not survive the restart, the nonce makes those proofs worthless instead.
   */
  requireNonceUntil(untilMs: number): void {
    this.#nonceRequiredUntilMs = untilMs;
  }

  verify(req: IncomingMessage, htu: string, options: { accessToken?: string } = {}): VerifiedDpopProof {
    const proof = this.#check(req, htu, options);
    this.#remember(`${proof.jkt}:${proof.jti}`, proof.expiresAtMs);
    return { jkt: proof.jkt, key: proof.key, jti: proof.jti };
  }

  /**
   * Like {@link verify}, but asks `admit` (e.g. "is this key an enrolled, unrevoked device?")
   * before the proof's `jti` is remembered, and returns its answer. Proofs from keys that are
   * refused never enter the replay cache, so nobody can crowd enrolled devices' entries out of
   * it with proofs from throw-away keys.
   */
  verifyFor<T>(req: IncomingMessage, htu: string, admit: (jkt: string) => T, options: { accessToken?: string } = {}): T {
    const proof = this.#check(req, htu, options);
    const admitted = admit(proof.jkt);
    this.#remember(`${proof.jkt}:${proof.jti}`, proof.expiresAtMs);
    return admitted;
  }

  #check(req: IncomingMessage, htu: string, options: { accessToken?: string }): VerifiedDpopProof & { expiresAtMs: number } {
    const header = req.headers.dpop;
    if (typeof header !== 'string' || header.length === 0) {
      throw new BrokerError('invalid-dpop-proof', 'This endpoint needs a DPoP proof signed by the device key (DPoP header).', { reason: 'missing-dpop-proof' });
    }
    const parsed = parseCompactJws(header);
    if ('ok' in parsed) throw refuse(parsed.detail);
    const h = parsed.header;
    if (h.typ !== 'dpop+jwt') throw refuse('typ must be dpop+jwt');
    if (h.alg !== 'ES256') throw refuse('alg must be ES256');
    if (typeof h.jwk !== 'object' || h.jwk === null) throw refuse('the header carries no jwk');
    if ('d' in h.jwk) throw refuse('the jwk must be a public key');
    let key: DeviceKey;
    try {
      key = importDeviceKey(h.jwk as Record<string, string>);
    } catch {
      throw refuse('the jwk is not a P-256 public key');
    }
    if (!verifyEs256(parsed, key.keyObject)) throw refuse('the signature does not verify');
    const claims = parseJsonSegment(parsed.payloadB64);
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw refuse('the payload is not a JSON object');
    const c = claims as Record<string, unknown>;
    if (typeof c.jti !== 'string' || c.jti.length === 0 || c.jti.length > MAX_JTI_CHARS) throw refuse('jti is missing');
    if (c.htm !== req.method) throw refuse('htm does not match the request method');
    if (typeof c.htu !== 'string' || !sameHtu(c.htu, htu)) throw refuse('htu does not match the request URL');
    const nowMs = this.now();
    const nowSeconds = Math.floor(nowMs / 1000);
    if (typeof c.iat !== 'number' || Math.abs(nowSeconds - c.iat) > IAT_WINDOW_SECONDS) throw refuse('iat is not within 60 s of the server clock');
    if (nowMs < this.#nonceRequiredUntilMs && c.nonce !== this.nonce) throw useNonce(this.nonce);
    if (options.accessToken !== undefined) {
      const ath = createHash('sha256').update(options.accessToken).digest('base64url');
      if (c.ath !== ath) throw refuse('ath does not match the access token');
    }
    return { jkt: key.thumbprint, key, jti: c.jti, expiresAtMs: (c.iat + IAT_WINDOW_SECONDS) * 1000 };
  }

  #remember(id: string, expiresAtMs: number): void {
    const now = this.now();
    // Whole seconds (iat + 60 s): a small integer, so neither the map nor the queue allocates a
    // heap number per entry (these entries live 60 s, i.e. they are promoted: see ingest's note).
    const expiresAt = Math.ceil(expiresAtMs / 1000);
    const previous = this.#seen.get(id);
    if (previous !== undefined && previous * 1000 > now) throw refuse('this proof was already used (jti replay)');
    this.#expireOldest(now);
    if (this.#seen.size >= MAX_REMEMBERED_JTIS) this.#prune(now);
    this.#seen.set(id, expiresAt);
    this.#orderIds.push(id);
    this.#orderExpiry.push(expiresAt);
  }

  /** Forget up to a few expired entries from the oldest end (see {@link #orderIds}). */
  #expireOldest(now: number): void {
    for (let i = 0; i < EXPIRE_PER_PROOF && this.#orderHead < this.#orderIds.length; i++) {
      const expiresAt = this.#orderExpiry[this.#orderHead] as number;
      if (expiresAt * 1000 > now) break;
      const id = this.#orderIds[this.#orderHead] as string;
      this.#orderHead++;
      // Only if the map still holds this entry (not a later use of the same id, not pruned).
      if (this.#seen.get(id) === expiresAt) this.#seen.delete(id);
    }
    if (this.#orderHead > 1024 && this.#orderHead * 2 > this.#orderIds.length) {
      this.#orderIds.splice(0, this.#orderHead);
      this.#orderExpiry.splice(0, this.#orderHead);
      this.#orderHead = 0;
    }
  }

  /** How many proofs are remembered now (tests and diagnostics). */
  get rememberedCount(): number {
    return this.#seen.size;
  }

  #prune(now: number): void {
    for (const [id, expiresAt] of this.#seen) if (expiresAt * 1000 <= now) this.#seen.delete(id);
    // Still (nearly) full of live entries: drop the oldest rather than grow without bound, down
    // to 90 % so that the next full scan is 20,000 proofs away, not one (a scan per proof once
    // full would cost O(n) each).
    while (this.#seen.size >= PRUNE_TO) {
      const oldest = this.#seen.keys().next().value;
      if (oldest === undefined) break;
      this.#seen.delete(oldest);
    }
    // What the scan and the drop removed must leave the expiry queue too, or it would outgrow the map.
    this.#orderIds.length = 0;
    this.#orderExpiry.length = 0;
    this.#orderHead = 0;
    for (const [id, expiresAt] of this.#seen) {
      this.#orderIds.push(id);
      this.#orderExpiry.push(expiresAt);
    }
  }
}

function useNonce(nonce: string): BrokerError {
  return new BrokerError('invalid-dpop-proof', 'The broker restarted recently: sign the DPoP proof with the nonce in the DPoP-Nonce header.', {
    reason: 'use-dpop-nonce',
    headers: { 'dpop-nonce': nonce, 'www-authenticate': 'DPoP algs="ES256", error="use_dpop_nonce", error_description="a DPoP nonce is required"' },
  });
}

/** RFC 9449 §4.3: compare `htu` without query and fragment, scheme and host case-insensitively. */
function sameHtu(claimed: string, expected: string): boolean {
  // The agent signs exactly the URL the broker expects: equal strings need no URL parsing.
  if (claimed === expected) return true;
  try {
    const a = new URL(claimed);
    const b = new URL(expected);
    return a.origin === b.origin && a.pathname === b.pathname;
  } catch {
    return false;
  }
}
