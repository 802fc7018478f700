import type { ServerResponse } from 'node:http';
import type { EventLog } from './storage/storage.js';

const KEEPALIVE_MS = 15_000;
/** Events kept per device for `Last-Event-ID` replay (its own; broadcasts are counted apart). */
export const EVENTS_KEPT_PER_DEVICE = 100;
/** Broadcast events (policy changes) kept for replay. */
export const BROADCASTS_KEPT = 20;
/** Events older than this are dropped whatever their number (the periodic purge). */
export const EVENT_RETENTION_MS = 7 * 86_400_000;

interface Channel {
  readonly res: ServerResponse;
  readonly keepalive: NodeJS.Timeout;
}

/**
 * The agents' event channels (Server-Sent Events, opened by the agent on `GET /events`). One
 * device may hold several (agent restarts overlap); each event goes to all of them.
 *
 * Every event but `ready` and `reset` is appended to the event log (SQLite) first and carries its
 * log id as the SSE `id`, increasing across devices and restarts. An agent that reconnects with
 * `Last-Event-ID` gets what it missed, in order, before live events; when what it missed is no
 * longer kept (see the retention constants) or the id is not one this broker handed out, it gets a
 * `reset` event first: re-read the policy and report again. `ready` ends the replay and carries
 * the current id, so even an agent that has received nothing yet has a position to resume from.
 */
export class EventHub {
  readonly #channels = new Map<string, Set<Channel>>();

  constructor(
    private readonly log: EventLog,
    private readonly now: () => number = Date.now,
  ) {}

  /** Open a channel; `lastEventId` is the request's `Last-Event-ID` header, if any. */
  open(deviceId: string, res: ServerResponse, lastEventId?: string): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const channel: Channel = {
      res,
      keepalive: setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS).unref(),
    };
    // Replay and `ready` are written before the channel joins the set, in this same turn: no
    // live event can slip in between or be sent twice.
    const lastId = this.log.lastId();
    let replayed = 0;
    if (lastEventId !== undefined) {
      const after = /^\d{1,15}$/.test(lastEventId) ? Number(lastEventId) : Number.NaN;
      const known = Number.isSafeInteger(after) && after <= lastId;
      if (!known || after < this.log.watermark(deviceId)) {
        // Not an id of ours (another broker, a wiped database): nothing can be replayed. Older
        // than what is kept: what is still kept after it follows.
        writeEvent(res, undefined, 'reset', serialize({ reason: known ? 'events-expired' : 'unknown-event-id' }));
      }
      if (known) {
        for (const e of this.log.since(deviceId, after, this.now())) {
          writeEvent(res, e.id, e.event, e.data);
          replayed++;
        }
      }
    }
    writeEvent(res, lastId, 'ready', serialize({ deviceId, replayed }));
    let set = this.#channels.get(deviceId);
    if (!set) {
      set = new Set();
      this.#channels.set(deviceId, set);
    }
    set.add(channel);
    res.on('close', () => {
      clearInterval(channel.keepalive);
      set.delete(channel);
      if (set.size === 0 && this.#channels.get(deviceId) === set) this.#channels.delete(deviceId);
    });
  }

  isConnected(deviceId: string): boolean {
    return (this.#channels.get(deviceId)?.size ?? 0) > 0;
  }

  /**
   * Log one event for a device and send it to every open channel of it; returns how many got it
   * now (0: it waits in the log for the agent's reconnect). `expiresAtMs`: not replayed after.
   */
  send(deviceId: string, event: string, data: unknown, options: { expiresAtMs?: number } = {}): number {
    const payload = serialize(data);
    const id = this.log.append(deviceId, event, payload, this.now(), options.expiresAtMs ?? null);
    this.log.trim(deviceId, EVENTS_KEPT_PER_DEVICE);
    const set = this.#channels.get(deviceId);
    if (!set) return 0;
    for (const channel of set) writeEvent(channel.res, id, event, payload);
    return set.size;
  }

  broadcast(event: string, data: unknown): void {
    const payload = serialize(data);
    const id = this.log.append(null, event, payload, this.now(), null);
    this.log.trim(null, BROADCASTS_KEPT);
    for (const set of this.#channels.values()) for (const channel of set) writeEvent(channel.res, id, event, payload);
  }

  /** Drop events past {@link EVENT_RETENTION_MS} (called by the broker's periodic purge). */
  purge(): number {
    return this.log.purgeBefore(this.now() - EVENT_RETENTION_MS);
  }

  /** End a device's channels (after `session-revoked` for a revoked device). */
  disconnect(deviceId: string): void {
    for (const channel of this.#channels.get(deviceId) ?? []) channel.res.end();
  }

  closeAll(): void {
    for (const set of this.#channels.values()) for (const channel of set) channel.res.end();
    this.#channels.clear();
  }
}

// SSE data lines must not contain newlines: JSON.stringify and compact JWTs have none.
function serialize(data: unknown): string {
  return typeof data === 'string' ? data : JSON.stringify(data);
}

function writeEvent(res: ServerResponse, id: number | undefined, event: string, payload: string): void {
  res.write(`${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${payload}\n\n`);
}
