/**
 * The load generator's HTTP client: one keep-alive TCP connection per simulated device, requests
 * serialised to bytes before the clock starts, answers read by status line and `Content-Length`
 * only. This is what wrk and autocannon do for the same reason: `node:http`'s client cost the
 * device process a third of a core at 2,000 requests/s and lagged its send schedule by ~10 ms at
 * p99 (its own event loop busy with response objects and their garbage), and that lag landed in
 * the broker's measured latency. The broker side stays the real `node:http` server.
 *
 * Only what the broker's JSON answers need: HTTP/1.1, one request in flight per connection, a
 * `Content-Length` on every answer (the broker's `sendJson` always sets it). Anything else is an
 * error, never a silent mis-parse.
 */
import { connect, type Socket } from 'node:net';

/** Serialise one request (headers lower-case, as sent; `content-length` is added). */
export function serializeRequest(method: string, url: URL, headers: Readonly<Record<string, string>>, body: string): Buffer {
  const bodyBytes = Buffer.from(body, 'utf8');
  let head = `${method} ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new Error(`header ${name} contains a line break`);
    head += `${name}: ${value}\r\n`;
  }
  head += `content-length: ${bodyBytes.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), bodyBytes]);
}

/** One parsed answer. */
export interface RawResponse {
  readonly status: number;
  /** The raw head (status line and headers), for the rare caller that needs a header. */
  readonly head: string;
  readonly body: Buffer;
}

const MAX_HEAD_BYTES = 16 * 1024;
const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Incremental parser of HTTP/1.1 answers on one connection: feed it chunks as they arrive, it
 * returns each complete answer. Throws on anything it cannot frame (no `Content-Length`, chunked
 * encoding, a malformed status line, an oversized head or body).
 */
export class ResponseParser {
  #buffered: Buffer = Buffer.alloc(0);
  #head: { status: number; head: string; bodyStart: number; bodyLength: number } | undefined;

  /** Add a chunk; returns the answers it completed (usually zero or one). */
  push(chunk: Buffer): RawResponse[] {
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    const done: RawResponse[] = [];
    for (;;) {
      if (!this.#head) {
        const end = this.#buffered.indexOf('\r\n\r\n', 0, 'latin1');
        if (end < 0) {
          if (this.#buffered.length > MAX_HEAD_BYTES) throw new Error('the answer head is longer than 16 KiB');
          return done;
        }
        this.#head = parseHead(this.#buffered.toString('latin1', 0, end), end + 4);
      }
      const { bodyStart, bodyLength } = this.#head;
      if (this.#buffered.length < bodyStart + bodyLength) return done;
      done.push({ status: this.#head.status, head: this.#head.head, body: this.#buffered.subarray(bodyStart, bodyStart + bodyLength) });
      this.#buffered = this.#buffered.subarray(bodyStart + bodyLength);
      this.#head = undefined;
      if (this.#buffered.length === 0) return done;
    }
  }
}

function parseHead(head: string, bodyStart: number): { status: number; head: string; bodyStart: number; bodyLength: number } {
  const status = /^HTTP\/1\.[01] ([1-5]\d\d)(?: [^\r\n]*)?(?:\r\n|$)/.exec(head);
  if (!status?.[1]) throw new Error(`not an HTTP/1.x status line: ${JSON.stringify(head.slice(0, 40))}`);
  if (/\r\ntransfer-encoding:/i.test(head)) throw new Error('chunked answers are not supported by the bench client');
  const lengths = [...head.matchAll(/\r\ncontent-length:[ \t]*(\d{1,9})[ \t]*(?=\r\n|$)/gi)].map((m) => Number(m[1]));
  const [bodyLength] = lengths;
  if (bodyLength === undefined || lengths.some((l) => l !== bodyLength)) throw new Error('the answer has no single Content-Length');
  if (bodyLength > MAX_BODY_BYTES) throw new Error('the answer body is larger than 1 MiB');
  return { status: Number(status[1]), head, bodyStart, bodyLength };
}

/** A keep-alive connection that sends pre-serialised requests one at a time. */
export class RawConnection {
  readonly #socket: Socket;
  readonly #parser = new ResponseParser();
  #pending: { resolve: (r: RawResponse) => void; reject: (err: Error) => void } | undefined;
  #failure: Error | undefined;
  /** Resolves once the TCP connection is established (rejects if it fails first). */
  readonly connected: Promise<void>;

  constructor(url: URL) {
    this.#socket = connect({ host: url.hostname, port: Number(url.port), noDelay: true });
    this.connected = new Promise((resolve, reject) => {
      this.#socket.once('connect', resolve);
      this.#socket.once('error', reject);
    });
    this.#socket.on('data', (chunk: Buffer) => {
      let answers: RawResponse[];
      try {
        answers = this.#parser.push(chunk);
      } catch (err) {
        this.#fail(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      for (const answer of answers) {
        const pending = this.#pending;
        if (!pending) {
          this.#fail(new Error('an answer arrived with no request in flight'));
          return;
        }
        this.#pending = undefined;
        pending.resolve(answer);
      }
    });
    this.#socket.on('error', (err) => this.#fail(err));
    this.#socket.on('close', () => this.#fail(new Error('the broker closed the connection')));
  }

  /** Send one request; resolves with its answer. One at a time: a second call before the first is answered throws. */
  send(request: Buffer): Promise<RawResponse> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#pending) return Promise.reject(new Error('a request is already in flight on this connection'));
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#socket.write(request);
    });
  }

  close(): void {
    this.#failure ??= new Error('closed');
    this.#socket.destroy();
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(err);
  }
}
