import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, realpath } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';
import { WardError } from '../errors.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { dispatch, type AgentBackend, type IpcResult, type PushMessage } from '../../shared/ipc-contract.js';

/**
 * The web UI's Content-Security-Policy: only our own scripts, styles and API; no framing, no
 * forms, no plugins. renderer/index.html carries the same policy as a meta tag for Electron.
 */
export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': UI_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'x-frame-options': 'DENY',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), usb=(), serial=(), hid=()',
};

const COOKIE = 'ward_ui';
const MAX_BODY_BYTES = 64 * 1024;
const HEARTBEAT_MS = 15_000;
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

export interface UiServerOptions {
  readonly backend: AgentBackend;
  /** The built renderer (renderer/dist). */
  readonly staticDir: string;
  /** 0 (default): a random free port. */
  readonly port?: number;
  readonly log?: Logger;
}

export interface UiServer {
  /** Open this once: it carries the one-time token, which the server trades for a session cookie. */
  readonly url: string;
  readonly origin: string;
  readonly port: number;
  /** Issue a fresh one-time URL (a second browser, or after the first link was used). */
  newLoginUrl(): string;
  close(): Promise<void>;
}

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

function cookieValue(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8', extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': 'no-store', ...extra });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: IpcResult<unknown>): void {
  send(res, status, JSON.stringify(body), 'application/json; charset=utf-8');
}

const refusal = (code: string, message: string): IpcResult<never> => ({ ok: false, error: { code, message } });

/** The HTTP status for an envelope: clients read the envelope, proxies and logs see the status. */
function statusFor(result: IpcResult<unknown>): number {
  if (result.ok) return 200;
  switch (result.error.code) {
    case 'invalid-request':
      return 400;
    case 'unknown-channel':
      return 404;
    case 'internal':
      return 500;
    default:
      return 409;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new WardError('body-too-large', `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * `ward ui`: the renderer and a JSON bridge implementing the IPC contract, on 127.0.0.1 only.
 *
 * Who may talk to it: whoever opened the one-time URL (the token becomes an HttpOnly,
 * SameSite=Strict cookie and the token is then void). Every request must name our own Host
 * (DNS rebinding), and every API request must come from our own Origin (CSRF, other local pages).
 */
export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const log = (options.log ?? silentLogger()).child({ mod: 'ui-server' });
  const staticRoot = await realpath(options.staticDir).catch(() => {
    throw new WardError('ui-not-built', `The web UI is not built (${options.staticDir} is missing).`, { hint: 'Run `npm run build` first.' });
  });
  const sessions = new Set<string>();
  const tokens = new Set<string>();
  const streams = new Set<ServerResponse>();
  let port = 0;
  const allowedHosts = (): string[] => [`127.0.0.1:${port}`, `localhost:${port}`];
  const allowedOrigins = (): string[] => allowedHosts().map((h) => `http://${h}`);

  const issueToken = (): string => {
    const token = randomBytes(32).toString('base64url');
    tokens.add(token);
    return token;
  };
  const consumeToken = (candidate: string): boolean => {
    for (const token of tokens) {
      if (sameSecret(token, candidate)) {
        tokens.delete(token);
        return true;
      }
    }
    return false;
  };
  const hasSession = (req: IncomingMessage): boolean => {
    const value = cookieValue(req, COOKIE);
    return value !== undefined && [...sessions].some((s) => sameSecret(s, value));
  };

  async function serveStatic(res: ServerResponse, pathname: string): Promise<void> {
    const wanted = resolve(staticRoot, `.${decodeURIComponent(pathname)}`);
    // Anything outside the build, or without an extension we serve, is the single-page app.
    const inside = wanted.startsWith(staticRoot + sep) && Object.hasOwn(CONTENT_TYPES, extname(wanted));
    const file = inside ? wanted : join(staticRoot, 'index.html');
    try {
      const real = await realpath(file);
      if (!real.startsWith(staticRoot + sep)) throw new Error('outside');
      const body = await readFile(real);
      const immutable = real.includes(`${sep}assets${sep}`);
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'content-type': CONTENT_TYPES[extname(real)] ?? 'application/octet-stream',
        'cache-control': immutable ? 'private, max-age=31536000, immutable' : 'no-store',
      });
      res.end(body);
    } catch {
      send(res, 404, 'Not found');
    }
  }

  function openStream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(': ward events\n\n');
    streams.add(res);
    const write = (message: PushMessage): void => {
      res.write(`event: ${message.event}\ndata: ${JSON.stringify(message.payload)}\n\n`);
    };
    const unsubscribe = options.backend.subscribe(write);
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    req.on('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
      streams.delete(res);
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!allowedHosts().includes(req.headers.host ?? '')) {
      // A page on another name resolving to 127.0.0.1 (DNS rebinding) lands here.
      send(res, 403, 'Wrong host');
      return;
    }
    const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins().includes(origin)) {
      sendJson(res, 403, refusal('forbidden-origin', 'Requests from other sites are refused.'));
      return;
    }
    const token = url.searchParams.get('token');
    if (req.method === 'GET' && url.pathname === '/' && token !== null) {
      if (!consumeToken(token)) {
        send(res, 403, 'This link was already used or is wrong. Run `ward ui` again for a fresh one.');
        return;
      }
      const session = randomBytes(32).toString('base64url');
      sessions.add(session);
      // Redirect so the token leaves the address bar and the history.
      send(res, 303, '', 'text/plain; charset=utf-8', {
        location: '/',
        'set-cookie': `${COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/`,
      });
      return;
    }
    if (!hasSession(req)) {
      if (url.pathname.startsWith('/api/')) sendJson(res, 403, refusal('no-session', 'Open the link printed by `ward ui` first.'));
      else send(res, 401, 'Open the link printed by `ward ui` (it works once). Run `ward ui` again for a fresh one.');
      return;
    }
    if (url.pathname === '/api/events' && req.method === 'GET') {
      openStream(req, res);
      return;
    }
    if (url.pathname.startsWith('/api/')) {
      if (req.method !== 'POST') {
        sendJson(res, 405, refusal('method-not-allowed', 'Use POST.'));
        return;
      }
      // Browsers always send Origin on POST; its absence means a non-browser client or a stripped request.
      if (origin === undefined) {
        sendJson(res, 403, refusal('forbidden-origin', 'Requests without an Origin are refused.'));
        return;
      }
      if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
        sendJson(res, 415, refusal('unsupported-media-type', 'Send JSON.'));
        return;
      }
      let body: unknown;
      try {
        const text = await readBody(req);
        body = text === '' ? {} : JSON.parse(text);
      } catch (err) {
        sendJson(res, 400, refusal('invalid-request', err instanceof WardError ? err.message : 'The body is not JSON.'));
        return;
      }
      const result = await dispatch(options.backend, url.pathname.slice('/api/'.length), body);
      if (!result.ok && result.error.code === 'internal') log.error({ channel: url.pathname }, 'handler failed');
      sendJson(res, statusFor(result), result);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'Method not allowed');
      return;
    }
    await serveStatic(res, url.pathname);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'request failed');
      if (!res.headersSent) send(res, 500, 'Internal error');
      else res.end();
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, '127.0.0.1', () => ok());
  });
  port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  const loginUrl = (): string => `${origin}/?token=${issueToken()}`;
  log.info({ origin }, 'web UI listening');
  return {
    url: loginUrl(),
    origin,
    port,
    newLoginUrl: loginUrl,
    close: async () => {
      for (const stream of streams) stream.end();
      const closed = new Promise<void>((ok) => server.close(() => ok()));
      server.closeAllConnections();
      await closed;
    },
  };
}
