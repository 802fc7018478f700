import { fork } from 'node:child_process';
import type { DeviceSigner } from '../identity/key-store.js';
import type { Logger } from '../log.js';
import type { BrowserSignInOptions, DeviceSignInOptions } from './oidc-client.js';
import { OAuthChildMessageSchema, type OAuthChildRequest, type OAuthParentMessage } from './oauth-process-protocol.js';
import { SessionError, type SessionErrorCode } from './session-error.js';
import type { TokenSet } from './token-set.js';

/** How to start the child: its module and the `node` flags (the daemon's, or tsx's loader from source). */
export interface OAuthProcessSpec {
  readonly modulePath: string;
  readonly execArgv: readonly string[];
}

export interface OAuthProcessClientOptions {
  readonly process: OAuthProcessSpec;
  readonly issuer: URL;
  readonly clientId: string;
  readonly signer: DeviceSigner;
  readonly jkt: string;
  readonly log?: Logger;
}

const SESSION_ERROR_CODES = new Set<string>([
  'not-signed-in', 'sign-in-timeout', 'sign-in-cancelled', 'sign-in-failed', 'state-mismatch', 'token-response-invalid', 'refresh-refused',
  'non-compliant', 'step-up-required', 'step-up-declined', 'revoked', 'broker-unreachable', 'broker-error', 'dpop-failed', 'keychain-unavailable', 'not-enrolled',
] satisfies SessionErrorCode[]);

/**
 * The agent's OAuth calls (sign-in, step-up, refresh, revoke), each in a short-lived child
 * process that loads openid-client and undici, does the one exchange and exits: a `fetch` in the
 * daemon itself costs ~13–18 MB that the process keeps (a `worker_threads` Worker keeps even more
 * after it exits: `npm run bench -- oauth-isolation`). The device key stays here: the child
 * sends each DPoP proof's signing input and gets the signature back. The child's answer is
 * parsed with zod; its errors come back as the same `SessionError` codes.
 */
export class OAuthProcessClient {
  readonly #o: OAuthProcessClientOptions;

  constructor(options: OAuthProcessClientOptions) {
    this.#o = options;
  }

  get issuer(): string {
    return this.#o.issuer.href;
  }

  async refresh(tokens: TokenSet, extra: Record<string, string>): Promise<TokenSet> {
    return this.#tokens(await this.#run({ kind: 'refresh', tokens, extra }, {}));
  }

  async revoke(tokens: TokenSet): Promise<void> {
    await this.#run({ kind: 'revoke', tokens }, {});
  }

  async signInWithBrowser(options: BrowserSignInOptions): Promise<TokenSet> {
    const { openBrowser, timeoutMs, signal, ...requirements } = options;
    return this.#tokens(await this.#run({ kind: 'browser', requirements, ...(timeoutMs === undefined ? {} : { timeoutMs }) }, { openBrowser, ...(signal ? { signal } : {}) }));
  }

  async signInWithDeviceCode(options: DeviceSignInOptions): Promise<TokenSet> {
    const { onPrompt, signal, ...requirements } = options;
    return this.#tokens(await this.#run({ kind: 'device', requirements }, { onPrompt, ...(signal ? { signal } : {}) }));
  }

  #tokens(tokens: TokenSet | undefined): TokenSet {
    if (!tokens) throw new SessionError('token-response-invalid', 'the OAuth helper process returned no tokens');
    return tokens;
  }

  #run(
    op: OAuthChildRequest['op'],
    hooks: { openBrowser?: BrowserSignInOptions['openBrowser']; onPrompt?: DeviceSignInOptions['onPrompt']; signal?: AbortSignal },
  ): Promise<TokenSet | undefined> {
    const { signer } = this.#o;
    const request: OAuthChildRequest = {
      issuer: this.#o.issuer.href,
      clientId: this.#o.clientId,
      jkt: this.#o.jkt,
      signer: { alias: signer.alias, publicJwk: signer.publicJwk as OAuthChildRequest['signer']['publicJwk'], assurance: signer.assurance, store: signer.store },
      op,
    };
    const child = fork(this.#o.process.modulePath, [], { execArgv: [...this.#o.process.execArgv], stdio: ['ignore', 'ignore', 'inherit', 'ipc'], serialization: 'json' });
    const post = (message: OAuthParentMessage): void => {
      if (child.connected) child.send(message);
    };
    return new Promise<TokenSet | undefined>((resolve, reject) => {
      // resolve/reject settle once: the child's own answer wins over anything its exit says.
      let failure: SessionError | undefined;
      const stop = (error: SessionError): void => {
        failure ??= error;
        child.kill('SIGTERM');
      };
      const onAbort = (): void => stop(new SessionError('sign-in-cancelled', 'sign-in was cancelled'));
      hooks.signal?.addEventListener('abort', onAbort, { once: true });
      child.on('message', (raw: unknown) => {
        const parsed = OAuthChildMessageSchema.safeParse(raw);
        if (!parsed.success) return stop(new SessionError('token-response-invalid', 'the OAuth helper process sent an unreadable answer'));
        const m = parsed.data;
        if (m.type === 'sign') {
          signer.sign(new Uint8Array(Buffer.from(m.data, 'base64'))).then(
            (signature) => post({ type: 'signature', id: m.id, signature: Buffer.from(signature).toString('base64') }),
            (err: unknown) => stop(new SessionError('dpop-failed', 'the device key could not sign a DPoP proof', { cause: err })),
          );
        } else if (m.type === 'open-browser') {
          Promise.resolve(hooks.openBrowser?.(new URL(m.url))).then(
            () => post({ type: 'browser-opened' }),
            (err: unknown) => stop(new SessionError('sign-in-failed', 'the browser could not be opened', { cause: err })),
          );
        } else if (m.type === 'device-prompt') {
          hooks.onPrompt?.({
            userCode: m.prompt.userCode,
            verificationUri: m.prompt.verificationUri,
            ...(m.prompt.verificationUriComplete ? { verificationUriComplete: m.prompt.verificationUriComplete } : {}),
            expiresInSeconds: m.prompt.expiresInSeconds,
          });
        } else if (m.type === 'done') {
          if (failure) reject(failure);
          else resolve(m.tokens);
        } else {
          const code = SESSION_ERROR_CODES.has(m.code) ? (m.code as SessionErrorCode) : 'sign-in-failed';
          reject(failure ?? new SessionError(code, m.message, m.hint ? { hint: m.hint } : undefined));
        }
      });
      child.once('error', (err) => stop(new SessionError('broker-unreachable', 'the OAuth helper process could not start', { cause: err })));
      child.once('exit', (code, signal) => {
        hooks.signal?.removeEventListener('abort', onAbort);
        if (!failure) this.#o.log?.debug({ code, signal }, 'the OAuth helper process exited');
        reject(failure ?? new SessionError('broker-unreachable', `the OAuth helper process exited without an answer (${signal ?? `code ${String(code)}`})`));
      });
      post({ type: 'request', request });
    });
  }
}
