import { Blob } from 'node:buffer';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import type { FetchLike } from './dpop-fetch.js';
import { headerRecord } from './header-record.js';

/**
 * `fetch` for the agent's own broker traffic (reports, the event channel, shared-signal polls),
 * on `node:http`/`node:https`.
 *
 * Why not the global `fetch`: in Node 20 the first use of `fetch` — or merely of `Headers` or
 * `Response` — loads undici and compiles its WebAssembly HTTP parser, which keeps ~19 MB of
 * memory resident for the life of the process (measured: a bare `node` that made one `fetch` call
 * sits at 62 MB, one that made the same call with `node:http` at 44 MB). The idle agent's memory
 * goal is 60 MB, so its always-on traffic must not touch undici. Sign-in and refresh go through
 * openid-client, which needs the real `fetch` (oauth4webapi checks `instanceof Response`); they run
 * rarely and load undici then.
 *
 * Differences from `fetch` that the agent's callers do not rely on: redirects are not followed
 * (the response is returned as is, like `redirect: 'manual'` but readable), no
 * `Accept-Encoding` is sent (so bodies arrive unencoded), and `formData()` is not supported.
 */
export const nodeHttpFetch: FetchLike = createNodeHttpFetch();

/**
 * `inactivityTimeoutMs`: a connection silent that long (waiting for the answer, or between two
 * chunks of the body) fails, as undici's 300 s headers and body timeouts make `fetch` fail. The
 * event channel's own idle timeout (45 s, kept alive by the broker's heartbeats) is shorter.
 */
export function createNodeHttpFetch(options: { inactivityTimeoutMs?: number } = {}): FetchLike {
  const inactivityTimeoutMs = options.inactivityTimeoutMs ?? 300_000;
  return (input, init = {}) => send(input, init, inactivityTimeoutMs);
}

function send(input: string | URL, init: RequestInit, inactivityTimeoutMs: number): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    const url = new URL(input);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      reject(new TypeError(`unsupported URL scheme ${url.protocol}`));
      return;
    }
    const signal = init.signal ?? undefined;
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const headers = headerRecord(init.headers);
    const body = requestBody(init.body, headers);
    if (body !== undefined) headers['content-length'] = String(body.byteLength);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(url, { method: init.method ?? 'GET', headers });
    req.setTimeout(inactivityTimeoutMs, () => req.destroy(new Error(`no data from ${url.origin} for ${inactivityTimeoutMs} ms`)));
    const onAbort = (): void => {
      req.destroy(abortReason(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    req.once('response', (res) => {
      res.once('close', () => signal?.removeEventListener('abort', onAbort));
      resolve(new NodeHttpResponse(res, url));
    });
    req.once('error', (err) => {
      signal?.removeEventListener('abort', onAbort);
      reject(signal?.aborted ? abortReason(signal) : new TypeError('fetch failed', { cause: err }));
    });
    req.end(body);
  });
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException('This operation was aborted', 'AbortError');
}

function requestBody(body: RequestInit['body'], headers: Record<string, string>): Uint8Array | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') {
    headers['content-type'] ??= 'text/plain;charset=UTF-8';
    return Buffer.from(body);
  }
  if (body instanceof URLSearchParams) {
    headers['content-type'] ??= 'application/x-www-form-urlencoded;charset=UTF-8';
    return Buffer.from(body.toString());
  }
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  throw new TypeError('nodeHttpFetch sends string, URLSearchParams or byte bodies only');
}

/** Response headers, read-only (what `fetch` gives a caller), without undici's `Headers`. */
class NodeHttpHeaders implements Headers {
  readonly #map = new Map<string, string>();
  readonly #setCookies: string[] = [];

  constructor(raw: readonly string[]) {
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const value = raw[i + 1]!;
      if (name === 'set-cookie') this.#setCookies.push(value);
      const prev = this.#map.get(name);
      this.#map.set(name, prev === undefined ? value : `${prev}, ${value}`);
    }
  }

  get(name: string): string | null {
    return this.#map.get(name.toLowerCase()) ?? null;
  }
  has(name: string): boolean {
    return this.#map.has(name.toLowerCase());
  }
  getSetCookie(): string[] {
    return [...this.#setCookies];
  }
  forEach(callback: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    for (const [key, value] of this.#sorted()) callback.call(thisArg, value, key, this);
  }
  entries(): IterableIterator<[string, string]> {
    return this.#sorted()[Symbol.iterator]();
  }
  keys(): IterableIterator<string> {
    return this.#sorted().map(([key]) => key)[Symbol.iterator]();
  }
  values(): IterableIterator<string> {
    return this.#sorted().map(([, value]) => value)[Symbol.iterator]();
  }
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
  append(): void {
    throw new TypeError('response headers are immutable');
  }
  set(): void {
    throw new TypeError('response headers are immutable');
  }
  delete(): void {
    throw new TypeError('response headers are immutable');
  }
  #sorted(): [string, string][] {
    return [...this.#map].sort(([a], [b]) => (a < b ? -1 : 1));
  }
}

/** The part of `Response` the agent reads, over a `node:http` response. */
class NodeHttpResponse implements Response {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  readonly url: string;
  readonly redirected = false;
  readonly type = 'basic' as const;
  #body: ReadableStream<Uint8Array> | null;
  #used = false;

  constructor(source: IncomingMessage | { status: number; statusText: string; headers: Headers; url: string; body: ReadableStream<Uint8Array> | null }, url?: URL) {
    if ('rawHeaders' in source) {
      this.status = source.statusCode ?? 0;
      this.statusText = source.statusMessage ?? '';
      this.headers = new NodeHttpHeaders(source.rawHeaders);
      this.url = url!.href;
      this.#body = Readable.toWeb(source) as ReadableStream<Uint8Array>;
    } else {
      ({ status: this.status, statusText: this.statusText, headers: this.headers, url: this.url } = source);
      this.#body = source.body;
    }
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }
  get body(): Response['body'] {
    return this.#body as Response['body'];
  }
  get bodyUsed(): boolean {
    return this.#used;
  }

  clone(): Response {
    if (this.#used) throw new TypeError('Response.clone: the body has already been read');
    let copy: ReadableStream<Uint8Array> | null = null;
    if (this.#body) [this.#body, copy] = this.#body.tee();
    return new NodeHttpResponse({ status: this.status, statusText: this.statusText, headers: this.headers, url: this.url, body: copy });
  }

  async bytes(): Promise<Uint8Array> {
    if (this.#used) throw new TypeError('the body has already been read');
    this.#used = true;
    if (!this.#body) return new Uint8Array(0);
    const chunks: Uint8Array[] = [];
    for await (const chunk of this.#body) chunks.push(chunk);
    return Buffer.concat(chunks);
  }
  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = await this.bytes();
    const copy = new ArrayBuffer(bytes.byteLength);
    new Uint8Array(copy).set(bytes);
    return copy;
  }
  async text(): Promise<string> {
    return Buffer.from(await this.bytes()).toString('utf8');
  }
  async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }
  async blob(): Promise<globalThis.Blob> {
    return new Blob([await this.bytes()], { type: this.headers.get('content-type') ?? '' }) as unknown as globalThis.Blob;
  }
  formData(): Promise<FormData> {
    return Promise.reject(new TypeError('formData() is not supported by the agent HTTP client'));
  }
}
