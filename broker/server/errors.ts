import { WardError } from '../../main/core/errors.js';

/** Stable codes the reference broker answers with (the `error` field of every JSON error body). */
export type BrokerErrorCode =
  | 'bad-request'
  | 'invalid-json'
  | 'validation-failed'
  | 'payload-too-large'
  | 'unsupported-media-type'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'method-not-allowed'
  | 'conflict'
  | 'invalid-dpop-proof'
  | 'enrollment-token-invalid'
  | 'enrollment-invalid'
  | 'rotation-invalid'
  | 'unknown-device'
  | 'device-revoked'
  | 'report-refused'
  | 'device-offline'
  | 'challenge-timeout'
  | 'no-policy'
  | 'insecure-listen-address'
  | 'config-invalid'
  | 'storage-failed'
  | 'internal';

const STATUS: Record<BrokerErrorCode, number> = {
  'bad-request': 400,
  'invalid-json': 400,
  'validation-failed': 400,
  'payload-too-large': 413,
  'unsupported-media-type': 415,
  unauthorized: 401,
  forbidden: 403,
  'not-found': 404,
  'method-not-allowed': 405,
  conflict: 409,
  'invalid-dpop-proof': 401,
  'enrollment-token-invalid': 401,
  'enrollment-invalid': 400,
  'rotation-invalid': 400,
  'unknown-device': 403,
  'device-revoked': 403,
  'report-refused': 422,
  'device-offline': 409,
  'challenge-timeout': 504,
  'no-policy': 404,
  'insecure-listen-address': 500,
  'config-invalid': 500,
  'storage-failed': 500,
  internal: 500,
};

/** Every error code the broker answers with (tests walk them all). */
export const BROKER_ERROR_CODES = Object.keys(STATUS) as readonly BrokerErrorCode[];

/**
 * An error the broker turns into a JSON answer `{ error, message, reason? }`. Messages never carry
 * a token, key or secret: callers put only what is safe to show to the remote party.
 */
export class BrokerError extends WardError<BrokerErrorCode> {
  readonly status: number;
  /** A finer, stable reason (e.g. the SDK's refusal reason for a posture report). */
  readonly reason: string | undefined;
  /** Response headers the answer needs (e.g. `DPoP-Nonce` and its `WWW-Authenticate` challenge). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: BrokerErrorCode, message: string, options?: { cause?: unknown; hint?: string; reason?: string; headers?: Record<string, string> }) {
    super(code, message, options);
    this.status = STATUS[code];
    this.reason = options?.reason;
    this.headers = options?.headers ?? {};
  }

  /** `error_description` repeats `message` for OAuth-style clients (the agent reads either). */
  body(): { error: BrokerErrorCode; message: string; error_description: string; reason?: string } {
    return { error: this.code, message: this.message, error_description: this.message, ...(this.reason ? { reason: this.reason } : {}) };
  }
}
