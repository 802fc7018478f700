import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IdentityError } from '../../../../main/core/identity/errors.js';
import { nativeTpmFailure } from '../../../../main/core/identity/tpm-key-store.js';

// How rejections of the native TPM signer (native/tpm/src/ward_tpm.c: an Error with `code`,
// `message`, `stage`, `tpmRc`) become the TPM key store's typed errors. The messages below are
// the ones the addon produced against swtpm here (test/integration/identity/tpm-native-signer.test.ts).
function addonError(code: string, message: string, tpmRc: number): Error {
  return Object.assign(new Error(message), { code, tpmRc, stage: message.split(':')[0] });
}

describe('nativeTpmFailure', () => {
  it('maps a refused connection to tpm-unavailable with the hint to check the TPM', () => {
    const err = nativeTpmFailure(addonError('tpm-unavailable', 'connecting to the TPM: tcti:IO failure (0xa000a)', 0xa000a));
    expect(err).toBeInstanceOf(IdentityError);
    expect(err).toMatchObject({ code: 'tpm-unavailable', message: 'no TPM answered while connecting to the TPM: tcti:IO failure (0xa000a)' });
    expect(err.hint).toMatch(/TPM2TOOLS_TCTI/);
  });

  it('maps a missing handle to "device key lost: re-enroll"', () => {
    const err = nativeTpmFailure(addonError('device-key-lost', "opening the device key's persistent handle: tpm:handle(1):the handle is not correct for the use (0x18b)", 0x18b));
    expect(err).toMatchObject({ code: 'device-key-lost', message: expect.stringMatching(/^device key lost: re-enroll/), hint: expect.stringMatching(/ward reset/) });
  });

  it('maps any other TPM answer to tpm-error and passes an IdentityError through', () => {
    expect(nativeTpmFailure(addonError('tpm-error', 'signing with the device key: tpm:error(2.0): authorization failure (0x98e)', 0x98e))).toMatchObject({
      code: 'tpm-error',
      message: 'the TPM failed while signing with the device key: tpm:error(2.0): authorization failure (0x98e)',
    });
    const own = new IdentityError('key-not-found', 'no key');
    expect(nativeTpmFailure(own)).toBe(own);
    expect(nativeTpmFailure(new TypeError('sign(handle, digest): digest must be a 32-byte Uint8Array (SHA-256)'))).toMatchObject({ code: 'tpm-error' });
  });

  it('never throws, and gives only the TPM codes, whatever was thrown (property)', () => {
    const coded = fc.record({ code: fc.oneof(fc.constantFrom('tpm-unavailable', 'device-key-lost', 'tpm-error'), fc.string()), message: fc.oneof(fc.string(), fc.anything()), stage: fc.anything() }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.oneof(fc.anything(), coded, fc.string().map((m) => new Error(m))), (thrown) => {
        const err = nativeTpmFailure(thrown);
        expect(err).toBeInstanceOf(IdentityError);
        expect(['tpm-unavailable', 'device-key-lost', 'tpm-error']).toContain(err.code);
        expect(err.message.length).toBeLessThan(400);
      }),
    );
  });
});
