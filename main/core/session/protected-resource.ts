import { z } from 'zod';
import { WardError } from '../errors.js';

/**
 * Calling a protected resource with the device's DPoP-bound token (`ward access`), shared by the
 * CLI in-process and the daemon's loopback API. The token only ever goes to an allowed origin
 * (the broker the device is enrolled with), redirects are not followed, and what comes back is
 * truncated and scrubbed of anything shaped like a token before a person or a program sees it.
 */

/** Bytes of the body read at most; the rest is cancelled. */
const MAX_READ_BYTES = 64 * 1024;
/** Characters of the body shown. */
export const MAX_BODY_CHARS = 4_000;

export const AccessRequestSchema = z.object({ url: z.string().min(1).max(2000) }).strict();
export type AccessRequest = z.infer<typeof AccessRequestSchema>;

export const ResourceResultSchema = z.object({
  url: z.string().max(2000),
  status: z.number().int().min(100).max(599),
  statusText: z.string().max(200),
  contentType: z.string().max(200).nullable(),
  /** Where a 3xx points (not followed: the token would follow it). */
  location: z.string().max(2000).nullable(),
  body: z.string().max(MAX_BODY_CHARS + 100),
  truncated: z.boolean(),
});
export type ResourceResult = z.infer<typeof ResourceResultSchema>;

/** What `accessResource` needs from the agent. */
export interface ResourceAgent {
  readonly identity: { readonly brokerUrl: string } | undefined;
  fetchResource(url: URL, init?: RequestInit): Promise<Response>;
}

export class ResourceAccessError extends WardError<'resource-url-invalid' | 'resource-not-allowed' | 'not-enrolled'> {}

/** Parse `raw` and refuse anything but http(s) on an allowed origin. */
export function checkResourceUrl(raw: string, allowedOrigins: readonly string[]): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ResourceAccessError('resource-url-invalid', `"${printable(raw).slice(0, 200)}" is not a URL`, { hint: 'Give a full URL such as https://broker.example.com/demo/resource.' });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ResourceAccessError('resource-url-invalid', `only http(s) URLs can be accessed, not ${printable(url.protocol)}`);
  }
  if (url.username || url.password) throw new ResourceAccessError('resource-url-invalid', 'the URL must not carry a user name or password');
  if (!allowedOrigins.includes(url.origin)) {
    throw new ResourceAccessError('resource-not-allowed', `refused: ${url.origin} is not the broker this device is enrolled with, so its token is not sent there`, {
      hint: `Ward sends the device's token only to ${allowedOrigins.join(', ') || 'its broker'}.`,
    });
  }
  return url;
}

/** Strip control characters (terminal escapes) from text a remote server chose. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '');
}

/** Anything shaped like a JWT or a long opaque secret never reaches the screen. */
function scrub(text: string): string {
  return text.replace(/eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g, '[token removed]');
}

async function readCapped(res: Response): Promise<{ text: string; truncated: boolean }> {
  const reader = res.body?.getReader();
  if (!reader) return { text: '', truncated: false };
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
    if (size >= MAX_READ_BYTES) {
      truncated = true;
      await reader.cancel().catch(() => undefined);
      break;
    }
  }
  const text = printable(scrub(Buffer.concat(chunks).toString('utf8')));
  if (text.length > MAX_BODY_CHARS) return { text: text.slice(0, MAX_BODY_CHARS), truncated: true };
  return { text, truncated };
}

/**
 * GET `raw` with the agent's DPoP-bound token. An RFC 9470 challenge goes through the agent's
 * step-up (prompt, consent, browser sign-in with `acr_values` / `max_age` / `prompt=login`, retry);
 * a declined step-up rejects with `step-up-declined`.
 */
export async function accessResource(agent: ResourceAgent, raw: string, extraOrigins: readonly string[] = []): Promise<ResourceResult> {
  const broker = agent.identity?.brokerUrl;
  if (!broker) throw new ResourceAccessError('not-enrolled', 'this device is not enrolled with a broker yet', { hint: 'Run `ward enroll --broker URL` first.' });
  const url = checkResourceUrl(raw, [new URL(broker).origin, ...extraOrigins]);
  const res = await agent.fetchResource(url, { method: 'GET', redirect: 'manual', headers: { accept: 'application/json, text/plain;q=0.9, */*;q=0.5' } });
  const { text, truncated } = await readCapped(res);
  return {
    url: url.href,
    status: res.status,
    statusText: printable(res.statusText).slice(0, 200),
    contentType: res.headers.get('content-type')?.slice(0, 200) ?? null,
    location: res.headers.get('location')?.slice(0, 2000) ?? null,
    body: text,
    truncated,
  };
}
