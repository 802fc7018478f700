import { createHash, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parsePemCertificates } from '../../../../../main/core/posture/parsers/linux/pem.js';
import { parseProcNetTcp } from '../../../../../main/core/posture/parsers/linux/proc-net-tcp.js';
import { fixture, neverThrowsUntyped } from './fixture.js';

describe('parseProcNetTcp', () => {
  it('decodes listening IPv4 sockets (real capture on this VM)', () => {
    const listeners = parseProcNetTcp(fixture('proc-net-tcp--ward-vm.txt'));
    expect(listeners.map((l) => `${l.address}:${l.port}`)).toEqual(['127.0.0.1:23322', '127.0.0.1:23321', '0.0.0.0:2024']);
    expect(listeners.map((l) => l.loopbackOnly)).toEqual([true, true, false]);
    expect(listeners[2]?.inode).toBe(1534);
  });
  it('reads an IPv6 table with only its header as empty (real capture)', () => {
    expect(parseProcNetTcp(fixture('proc-net-tcp6--ward-vm.txt'))).toEqual([]);
  });
  it('decodes IPv6 loopback and wildcard listeners on port 22', () => {
    const row = (addr: string): string => `   0: ${addr}:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0 100 0 0 10 0`;
    const [lo, any] = parseProcNetTcp(`header\n${row('00000000000000000000000001000000')}\n${row('00000000000000000000000000000000')}`);
    expect(lo).toMatchObject({ address: '0:0:0:0:0:0:0:1', port: 22, loopbackOnly: true });
    expect(any).toMatchObject({ address: '0:0:0:0:0:0:0:0', port: 22, loopbackOnly: false });
  });
  it('never throws', () => neverThrowsUntyped(fixture('proc-net-tcp--ward-vm.txt'), parseProcNetTcp));
});

describe('parsePemCertificates', () => {
  const pem = fixture('ca-certificates--first3-debian12.pem');
  it('reads subject, SHA-1, SHA-256 and expiry of each certificate (real Debian bundle excerpt)', () => {
    const { certificates, unreadable } = parsePemCertificates(pem, '/etc/ssl/certs/ca-certificates.crt');
    expect(unreadable).toBe(0);
    expect(certificates).toHaveLength(3);
    const first = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/)?.[0] ?? '';
    const der = new X509Certificate(first).raw;
    expect(certificates[0]?.sha256).toBe(createHash('sha256').update(der).digest('hex'));
    expect(certificates[0]?.sha1).toBe(createHash('sha1').update(der).digest('hex'));
    expect(certificates[0]?.subject).toMatch(/CN=/);
    expect(certificates[0]?.notAfter).toMatch(/^\d{4}-\d\d-\d\dT/);
  });
  it('counts a damaged block instead of throwing', () => {
    const broken = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    expect(parsePemCertificates(broken + pem, 'x')).toMatchObject({ unreadable: 1 });
  });
  it('never throws', () => neverThrowsUntyped(pem, (s) => parsePemCertificates(s, 'x')));
});
