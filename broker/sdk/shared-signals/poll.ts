import { z } from 'zod';
import { reject, type Rejection } from '../errors.js';

/**
 * One SET the receiver could not accept, reported back in a poll request (RFC 8936 §2.2).
 *
 * @example
 * ```ts
 * SetErrorSchema.parse({ err: 'invalid_key', description: 'unknown kid' });
 * ```
 */
export const SetErrorSchema = z.object({ err: z.string().min(1).max(64), description: z.string().max(2000) });

/**
 * A poll request (RFC 8936 §2.1): acknowledgements, errors, and how many SETs to send.
 *
 * @example
 * ```ts
 * PollRequestSchema.parse({ ack: ['jti-1'], maxEvents: 10, returnImmediately: true });
 * ```
 */
export const PollRequestSchema = z.object({
  ack: z.array(z.string().min(1).max(256)).max(10_000).optional(),
  setErrs: z.record(z.string().min(1).max(256), SetErrorSchema).optional(),
  maxEvents: z.number().int().nonnegative().max(10_000).optional(),
  returnImmediately: z.boolean().optional(),
});
export type PollRequest = z.infer<typeof PollRequestSchema>;

/**
 * A poll response (RFC 8936 §2.4): SETs keyed by `jti`, and whether more are waiting.
 *
 * @example
 * ```ts
 * PollResponseSchema.parse({ sets: { 'jti-2': set }, moreAvailable: false });
 * ```
 */
export const PollResponseSchema = z.object({
  sets: z.record(z.string().min(1).max(256), z.string().min(1).max(256 * 1024)),
  moreAvailable: z.boolean().optional(),
});
export type PollResponse = z.infer<typeof PollResponseSchema>;

export type PollParseVerdict<T> = { readonly ok: true; readonly value: T } | Rejection<'malformed'>;

