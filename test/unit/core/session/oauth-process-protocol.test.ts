import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OAuthChildMessageSchema, OAuthChildRequestSchema } from '../../../../main/core/session/oauth-process-protocol.js';

describe('OAuth child process messages', () => {
  it('never throw on arbitrary input: a message is parsed or refused', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        expect(typeof OAuthChildMessageSchema.safeParse(value).success).toBe('boolean');
        expect(typeof OAuthChildRequestSchema.safeParse(value).success).toBe('boolean');
      }),
    );
  });

  it('refuses tokens that are not a token set, and an unknown message type', () => {
    expect(OAuthChildMessageSchema.safeParse({ type: 'done', tokens: { accessToken: 42 } }).success).toBe(false);
    expect(OAuthChildMessageSchema.safeParse({ type: 'exec', command: 'rm' }).success).toBe(false);
    expect(OAuthChildMessageSchema.safeParse({ type: 'sign', id: 1, data: 'AAAA' }).success).toBe(true);
  });

  it('accepts any well-formed sign request and error', () => {
    fc.assert(
      fc.property(fc.nat(), fc.base64String({ maxLength: 1000 }), fc.string({ maxLength: 2000 }), (id, data, message) => {
        expect(OAuthChildMessageSchema.parse({ type: 'sign', id, data })).toEqual({ type: 'sign', id, data });
        expect(OAuthChildMessageSchema.safeParse({ type: 'error', code: 'revoked', message }).success).toBe(true);
      }),
    );
  });
});
