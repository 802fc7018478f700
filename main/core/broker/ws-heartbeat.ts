import type WebSocket from 'ws';

/** How often each end of the report stream pings the other (agent and broker alike). */
export const HEARTBEAT_INTERVAL_MS = 30_000;

/**
 * Keep a WebSocket honest: ping the peer every `intervalMs`, and when nothing came back since the
 * last ping (no pong, no message) take the connection for dead and terminate it. A connection can
 * die without a close: a laptop that slept, a NAT or proxy that forgot the mapping, a pulled
 * cable. Without this, the agent would learn it only when a report's answer timed out, and the
 * broker would keep the dead stream (and its slot among the device's streams) for its lifetime.
 * Terminating fires `close`, so whatever waits on the connection is settled then.
 *
 * The timer is unref'd and cleared on close.
 *
 * @example
 * ```ts
 * const ws = new WebSocket(url);
 * ws.once('open', () => keepAlive(ws));
 * ```
 */
export function keepAlive(ws: WebSocket, intervalMs = HEARTBEAT_INTERVAL_MS): void {
  let heard = true;
  const mark = (): void => {
    heard = true;
  };
  ws.on('pong', mark);
  ws.on('message', mark);
  const timer = setInterval(() => {
    if (ws.readyState !== ws.OPEN) return;
    if (!heard) {
      ws.terminate();
      return;
    }
    heard = false;
    ws.ping();
  }, intervalMs);
  timer.unref();
  ws.once('close', () => clearInterval(timer));
}
