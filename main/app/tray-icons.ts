import { deflateSync } from 'node:zlib';
import type { TrayState } from './tray-state.js';

/** Colours per state; the shape differs too (ring for signed out / offline), so colour is not the only cue. */
const STYLE: Readonly<Record<TrayState, { rgb: readonly [number, number, number]; isRing: boolean }>> = {
  compliant: { rgb: [26, 127, 55], isRing: false },
  attention: { rgb: [191, 135, 0], isRing: false },
  blocked: { rgb: [180, 35, 24], isRing: false },
  'signed-out': { rgb: [110, 118, 129], isRing: true },
  offline: { rgb: [110, 118, 129], isRing: true },
};

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = (CRC_TABLE[(c ^ byte) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * The tray icon for a state as a PNG (RGBA, anti-aliased disc or ring), drawn here so the shell
 * carries no binary assets and each state's icon is testable.
 */
export function trayIconPng(state: TrayState, size = 32): Buffer {
  const { rgb, isRing } = STYLE[state];
  const rows: Buffer[] = [];
  const centre = (size - 1) / 2;
  const outer = size / 2 - 1;
  const inner = isRing ? outer - Math.max(2, size / 8) : -1;
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 4);
    for (let x = 0; x < size; x++) {
      const d = Math.hypot(x - centre, y - centre);
      // Coverage with a one-pixel soft edge on both borders.
      const coverage = Math.max(0, Math.min(1, outer - d + 0.5, isRing ? d - inner + 0.5 : 1));
      row.set([rgb[0], rgb[1], rgb[2], Math.round(coverage * 255)], 1 + x * 4);
    }
    rows.push(row);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
