import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { BrokerError } from '../errors.js';

/** Default cap for JSON bodies; routes that carry posture reports raise it. */
export const DEFAULT_BODY_LIMIT_BYTES = 16 * 1024;

/**
 * Read a request body, answering 413 as soon as it grows past `limitBytes` (the declared
 * Content-Length is checked first so an honest oversized upload is refused before it is read).
 * Plain `data`/`end` listeners rather than `for await`: the async iterator costs several
 * promise turns per chunk on the posture hot path. (The listeners are inline and stay attached,
 * guarded by `settled`: named per-request closures cost a `__name` call each under tsx.)
 */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limitBytes) return Promise.reject(tooLarge(limitBytes));
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limitBytes) {
        settled = true;
        req.destroy(); // as leaving a `for await` loop would: stop reading the rest
        reject(tooLarge(limitBytes));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    });
    // 'error' stays handled after the body is read: a late socket error must not go uncaught.
    req.on('error', (err) => {
      if (settled) return;
      settled = true;
      reject(err);
    });
    req.on('close', () => {
      if (settled) return;
      settled = true;
      reject(new Error('the request closed before its body was read'));
    });
  });
}

function tooLarge(limitBytes: number): BrokerError {
  return new BrokerError('payload-too-large', `The request body is larger than ${limitBytes} bytes.`);
}

function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Parse a JSON body against a zod schema: typed 400s for bad JSON or a wrong shape. */
export async function readJson<S extends z.ZodType>(req: IncomingMessage, schema: S, limitBytes = DEFAULT_BODY_LIMIT_BYTES): Promise<z.infer<S>> {
  const type = mediaType(req);
  if (type !== 'application/json') {
    throw new BrokerError('unsupported-media-type', 'Send the body as application/json.');
  }
  return parseJson(await readBody(req, limitBytes), schema);
}

export function parseJson<S extends z.ZodType>(body: Buffer, schema: S): z.infer<S> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new BrokerError('invalid-json', 'The request body is not valid JSON.');
  }
  return validate(schema, value);
}

/** Validate a value with zod, turning issues into a short, safe message (paths and messages only). */
export function validate<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`)
      .join('; ');
    throw new BrokerError('validation-failed', `The request is not valid: ${issues}`);
  }
  return parsed.data;
}

export { mediaType };

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

const NO_HEADERS: Record<string, string> = Object.freeze({});

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = NO_HEADERS): void {
  sendJsonText(res, status, JSON.stringify(body), headers);
}

/**
 * {@link sendJson} for a body that is already JSON text (the caller vouches for it). The headers
 * go to `writeHead` as one flat `[name, value, …]` list, built here: with a header object made
 * with spreads on every answer (`{ ...SECURITY_HEADERS, …, ...headers }`) V8 promoted it at a
 * high rate, and the broker's old generation grew ~1 MB/s at 2,000 reports/s against ~0.35 MB/s
 * with the list (one run each; docs/broker-server.md, "What the old generation grew from").
 */
export function sendJsonText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = NO_HEADERS): void {
  const list = [
    'cache-control', SECURITY_HEADERS['cache-control'],
    'x-content-type-options', SECURITY_HEADERS['x-content-type-options'],
    'content-type', 'application/json; charset=utf-8',
    'content-length', String(Buffer.byteLength(text)),
  ];
  for (const name in headers) setHeader(list, name, headers[name] as string);
  res.writeHead(status, list);
  res.end(text);
}

/** Set `name` in a flat `[name, value, …]` header list: replace its value if present, else append. */
function setHeader(list: string[], name: string, value: string): void {
  const lower = name.toLowerCase();
  for (let i = 0; i < list.length; i += 2) {
    if (list[i] === lower) {
      list[i + 1] = value;
      return;
    }
  }
  list.push(lower, value);
}

export function sendHtml(res: ServerResponse, status: number, html: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'text/html; charset=utf-8',
    'content-length': String(Buffer.byteLength(html)),
    // The interaction pages need no script at all; forms post only to ourselves. Browsers apply
    // form-action to the redirects that follow a submission too, and the last one goes to the
    // native app's loopback redirect URI (RFC 8252 §7.3, any port): allow exactly that.
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http://127.0.0.1:* http://[::1]:*; frame-ancestors 'none'",
    'x-frame-options': 'DENY',
    ...headers,
  });
  res.end(html);
}

export function sendError(res: ServerResponse, err: BrokerError, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // A 413 is answered before the rest of the body is read: close so the client stops sending.
  const all = { ...err.headers, ...headers };
  sendJson(res, err.status, err.body(), err.status === 413 ? { connection: 'close', ...all } : all);
}

/** The bearer credential of an `Authorization: Bearer …` header, or undefined. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
  return match?.[1];
}
