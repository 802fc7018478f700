import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import { backoffDelayMs, systemClock, type Clock, type TimerHandle } from '../session/clock.js';
import type { FetchLike } from '../session/dpop-fetch.js';
import { SseParser, type SseMessage } from './sse-parser.js';

export interface EventChannelOptions {
  /** The broker's event stream, e.g. `https://broker.example.com/events`. */
  readonly url: URL;
  /** A DPoP-signing fetch (the stream is authenticated like any other broker call). */
  readonly fetch: FetchLike;
  /** The current access token, fetched at each (re)connect so a refreshed token is used. */
  readonly accessToken: () => Promise<string | undefined>;
  readonly clock?: Clock;
  readonly log?: Logger;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Reconnect when nothing (not even a keep-alive comment) arrived for this long. */
  readonly idleTimeoutMs?: number;
  readonly random?: () => number;
  /** Where to resume: the last event id handled before (e.g. by the previous agent run). */
  readonly lastEventId?: string | undefined;
}

export type ChannelStatus = 'connecting' | 'open' | 'closed' | 'waiting';

export interface EventChannelEvents {
  message: [message: SseMessage];
  status: [status: ChannelStatus, detail?: string];
  /** The broker refused the token (401/403): the session should refresh or re-authenticate. */
  unauthorized: [status: number, wwwAuthenticate: string | null];
}

/**
 * The agent's outbound event channel to the broker (server-sent events): challenges and CAEP
 * events come down it. It reconnects on its own with exponential backoff and full jitter, sends
 * `Last-Event-ID` so nothing between two connections is missed, and treats a silent connection
 * (no byte for `idleTimeoutMs`) as dropped.
 */
export class EventChannel extends EventEmitter<EventChannelEvents> {
  readonly #o: EventChannelOptions;
  readonly #clock: Clock;
  readonly #parser = new SseParser();
  #abort: AbortController | undefined;
  #timer: TimerHandle | undefined;
  #idleTimer: TimerHandle | undefined;
  #running = false;
  #failures = 0;
  #status: ChannelStatus = 'closed';

  constructor(options: EventChannelOptions) {
    super();
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    if (options.lastEventId) this.#parser.lastEventId = options.lastEventId;
  }

  get status(): ChannelStatus {
    return this.#status;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#connect();
  }

  stop(): void {
    this.#running = false;
    this.#abort?.abort();
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    if (this.#idleTimer !== undefined) this.#clock.clearTimeout(this.#idleTimer);
    this.#setStatus('closed');
  }

  /** Reconnect now (after a token refresh, or when the network came back). */
  reconnect(): void {
    if (!this.#running) return;
    this.#abort?.abort();
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#failures = 0;
    void this.#connect();
  }

  #setStatus(status: ChannelStatus, detail?: string): void {
    this.#status = status;
    this.emit('status', status, detail);
  }

  #armIdle(abort: AbortController): void {
    if (this.#idleTimer !== undefined) this.#clock.clearTimeout(this.#idleTimer);
    this.#idleTimer = this.#clock.setTimeout(() => abort.abort(new Error('idle')), this.#o.idleTimeoutMs ?? 45_000);
  }

  async #connect(): Promise<void> {
    if (!this.#running) return;
    const abort = new AbortController();
    this.#abort = abort;
    this.#setStatus('connecting');
    let reason = 'closed by the broker';
    try {
      const token = await this.#o.accessToken();
      const headers: Record<string, string> = { accept: 'text/event-stream', 'cache-control': 'no-store' };
      if (token) headers.authorization = `DPoP ${token}`;
      if (this.#parser.lastEventId) headers['last-event-id'] = this.#parser.lastEventId;
      this.#armIdle(abort);
      const res = await this.#o.fetch(this.#o.url, { headers, signal: abort.signal });
      if (res.status === 401 || res.status === 403) {
        await res.body?.cancel().catch(() => undefined);
        this.emit('unauthorized', res.status, res.headers.get('www-authenticate'));
        throw new Error(`HTTP ${res.status}`);
      }
      if (!res.ok || !res.body || !(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
        await res.body?.cancel().catch(() => undefined);
        throw new Error(`HTTP ${res.status}`);
      }
      this.#failures = 0;
      this.#setStatus('open');
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        this.#armIdle(abort);
        for (const message of this.#parser.push(value)) this.emit('message', message);
      }
    } catch (err) {
      reason = abort.signal.aborted && abort.signal.reason instanceof Error ? abort.signal.reason.message : err instanceof Error ? err.message : String(err);
    } finally {
      if (this.#idleTimer !== undefined) this.#clock.clearTimeout(this.#idleTimer);
    }
    if (!this.#running || (this.#abort !== abort && this.#abort !== undefined)) return; // stopped or superseded
    const delayMs = backoffDelayMs(this.#failures++, {
      baseMs: this.#o.baseDelayMs ?? 1_000,
      maxMs: this.#o.maxDelayMs ?? 60_000,
      ...(this.#o.random ? { random: this.#o.random } : {}),
    });
    this.#o.log?.debug({ mod: 'event-channel', reason, delayMs }, 'event channel dropped; reconnecting');
    this.#setStatus('waiting', reason);
    this.#timer = this.#clock.setTimeout(() => void this.#connect(), delayMs);
  }
}
