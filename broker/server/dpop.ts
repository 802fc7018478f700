import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { importDeviceKey, parseCompactJws, parseJsonSegment, verifyEs256, type DeviceKey } from '../sdk/index.js';
import { BrokerError } from './errors.js';
import { ReplaySet } from './replay-set.js';

/** How far a proof's `iat` may be from our clock (RFC 9449 §11.1 leaves it to the server). */
const IAT_WINDOW_SECONDS = 60;
const MAX_JTI_CHARS = 256;
const MAX_REMEMBERED_JTIS = 200_000;

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
  /** The accepted proofs (`jkt:jti`), remembered until their `iat` window ends (off the JS heap). */
  readonly #seen = new ReplaySet(MAX_REMEMBERED_JTIS);
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
    const nowSeconds = this.now() / 1000;
    const fp = ReplaySet.fingerprint(id);
    if (this.#seen.has(fp, nowSeconds)) throw refuse('this proof was already used (jti replay)');
    this.#seen.add(fp, Math.ceil(expiresAtMs / 1000), nowSeconds);
  }

  /** How many proofs are remembered now (tests and diagnostics). */
  get rememberedCount(): number {
    return this.#seen.size;
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
