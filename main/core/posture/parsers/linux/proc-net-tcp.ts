export interface TcpListener {
  readonly address: string;
  readonly port: number;
  readonly inode: number;
  readonly loopbackOnly: boolean;
}

function ipv4(hex: string): string {
  // /proc prints the address as a host-order 32-bit word: little-endian on every platform Ward runs on.
  const bytes = [6, 4, 2, 0].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
  return bytes.join('.');
}

function ipv6(hex: string): string {
  const words: string[] = [];
  for (let w = 0; w < 4; w++) {
    const chunk = hex.slice(w * 8, w * 8 + 8);
    const le = [6, 4, 2, 0].map((i) => chunk.slice(i, i + 2)).join('');
    words.push(le.slice(0, 4), le.slice(4, 8));
  }
  return words.map((g) => g.replace(/^0{1,3}/, '').toLowerCase()).join(':');
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '0:0:0:0:0:0:0:1' || /^0:0:0:0:0:ffff:7f/.test(address);
}

/**
 * Listening sockets (state 0A) in /proc/net/tcp or /proc/net/tcp6 (proc(5)). Rows that do not
 * have the documented shape are skipped.
 */
export function parseProcNetTcp(text: string): TcpListener[] {
  const out: TcpListener[] = [];
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 10 || !/^\d+:$/.test(cols[0] ?? '')) continue;
    if (cols[3] !== '0A') continue;
    const [addrHex = '', portHex = ''] = (cols[1] ?? '').split(':');
    if (!/^[0-9A-Fa-f]+$/.test(portHex) || !(addrHex.length === 8 || addrHex.length === 32) || !/^[0-9A-Fa-f]+$/.test(addrHex)) continue;
    const address = addrHex.length === 8 ? ipv4(addrHex) : ipv6(addrHex);
    out.push({ address, port: Number.parseInt(portHex, 16), inode: Number(cols[9]), loopbackOnly: isLoopback(address) });
  }
  return out;
}