function parseWith<T>(schema: z.ZodType<T>, input: unknown, what: string): PollParseVerdict<T> {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch {
      return reject('malformed', `the ${what} is not JSON`);
    }
  }
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0];
  return reject('malformed', `${what} ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
}

/**
 * Validate a poll request body (JSON text or an already parsed value). Never throws.
 *
 * @example
 * ```ts
 * const request = parsePollRequest(await readBody(req));
 * if (!request.ok) return reply(400, { err: 'invalid_request', description: request.detail });
 * ```
 */
export function parsePollRequest(input: unknown): PollParseVerdict<PollRequest> {
  return parseWith(PollRequestSchema, input, 'poll request');
}

/**
 * Validate a poll response body (JSON text or an already parsed value). Never throws. Each SET
 * in it still has to go through `verifySet`.
 *
 * @example
 * ```ts
 * const response = parsePollResponse(await res.text());
 * if (response.ok) for (const [jti, set] of Object.entries(response.value.sets)) handle(jti, verifySet(set, opts));
 * ```
 */
export function parsePollResponse(input: unknown): PollParseVerdict<PollResponse> {
  return parseWith(PollResponseSchema, input, 'poll response');
}

/**
 * The `fetch` the SDK's push and poll clients call: the global one, or any function of this
 * narrower shape (an agent's DPoP-signing fetch, a proxy-aware fetch).
 *
 * @example
 * ```ts
 * const viaDpop: SetFetch = (url, init) => dpop.fetch(url, init);
 * await pollSets(endpoint, { ack: [] }, { fetch: viaDpop });
 * ```
 */
export type SetFetch = (input: string | URL, init?: RequestInit) => Promise<Response>;

export interface PollOptions {
  /** `Authorization` header value (never logged). */
  readonly authorization?: string;
  /** Default 35,000 (above a typical 30 s long-poll). */
  readonly timeoutMs?: number;
  readonly fetch?: SetFetch;
  /** Abort the poll (e.g. the receiver is stopping); the result is then a `network` failure. */
  readonly signal?: AbortSignal;
}

export type PollResult =
  | { readonly ok: true; readonly response: PollResponse }
  | { readonly ok: false; readonly status: number | null; readonly err: string; readonly description: string };

/**
 * The receiver side of RFC 8936: `POST` a poll request (acknowledging what was handled) and get
 * the next SETs. Never throws for HTTP or network failures.
 *
 * @example
 * ```ts
 * let ack: string[] = [];
 * for (;;) {
 *   const result = await pollSets('https://broker.example/ssf/poll', { ack, maxEvents: 50 }, { authorization });
 *   if (!result.ok) break;
 *   ack = Object.keys(result.response.sets); // after handling each one
 * }
 * ```
 */
export async function pollSets(endpoint: string | URL, request: PollRequest, options: PollOptions = {}): Promise<PollResult> {
  const doFetch = options.fetch ?? fetch;
  let response: Response;
  try {
    response = await doFetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...(options.authorization ? { authorization: options.authorization } : {}) },
      body: JSON.stringify(request),
      signal: options.signal ? AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs ?? 35_000)]) : AbortSignal.timeout(options.timeoutMs ?? 35_000),
      redirect: 'error',
    });
  } catch {
    return { ok: false, status: null, err: 'network', description: 'the transmitter could not be reached or did not answer in time' };
  }
  const text = await response.text().catch(() => '');
  if (response.status !== 200) {
    let err = 'unexpected-response';
    let description = `the transmitter answered HTTP ${response.status}`;
    const body = parseWith(SetErrorSchema, text, 'error');
    if (body.ok) ({ err, description } = body.value);
    return { ok: false, status: response.status, err, description };
  }
  const parsed = parsePollResponse(text);
  if (!parsed.ok) return { ok: false, status: 200, err: 'unexpected-response', description: parsed.detail };
  return { ok: true, response: parsed.value };
}

export interface MemorySetQueueOptions {
  /** How long a poll without `returnImmediately` waits for a SET. Default 30,000. */
  readonly longPollMs?: number;
  /** Default `maxEvents` when a request gives none. Default 100. */
  readonly defaultMaxEvents?: number;
  /**
   * Bound on unacknowledged SETs. When full, the OLDEST is evicted to make room (counted in
   * `evicted`): a receiver that has stopped polling cannot grow the transmitter's memory without
   * limit. Default 1,000.
   */
  readonly maxPending?: number;
  /** Where the unacknowledged SETs are kept. Default: a `Map` (lost when the process ends). */
  readonly store?: SetQueueStore;
}

/**
 * Storage for a transmitter's unacknowledged SETs (one receiver's), so a queue can outlive the
 * process: a database table keyed by `jti`, oldest first.
 *
 * @example
 * ```ts
 * const queue = new MemorySetQueue({ store: mySqliteStoreFor(receiverId) });
 * ```
 */
export interface SetQueueStore {
  /** Add a SET, or replace the one with this `jti` (keeping its place). */
  put(jti: string, set: string): void;
  /** Remove it; whether it was there. */
  delete(jti: string): boolean;
  has(jti: string): boolean;
  size(): number;
  /** The oldest `limit` SETs, oldest first. */
  oldest(limit: number): Array<readonly [jti: string, set: string]>;
}

function mapStore(): SetQueueStore {
  const map = new Map<string, string>();
  return {
    put: (jti, set) => void map.set(jti, set),
    delete: (jti) => map.delete(jti),
    has: (jti) => map.has(jti),
    size: () => map.size,
    oldest: (limit) => {
      const out: Array<readonly [string, string]> = [];
      for (const entry of map) {
        if (out.length >= limit) break;
        out.push(entry);
      }
      return out;
    },
  };
}

/**
 * The transmitter side of RFC 8936 for one receiver, in memory: SETs wait until acknowledged;
 * a SET is sent again on every poll until acknowledged or reported in `setErrs`.
 *
 * @example
 * ```ts
 * const queue = new MemorySetQueue();
 * queue.enqueue(jti, await buildSet(input, signer));
 * // in the poll endpoint:
 * const request = parsePollRequest(body);
 * if (request.ok) reply(200, await queue.poll(request.value));
 * ```
 */
export class MemorySetQueue {
  private readonly pending: SetQueueStore;
  private readonly failed = new Map<string, z.infer<typeof SetErrorSchema>>();
  private waiters: (() => void)[] = [];
  private readonly longPollMs: number;
  private readonly defaultMaxEvents: number;
  private readonly maxPending: number;
  private evictedCount = 0;

  constructor(options: MemorySetQueueOptions = {}) {
    this.longPollMs = options.longPollMs ?? 30_000;
    this.defaultMaxEvents = options.defaultMaxEvents ?? 100;
    this.maxPending = Math.max(1, options.maxPending ?? 1_000);
    this.pending = options.store ?? mapStore();
  }

  /** SETs dropped unacknowledged because the queue was full (oldest first). */
  get evicted(): number {
    return this.evictedCount;
  }

  /** SETs not yet acknowledged. */
  get size(): number {
    return this.pending.size();
  }

  /** SETs the receiver refused (the latest `maxPending`), by `jti`, with its `err` and `description`. */
  get errors(): ReadonlyMap<string, z.infer<typeof SetErrorSchema>> {
    return this.failed;
  }

  enqueue(jti: string, set: string): void {
    if (!this.pending.has(jti)) {
      for (const [oldest] of this.pending.oldest(Math.max(0, this.pending.size() - this.maxPending + 1))) {
        this.pending.delete(oldest);
        this.evictedCount++;
      }
    }
    this.pending.put(jti, set);
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Apply acknowledgements and errors, then answer with up to `maxEvents` SETs. */
  async poll(request: PollRequest, signal?: AbortSignal): Promise<PollResponse> {
    for (const jti of request.ack ?? []) this.pending.delete(jti);
    for (const [jti, error] of Object.entries(request.setErrs ?? {})) {
      if (!this.pending.delete(jti)) continue;
      if (this.failed.size >= this.maxPending) this.failed.delete(this.failed.keys().next().value as string);
      this.failed.set(jti, error);
    }
    const maxEvents = request.maxEvents ?? this.defaultMaxEvents;
    // RFC 8936 §2.1: maxEvents 0 only acknowledges; returnImmediately false means wait for events.
    if (maxEvents > 0 && this.pending.size() === 0 && request.returnImmediately !== true) await this.waitForEvents(signal);
    const batch = maxEvents > 0 ? this.pending.oldest(maxEvents) : [];
    return { sets: Object.fromEntries(batch), moreAvailable: this.pending.size() > batch.length };
  }

  private waitForEvents(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      const timer = setTimeout(done, this.longPollMs);
      signal?.addEventListener('abort', done, { once: true });
      this.waiters.push(done);
    });
  }
}
