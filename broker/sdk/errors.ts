import { WardError } from '../../main/core/errors.js';

/** Codes of errors the SDK throws (verifiers never throw: they return a {@link Rejection}). */
export type BrokerSdkErrorCode =
  | 'invalid-argument'
  | 'invalid-key'
  | 'signing-failed'
  | 'push-failed'
  | 'poll-failed'
  | 'rejected';

/**
 * An error thrown by the broker SDK. `code` is stable; `message` never contains a token or key.
 *
 * @example
 * ```ts
 * try {
 *   importDeviceKey({ kty: 'RSA' });
 * } catch (err) {
 *   if (err instanceof BrokerSdkError && err.code === 'invalid-key') console.error(err.message);
 * }
 * ```
 */
export class BrokerSdkError<C extends string = BrokerSdkErrorCode> extends WardError<C> {}

/**
 * The failure half of every verdict the SDK returns: a stable `reason` code and a one-line
 * `detail` that is safe to log (it never quotes a token, signature or key).
 *
 * @example
 * ```ts
 * const verdict = verifyPostureReport(jwt, opts);
 * if (!verdict.ok) log.warn({ reason: verdict.reason }, verdict.detail);
 * ```
 */
export interface Rejection<R extends string> {
  readonly ok: false;
  readonly reason: R;
  readonly detail: string;
}

/**
 * Build a {@link Rejection}.
 *
 * @example
 * ```ts
 * return reject('expired', 'the report expired 12 s ago');
 * ```
 */
export function reject<R extends string>(reason: R, detail: string): Rejection<R> {
  return { ok: false, reason, detail };
}

/**
 * Turn a rejection into a throwable {@link BrokerSdkError} whose `code` is the rejection's
 * reason, for callers that prefer exceptions.
 *
 * @example
 * ```ts
 * const verdict = verifyPolicyBundle(jws, keys);
 * if (!verdict.ok) throw rejectionError(verdict);
 * ```
 */
export function rejectionError<R extends string>(rejection: Rejection<R>): BrokerSdkError<R> {
  return new BrokerSdkError(rejection.reason, rejection.detail);
}
