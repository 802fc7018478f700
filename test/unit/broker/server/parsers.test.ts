import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../../broker/server/config.js';
import { DpopVerifier } from '../../../../broker/server/dpop.js';
import { BrokerError } from '../../../../broker/server/errors.js';
import { Router } from '../../../../broker/server/http/router.js';
import { hashPassword, isPasswordHash, verifyPassword } from '../../../../broker/server/passwords.js';
import { base32Decode, base32Encode, totpCode, verifyTotp } from '../../../../broker/server/totp.js';

const onlyBrokerErrors = (fn: () => unknown): void => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BrokerError);
  }
};

describe('broker server parsers never throw anything but typed errors', () => {
  it('parseConfig: any JSON value gives a config or a config-invalid error naming the field', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        onlyBrokerErrors(() => parseConfig(value));
      }),
    );
    expect(() => parseConfig({ listen: { port: 'x' } })).toThrow(/listen\.port/);
    expect(parseConfig({}).accessTokenTtlSeconds).toBe(300);
  });

  it('DPoP verifier: arbitrary proof headers are refused with invalid-dpop-proof', () => {
    const verifier = new DpopVerifier();
    const jws = fc.tuple(fc.base64String(), fc.base64String(), fc.base64String()).map((p) => p.join('.'));
    fc.assert(
      fc.property(fc.oneof(fc.string(), jws), (header) => {
        const req = { method: 'POST', headers: { dpop: header } } as unknown as IncomingMessage;
        try {
          verifier.verify(req, 'http://127.0.0.1/posture');
          expect.unreachable('an arbitrary string is never a valid proof');
        } catch (err) {
          expect((err as BrokerError).code).toBe('invalid-dpop-proof');
        }
      }),
    );
  });

  it('router: arbitrary paths match, miss or give a typed bad-request, never a crash', () => {
    const router = new Router().add('GET', '/devices/:id', async () => undefined);
    fc.assert(
      fc.property(fc.string(), (path) => {
        onlyBrokerErrors(() => router.match('GET', `/devices/${path}`));
      }),
    );
    expect(() => router.match('GET', '/devices/%E0%A4%A')).toThrow(BrokerError);
    expect(router.match('GET', '/other')).toBeUndefined();
    expect(router.match('POST', '/devices/a')).toBe('method-not-allowed');
    const hit = router.match('GET', '/devices/a%20b');
    expect(typeof hit === 'object' && hit.params.id).toBe('a b');
  });

  it('password hashes: format checks never throw; a hash verifies only its password', async () => {
    fc.assert(fc.property(fc.string(), (s) => typeof isPasswordHash(s) === 'boolean'));
    const hash = await hashPassword('p4ssword!');
    expect(isPasswordHash(hash)).toBe(true);
    expect(await verifyPassword('p4ssword!', hash)).toBe(true);
    expect(await verifyPassword('p4ssword?', hash)).toBe(false);
    expect(await verifyPassword('p4ssword!', 'scrypt$1$1$1$x$y')).toBe(false);
  });

  it('TOTP: base32 round-trips, junk never throws, and RFC 6238 test vector matches', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => base32Decode(base32Encode(Buffer.from(bytes)))?.equals(Buffer.from(bytes)) === true));
    fc.assert(fc.property(fc.string(), fc.string(), (secret, code) => typeof verifyTotp(secret, code, Date.now()) === 'boolean'));
    // RFC 6238 Appendix B, SHA-1, T = 59 s: 94287082 (8 digits) → last 6 digits 287082.
    const rfcSecret = base32Encode(Buffer.from('12345678901234567890'));
    expect(totpCode(rfcSecret, 59_000)).toBe('287082');
    expect(verifyTotp(rfcSecret, '287082', 59_000)).toBe(true);
    expect(verifyTotp(rfcSecret, '287083', 59_000)).toBe(false);
  });
});
