import type { ServerResponse } from 'node:http';

const KEEPALIVE_MS = 15_000;

interface Channel {
  readonly res: ServerResponse;
  readonly keepalive: NodeJS.Timeout;
}

/**
 * The agents' event channels (Server-Sent Events, opened by the agent on `GET /events`). One
 * device may hold several (agent restarts overlap); each event goes to all of them.
 */
export class EventHub {
  readonly #channels = new Map<string, Set<Channel>>();
  #nextId = 1;

  open(deviceId: string, res: ServerResponse): void {
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
    this.#write(channel, 'ready', { deviceId });
  }

  isConnected(deviceId: string): boolean {
    return (this.#channels.get(deviceId)?.size ?? 0) > 0;
  }

  /** Send one event to every open channel of a device; returns how many got it. */
  send(deviceId: string, event: string, data: unknown): number {
    const set = this.#channels.get(deviceId);
    if (!set) return 0;
    for (const channel of set) this.#write(channel, event, data);
    return set.size;
  }

  broadcast(event: string, data: unknown): void {
    for (const set of this.#channels.values()) for (const channel of set) this.#write(channel, event, data);
  }

  /** End a device's channels (after `session-revoked` for a revoked device). */
  disconnect(deviceId: string): void {
    for (const channel of this.#channels.get(deviceId) ?? []) channel.res.end();
  }

  closeAll(): void {
    for (const set of this.#channels.values()) for (const channel of set) channel.res.end();
    this.#channels.clear();
  }

  #write(channel: Channel, event: string, data: unknown): void {
    // SSE data lines must not contain newlines: JSON.stringify and compact JWTs have none.
    const payload = typeof data === 'string' ? data : JSON.stringify(data);
    channel.res.write(`id: ${this.#nextId++}\nevent: ${event}\ndata: ${payload}\n\n`);
  }
}
