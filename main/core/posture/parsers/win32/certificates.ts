import type { CertificateInfo } from '../../probes/probes.js';
import { linesOf, parsed, unparsable, type ParseResult } from '../parse-result.js';
import { field, parsePsObjects } from './powershell-output.js';

/**
 * Certificates from the `Cert:` drive: Ward's script prints `Subject`, `Thumbprint`, `NotAfter` and
 * `Store` as JSON; the default text (a `PSParentPath:` line, then a `Thumbprint  Subject` table per
 * store) is read too.
 */
export function parseWindowsCertificates(text: string): ParseResult<CertificateInfo[]> {
  const trimmed = text.trim();
  if (!trimmed) return parsed([]);
  if (/^[[{]/.test(trimmed)) {
    const objects = parsePsObjects(trimmed);
    if (!objects.ok) return objects;
    const certs: CertificateInfo[] = [];
    for (const o of objects.value) {
      const thumb = field(o, 'Thumbprint');
      if (!thumb || !/^[0-9A-Fa-f]{40}$/.test(thumb)) return unparsable('a certificate thumbprint', JSON.stringify(o));
      certs.push({ subject: field(o, 'Subject') ?? '', sha1: thumb.toLowerCase(), sha256: null, location: field(o, 'Store', 'PSParentPath') ?? 'Cert:', notAfter: field(o, 'NotAfter') ?? null });
    }
    return parsed(certs);
  }
  const certs: CertificateInfo[] = [];
  let store: string | undefined;
  for (const line of linesOf(text)) {
    const parent = /PSParentPath:\s*.*::(.+)$/.exec(line);
    if (parent?.[1]) store = parent[1].trim();
    const row = /^([0-9A-F]{40})\s+(.*)$/.exec(line);
    if (row?.[1] && store) certs.push({ subject: (row[2] ?? '').trim(), sha1: row[1].toLowerCase(), sha256: null, location: store, notAfter: null });
  }
  return certs.length ? parsed(certs) : unparsable('the certificate listing', text);
}
