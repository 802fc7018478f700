/**
 * Incremental parser for `text/event-stream` (WHATWG HTML §9.2.6). Chunks may split lines and
 * even UTF-8 characters anywhere; the parser keeps the remainder. It never throws; oversize lines
 * and events are cut off (a broker cannot make the agent hold unbounded memory).
 */
export interface SseMessage {
  readonly event: string;
  readonly data: string;
  readonly id?: string;
  /** A `retry:` field sent with this message (ms). */
  readonly retryMs?: number;
}

const MAX_BUFFER_CHARS = 1024 * 1024;
const MAX_DATA_CHARS = 512 * 1024;

export class SseParser {
  readonly #decoder = new TextDecoder('utf-8');
  #buffer = '';
  #data: string[] = [];
  #dataChars = 0;
  #event = '';
  #id: string | undefined;
  #retry: number | undefined;
  /** The last event id seen, for `Last-Event-ID` on reconnect. */
  lastEventId: string | undefined;

  push(chunk: Uint8Array | string): SseMessage[] {
    this.#buffer += typeof chunk === 'string' ? chunk : this.#decoder.decode(chunk, { stream: true });
    const out: SseMessage[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.#buffer);
      if (!m) break;
      // A lone \r at the very end may be the first half of \r\n: wait for the next chunk.
      if (m[0] === '\r' && m.index === this.#buffer.length - 1) break;
      const line = this.#buffer.slice(0, m.index);
      this.#buffer = this.#buffer.slice(m.index + m[0].length);
      const message = this.#line(line);
      if (message) out.push(message);
    }
    if (this.#buffer.length > MAX_BUFFER_CHARS) this.#buffer = ''; // a line that never ends: drop it
    return out;
  }

  #line(line: string): SseMessage | undefined {
    if (line === '') return this.#dispatch();
    if (line.startsWith(':')) return undefined; // comment (keep-alive)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.#event = value.slice(0, 128);
        break;
      case 'data':
        if (this.#dataChars + value.length <= MAX_DATA_CHARS) {
          this.#data.push(value);
          this.#dataChars += value.length + 1;
        }
        break;
      case 'id':
        if (!value.includes('\0')) this.#id = value.slice(0, 256);
        break;
      case 'retry':
        if (/^\d{1,9}$/.test(value)) this.#retry = Number(value);
        break;
      default:
        break; // unknown fields are ignored, as the spec says
    }
    return undefined;
  }

  #dispatch(): SseMessage | undefined {
    if (this.#id !== undefined) this.lastEventId = this.#id;
    const hasData = this.#data.length > 0;
    const message: SseMessage = {
      event: this.#event || 'message',
      data: this.#data.join('\n'),
      ...(this.#id === undefined ? {} : { id: this.#id }),
      ...(this.#retry === undefined ? {} : { retryMs: this.#retry }),
    };
    this.#data = [];
    this.#dataChars = 0;
    this.#event = '';
    this.#id = undefined;
    this.#retry = undefined;
    return hasData ? message : undefined;
  }
}
