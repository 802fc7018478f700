import { EventEmitter } from 'node:events';
import { pollSets, type PollRequest } from '../../../broker/sdk/shared-signals/poll.js';
import type { Logger } from '../log.js';
import { backoffDelayMs, systemClock, type Clock, type TimerHandle } from '../session/clock.js';
import type { FetchLike } from '../session/dpop-fetch.js';

/** What a poll receiver reports for a SET it could not accept (RFC 8936 §2.2 `setErrs`). */
export interface SetError {
  readonly err: string;
  readonly description: string;
}

export interface SetPollerOptions {
  /** The broker's RFC 8936 endpoint. */
  readonly url: URL;
  /** A DPoP-signing fetch: the broker answers a device only with that device's own SETs. */
  readonly fetch: FetchLike;
  /**
   * Verify and act on one SET. Resolves to `undefined` once handled (it is acknowledged on the
   * next poll), or to the error to report in `setErrs`.
   */
  readonly process: (jti: string, set: string) => Promise<SetError | undefined>;
  readonly clock?: Clock;
  readonly log?: Logger;
  /** Default 50. */
  readonly maxEvents?: number;
  /**
   * `false` (default): long poll, the broker holds the request until a SET is queued or its own
   * timeout passes, so a SET arrives as soon as it is emitted. `true`: short polls every `intervalMs`.
   */
  readonly returnImmediately?: boolean;
  /** Pause between short polls (default 5,000); a long poll is re-issued at once. */
  readonly intervalMs?: number;
  /** Backoff after a failed poll: default 1,000 doubling to 60,000, full jitter. */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly random?: () => number;
  /** Per request; default 40,000 (above the broker's 25 s long poll). */
  readonly timeoutMs?: number;
}

export interface SetPollerEvents {
  /** A SET was handled; it will be (or was just) acknowledged. */
  processed: [jti: string];
  /** A SET was refused; it is reported in the next poll's `setErrs`. */
  refused: [jti: string, error: SetError];
  /** A poll failed (network, 401, 5xx); the next one waits `delayMs`. */
  failed: [reason: string, delayMs: number];
  /** A poll request went out carrying these acknowledgements and errors (tests, diagnostics). */
  request: [request: PollRequest];
}

/** At most this many acknowledgements wait for the next poll (SETs handled over the event channel). */
const MAX_PENDING_ACKS = 1_000;

/**
 * The agent's RFC 8936 poll receiver, used when the event channel cannot carry SETs (a proxy
 * that buffers server-sent events, a channel that keeps dropping). Each poll acknowledges what
 * was handled since the last one and reports what was refused; a failed poll keeps both for the
 * next one and backs off. Every timer goes through the injected clock.
 */
export class SetPoller extends EventEmitter<SetPollerEvents> {
  readonly #o: SetPollerOptions;
  readonly #clock: Clock;
  readonly #acks = new Set<string>();
  readonly #errs = new Map<string, SetError>();
  #timer: TimerHandle | undefined;
  #abort: AbortController | undefined;
  #loop: Promise<void> = Promise.resolve();
  #running = false;
  #stopping: Promise<void> | undefined;
  #failures = 0;

  constructor(options: SetPollerOptions) {
    super();
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  get isRunning(): boolean {
    return this.#running;
  }

  /** Acknowledgements and errors not yet sent to the broker. */
  get pendingReplies(): { readonly acks: number; readonly errors: number } {
    return { acks: this.#acks.size, errors: this.#errs.size };
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#failures = 0;
    const stopping = this.#stopping;
    this.#stopping = undefined;
    if (!stopping) {
      this.#schedule(0);
      return;
    }
    // A restart right after a stop waits for the stop's final acknowledgement to go out first.
    this.#loop = stopping.then(() => {
      if (this.#running) this.#schedule(0);
    });
  }

  /**
   * Stop polling. What was handled but not yet acknowledged is sent in one last request
   * (`maxEvents: 0`, acknowledge only), so the broker does not deliver it again.
   */
  stop(): Promise<void> {
    if (!this.#running) return this.#stopping ?? Promise.resolve();
    this.#running = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#abort?.abort();
    this.#stopping = (async () => {
      await this.#loop;
      if (this.#acks.size > 0 || this.#errs.size > 0) await this.#poll({ maxEvents: 0, returnImmediately: true });
    })();
    return this.#stopping;
  }

  /** A SET handled elsewhere (the event channel): acknowledge it on the next poll. */
  acknowledge(jti: string): void {
    if (this.#acks.size >= MAX_PENDING_ACKS) this.#acks.delete(this.#acks.values().next().value as string);
    this.#acks.add(jti);
  }

  #schedule(delayMs: number): void {
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#loop = this.#tick();
    }, delayMs);
  }

  async #tick(): Promise<void> {
    if (!this.#running) return;
    const outcome = await this.#poll({ maxEvents: this.#o.maxEvents ?? 50, returnImmediately: this.#o.returnImmediately ?? false });
    if (!this.#running) return;
    if (outcome.ok) {
      this.#failures = 0;
      const longPoll = this.#o.returnImmediately !== true;
      this.#schedule(outcome.moreAvailable || longPoll ? 0 : (this.#o.intervalMs ?? 5_000));
      return;
    }
    const delayMs = backoffDelayMs(this.#failures++, {
      baseMs: this.#o.baseDelayMs ?? 1_000,
      maxMs: this.#o.maxDelayMs ?? 60_000,
      ...(this.#o.random ? { random: this.#o.random } : {}),
    });
    this.#o.log?.debug({ mod: 'set-poller', reason: outcome.reason, delayMs }, 'SET poll failed; retrying later');
    this.emit('failed', outcome.reason, delayMs);
    this.#schedule(delayMs);
  }

  async #poll(shape: Pick<PollRequest, 'maxEvents' | 'returnImmediately'>): Promise<{ ok: true; moreAvailable: boolean } | { ok: false; reason: string }> {
    const acks = [...this.#acks];
    const errs = new Map(this.#errs);
    const request: PollRequest = {
      ...shape,
      ...(acks.length > 0 ? { ack: acks } : {}),
      ...(errs.size > 0 ? { setErrs: Object.fromEntries(errs) } : {}),
    };
    this.emit('request', request);
    const abort = new AbortController();
    this.#abort = abort;
    const result = await pollSets(this.#o.url, request, { fetch: this.#o.fetch, signal: abort.signal, timeoutMs: this.#o.timeoutMs ?? 40_000 });
    if (!result.ok) return { ok: false, reason: `${result.err}${result.status === null ? '' : ` (HTTP ${result.status})`}` };
    // Delivered: the broker applied these acknowledgements and errors.
    for (const jti of acks) this.#acks.delete(jti);
    for (const jti of errs.keys()) this.#errs.delete(jti);
    for (const [jti, set] of Object.entries(result.response.sets)) {
      let error: SetError | undefined;
      try {
        error = await this.#o.process(jti, set);
      } catch (err) {
        error = { err: 'invalid_request', description: `the SET could not be handled: ${err instanceof Error ? err.message.slice(0, 200) : 'error'}` };
      }
      if (error) {
        this.#errs.set(jti, error);
        this.#o.log?.warn({ mod: 'set-poller', err: error.err }, 'refused a polled SET; reporting it to the broker');
        this.emit('refused', jti, error);
      } else {
        this.acknowledge(jti);
        this.emit('processed', jti);
      }
    }
    return { ok: true, moreAvailable: result.response.moreAvailable === true };
  }
}
