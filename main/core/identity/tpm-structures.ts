import { IdentityError } from './errors.js';
import type { EcPublicJwk } from './jws.js';

/**
 * Parsers for the two TPM 2.0 structures Ward reads back from tpm2-tools, in their marshalled
 * (big-endian, "tss") form: TPMT_SIGNATURE and TPM2B_PUBLIC (TPM 2.0 Library Part 2, §11.3.4 and
 * §12.2.5). Both are pure functions; any malformed input gives `IdentityError('tpm-error')`.
 */

export const TPM_ALG_ECDSA = 0x0018;
export const TPM_ALG_SHA256 = 0x000b;
const TPM_ALG_ECC = 0x0023;
const TPM_ALG_NULL = 0x0010;
const TPM_ECC_NIST_P256 = 0x0003;
const P256_BYTES = 32;

/** TPMA_OBJECT bits (Part 2, §8.3). */
export const TPMA_OBJECT = {
  fixedtpm: 1 << 1,
  stclear: 1 << 2,
  fixedparent: 1 << 4,
  sensitivedataorigin: 1 << 5,
  userwithauth: 1 << 6,
  adminwithpolicy: 1 << 7,
  noda: 1 << 10,
  encryptedduplication: 1 << 11,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18,
} as const;
export type TpmObjectAttribute = keyof typeof TPMA_OBJECT;

function malformed(what: string): IdentityError {
  return new IdentityError('tpm-error', `the TPM returned a malformed ${what}`);
}

/** A bounds-checked big-endian reader: every read past the end is a typed error, never a RangeError. */
export class Reader {
  private offset = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
  ) {}
  u16(): number {
    const b = this.take(2);
    return ((b[0] ?? 0) << 8) | (b[1] ?? 0);
  }
  u32(): number {
    const b = this.take(4);
    return (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
  }
  take(n: number): Uint8Array {
    if (this.offset + n > this.bytes.length) throw malformed(this.what);
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
  /** A TPM2B: u16 size, then that many bytes. */
  sized(): Uint8Array {
    return this.take(this.u16());
  }
  end(): void {
    if (this.offset !== this.bytes.length) throw malformed(this.what);
  }
}

/** Big-endian u16, as TPM structures are marshalled. */
export function u16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value);
  return b;
}

/** Big-endian u32. */
export function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0);
  return b;
}

/** A TPM2B: u16 size, then the bytes. */
export function sized(bytes: Uint8Array): Buffer {
  return Buffer.concat([u16(bytes.length), bytes]);
}

/** Left-pad a P-256 scalar/coordinate to 32 bytes (TPMs may drop leading zero bytes). */
function pad32(value: Uint8Array, what: string): Uint8Array {
  if (value.length === 0 || value.length > P256_BYTES) throw malformed(what);
  const out = new Uint8Array(P256_BYTES);
  out.set(value, P256_BYTES - value.length);
  return out;
}

/** TPMT_SIGNATURE (ECDSA, SHA-256) → the 64-byte r‖s an ES256 JWS carries (RFC 7518 §3.4). */
export function parseTpmSignature(bytes: Uint8Array): Uint8Array {
  const what = 'signature';
  const r = new Reader(bytes, what);
  if (r.u16() !== TPM_ALG_ECDSA) throw new IdentityError('tpm-error', 'the TPM signed with an algorithm other than ECDSA');
  if (r.u16() !== TPM_ALG_SHA256) throw new IdentityError('tpm-error', 'the TPM signed with a hash other than SHA-256');
  const sigR = pad32(r.sized(), what);
  const sigS = pad32(r.sized(), what);
  r.end();
  const out = new Uint8Array(2 * P256_BYTES);
  out.set(sigR, 0);
  out.set(sigS, P256_BYTES);
  return out;
}

export interface TpmEccPublic {
  readonly nameAlg: number;
  /** The raw TPMA_OBJECT word. */
  readonly attributes: number;
  /** The attribute names set in `attributes`, in the order tpm2-tools prints them. */
  readonly attributeNames: readonly TpmObjectAttribute[];
  readonly publicJwk: EcPublicJwk;
}

/** TPM2B_PUBLIC of an ECC P-256 signing key → its attributes and public JWK. */
export function parseTpmPublic(bytes: Uint8Array): TpmEccPublic {
  const what = 'public area';
  const outer = new Reader(bytes, what);
  const r = new Reader(outer.sized(), what);
  outer.end();
  if (r.u16() !== TPM_ALG_ECC) throw new IdentityError('tpm-error', 'the TPM key is not an ECC key');
  const nameAlg = r.u16();
  const attributes = r.u32();
  r.sized(); // authPolicy
  const symmetric = r.u16();
  if (symmetric !== TPM_ALG_NULL) {
    r.u16(); // keyBits
    r.u16(); // mode
  }
  const scheme = r.u16();
  if (scheme !== TPM_ALG_NULL) r.u16(); // hashAlg
  if (r.u16() !== TPM_ECC_NIST_P256) throw new IdentityError('tpm-error', 'the TPM key is not on the P-256 curve');
  const kdf = r.u16();
  if (kdf !== TPM_ALG_NULL) r.u16();
  const x = pad32(r.sized(), what);
  const y = pad32(r.sized(), what);
  r.end();
  const attributeNames = (Object.keys(TPMA_OBJECT) as TpmObjectAttribute[]).filter((k) => (attributes & TPMA_OBJECT[k]) !== 0);
  return {
    nameAlg,
    attributes,
    attributeNames,
    publicJwk: { kty: 'EC', crv: 'P-256', x: Buffer.from(x).toString('base64url'), y: Buffer.from(y).toString('base64url') },
  };
}

/** The attributes every Ward TPM key must carry: non-exportable, TPM-generated, signing only. */
export const REQUIRED_TPM_ATTRIBUTES: readonly TpmObjectAttribute[] = ['fixedtpm', 'fixedparent', 'sensitivedataorigin', 'userwithauth', 'sign'];
