import { z } from 'zod';

/**
 * What the agent keeps of a sign-in. Stored only in the OS keychain; never logged (the field
 * names are in the logger's redaction list, and `describeTokenSet` is the only way to print one).
 */
export const TokenSetSchema = z.object({
  issuer: z.string().url(),
  accessToken: z.string().min(1).max(16_384),
  refreshToken: z.string().min(1).max(16_384).optional(),
  idToken: z.string().min(1).max(16_384).optional(),
  /** DPoP: bound to the device key's thumbprint (`cnf.jkt`). */
  tokenType: z.literal('DPoP'),
  /** When the access token expires (ms since the epoch, by our clock). */
  expiresAt: z.number().int().nonnegative(),
  scope: z.string().max(2048).optional(),
  /** Subject and authentication facts from the ID token, for status and step-up decisions. */
  subject: z.string().max(512).optional(),
  acr: z.string().max(256).optional(),
  /** When the user last authenticated (seconds since the epoch), from `auth_time`. */
  authTime: z.number().int().nonnegative().optional(),
  jkt: z.string().max(128),
});
export type TokenSet = z.infer<typeof TokenSetSchema>;

/** A safe one-line description: never a token. */
export function describeTokenSet(t: TokenSet, nowMs: number): string {
  const seconds = Math.round((t.expiresAt - nowMs) / 1000);
  return `${t.subject ?? 'unknown user'} at ${t.issuer}, access ${seconds > 0 ? `valid ${seconds}s` : 'expired'}${t.acr ? `, acr ${t.acr}` : ''}`;
}

/** The raw token endpoint fields we need, validated (a malformed response is a typed error). */
export const TokenResponseSchema = z.object({
  access_token: z.string().min(1).max(16_384),
  token_type: z.string().regex(/^dpop$/i, 'the broker returned a token not bound to this device (token_type is not DPoP)'),
  expires_in: z.number().int().positive().max(86_400 * 30).optional(),
  refresh_token: z.string().min(1).max(16_384).optional(),
  id_token: z.string().min(1).max(16_384).optional(),
  scope: z.string().max(2048).optional(),
});
