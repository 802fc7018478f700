import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import { systemClock, type Clock, type TimerHandle } from '../session/clock.js';
import type { EventChannel } from './event-channel.js';
import type { SetPoller } from './set-poller.js';

export type SignalTransport = 'event-channel' | 'poll';

export interface PollFallbackOptions {
  readonly channel: Pick<EventChannel, 'on' | 'status'>;
  readonly poller: Pick<SetPoller, 'start' | 'stop' | 'isRunning'>;
  readonly clock?: Clock;
  readonly log?: Logger;
  /** Failed connections in a row before polling starts. Default 2. */
  readonly failuresBeforePoll?: number;
  /**
   * A connection counts as working once it has delivered an event (the broker sends `ready` at
   * once) and stayed up this long. Default 30,000. A connection that drops sooner is a failure.
   */
  readonly healthyAfterMs?: number;
  /**
   * The broker sends `ready` as soon as a channel opens: an open channel that has delivered
   * nothing after this long is being held back (a buffering proxy), and polling starts at once,
   * without waiting for the channel's idle timeout. Default 10,000.
   */
  readonly firstEventTimeoutMs?: number;
}

export interface PollFallbackEvents {
  transport: [transport: SignalTransport, reason: string];
}

/**
 * Decides how the agent receives the broker's SETs. The event channel (server-sent events) is
 * preferred; when it cannot be opened or keeps dropping (`failuresBeforePoll` in a row), or opens
 * but delivers nothing for `firstEventTimeoutMs` (a proxy that buffers the stream), the RFC 8936
 * poller takes over. The channel keeps reconnecting
 * with its own backoff meanwhile, and once a connection has proved itself the poller stops.
 * SETs that arrive over both while switching are handled once (the agent dedups by `jti`).
 */
export class PollFallback extends EventEmitter<PollFallbackEvents> {
  readonly #o: PollFallbackOptions;
  readonly #clock: Clock;
  #transport: SignalTransport = 'event-channel';
  #failures = 0;
  #openedAt: number | undefined;
  #sawEvent = false;
  #healthyTimer: TimerHandle | undefined;
  #silenceTimer: TimerHandle | undefined;

  constructor(options: PollFallbackOptions) {
    super();
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    options.channel.on('status', (status, detail) => this.#onStatus(status, detail));
    options.channel.on('message', () => this.#onEvent());
  }

  get transport(): SignalTransport {
    return this.#transport;
  }

  #healthyAfterMs(): number {
    return this.#o.healthyAfterMs ?? 30_000;
  }

  #onStatus(status: string, detail: string | undefined): void {
    if (status === 'open') {
      const openedAt = this.#clock.now();
      this.#openedAt = openedAt;
      this.#sawEvent = false;
      this.#clearSilenceTimer();
      this.#silenceTimer = this.#clock.setTimeout(() => {
        this.#silenceTimer = undefined;
        if (this.#openedAt !== openedAt || this.#sawEvent) return;
        this.#use('poll', 'the event channel opened but delivered nothing: a proxy may be holding it back');
      }, this.#o.firstEventTimeoutMs ?? 10_000);
      return;
    }
    this.#clearSilenceTimer();
    if (status === 'waiting') {
      this.#clearHealthyTimer();
      const healthy = this.#sawEvent && this.#openedAt !== undefined && this.#clock.now() - this.#openedAt >= this.#healthyAfterMs();
      this.#openedAt = undefined;
      this.#sawEvent = false;
      if (healthy) {
        this.#failures = 0;
        return;
      }
      this.#failures++;
      if (this.#failures >= (this.#o.failuresBeforePoll ?? 2)) this.#use('poll', `the event channel failed ${this.#failures} times in a row (${detail ?? 'closed'})`);
      return;
    }
    if (status === 'closed') {
      // The channel was stopped (agent stopping, machine suspending): so is polling.
      this.#clearHealthyTimer();
      this.#failures = 0;
      this.#use('event-channel', 'the event channel was stopped');
    }
  }

  #onEvent(): void {
    if (this.#sawEvent) return;
    this.#sawEvent = true;
    this.#clearSilenceTimer();
    if (this.#transport !== 'poll') return;
    const openedAt = this.#openedAt;
    const wait = Math.max(0, (openedAt ?? this.#clock.now()) + this.#healthyAfterMs() - this.#clock.now());
    this.#clearHealthyTimer();
    this.#healthyTimer = this.#clock.setTimeout(() => {
      this.#healthyTimer = undefined;
      if (this.#openedAt !== openedAt || this.#o.channel.status !== 'open') return;
      this.#failures = 0;
      this.#use('event-channel', 'the event channel works again');
    }, wait);
  }

  #clearSilenceTimer(): void {
    if (this.#silenceTimer !== undefined) this.#clock.clearTimeout(this.#silenceTimer);
    this.#silenceTimer = undefined;
  }

  #clearHealthyTimer(): void {
    if (this.#healthyTimer !== undefined) this.#clock.clearTimeout(this.#healthyTimer);
    this.#healthyTimer = undefined;
  }

  #use(transport: SignalTransport, reason: string): void {
    if (this.#transport === transport) return;
    this.#transport = transport;
    this.#o.log?.info({ mod: 'signals', transport, reason }, 'SET transport changed');
    if (transport === 'poll') this.#o.poller.start();
    else void this.#o.poller.stop();
    this.emit('transport', transport, reason);
  }
}
