import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verifyTpmKeyAttestation } from '../../../../broker/sdk/tpm-attestation.js';
import { IdentityError } from '../../../../main/core/identity/errors.js';
import { buildCertifyCommand, certifyQualifyingData, parseCertifyResponse } from '../../../../main/core/identity/tpm-attestation.js';
import { parseTpmPublic } from '../../../../main/core/identity/tpm-structures.js';

// Captured from swtpm 0.7.1 + tpm2-tools 5.4 on this project's Debian machine: a P-256 device key
// made persistent at 0x81020000 (tpm2_create, Ward's attributes), an AK from tpm2_createek +
// tpm2_createak -G ecc -g sha256 -s ecdsa at 0x81020100, both read with `tpm2_readpublic -f tss`,
// and the answer of `tpm2_send` to CERTIFY_COMMAND (qualifying data: 32 bytes of 0x07).
const CERTIFY_COMMAND =
  '80020000004e00000148810200008102010000000012400000090000000000400000090000000000002007070707070707070707070707070707070707070707070707070707070707070018000b';
const CERTIFY_RESPONSE = Buffer.from(
  '80020000010f00000000000000f700adff54434780170022000b924c56ff1b20fdcf19331c554fedb771701933ea71172730db4cd3b648f5f499002007070707070707070707070707070707' +
    '07070707070707070707070707070707000000000000e40400000001000000000120191023001636360022000b2437f1bbe5bcf259bb33a98909539864573c6313b820a64bd137d1f5' +
    '28c831e60022000b2ab445d816e8059d3e3a600cda16ef9030b5ebc4e4a017e4d6faf2237044181f0018000b0020f7fb381c64199227ff49dcc8c02928f1e9baad534f32923376175a05' +
    '69a2b8fc0020c458a9204a9c4fdb85f4f6d5545a060e2e02d7f1e149b4d80eab37b04a731f7200000100000000010000',
  'hex',
);
const AK_PUBLIC = Buffer.from(
  '00580023000b00050072000000100018000b000300100020cef49b688ba7bb81f5af7bd9de242745e3dfbfdcf57971772dac01ee6381abe800201d4c72127a782ff0e5cecd85a5703226c0d4971a7de95866b327632ca0e2f0a1',
  'hex',
);
const KEY_PUBLIC = Buffer.from(
  '00580023000b00040072000000100018000b0003001000204bac52479093e7ab7a257385cdc5ea849ddee1ecc4fd11ecc1655cfcd40ca9330020d8903382ebf570b01273d493111baf7cb397e2fa4fdb2e822606472f106714f5',
  'hex',
);

describe('TPM2_Certify on the wire', () => {
  it('builds the command a real TPM answered: password sessions for both handles, ECDSA/SHA-256', () => {
    expect(buildCertifyCommand(0x81020000, 0x81020100, Buffer.alloc(32, 7)).toString('hex')).toBe(CERTIFY_COMMAND);
  });

  it('takes the TPM2B_ATTEST and TPMT_SIGNATURE out of a real answer, and the broker SDK verifies them', () => {
    const { certifyInfo, signature } = parseCertifyResponse(CERTIFY_RESPONSE);
    expect(certifyInfo.length).toBe(2 + 0xad);
    const input = {
      attestation: {
        format: 'tpm2-certify',
        akPublic: AK_PUBLIC.toString('base64url'),
        certifyInfo: Buffer.from(certifyInfo).toString('base64url'),
        certifySignature: Buffer.from(signature).toString('base64url'),
      },
      keyPublicArea: KEY_PUBLIC.toString('base64url'),
      publicJwk: parseTpmPublic(KEY_PUBLIC).publicJwk,
      expectedQualifyingData: Buffer.alloc(32, 7),
    };
    expect(verifyTpmKeyAttestation(input)).toMatchObject({ ok: true, attestation: { resetCount: 1, restartCount: 0 } });
    expect(verifyTpmKeyAttestation({ ...input, expectedQualifyingData: Buffer.alloc(32, 8) })).toMatchObject({ ok: false, reason: 'attestation-nonce' });
  });

  it('turns a TPM error code into tpm-error naming the code', () => {
    const refusal = Buffer.from('80010000000a0000018b', 'hex'); // TPM_RC_HANDLE on handle 1
    expect(() => parseCertifyResponse(refusal)).toThrow(expect.objectContaining({ code: 'tpm-error', message: expect.stringContaining('0x18b') }));
  });

  it('arbitrary answers give a tpm-error, never another kind of throw', () => {
    const check = (bytes: Uint8Array): void => {
      try {
        parseCertifyResponse(bytes);
      } catch (err) {
        expect(err).toBeInstanceOf(IdentityError);
        expect((err as IdentityError).code).toBe('tpm-error');
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), check), { numRuns: 1000 });
    // A valid header with an arbitrary body reaches the parameter parsing.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (body) => {
        const header = Buffer.alloc(10);
        header.writeUInt16BE(0x8002, 0);
        header.writeUInt32BE(10 + body.length, 2);
        check(Buffer.concat([header, body]));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('certifyQualifyingData', () => {
  const binding = { aud: 'https://broker.example/enroll', jti: 'a-b', jkt: 'x'.repeat(43), enrollmentToken: 'wet_123' };

  it('is 32 bytes and changes with every field of the request it binds to', () => {
    const base = certifyQualifyingData(binding);
    expect(base.length).toBe(32);
    for (const field of ['aud', 'jti', 'jkt', 'enrollmentToken'] as const) {
      expect(certifyQualifyingData({ ...binding, [field]: `${binding[field]}!` }).equals(base)).toBe(false);
    }
  });

  it('does not let bytes move between fields (length-prefixed)', () => {
    expect(certifyQualifyingData({ ...binding, aud: 'ab', jti: 'c' }).equals(certifyQualifyingData({ ...binding, aud: 'a', jti: 'bc' }))).toBe(false);
  });
});
