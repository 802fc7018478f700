import { isExecError } from '../exec/exec-error.js';
import type { Host } from '../exec/host.js';
import type { Platform } from '../platform.js';
import { BrowserOpenError } from './browser-open-error.js';

/**
 * Longest sign-in URL handed to a browser. Ward's authorization requests (PKCE challenge, state,
 * nonce, dpop_jkt, acr_values) are under 1 KB; 4096 leaves room for a longer scope or claims while
 * staying far below Windows' 32 767-character command line.
 */
export const MAX_BROWSER_URL_CHARS = 4096;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * The allow-listed command and argument vector that hands `href` to the default browser. Each is
 * run by `execFile` with an argument vector (never a shell):
 * - macOS `open URL` (Launch Services);
 * - Windows `rundll32 url.dll,FileProtocolHandler URL`: ShellExecute on the URL with no `cmd.exe`
 *   in between, so `&`, `|`, `^` and `%` in a query are not interpreted. `cmd /c start` would
 *   parse them (command injection); `explorer URL` splits on commas and always exits 1, so a
 *   failure cannot be told from success;
 * - Linux `xdg-open URL` (the desktop's handler, or `$BROWSER`).
 */
export function browserLaunch(platform: Platform, href: string): readonly [string, readonly string[]] {
  switch (platform) {
    case 'darwin':
      return ['open', [href]];
    case 'win32':
      return ['rundll32', ['url.dll,FileProtocolHandler', href]];
    case 'linux':
      return ['xdg-open', [href]];
  }
}

/** What xdg-open needs from the user's session to find the desktop's browser (or `$BROWSER`). */
const XDG_OPEN_ENV = ['BROWSER', 'DISPLAY', 'WAYLAND_DISPLAY', 'XDG_CURRENT_DESKTOP', 'XDG_CONFIG_HOME', 'XDG_DATA_DIRS', 'XDG_RUNTIME_DIR', 'HOME', 'DBUS_SESSION_BUS_ADDRESS'] as const;

export interface BrowserOpenerOptions {
  readonly host: Host;
  /** Origins sign-in pages may be on: the enrolled broker's. Loopback (127.0.0.1, [::1], localhost) is always allowed. */
  readonly allowedOrigins: () => readonly string[] | Promise<readonly string[]>;
  /** The agent's environment (Linux: whether there is a display, and what xdg-open should see). */
  readonly env: (name: string) => string | undefined;
  readonly timeoutMs?: number;
}

export type BrowserOpenResult = { readonly launched: true } | { readonly launched: false; readonly detail: string };

/**
 * Opens sign-in pages in the system browser (RFC 8252 §8.12: never an embedded view). A URL is
 * checked before anything runs; one that fails the check throws `BrowserOpenError` and nothing is
 * launched. A browser that cannot be launched is not an error: the caller prints the URL anyway.
 */
export class BrowserOpener {
  readonly #o: BrowserOpenerOptions;

  constructor(options: BrowserOpenerOptions) {
    this.#o = options;
  }

  /**
   * The URL as it will be opened, or `BrowserOpenError`: only printable ASCII (a normalised URL
   * is; a newline or space is not), at most `MAX_BROWSER_URL_CHARS`, http or https, no user
   * name or password, and on the enrolled broker's origin or loopback.
   */
  async check(url: URL | string): Promise<URL> {
    const raw: unknown = url instanceof URL ? url.href : url;
    if (typeof raw !== 'string') throw new BrowserOpenError('not-a-string', 'the sign-in address is not text');
    if (raw.length > MAX_BROWSER_URL_CHARS) {
      throw new BrowserOpenError('too-long', `the sign-in address is ${raw.length} characters long (at most ${MAX_BROWSER_URL_CHARS})`);
    }
    // WHATWG parsing silently drops tabs and newlines: refuse them before parsing.
    if (!/^[\x21-\x7e]+$/.test(raw) || raw.includes('"')) {
      throw new BrowserOpenError('not-printable-ascii', 'the sign-in address contains spaces, quotes, control or non-ASCII characters');
    }
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw new BrowserOpenError('not-a-url', 'the sign-in address is not a URL');
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw new BrowserOpenError('scheme', `Ward opens only http and https sign-in addresses, not ${parsed.protocol.slice(0, 20)}`);
    }
    if (parsed.username || parsed.password) throw new BrowserOpenError('credentials', 'the sign-in address carries a user name or password');
    if (!LOOPBACK_HOSTS.has(parsed.hostname)) {
      const allowed = new Set<string>();
      for (const origin of await this.#o.allowedOrigins()) {
        try {
          allowed.add(new URL(origin).origin);
        } catch {
          // A malformed configured origin allows nothing.
        }
      }
      if (!allowed.has(parsed.origin)) {
        throw new BrowserOpenError('origin', `the sign-in address is on ${parsed.origin}, which is not your enrolled broker`);
      }
    }
    return parsed;
  }

  /** Check `url`, then launch the platform's browser opener with it. */
  async open(url: URL | string): Promise<BrowserOpenResult> {
    const checked = await this.check(url);
    const { host } = this.#o;
    const env: Record<string, string> = {};
    if (host.platform === 'linux') {
      if (!this.#o.env('DISPLAY') && !this.#o.env('WAYLAND_DISPLAY')) return { launched: false, detail: 'there is no graphical session (DISPLAY and WAYLAND_DISPLAY are unset)' };
      for (const name of XDG_OPEN_ENV) {
        const value = this.#o.env(name);
        if (value !== undefined) env[name] = value;
      }
    }
    const [command, args] = browserLaunch(host.platform, checked.href);
    try {
      await host.run(command, args, { timeoutMs: this.#o.timeoutMs ?? 5_000, env });
      return { launched: true };
    } catch (err) {
      if (isExecError(err)) return { launched: false, detail: `${command}: ${err.message}` };
      throw err;
    }
  }
}
