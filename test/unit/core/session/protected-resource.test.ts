import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WardError } from '../../../../main/core/errors.js';
import { checkResourceUrl, printable } from '../../../../main/core/session/protected-resource.js';

const BROKER = 'https://broker.example.com';

describe('checkResourceUrl', () => {
  it('accepts http(s) URLs on an allowed origin only', () => {
    expect(checkResourceUrl(`${BROKER}/demo/resource?x=1`, [BROKER]).pathname).toBe('/demo/resource');
    expect(() => checkResourceUrl('https://evil.example.com/demo/resource', [BROKER])).toThrow(/not the broker this device is enrolled with/);
    expect(() => checkResourceUrl('https://broker.example.com.evil.example/x', [BROKER])).toThrow(/not the broker/);
    expect(() => checkResourceUrl('http://broker.example.com/x', [BROKER])).toThrow(/not the broker/);
    expect(() => checkResourceUrl('https://user:pw@broker.example.com/x', [BROKER])).toThrow(/user name or password/);
    expect(() => checkResourceUrl('file:///etc/passwd', ['null'])).toThrow(/only http\(s\) URLs/);
    expect(() => checkResourceUrl('not a url', [BROKER])).toThrow(/is not a URL/);
  });

  it('on arbitrary input either returns a URL on an allowed origin or throws a typed error', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.webUrl(), fc.webUrl().map((u) => u.replace(/^https?:\/\/[^/]+/, BROKER))), (raw) => {
        try {
          expect(checkResourceUrl(raw, [BROKER]).origin).toBe(BROKER);
        } catch (err) {
          expect(err).toBeInstanceOf(WardError);
          expect(['resource-url-invalid', 'resource-not-allowed']).toContain((err as WardError).code);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('printable', () => {
  it('removes terminal control characters but keeps newlines and text', () => {
    expect(printable('ok\u001b[31mred\u0007\nnext\ttab')).toBe('ok[31mred\nnext\ttab');
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        // eslint-disable-next-line no-control-regex
        expect(printable(s)).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
      }),
    );
  });
});
