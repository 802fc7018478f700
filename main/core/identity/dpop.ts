import { createHash, randomUUID } from 'node:crypto';
import { base64url, jwkThumbprint, publicPart, signJwt } from './jws.js';
import type { DeviceSigner } from './key-store.js';

export interface DpopProofRequest {
  /** HTTP method, e.g. `POST`. */
  readonly method: string;
  /** The request URL; query and fragment are dropped for `htu` (RFC 9449 §4.2). */
  readonly url: string | URL;
  /** When presenting an access token: its hash goes in `ath`. */
  readonly accessToken?: string;
  /** A server nonce; default: the last `DPoP-Nonce` this signer saw from that origin. */
  readonly nonce?: string;
}

export interface DpopSignerOptions {
  /** Seconds since the epoch (injected for tests). */
  readonly now?: () => number;
  readonly newJti?: () => string;
}

/** Is this response the server asking for (another) DPoP nonce? RFC 9449 §8 (AS) and §9 (resource). */
export async function isUseDpopNonce(response: Response): Promise<boolean> {
  if (response.status === 401) {
    const challenge = response.headers.get('www-authenticate') ?? '';
    if (/^\s*dpop\b/i.test(challenge) && /error\s*=\s*"?use_dpop_nonce"?/i.test(challenge)) return true;
  }
  if (response.status === 400 && /json/i.test(response.headers.get('content-type') ?? '')) {
    try {
      const body = (await response.clone().json()) as { error?: unknown };
      return body.error === 'use_dpop_nonce';
    } catch {
      return false;
    }
  }
  return false;
}

/**
 * DPoP proofs (RFC 9449) signed by the device key, whatever store holds it. oauth4webapi's own
 * `DPoP()` handle needs an extractable WebCrypto key pair, which a TPM key never is, so Ward
 * builds the proof JWT itself (`typ: dpop+jwt`, ES256, public key in `jwk`) and remembers the
 * server nonces per origin.
 *
 * @example
 *   const dpop = new DpopSigner(signer);
 *   const res = await dpop.fetch('https://broker/token', { method: 'POST', body });
 *   // or by hand: headers.set('DPoP', await dpop.proof({ method: 'GET', url, accessToken }));
 */
export class DpopSigner {
  private readonly nonces = new Map<string, string>();
  private readonly now: () => number;
  private readonly newJti: () => string;
  private readonly header: Readonly<Record<string, unknown>>;
  private jkt: Promise<string> | undefined;

  constructor(
    private readonly signer: DeviceSigner,
    options: DpopSignerOptions = {},
  ) {
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.newJti = options.newJti ?? randomUUID;
    this.header = { typ: 'dpop+jwt', jwk: publicPart(signer.publicJwk) };
  }

  /** RFC 7638 thumbprint of the device key: the `dpop_jkt` parameter and the token's `cnf.jkt`. */
  thumbprint(): Promise<string> {
    this.jkt ??= jwkThumbprint(this.signer.publicJwk);
    return this.jkt;
  }

  async proof(request: DpopProofRequest): Promise<string> {
    const url = new URL(request.url);
    const nonce = request.nonce ?? this.nonces.get(url.origin);
    const payload: Record<string, unknown> = {
      jti: this.newJti(),
      htm: request.method.toUpperCase(),
      htu: `${url.origin}${url.pathname}`,
      iat: this.now(),
      ...(nonce === undefined ? {} : { nonce }),
      ...(request.accessToken === undefined ? {} : { ath: base64url(createHash('sha256').update(request.accessToken, 'ascii').digest()) }),
    };
    return signJwt(this.signer, this.header, payload);
  }

  /** Remember the `DPoP-Nonce` a server sent (every response may carry a fresh one). */
  rememberNonce(url: string | URL, response: Pick<Response, 'headers'>): void {
    const nonce = response.headers.get('dpop-nonce');
    if (nonce) this.nonces.set(new URL(url).origin, nonce);
  }

  nonceFor(url: string | URL): string | undefined {
    return this.nonces.get(new URL(url).origin);
  }

  /**
   * `fetch` with a DPoP proof (and `Authorization: DPoP <token>` when `accessToken` is given). A
   * `use_dpop_nonce` answer is retried once with the nonce the server just sent.
   */
  async fetch(
    url: string | URL,
    init: RequestInit & { accessToken?: string } = {},
    fetchImpl: typeof fetch = fetch,
  ): Promise<Response> {
    const { accessToken, ...rest } = init;
    const method = rest.method ?? 'GET';
    const send = async (): Promise<Response> => {
      const headers = new Headers(rest.headers);
      headers.set('DPoP', await this.proof({ method, url, ...(accessToken === undefined ? {} : { accessToken }) }));
      if (accessToken !== undefined) headers.set('Authorization', `DPoP ${accessToken}`);
      const response = await fetchImpl(url, { ...rest, method, headers });
      this.rememberNonce(url, response);
      return response;
    };
    const first = await send();
    if (!(await isUseDpopNonce(first)) || !this.nonceFor(url)) return first;
    await first.body?.cancel();
    return send();
  }
}
