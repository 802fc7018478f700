import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32Decode(text: string): Buffer | undefined {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of clean) {
    const idx = BASE32.indexOf(ch);
    if (idx < 0) return undefined;
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export function base32Encode(data: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of data) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** A fresh TOTP secret (160 bits, base32) for `users add --totp`. */
export function newTotpSecret(): string {
  return base32Encode(randomBytes(20));
}

/** RFC 6238 TOTP (HMAC-SHA1, 30 s steps, 6 digits), the code authenticator apps show. */
export function totpCode(secretBase32: string, atMs: number, stepOffset = 0): string {
  const key = base32Decode(secretBase32);
  if (!key || key.length === 0) throw new Error('TOTP secret is not base32');
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(atMs / 30_000) + stepOffset));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 1_000_000).padStart(6, '0');
}

/**
 * The time step (30 s counter) whose code `code` is, among the current one and one either side
 * (clock drift), or undefined. All three are compared, in constant time each. The caller spends the
 * step so the code works once (RFC 6238 §5.2).
 */
export function matchTotpStep(secretBase32: string, code: string, atMs: number): number | undefined {
  if (!/^\d{6}$/.test(code) || !base32Decode(secretBase32)?.length) return undefined;
  let match: number | undefined;
  for (const offset of [-1, 0, 1]) {
    if (timingSafeEqual(Buffer.from(totpCode(secretBase32, atMs, offset)), Buffer.from(code))) match = Math.floor(atMs / 30_000) + offset;
  }
  return match;
}

/** Is `code` the current code or one step either side? (Does not spend it: see {@link matchTotpStep}.) */
export function verifyTotp(secretBase32: string, code: string, atMs: number): boolean {
  return matchTotpStep(secretBase32, code, atMs) !== undefined;
}
