import { X509Certificate } from 'node:crypto';
import type { CertificateInfo } from '../../probes/probes.js';

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Every PEM certificate in a text (a bundle such as ca-certificates.crt, or one .crt/.pem file),
 * parsed with node:crypto. Blocks that do not parse are counted, not thrown.
 */
export function parsePemCertificates(text: string, location: string): { certificates: CertificateInfo[]; unreadable: number } {
  const certificates: CertificateInfo[] = [];
  let unreadable = 0;
  for (const block of text.match(PEM) ?? []) {
    try {
      const cert = new X509Certificate(block);
      certificates.push({
        subject: cert.subject.split('\n').join(', '),
        sha1: cert.fingerprint.replace(/:/g, '').toLowerCase(),
        sha256: cert.fingerprint256.replace(/:/g, '').toLowerCase(),
        location,
        notAfter: Number.isNaN(Date.parse(cert.validTo)) ? null : new Date(cert.validTo).toISOString(),
      });
    } catch {
      unreadable++;
    }
  }
  return { certificates, unreadable };
}
