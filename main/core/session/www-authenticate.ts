/**
 * `WWW-Authenticate` parsing (RFC 9110 §11.6.1) and the RFC 9470 step-up challenge.
 *
 * A header may hold several challenges, and commas separate both challenges and their
 * parameters, so this is a small tokenizer rather than a split. It never throws: input it cannot
 * make sense of yields the challenges parsed so far (possibly none).
 */

export interface AuthChallenge {
  /** Lower-cased scheme: `dpop`, `bearer`, ... */
  readonly scheme: string;
  /** Parameter names lower-cased; quoted values unescaped. The first of a duplicated name wins. */
  readonly params: Readonly<Record<string, string>>;
  readonly token68?: string;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const MAX_HEADER_CHARS = 16_384;

class Cursor {
  i = 0;
  constructor(readonly s: string) {}
  get done(): boolean {
    return this.i >= this.s.length;
  }
  peek(): string {
    return this.s[this.i] ?? '';
  }
  skipSpace(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.i++;
  }
  skipSpaceAndCommas(): void {
    while (this.peek() === ' ' || this.peek() === '\t' || this.peek() === ',') this.i++;
  }
  token(): string {
    const start = this.i;
    while (!this.done && TCHAR.test(this.peek())) this.i++;
    return this.s.slice(start, this.i);
  }
  /** A quoted-string starting at the current `"`; undefined if unterminated. */
  quoted(): string | undefined {
    this.i++; // opening quote
    let out = '';
    while (!this.done) {
      const c = this.peek();
      if (c === '\\') {
        this.i++;
        if (this.done) return undefined;
        out += this.peek();
        this.i++;
      } else if (c === '"') {
        this.i++;
        return out;
      } else {
        out += c;
        this.i++;
      }
    }
    return undefined;
  }
}

/** Parse every challenge in a `WWW-Authenticate` header value. */
export function parseWwwAuthenticate(header: string | null | undefined): AuthChallenge[] {
  if (typeof header !== 'string' || header.length === 0 || header.length > MAX_HEADER_CHARS) return [];
  const c = new Cursor(header);
  const challenges: AuthChallenge[] = [];
  c.skipSpaceAndCommas();
  while (!c.done) {
    const scheme = c.token();
    if (!scheme) break; // not a token where a scheme must start: stop, keep what we have
    const params: Record<string, string> = {};
    let token68: string | undefined;
    c.skipSpace();
    // token68: a run of token68 chars ending in optional '=' padding, then end or comma.
    const t68 = /^[A-Za-z0-9\-._~+/]+=*(?=\s*(,|$))/.exec(header.slice(c.i));
    if (t68 && !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\s*=\s*[^=]/.test(header.slice(c.i))) {
      token68 = t68[0];
      c.i += t68[0].length;
    } else {
      for (;;) {
        c.skipSpaceAndCommas();
        const save = c.i;
        const name = c.token();
        c.skipSpace();
        if (!name || c.peek() !== '=') {
          c.i = save; // the next challenge's scheme (or garbage)
          break;
        }
        c.i++; // '='
        c.skipSpace();
        let value: string | undefined;
        if (c.peek() === '"') value = c.quoted();
        else value = c.token();
        if (value === undefined) {
          challenges.push({ scheme: scheme.toLowerCase(), params });
          return challenges; // unterminated quote: nothing after it can be trusted
        }
        const key = name.toLowerCase();
        if (!Object.hasOwn(params, key)) params[key] = value;
      }
    }
    challenges.push({ scheme: scheme.toLowerCase(), params, ...(token68 ? { token68 } : {}) });
    c.skipSpaceAndCommas();
    if (!c.done && !TCHAR.test(c.peek())) break;
  }
  return challenges;
}

/** What an RFC 9470 step-up challenge asks for. */
export interface StepUpChallenge {
  readonly error: 'insufficient_user_authentication';
  /** Acceptable authentication context classes, in the broker's order of preference. */
  readonly acrValues: readonly string[];
  /** The authentication must be at most this old (seconds). */
  readonly maxAgeSeconds?: number;
  readonly description?: string;
}

/**
 * The step-up challenge in a `WWW-Authenticate` header, if there is one (RFC 9470 §3). Accepts it
 * under the DPoP or Bearer scheme; anything malformed (a negative or non-numeric `max_age`)
 * drops that parameter rather than the challenge.
 */
export function parseStepUpChallenge(header: string | null | undefined): StepUpChallenge | undefined {
  for (const ch of parseWwwAuthenticate(header)) {
    if (ch.scheme !== 'dpop' && ch.scheme !== 'bearer') continue;
    if (ch.params.error !== 'insufficient_user_authentication') continue;
    const acrValues = (ch.params.acr_values ?? '').split(' ').filter((v) => v.length > 0 && v.length <= 256).slice(0, 20);
    const maxAgeRaw = ch.params.max_age;
    const maxAge = maxAgeRaw !== undefined && /^\d{1,9}$/.test(maxAgeRaw) ? Number(maxAgeRaw) : undefined;
    const description = ch.params.error_description?.slice(0, 500);
    return {
      error: 'insufficient_user_authentication',
      acrValues,
      ...(maxAge === undefined ? {} : { maxAgeSeconds: maxAge }),
      ...(description ? { description } : {}),
    };
  }
  return undefined;
}

/** Does this header ask the client to retry with a fresh DPoP nonce (RFC 9449 §9)? */
export function isUseDpopNonceChallenge(header: string | null | undefined): boolean {
  return parseWwwAuthenticate(header).some((ch) => ch.scheme === 'dpop' && ch.params.error === 'use_dpop_nonce');
}
