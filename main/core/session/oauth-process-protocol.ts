import { z } from 'zod';
import { TokenSetSchema } from './token-set.js';

/**
 * Messages between the agent and its short-lived OAuth child process (`oauth-process-client.ts`,
 * `oauth-process-child.ts`), over Node's IPC channel. Both ends parse what they receive.
 */
const RequirementsSchema = z.object({
  acrValues: z.array(z.string().max(256)).max(16).readonly().optional(),
  maxAgeSeconds: z.number().int().nonnegative().optional(),
  prompt: z.enum(['login', 'consent']).optional(),
});

export const OAuthChildRequestSchema = z.object({
  issuer: z.string().url(),
  clientId: z.string().min(1).max(256),
  jkt: z.string().max(128),
  signer: z.object({
    alias: z.string().max(512),
    publicJwk: z.object({ kty: z.string(), crv: z.string().optional(), x: z.string().optional(), y: z.string().optional() }).passthrough(),
    assurance: z.enum(['hardware', 'os-keychain', 'none']),
    store: z.enum(['tpm', 'os-keychain', 'secure-enclave', 'cng', 'memory']),
  }),
  op: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('refresh'), tokens: TokenSetSchema, extra: z.record(z.string(), z.string()) }),
    z.object({ kind: z.literal('revoke'), tokens: TokenSetSchema }),
    z.object({ kind: z.literal('browser'), requirements: RequirementsSchema, timeoutMs: z.number().int().positive().optional() }),
    z.object({ kind: z.literal('device'), requirements: RequirementsSchema }),
  ]),
});
export type OAuthChildRequest = z.infer<typeof OAuthChildRequestSchema>;

/** Parent → child. */
export type OAuthParentMessage =
  | { readonly type: 'request'; readonly request: OAuthChildRequest }
  | { readonly type: 'signature'; readonly id: number; readonly signature: string }
  | { readonly type: 'browser-opened' };

/** Child → parent. */
export const OAuthChildMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('sign'), id: z.number().int().nonnegative(), data: z.string().max(65_536) }),
  z.object({ type: z.literal('open-browser'), url: z.string().url().max(8192) }),
  z.object({
    type: z.literal('device-prompt'),
    prompt: z.object({
      userCode: z.string().max(128),
      verificationUri: z.string().url().max(2048),
      verificationUriComplete: z.string().url().max(2048).optional(),
      expiresInSeconds: z.number(),
    }),
  }),
  z.object({ type: z.literal('done'), tokens: TokenSetSchema.optional() }),
  z.object({ type: z.literal('error'), code: z.string().max(64), message: z.string().max(2000), hint: z.string().max(2000).optional() }),
]);
export type OAuthChildMessage = z.infer<typeof OAuthChildMessageSchema>;
