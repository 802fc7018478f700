import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { WardError } from '../errors.js';
import type { Logger } from '../log.js';
import { systemClock, type Clock } from '../session/clock.js';
import { POWER_EVENTS, dispatch, isChannel, type AgentBackend, type Channel, type PowerEvent } from '../../shared/ipc-contract.js';
import { AccessRequestSchema, type ResourceResult } from '../session/protected-resource.js';
import { RateLimiter } from './rate-limiter.js';

/** Channels a read-only client may call; everything else needs the write secret. */
export const READ_CHANNELS: ReadonlySet<Channel> = new Set<Channel>(['posture.snapshot', 'session.status', 'identity.info', 'settings.get', 'app.about']);

export interface LocalApiAgent {
  readonly backend: AgentBackend;
  /** A signed posture report bound to `nonce` (the device key signs it). */
  signedReport(nonce: string): Promise<string>;
  /** GET a protected resource with the device's token, stepping up when asked (`ward access`). */
  accessResource?(url: string): Promise<ResourceResult>;
}

export interface LocalApiOptions {
  readonly agent: LocalApiAgent;
  /** Where the secrets and the port file go (mode 0600). */
  readonly stateDir: string;
  /** Browser origins (managed config `allowedBrowserOrigins`) allowed to ask for a posture report. */
  readonly allowedOrigins: readonly string[];
  /** 0 picks a free port. */
  readonly port?: number;
  readonly clock?: Clock;
  readonly log?: Logger;
  /** Requests per minute for each browser origin (default 30) and for UI clients (default 600). */
  readonly originRatePerMinute?: number;
  readonly clientRatePerMinute?: number;
}

/** What a UI client reads to reach the agent: `<stateDir>/local-api.json`, mode 0600. */
export const LocalApiFileSchema = z.object({
  url: z.string().url(),
  port: z.number().int().min(1).max(65535),
  readToken: z.string().min(32).max(128),
  writeToken: z.string().min(32).max(128),
  pid: z.number().int().positive(),
});
export type LocalApiFile = z.infer<typeof LocalApiFileSchema>;

const PostureReportRequestSchema = z.object({ nonce: z.string().min(16).max(88).regex(/^[A-Za-z0-9_-]+$/) }).strict();
const PowerRequestSchema = z.object({ event: z.enum(POWER_EVENTS) }).strict();
const MAX_BODY_BYTES = 16 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
    // Forcing JSON also forces a CORS preflight on every cross-origin browser request.
    throw new HttpError(415, 'unsupported-media-type', 'send the body as application/json');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'too-large', 'request body too large');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'invalid-json', 'the body is not valid JSON');
  }
}

/**
 * The agent's loopback API (Tailscale's localapi is the model): for the tray, the CLI and browser
 * sign-in pages.
 *  - 127.0.0.1 only; the `Host` header must name this listener exactly (DNS rebinding).
 *  - UI clients authenticate with a bearer secret from a 0600 file; a read secret and a write
 *    secret keep "look" and "act" apart.
 *  - Browser requests (any `Origin`) are refused unless the origin is allow-listed in managed
 *    config, and then they can do exactly one thing: `POST /v1/posture-report {nonce}`, which
 *    returns a report signed by the device key and bound to their nonce — a relay gains nothing.
 *  - CORS only for that endpoint and only for those origins; rate limits per origin and client.
 */
export class LocalApiServer {
  readonly #o: LocalApiOptions;
  readonly #clock: Clock;
  readonly #allowed: ReadonlySet<string>;
  readonly #readToken = randomBytes(32).toString('base64url');
  readonly #writeToken = randomBytes(32).toString('base64url');
  readonly #limiter: RateLimiter;
  #server: Server | undefined;
  #port = 0;

