import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Close keep-alive connections that stayed idle (no request in progress) for `idleMs`, or up to
 * one `tickMs` more: node's own `server.keepAliveTimeout`, without its cost. Node arms that
 * timeout after every response with a new `Timeout` object, which lives until the connection's
 * next request: at 2,000 reports/s over 200 connections that is ~100 ms, long enough for it to be
 * promoted to the old generation and die there, about half of what the broker still promoted per
 * report (measured with `--trace-gc-nvp`: 7.6 KB per scavenge with node's timeout, 3.3 KB with
 * none; see docs/broker-server.md, "What the old generation grew from"). Here a request only
 * rewrites a small integer in a map, and one timer sweeps every `tickMs`.
 *
 * Call it on a server whose `keepAliveTimeout` is 0. A connection is tracked from its first
 * request (one that never sends one is the headers timeout's business, as before); a long request
 * (an event stream, a challenge waiting for its answer) keeps its connection however long it takes.
 *
 * @example
 * ```ts
 * server.keepAliveTimeout = 0;
 * const stop = closeIdleSockets(server, { idleMs: 5_000 });
 * // … on shutdown:
 * stop();
 * ```
 */
export function closeIdleSockets(server: Server, options: { idleMs: number; tickMs?: number }): () => void {
  const tickMs = options.tickMs ?? 1_000;
  const idleTicks = Math.max(1, Math.ceil(options.idleMs / tickMs));
  let tick = 0;
  // Per connection: the tick its last request ended (≥ 0), or minus the number of its requests in
  // progress (HTTP/1.1 may pipeline several).
  const state = new Map<Socket, number>();
  const onRequest = (req: { socket: Socket }, res: { once(event: 'close', listener: () => void): unknown }): void => {
    const socket = req.socket;
    const before = state.get(socket);
    if (before === undefined) socket.once('close', () => state.delete(socket));
    state.set(socket, before !== undefined && before < 0 ? before - 1 : -1);
    res.once('close', () => {
      const now = state.get(socket);
      if (now !== undefined) state.set(socket, now < -1 ? now + 1 : tick);
    });
  };
  server.on('request', onRequest);
  const sweep = setInterval(() => {
    tick++;
    for (const [socket, since] of state) {
      if (since >= 0 && tick - since > idleTicks) {
        state.delete(socket);
        socket.destroy();
      }
    }
  }, tickMs);
  sweep.unref();
  return () => {
    clearInterval(sweep);
    server.off('request', onRequest);
  };
}
