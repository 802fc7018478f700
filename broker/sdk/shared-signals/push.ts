import { BrokerSdkError } from '../errors.js';
import type { SetFetch } from './poll.js';
import { verifySet, type SetRejectReason, type VerifiedSet, type VerifySetOptions } from './set.js';

/**
 * Media type of a pushed SET (RFC 8935 §2).
 *
 * @example
 * ```ts
 * fetch(url, { method: 'POST', headers: { 'content-type': SET_MEDIA_TYPE }, body: set });
 * ```
 */
export const SET_MEDIA_TYPE = 'application/secevent+jwt';

/** Error codes of RFC 8935 §2.4 (the IANA "Security Event Token Error Codes" registry). */
export type SetDeliveryErrorCode = 'invalid_request' | 'invalid_key' | 'invalid_issuer' | 'invalid_audience' | 'authentication_failed' | 'access_denied';

export type PushResult =
  | { readonly ok: true; readonly status: 202 }
  | {
      readonly ok: false;
      /** HTTP status, or `null` when no response came (network error, timeout). */
      readonly status: number | null;
      /** The receiver's `err` code, or `network` / `unexpected-response`. */
      readonly err: SetDeliveryErrorCode | 'network' | 'unexpected-response' | string;
      readonly description: string;
      /** Whether sending the same SET again later may succeed (RFC 8935 §2.3). */
      readonly retryable: boolean;
    };

export interface PushOptions {
  /** `Authorization` header value, e.g. `Bearer …` (never logged). */
  readonly authorization?: string;
  /** Default 10,000. */
  readonly timeoutMs?: number;
  /** Injected `fetch` (tests, proxies, an agent's DPoP-signing fetch). Default: the global one. */
  readonly fetch?: SetFetch;
}

const MAX_ERROR_BODY_CHARS = 4096;

/**
 * Deliver one SET to a receiver's push endpoint (RFC 8935): `POST` with
 * `Content-Type: application/secevent+jwt`; `202` means accepted, `400` carries `{ err, description }`.
 * Never throws for HTTP or network failures: the result says whether to retry.
 *
 * @example
 * ```ts
 * const result = await pushSet('https://pdp.example/events', set, { authorization: `Bearer ${token}` });
 * if (!result.ok && result.retryable) outbox.retryLater(set);
 * ```
 */
export async function pushSet(endpoint: string | URL, set: string, options: PushOptions = {}): Promise<PushResult> {
  const doFetch = options.fetch ?? fetch;
  let response: Response;
  try {
    response = await doFetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': SET_MEDIA_TYPE, accept: 'application/json', ...(options.authorization ? { authorization: options.authorization } : {}) },
      body: set,
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      redirect: 'error',
    });
  } catch (err) {
    const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
    return { ok: false, status: null, err: 'network', description: timedOut ? 'the receiver did not answer in time' : 'the receiver could not be reached', retryable: true };
  }
  if (response.status === 202) {
    await response.body?.cancel();
    return { ok: true, status: 202 };
  }
  const text = (await response.text().catch(() => '')).slice(0, MAX_ERROR_BODY_CHARS);
  let err = 'unexpected-response';
  let description = `the receiver answered HTTP ${response.status}`;
  try {
    const body = JSON.parse(text) as unknown;
    if (typeof body === 'object' && body !== null && typeof (body as { err?: unknown }).err === 'string') {
      err = String((body as { err: string }).err).slice(0, 64);
      const d = (body as { description?: unknown }).description;
      if (typeof d === 'string') description = d.slice(0, 500);
    }
  } catch {
    // Not JSON: keep the generic description.
  }
  // 4xx: the SET or our credentials are wrong, resending the same request will not help; 5xx and 429 may.
  const retryable = response.status >= 500 || response.status === 429;
  return { ok: false, status: response.status, err, description, retryable };
}

/** A pushed request as any HTTP framework exposes it. */
export interface PushedRequest {
  readonly contentType: string | undefined | null;
  readonly body: string | Uint8Array;
}

export type PushReceipt =
  | { readonly status: 202; readonly set: VerifiedSet }
  | { readonly status: 400; readonly body: { readonly err: SetDeliveryErrorCode; readonly description: string }; readonly reason: SetRejectReason | 'wrong-content-type' };

/**
 * The RFC 8935 §2.4 / RFC 8936 `err` code for each reason `verifySet` refuses a SET: what a push
 * receiver answers, and what a poll receiver reports in `setErrs`.
 *
 * @example
 * ```ts
 * const verdict = verifySet(set, options);
 * if (!verdict.ok) setErrs[jti] = { err: SET_ERROR_CODES[verdict.reason], description: verdict.detail };
 * ```
 */
export const SET_ERROR_CODES: Readonly<Record<SetRejectReason, SetDeliveryErrorCode>> = {
  malformed: 'invalid_request',
  'wrong-typ': 'invalid_request',
  'unsupported-alg': 'invalid_request',
  'unknown-key': 'invalid_key',
  'bad-signature': 'invalid_key',
  'wrong-issuer': 'invalid_issuer',
  'wrong-audience': 'invalid_audience',
  'not-yet-valid': 'invalid_request',
  'too-old': 'invalid_request',
  'unsupported-event': 'invalid_request',
  'invalid-event': 'invalid_request',
};

/**
 * The receiver side of RFC 8935 push, independent of the HTTP framework: checks the media type,
 * verifies the SET and says what to answer (`202` with the verified SET, or `400` with the
 * `{ err, description }` body). Authenticating the transmitter (bearer token, mTLS) is the
 * caller's job; answer `401`/`403` for that before calling this.
 *
 * @example
 * ```ts
 * const receipt = receivePushedSet({ contentType: req.headers['content-type'], body }, { keys, issuer, audience });
 * res.writeHead(receipt.status, receipt.status === 400 ? { 'content-type': 'application/json' } : {});
 * res.end(receipt.status === 400 ? JSON.stringify(receipt.body) : undefined);
 * if (receipt.status === 202) handle(receipt.set);
 * ```
 */
export function receivePushedSet(request: PushedRequest, options: VerifySetOptions): PushReceipt {
  const mediaType = (request.contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (mediaType !== SET_MEDIA_TYPE) {
    return { status: 400, reason: 'wrong-content-type', body: { err: 'invalid_request', description: `the content type must be ${SET_MEDIA_TYPE}` } };
  }
  const token = typeof request.body === 'string' ? request.body : Buffer.from(request.body).toString('utf8');
  const verdict = verifySet(token.trim(), options);
  if (verdict.ok) return { status: 202, set: verdict.set };
  return { status: 400, reason: verdict.reason, body: { err: SET_ERROR_CODES[verdict.reason], description: verdict.detail } };
}

/**
 * Turn a failed push into a throwable `BrokerSdkError('push-failed')`, for callers that prefer
 * exceptions. The message names the receiver's `err` code, never the SET.
 *
 * @example
 * ```ts
 * const result = await pushSet(url, set);
 * if (!result.ok) throw pushError(result);
 * ```
 */
export function pushError(result: Extract<PushResult, { ok: false }>): BrokerSdkError {
  return new BrokerSdkError('push-failed', `SET delivery failed (${result.err}): ${result.description}`);
}
