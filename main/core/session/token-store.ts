import { SessionError } from './session-error.js';
import { TokenSetSchema, type TokenSet } from './token-set.js';

/** Where tokens live between runs. Production: the OS keychain; tests also use the real keyring. */
export interface TokenStore {
  load(): Promise<TokenSet | undefined>;
  save(tokens: TokenSet): Promise<void>;
  clear(): Promise<void>;
}

const SERVICE = 'ward';

/** The keyring library's message, cleaned of anything but the failure (it never holds the secret). */
function keychainError(action: string, err: unknown): SessionError {
  const detail = err instanceof Error ? err.message : String(err);
  const hint = /AccessDenied|platform storage/i.test(detail)
    ? 'No desktop keyring is reachable. Sign in to a desktop session, or start gnome-keyring / a Secret Service provider.'
    : /prompt was dismissed|locked/i.test(detail)
      ? 'Your keyring is locked. Unlock it (log in to the desktop session) and try again.'
      : undefined;
  return new SessionError('keychain-unavailable', `could not ${action} the sign-in tokens in the OS keychain: ${detail.slice(0, 200)}`, {
    cause: err,
    ...(hint ? { hint } : {}),
  });
}

/**
 * Tokens in the OS keychain (Secret Service on Linux, Keychain on macOS, Credential Manager on
 * Windows) through @napi-rs/keyring, one entry per account (the broker issuer).
 */
export class KeychainTokenStore implements TokenStore {
  readonly #account: string;
  readonly #service: string;

  constructor(account: string, options: { service?: string } = {}) {
    this.#account = `tokens:${account}`;
    this.#service = options.service ?? SERVICE;
  }

  async #entry() {
    const { AsyncEntry } = await import('@napi-rs/keyring');
    // Pin Linux to the Secret Service: left to itself the crate may fall back to the kernel
    // keyring (keyutils), which forgets everything at logout.
    return new AsyncEntry(this.#service, this.#account, { linux: { store: 'secret-service' } });
  }

  async load(): Promise<TokenSet | undefined> {
    let raw: string | null | undefined;
    try {
      raw = await (await this.#entry()).getPassword();
    } catch (err) {
      if (/no entry|not found|NoEntry/i.test(String(err))) return undefined;
      throw keychainError('read', err);
    }
    if (!raw) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      json = undefined;
    }
    const parsed = TokenSetSchema.safeParse(json);
    if (!parsed.success) {
      // A corrupt entry is not half-used: it is treated as signed out and replaced at next sign-in.
      return undefined;
    }
    return parsed.data;
  }

  async save(tokens: TokenSet): Promise<void> {
    const valid = TokenSetSchema.parse(tokens);
    try {
      await (await this.#entry()).setPassword(JSON.stringify(valid));
    } catch (err) {
      throw keychainError('store', err);
    }
  }

  async clear(): Promise<void> {
    try {
      await (await this.#entry()).deletePassword();
    } catch (err) {
      if (/no entry|not found|NoEntry/i.test(String(err))) return;
      throw keychainError('delete', err);
    }
  }
}

/** In-process store: for `ward daemon --ephemeral` and unit tests of the state machine. */
export class MemoryTokenStore implements TokenStore {
  #tokens: TokenSet | undefined;
  load(): Promise<TokenSet | undefined> {
    return Promise.resolve(this.#tokens);
  }
  save(tokens: TokenSet): Promise<void> {
    this.#tokens = TokenSetSchema.parse(tokens);
    return Promise.resolve();
  }
  clear(): Promise<void> {
    this.#tokens = undefined;
    return Promise.resolve();
  }
}
