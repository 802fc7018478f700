import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IdentityError } from '../../../../main/core/identity/errors.js';
import { parseTpmPublic, parseTpmSignature } from '../../../../main/core/identity/tpm-structures.js';

// Captured from swtpm 0.7 + tpm2-tools 5.4 on this project's Debian 12 machines:
// `tpm2_readpublic -c 0x81018000 -f tss` and `tpm2_sign -g sha256 -d -f tss` for that key.
const PUBLIC_AREA = Buffer.from(
  '00580023000b00040072000000100018000b0003001000205a74a0b257580efe7787e44d727d5bd48416b2c8c7c2e73a012268a9dd277275' +
    '0020b2678e6b66a9761221f783d6fe52c663e251f8a541b6f24f2b32ab4e31df84d8',
  'hex',
);
const SIGNATURE = Buffer.from(
  '0018000b0020d7fb6bff9b53fc538f5cb41355699c472664c78534b999523d850b2be0b4cdb30020c66d0e019d5887746824' +
    '4295ead4f2b5aebff37d1170abd6d6c9767308c71e63',
  'hex',
);

function tpmSignature(r: Uint8Array, s: Uint8Array, sigAlg = 0x0018, hash = 0x000b): Uint8Array {
  const out = Buffer.alloc(4 + 2 + r.length + 2 + s.length);
  out.writeUInt16BE(sigAlg, 0);
  out.writeUInt16BE(hash, 2);
  out.writeUInt16BE(r.length, 4);
  Buffer.from(r).copy(out, 6);
  out.writeUInt16BE(s.length, 6 + r.length);
  Buffer.from(s).copy(out, 8 + r.length);
  return out;
}

function expectTyped(run: () => unknown): void {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(IdentityError);
    expect((err as IdentityError).code).toBe('tpm-error');
  }
}

describe('parseTpmSignature', () => {
  it('turns a real TPMT_SIGNATURE into the 64-byte r‖s of ES256', () => {
    const rs = parseTpmSignature(SIGNATURE);
    expect(Buffer.from(rs).toString('hex')).toBe(
      'd7fb6bff9b53fc538f5cb41355699c472664c78534b999523d850b2be0b4cdb3c66d0e019d58877468244295ead4f2b5aebff37d1170abd6d6c9767308c71e63',
    );
  });

  it('left-pads short r and s to 32 bytes', () => {
    const rs = parseTpmSignature(tpmSignature(Uint8Array.of(1, 2), Uint8Array.of(3)));
    expect(rs.length).toBe(64);
    expect(rs[30]).toBe(1);
    expect(rs[31]).toBe(2);
    expect(rs[63]).toBe(3);
    expect(rs.slice(0, 30).every((b) => b === 0)).toBe(true);
  });

  it('refuses a non-ECDSA or non-SHA-256 signature, trailing bytes and truncation', () => {
    const r = new Uint8Array(32).fill(7);
    expect(() => parseTpmSignature(tpmSignature(r, r, 0x0014))).toThrow(/other than ECDSA/);
    expect(() => parseTpmSignature(tpmSignature(r, r, 0x0018, 0x000c))).toThrow(/other than SHA-256/);
    expect(() => parseTpmSignature(Buffer.concat([SIGNATURE, Buffer.of(0)]))).toThrow(IdentityError);
    expect(() => parseTpmSignature(SIGNATURE.subarray(0, SIGNATURE.length - 1))).toThrow(IdentityError);
    expect(() => parseTpmSignature(tpmSignature(new Uint8Array(33).fill(1), r))).toThrow(IdentityError);
  });

  it('round-trips any r and s of 1..32 bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 32 }), fc.uint8Array({ minLength: 1, maxLength: 32 }), (r, s) => {
        const rs = parseTpmSignature(tpmSignature(r, s));
        expect(Buffer.from(rs.slice(32 - r.length, 32))).toEqual(Buffer.from(r));
        expect(Buffer.from(rs.slice(64 - s.length))).toEqual(Buffer.from(s));
      }),
    );
  });

  it('never throws anything but a typed error on arbitrary bytes (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => expectTyped(() => parseTpmSignature(bytes))));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (tail) => expectTyped(() => parseTpmSignature(Buffer.concat([Buffer.from('0018000b', 'hex'), tail])))),
    );
  });
});

describe('parseTpmPublic', () => {
  it('reads the attributes and public point of a real TPM2B_PUBLIC', () => {
    const pub = parseTpmPublic(PUBLIC_AREA);
    expect(pub.attributes).toBe(0x40072);
    expect(pub.attributeNames).toEqual(['fixedtpm', 'fixedparent', 'sensitivedataorigin', 'userwithauth', 'sign']);
    // The same key as `tpm2_readpublic -f pem` printed: MFkw...WnSgsldYDv53h+RNcn1b1IQWssjH...
    expect(pub.publicJwk).toEqual({
      kty: 'EC',
      crv: 'P-256',
      x: Buffer.from('5a74a0b257580efe7787e44d727d5bd48416b2c8c7c2e73a012268a9dd277275', 'hex').toString('base64url'),
      y: Buffer.from('b2678e6b66a9761221f783d6fe52c663e251f8a541b6f24f2b32ab4e31df84d8', 'hex').toString('base64url'),
    });
  });

  it('refuses a key on another curve, an RSA key, and a truncated area', () => {
    const otherCurve = Buffer.from(PUBLIC_AREA);
    otherCurve.writeUInt16BE(0x0004, 18); // TPM_ECC_NIST_P384
    expect(() => parseTpmPublic(otherCurve)).toThrow(/P-256/);
    const rsa = Buffer.from(PUBLIC_AREA);
    rsa.writeUInt16BE(0x0001, 2);
    expect(() => parseTpmPublic(rsa)).toThrow(/not an ECC key/);
    expect(() => parseTpmPublic(PUBLIC_AREA.subarray(0, 50))).toThrow(IdentityError);
  });

  it('never throws anything but a typed error on arbitrary or mutated bytes (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => expectTyped(() => parseTpmPublic(bytes))));
    fc.assert(
      fc.property(fc.nat(PUBLIC_AREA.length - 1), fc.integer({ min: 0, max: 255 }), (at, value) => {
        const mutated = Buffer.from(PUBLIC_AREA);
        mutated[at] = value;
        expectTyped(() => parseTpmPublic(mutated));
      }),
    );
  });
});
