import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import type { Logger } from '../log.js';
import { systemClock, type Clock } from './clock.js';
import type { DpopFetch } from './dpop-fetch.js';
import { SessionError } from './session-error.js';
import { TokenResponseSchema, type TokenSet } from './token-set.js';

export interface OidcClientOptions {
  readonly issuer: URL;
  readonly clientId: string;
  readonly dpop: DpopFetch;
  /** RFC 7638 thumbprint of the device key (tokens must come back bound to it). */
  readonly jkt: string;
  readonly scope?: string;
  readonly clock?: Clock;
  readonly log?: Logger;
}

/** What the user is asked for when signing in again (RFC 9470 step-up, or a plain re-login). */
export interface AuthorizationRequirements {
  readonly acrValues?: readonly string[];
  readonly maxAgeSeconds?: number;
  /** `login` forces the user to authenticate again even with a live session at the provider. */
  readonly prompt?: 'login' | 'consent';
}

export interface BrowserSignInOptions extends AuthorizationRequirements {
  /** Open the system browser (never an embedded web view: RFC 8252 §8.12). */
  readonly openBrowser: (url: URL) => Promise<void> | void;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface DeviceCodePrompt {
  readonly userCode: string;
  readonly verificationUri: string;
  readonly verificationUriComplete?: string;
  readonly expiresInSeconds: number;
}

export interface DeviceSignInOptions extends AuthorizationRequirements {
  readonly onPrompt: (prompt: DeviceCodePrompt) => void;
  readonly signal?: AbortSignal;
}

export const DEFAULT_SIGN_IN_TIMEOUT_MS = 5 * 60_000;
const DEFAULT_SCOPE = 'openid offline_access';

const CALLBACK_PAGE = (ok: boolean): string =>
  `<!doctype html><meta charset="utf-8"><title>Ward</title><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">` +
  `<body style="font:16px system-ui;margin:3em"><h1>${ok ? 'Signed in to Ward' : 'Sign-in did not complete'}</h1>` +
  `<p>${ok ? 'You can close this window.' : 'Return to Ward to try again.'}</p></body>`;

/** The OAuth error code and description of a failed request, for a message (never the body). */
function oauthErrorOf(err: unknown): { error?: string; description?: string; body?: Record<string, unknown> } {
  if (err instanceof client.ResponseBodyError) {
    return { error: err.error, ...(err.error_description ? { description: err.error_description } : {}), body: err.cause };
  }
  if (err instanceof client.AuthorizationResponseError) {
    return { error: err.error, ...(err.error_description ? { description: err.error_description } : {}) };
  }
  return {};
}

/**
 * Sign-in and token refresh against the broker's OpenID provider, through openid-client: the
 * protocol (PKCE, state, nonce, ID token validation, device flow polling) is the library's; Ward
 * adds the loopback redirect listener, the device-key DPoP fetch and typed errors.
 */
export class OidcClient {
  readonly #config: client.Configuration;
  readonly #opts: OidcClientOptions;
  readonly #clock: Clock;

  private constructor(config: client.Configuration, opts: OidcClientOptions) {
    this.#config = config;
    this.#opts = opts;
    this.#clock = opts.clock ?? systemClock;
  }

  static async discover(opts: OidcClientOptions): Promise<OidcClient> {
    const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(opts.issuer.hostname);
    let config: client.Configuration;
    try {
      config = await client.discovery(opts.issuer, opts.clientId, { token_endpoint_auth_method: 'none' }, client.None(), {
        [client.customFetch]: opts.dpop.fetch,
        // Plain HTTP only to a broker on this machine (the reference broker in tests and demos).
        ...(loopback ? { execute: [client.allowInsecureRequests] } : {}),
        timeout: 10,
      });
    } catch (err) {
      throw new SessionError('broker-unreachable', `could not read the sign-in configuration of ${opts.issuer.origin}`, {
        cause: err,
        hint: 'Check the broker URL and that the broker is running.',
      });
    }
    return new OidcClient(config, opts);
  }

  get issuer(): string {
    return this.#config.serverMetadata().issuer;
  }

  #syncClockSkew(): void {
    // openid-client judges iat/exp of ID tokens; give it the server's clock as learned by DPoP fetch.
    (this.#config as unknown as Record<symbol, number>)[client.clockSkew] = -this.#opts.dpop.serverOffsetSeconds;
  }

  #requirementParams(req: AuthorizationRequirements): Record<string, string> {
    return {
      ...(req.acrValues && req.acrValues.length > 0 ? { acr_values: req.acrValues.join(' ') } : {}),
      ...(req.maxAgeSeconds === undefined ? {} : { max_age: String(req.maxAgeSeconds) }),
      ...(req.prompt ? { prompt: req.prompt } : {}),
    };
  }

