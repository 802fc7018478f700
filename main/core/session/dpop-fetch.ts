import { DpopSigner } from '../identity/dpop.js';
import type { DeviceSigner } from '../identity/key-store.js';
import type { Logger } from '../log.js';
import { systemClock, type Clock } from './clock.js';
import { headerRecord } from './header-record.js';
import { isUseDpopNonceChallenge } from './www-authenticate.js';

export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>;

export interface DpopFetchOptions {
  readonly signer: DeviceSigner;
  readonly clock?: Clock;
  readonly fetch?: FetchLike;
  readonly log?: Logger;
}

/** Skew worth correcting: oidc-provider accepts proofs within a small window around its own clock. */
const SKEW_CORRECTION_THRESHOLD_MS = 5_000;
const MAX_NONCES = 64;

/**
 * `fetch` that attaches a DPoP proof signed by the device key to every request, and handles the
 * two ways a DPoP request fails for reasons that are not the caller's:
 *  - the server wants a nonce (`use_dpop_nonce`, RFC 9449 §8 and §9): retried once with it;
 *  - our clock is off (a proof with `iat` outside the server's window): the offset is learned from
 *    the response's `Date` header and the request retried once with a corrected `iat`.
 *
 * openid-client takes it as its `customFetch`, so the OAuth protocol stays the library's while the
 * signature comes from a key that may live in a TPM.
 */
export class DpopFetch {
  readonly #proofs: DpopSigner;
  readonly #clock: Clock;
  readonly #fetch: FetchLike;
  readonly #log: Logger | undefined;
  readonly #nonces = new Map<string, string>();
  #serverOffsetMs = 0;

  constructor(options: DpopFetchOptions) {
    this.#clock = options.clock ?? systemClock;
    // The identity module builds the proof (device key, any store); this class adds when to retry.
    this.#proofs = new DpopSigner(options.signer, { now: () => Math.floor((this.#clock.now() + this.#serverOffsetMs) / 1000) });
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#log = options.log;
  }

  /** Server clock minus ours, learned from `Date` headers (ms). */
  get serverOffsetMs(): number {
    return this.#serverOffsetMs;
  }

  /** Seconds of skew to hand openid-client so it judges `iat`/`exp` by the server's clock. */
  get serverOffsetSeconds(): number {
    return Math.round(this.#serverOffsetMs / 1000);
  }

  /** RFC 7638 thumbprint of the device key (`dpop_jkt`, `cnf.jkt`). */
  thumbprint(): Promise<string> {
    return this.#proofs.thumbprint();
  }

  readonly fetch: FetchLike = (input, init) => this.#fetchVia(this.#fetch, input, init);

  /**
   * The same proofs, nonces and clock offset sent over another transport: the agent's always-on
   * broker traffic goes over `nodeHttpFetch` (see node-http-fetch.ts for why), while openid-client
   * keeps the real `fetch` it insists on.
   */
  over(transport: FetchLike): FetchLike {
    return (input, init) => this.#fetchVia(transport, input, init);
  }

  async #fetchVia(transport: FetchLike, input: string | URL, init: RequestInit = {}): Promise<Response> {
    const url = new URL(input);
    const first = await this.#send(transport, url, init);
    const retry = await this.#needsRetry(first.response, first.offsetBefore);
    if (!retry) return first.response;
    this.#log?.debug({ mod: 'dpop', reason: retry, origin: url.origin }, 'retrying with a fresh DPoP proof');
    await first.response.body?.cancel().catch(() => undefined);
    return (await this.#send(transport, url, init)).response;
  }

  async #send(transport: FetchLike, url: URL, init: RequestInit): Promise<{ response: Response; offsetBefore: number }> {
    // A plain record, not `new Headers()`: the global Headers class alone loads undici (~9 MB).
    const headers = headerRecord(init.headers);
    const auth = headers.authorization;
    const accessToken = auth && /^dpop /i.test(auth) ? auth.slice(5).trim() : undefined;
    const offsetBefore = this.#serverOffsetMs;
    const nonce = this.#nonces.get(url.origin);
    const proof = await this.#proofs.proof({
      method: init.method ?? 'GET',
      url,
      ...(nonce === undefined ? {} : { nonce }),
      ...(accessToken === undefined ? {} : { accessToken }),
    });
    headers.dpop = proof;
    const response = await transport(url, { ...init, headers });
    this.#learn(url, (name) => response.headers.get(name));
    return { response, offsetBefore };
  }

  /**
   * A proof for a request this class does not send itself (the report stream's WebSocket upgrade),
   * with the DPoP-Nonce and clock offset learned so far.
   */
  proofFor(method: string, url: URL): Promise<string> {
    const nonce = this.#nonces.get(url.origin);
    return this.#proofs.proof({ method, url, ...(nonce === undefined ? {} : { nonce }) });
  }

  /**
   * Learn the nonce and clock offset from an answer this class did not fetch (a refused upgrade);
   * true when it was a `use_dpop_nonce` challenge with a nonce, worth one retry.
   */
  learnFrom(url: URL, headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
    const get = (name: string): string | null => {
      const value = headers[name];
      return (Array.isArray(value) ? value[0] : value) ?? null;
    };
    this.#learn(url, get);
    return get('dpop-nonce') !== null && isUseDpopNonceChallenge(get('www-authenticate'));
  }

  #learn(url: URL, header: (name: string) => string | null): void {
    const nonce = header('dpop-nonce');
    if (nonce && nonce.length <= 1024) {
      this.#nonces.delete(url.origin);
      if (this.#nonces.size >= MAX_NONCES) this.#nonces.delete(this.#nonces.keys().next().value as string);
      this.#nonces.set(url.origin, nonce);
    }
    const date = Date.parse(header('date') ?? '');
    if (Number.isFinite(date)) {
      // Date has 1 s resolution; ignore the sub-second noise.
      const offset = date - this.#clock.now();
      this.#serverOffsetMs = Math.abs(offset) > SKEW_CORRECTION_THRESHOLD_MS ? offset : 0;
    }
  }

  async #needsRetry(response: Response, offsetBefore: number): Promise<'nonce' | 'clock-skew' | undefined> {
    if (response.status === 401) {
      const challenge = response.headers.get('www-authenticate');
      if (isUseDpopNonceChallenge(challenge)) return 'nonce';
      const skewLearned = Math.abs(this.#serverOffsetMs - offsetBefore) > SKEW_CORRECTION_THRESHOLD_MS;
      return skewLearned && /invalid_dpop_proof/.test(challenge ?? '') ? 'clock-skew' : undefined;
    }
    if (response.status !== 400) return undefined;
    const body = await response
      .clone()
      .json()
      .catch(() => undefined) as { error?: unknown } | undefined;
    if (body?.error === 'use_dpop_nonce') return 'nonce';
    const skewLearned = Math.abs(this.#serverOffsetMs - offsetBefore) > SKEW_CORRECTION_THRESHOLD_MS;
    if (body?.error === 'invalid_dpop_proof' && skewLearned) return 'clock-skew';
    return undefined;
  }
}
