import { WardError } from '../errors.js';

export type SessionErrorCode =
  | 'not-signed-in'
  | 'sign-in-timeout'
  | 'sign-in-cancelled'
  | 'sign-in-failed'
  | 'state-mismatch'
  | 'token-response-invalid'
  | 'refresh-refused'
  | 'non-compliant'
  | 'step-up-required'
  | 'step-up-declined'
  | 'revoked'
  | 'broker-unreachable'
  | 'broker-error'
  | 'dpop-failed'
  | 'keychain-unavailable'
  | 'not-enrolled';

/** Errors of sign-in, tokens and step-up. Messages never contain a token or a key. */
export class SessionError extends WardError<SessionErrorCode> {}