  /**
   * Authorization code + PKCE in the system browser with a loopback redirect on 127.0.0.1 and a
   * port chosen by the OS (RFC 8252 §7.3). State and nonce are checked by openid-client.
   */
  async signInWithBrowser(options: BrowserSignInOptions): Promise<TokenSet> {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const listener = await LoopbackListener.start();
    try {
      const redirectUri = `http://127.0.0.1:${listener.port}/callback`;
      const url = client.buildAuthorizationUrl(this.#config, {
        redirect_uri: redirectUri,
        scope: this.#opts.scope ?? DEFAULT_SCOPE,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
        // Binds the authorization code to the device key (RFC 9449 §10).
        dpop_jkt: this.#opts.jkt,
        ...this.#requirementParams(options),
      });
      await options.openBrowser(url);
      const callback = await listener.waitForCallback({
        clock: this.#clock,
        timeoutMs: options.timeoutMs ?? DEFAULT_SIGN_IN_TIMEOUT_MS,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      this.#syncClockSkew();
      let response: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
      try {
        response = await client.authorizationCodeGrant(
          this.#config,
          callback,
          {
            pkceCodeVerifier: verifier,
            expectedState: state,
            expectedNonce: nonce,
            idTokenExpected: true,
            ...(options.maxAgeSeconds === undefined ? {} : { maxAge: options.maxAgeSeconds }),
          },
          { redirect_uri: redirectUri },
        );
      } catch (err) {
        throw this.#signInError(err);
      }
      return this.#toTokenSet(response, undefined);
    } finally {
      await listener.close();
    }
  }

  /** Device authorization grant (RFC 8628) for machines without a browser: `ward login --device`. */
  async signInWithDeviceCode(options: DeviceSignInOptions): Promise<TokenSet> {
    let response: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
    try {
      const device = await client.initiateDeviceAuthorization(this.#config, {
        scope: this.#opts.scope ?? DEFAULT_SCOPE,
        ...this.#requirementParams(options),
      });
      options.onPrompt({
        userCode: device.user_code,
        verificationUri: device.verification_uri,
        ...(device.verification_uri_complete ? { verificationUriComplete: device.verification_uri_complete } : {}),
        expiresInSeconds: device.expires_in,
      });
      this.#syncClockSkew();
      response = await client.pollDeviceAuthorizationGrant(this.#config, device, undefined, options.signal ? { signal: options.signal } : {});
    } catch (err) {
      throw this.#signInError(err);
    }
    return this.#toTokenSet(response, undefined);
  }

  /**
   * Refresh with DPoP. `extra` goes into the token request body: the agent sends a fresh signed
   * posture report there, so the broker decides on current posture each time a token is minted.
   */
  async refresh(tokens: TokenSet, extra: Record<string, string>): Promise<TokenSet> {
    if (!tokens.refreshToken) throw new SessionError('not-signed-in', 'the session has no refresh token; sign in again');
    this.#syncClockSkew();
    let response: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
    try {
      response = await client.refreshTokenGrant(this.#config, tokens.refreshToken, extra);
    } catch (err) {
      throw refreshError(err);
    }
    return this.#toTokenSet(response, tokens);
  }

  /** Revoke the refresh token at the broker (best effort: logout must work offline too). */
  async revoke(tokens: TokenSet): Promise<void> {
    if (!tokens.refreshToken || !this.#config.serverMetadata().revocation_endpoint) return;
    await client.tokenRevocation(this.#config, tokens.refreshToken, { token_type_hint: 'refresh_token' });
  }

  #signInError(err: unknown): SessionError {
    if (err instanceof SessionError) return err;
    const { error, description } = oauthErrorOf(err);
    if (err instanceof client.ClientError && /state/i.test(err.message)) {
      return new SessionError('state-mismatch', 'the sign-in response did not match the request (state check failed); try again', { cause: err });
    }
    if (error === 'access_denied') return new SessionError('sign-in-cancelled', 'sign-in was cancelled or denied at the broker', { cause: err });
    if (error === 'expired_token') return new SessionError('sign-in-timeout', 'the device code expired before sign-in completed', { cause: err });
    const what = error ? `${error}${description ? `: ${description.slice(0, 200)}` : ''}` : err instanceof Error ? err.message.slice(0, 200) : 'unknown error';
    return new SessionError('sign-in-failed', `sign-in failed (${what})`, { cause: err });
  }

  #toTokenSet(response: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers, previous: TokenSet | undefined): TokenSet {
    const parsed = TokenResponseSchema.safeParse(response);
    if (!parsed.success) {
      throw new SessionError('token-response-invalid', `the broker's token response is not usable: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    }
    const claims = response.id_token ? response.claims() : undefined;
    const r = parsed.data;
    return {
      issuer: this.issuer,
      accessToken: r.access_token,
      tokenType: 'DPoP',
      expiresAt: this.#clock.now() + (r.expires_in ?? 300) * 1000,
      jkt: this.#opts.jkt,
      ...(r.refresh_token ?? previous?.refreshToken ? { refreshToken: r.refresh_token ?? previous?.refreshToken } : {}),
      ...(r.id_token ?? previous?.idToken ? { idToken: r.id_token ?? previous?.idToken } : {}),
      ...(r.scope ? { scope: r.scope } : {}),
      ...(claims?.sub ?? previous?.subject ? { subject: claims?.sub ?? previous?.subject } : {}),
      ...(typeof claims?.acr === 'string' ? { acr: claims.acr } : previous?.acr ? { acr: previous.acr } : {}),
      ...(typeof claims?.auth_time === 'number' ? { authTime: claims.auth_time } : previous?.authTime ? { authTime: previous.authTime } : {}),
    } as TokenSet;
  }
}

/**
 * Why a refresh was refused, sorted into what the agent does next: non-compliance (the broker
 * read the posture report and said no), revocation (sign in again), or a transient failure.
 */
export function refreshError(err: unknown): SessionError {
  const { error, description, body } = oauthErrorOf(err);
  const reasons = Array.isArray(body?.reasons) ? body.reasons.filter((r): r is string => typeof r === 'string').slice(0, 20) : [];
  const nonCompliant = body?.compliant === false || error === 'non_compliant_device' || reasons.length > 0 || /complian/i.test(description ?? '');
  if (nonCompliant) {
    return new SessionError('non-compliant', `the broker refused access: ${(reasons.length > 0 ? reasons.join('; ') : description ?? 'device not compliant').slice(0, 1000)}`, {
      cause: err,
    });
  }
  if (error === 'invalid_grant') return new SessionError('revoked', 'the session is no longer valid at the broker; sign in again', { cause: err });
  if (error) return new SessionError('refresh-refused', `token refresh refused (${error}${description ? `: ${description.slice(0, 200)}` : ''})`, { cause: err });
  if (err instanceof TypeError || (err instanceof Error && /fetch failed|ECONNREFUSED|timeout|aborted/i.test(err.message))) {
    return new SessionError('broker-unreachable', 'the broker could not be reached to refresh the session', { cause: err });
  }
  if (err instanceof client.ResponseBodyError || (err instanceof Error && /status code|5\d\d/i.test(err.message))) {
    return new SessionError('broker-error', 'the broker failed while refreshing the session', { cause: err });
  }
  return new SessionError('token-response-invalid', `the broker's refresh response is not usable: ${err instanceof Error ? err.message.slice(0, 200) : 'unknown'}`, { cause: err });
}

/** The one-shot HTTP listener on 127.0.0.1 that receives the authorization response. */
class LoopbackListener {
  #pending: { resolve: (u: URL) => void; reject: (e: Error) => void } | undefined;
  #received: URL | undefined;

  private constructor(
    private readonly server: ReturnType<typeof createServer>,
    readonly port: number,
  ) {}

  static async start(): Promise<LoopbackListener> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const listener = new LoopbackListener(server, (server.address() as AddressInfo).port);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => listener.handle(req, res));
    return listener;
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${this.port}`);
    if (req.method !== 'GET' || url.pathname !== '/callback' || this.#received) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    this.#received = url;
    const ok = url.searchParams.has('code') && !url.searchParams.has('error');
    res.writeHead(ok ? 200 : 400, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(CALLBACK_PAGE(ok));
    this.#pending?.resolve(url);
  }

  waitForCallback(options: { clock: Clock; timeoutMs: number; signal?: AbortSignal }): Promise<URL> {
    if (this.#received) return Promise.resolve(this.#received);
    return new Promise<URL>((resolve, reject) => {
      const timer = options.clock.setTimeout(() => {
        reject(new SessionError('sign-in-timeout', `sign-in did not complete within ${Math.round(options.timeoutMs / 1000)} s`, {
          hint: 'Run the sign-in again and finish it in the browser window that opens.',
        }));
      }, options.timeoutMs);
      const onAbort = (): void => {
        options.clock.clearTimeout(timer);
        reject(new SessionError('sign-in-cancelled', 'sign-in was cancelled'));
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending = {
        resolve: (u) => {
          options.clock.clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
          resolve(u);
        },
        reject,
      };
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}
