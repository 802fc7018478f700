import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isUseDpopNonceChallenge, parseStepUpChallenge, parseWwwAuthenticate } from '../../../../main/core/session/www-authenticate.js';

describe('parseWwwAuthenticate', () => {
  it('parses several challenges, quoted values with escapes and token68', () => {
    const header = 'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple", Negotiate abc123==';
    expect(parseWwwAuthenticate(header)).toEqual([
      { scheme: 'newauth', params: { realm: 'apps', type: '1', title: 'Login to "apps"' } },
      { scheme: 'basic', params: { realm: 'simple' } },
      { scheme: 'negotiate', params: {}, token68: 'abc123==' },
    ]);
  });

  it('reads the RFC 9470 step-up challenge under DPoP', () => {
    const header = 'DPoP error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:ward:acr:mfa phr", max_age="300", algs="ES256"';
    expect(parseStepUpChallenge(header)).toEqual({
      error: 'insufficient_user_authentication',
      acrValues: ['urn:ward:acr:mfa', 'phr'],
      maxAgeSeconds: 300,
      description: 'A different authentication level is required',
    });
  });

  it('accepts unquoted values and keeps the challenge when max_age is malformed', () => {
    expect(parseStepUpChallenge('Bearer error=insufficient_user_authentication, max_age=-5')).toEqual({ error: 'insufficient_user_authentication', acrValues: [] });
  });

  it('finds the step-up challenge after another scheme', () => {
    const header = 'Basic realm="x", DPoP algs="ES256", error="insufficient_user_authentication", acr_values="mfa"';
    expect(parseStepUpChallenge(header)?.acrValues).toEqual(['mfa']);
  });

  it('tells a DPoP nonce request apart from other errors', () => {
    expect(isUseDpopNonceChallenge('DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"')).toBe(true);
    expect(isUseDpopNonceChallenge('DPoP error="invalid_token"')).toBe(false);
    expect(isUseDpopNonceChallenge('Bearer error="use_dpop_nonce"')).toBe(false);
  });

  it('returns nothing for empty, absent and unterminated input', () => {
    expect(parseWwwAuthenticate(null)).toEqual([]);
    expect(parseWwwAuthenticate('')).toEqual([]);
    expect(parseStepUpChallenge('DPoP error="insufficient_user_authentication')).toBeUndefined();
  });

  it('never throws on arbitrary input (fast-check)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (header) => {
        const parsed = parseWwwAuthenticate(header);
        expect(Array.isArray(parsed)).toBe(true);
        parseStepUpChallenge(header);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads back any challenge it could have been sent (fast-check)', () => {
    const token = fc.stringMatching(/^[a-z][a-z0-9_]{0,11}$/);
    const value = fc.string({ maxLength: 30 }).filter((s) => [...s].every((c) => c.charCodeAt(0) >= 0x20));
    fc.assert(
      fc.property(token, fc.uniqueArray(fc.tuple(token, value), { selector: ([k]) => k, maxLength: 5 }), (scheme, params) => {
        const header = `${scheme}${params.length ? ' ' : ''}${params.map(([k, v]) => `${k}="${v.replace(/["\\]/g, '\\$&')}"`).join(', ')}`;
        const [parsed] = parseWwwAuthenticate(header);
        expect(parsed?.scheme).toBe(scheme);
        expect(parsed?.params).toEqual(Object.fromEntries(params));
      }),
      { numRuns: 1000 },
    );
  });
});