  constructor(options: LocalApiOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#allowed = new Set(options.allowedOrigins);
    this.#limiter = new RateLimiter({ clock: this.#clock });
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get filePath(): string {
    return join(this.#o.stateDir, 'local-api.json');
  }

  async start(): Promise<LocalApiFile> {
    const server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#o.port ?? 0, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
    const file: LocalApiFile = { url: this.url, port: this.#port, readToken: this.#readToken, writeToken: this.#writeToken, pid: process.pid };
    await mkdir(this.#o.stateDir, { recursive: true, mode: 0o700 });
    await writeFile(this.filePath, `${JSON.stringify(file)}\n`, { mode: 0o600 });
    await chmod(this.filePath, 0o600); // in case the file existed with looser bits
    return file;
  }

  async close(): Promise<void> {
    await rm(this.filePath, { force: true });
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
    res.end(JSON.stringify(body));
  }

  #checkHost(req: IncomingMessage): void {
    const host = (req.headers.host ?? '').toLowerCase();
    const ok = [`127.0.0.1:${this.#port}`, `localhost:${this.#port}`, `[::1]:${this.#port}`].includes(host);
    if (!ok) throw new HttpError(421, 'bad-host', 'this API answers only to 127.0.0.1');
  }

  #role(req: IncomingMessage): 'read' | 'write' | undefined {
    const auth = req.headers.authorization ?? '';
    const m = /^Bearer ([A-Za-z0-9_-]{20,200})$/.exec(auth);
    if (!m?.[1]) return undefined;
    if (safeEqual(m[1], this.#writeToken)) return 'write';
    if (safeEqual(m[1], this.#readToken)) return 'read';
    return undefined;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const origin = req.headers.origin;
    try {
      this.#checkHost(req);
      const url = new URL(req.url ?? '/', this.url);
      if (origin !== undefined) {
        await this.#handleBrowser(req, res, origin, url);
        return;
      }
      const role = this.#role(req);
      if (!role) throw new HttpError(401, 'unauthorized', 'a bearer secret from local-api.json is required');
      if (!this.#limiter.take(`client:${role}`, this.#o.clientRatePerMinute ?? 600)) throw new HttpError(429, 'rate-limited', 'too many requests');
      await this.#handleClient(req, res, role, url);
    } catch (err) {
      const e = err instanceof HttpError ? err : new HttpError(500, 'internal', 'the agent hit an unexpected error');
      if (!(err instanceof HttpError)) this.#o.log?.warn({ mod: 'local-api', err: err instanceof Error ? err.message : String(err) }, 'local API error');
      if (!res.headersSent) this.#send(res, e.status, { error: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) });
    }
  }

  async #handleBrowser(req: IncomingMessage, res: ServerResponse, origin: string, url: URL): Promise<void> {
    // Not allow-listed: no CORS headers at all, so the browser hides even the refusal.
    if (!this.#allowed.has(origin)) throw new HttpError(403, 'origin-not-allowed', 'this web page is not allowed to talk to Ward');
    if (url.pathname !== '/v1/posture-report') throw new HttpError(403, 'forbidden', 'browser pages may only ask for a posture report');
    const cors: Record<string, string> = { 'access-control-allow-origin': origin, vary: 'Origin' };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...cors,
        'access-control-allow-methods': 'POST',
        'access-control-allow-headers': 'content-type',
        'access-control-max-age': '600',
        // Chrome's Private Network Access preflight (a public page calling loopback).
        ...(req.headers['access-control-request-private-network'] === 'true' ? { 'access-control-allow-private-network': 'true' } : {}),
      });
      res.end();
      return;
    }
    if (req.method !== 'POST') throw new HttpError(405, 'method-not-allowed', 'use POST');
    if (!this.#limiter.take(`origin:${origin}`, this.#o.originRatePerMinute ?? 30)) {
      this.#send(res, 429, { error: 'rate-limited', message: 'too many requests from this page' }, cors);
      return;
    }
    const body = PostureReportRequestSchema.safeParse(await readJsonBody(req));
    if (!body.success) {
      this.#send(res, 400, { error: 'invalid-request', message: 'send {"nonce": "<16-88 base64url characters>"}' }, cors);
      return;
    }
    const report = await this.#report(body.data.nonce);
    this.#send(res, 200, { report }, cors);
  }

  async #report(nonce: string): Promise<string> {
    return asHttpError(() => this.#o.agent.signedReport(nonce));
  }

  async #handleClient(req: IncomingMessage, res: ServerResponse, role: 'read' | 'write', url: URL): Promise<void> {
    const path = url.pathname;
    if (req.method === 'POST' && path === '/v1/posture-report') {
      const body = PostureReportRequestSchema.safeParse(await readJsonBody(req));
      if (!body.success) throw new HttpError(400, 'invalid-request', 'send {"nonce": "…"}');
      this.#send(res, 200, { report: await this.#report(body.data.nonce) });
      return;
    }
    if (req.method === 'POST' && path === '/v1/power') {
      if (role !== 'write') throw new HttpError(403, 'read-only', 'this secret may only read');
      const body = PowerRequestSchema.safeParse(await readJsonBody(req));
      if (!body.success) throw new HttpError(400, 'invalid-request', `event must be one of ${POWER_EVENTS.join(', ')}`);
      this.#o.agent.backend.power(body.data.event as PowerEvent);
      this.#send(res, 202, { ok: true });
      return;
    }
    if (req.method === 'POST' && path === '/v1/resource') {
      // Sends the device's token out: write secret only, and never for browser pages (#handleBrowser).
      if (role !== 'write') throw new HttpError(403, 'read-only', 'this secret may only read');
      const access = this.#o.agent.accessResource;
      if (!access) throw new HttpError(404, 'not-found', 'this agent does not access resources');
      const body = AccessRequestSchema.safeParse(await readJsonBody(req));
      if (!body.success) throw new HttpError(400, 'invalid-request', 'send {"url": "https://…"}');
      this.#send(res, 200, await asHttpError(() => access(body.data.url)));
      return;
    }
    const call = /^\/v1\/call\/([a-zA-Z.]+)$/.exec(path);
    if (req.method === 'POST' && call?.[1]) {
      const channel = call[1];
      if (!isChannel(channel)) throw new HttpError(404, 'unknown-channel', 'there is no such request');
      if (role !== 'write' && !READ_CHANNELS.has(channel)) throw new HttpError(403, 'read-only', 'this secret may only read');
      const result = await dispatch(this.#o.agent.backend, channel, await readJsonBody(req));
      this.#send(res, result.ok ? 200 : result.error.code === 'invalid-request' ? 400 : 409, result);
      return;
    }
    throw new HttpError(404, 'not-found', 'no such endpoint');
  }
}

/** A typed agent error becomes a 409 that names its code and message (never a stack). */
async function asHttpError<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof WardError) throw new HttpError(409, err.code, err.message, err.hint);
    throw err;
  }
}

/** Read the local API file the daemon wrote (for `ward status` and other clients). */
export async function readLocalApiFile(stateDir: string): Promise<LocalApiFile | undefined> {
  const { readFile } = await import('node:fs/promises');
  let text: string;
  try {
    text = await readFile(join(stateDir, 'local-api.json'), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = LocalApiFileSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
