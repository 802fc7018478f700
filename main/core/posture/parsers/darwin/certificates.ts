import type { CertificateInfo } from '../../probes/probes.js';
import { linesOf, parsed, unparsable, type ParseResult } from '../parse-result.js';

/**
 * `security find-certificate -a -Z KEYCHAIN`: per certificate a `SHA-256 hash:` and/or `SHA-1 hash:`
 * line, then `keychain: "..."` and an `attributes:` list where `"labl"` (or `"alis"`) carries the
 * name. "The specified item could not be found" means an empty keychain; a keychain that cannot
 * be opened is an error.
 */
export function parseFindCertificate(text: string, keychain: string): ParseResult<CertificateInfo[]> {
  if (/could not be found in the keychain/i.test(text)) return parsed([]);
  if (/keychain could not be found|SecKeychain\w*:/i.test(text)) return unparsable(`the keychain ${keychain}`, text);
  const certs: CertificateInfo[] = [];
  let current: { sha1: string | null; sha256: string | null; label: string | null; alias: string | null; location: string } | undefined;
  const flush = (): void => {
    if (current && (current.sha1 || current.sha256)) {
      certs.push({ subject: current.label ?? current.alias ?? '', sha1: current.sha1, sha256: current.sha256, location: current.location, notAfter: null });
    }
  };
  for (const line of linesOf(text)) {
    const hash = /^SHA-(1|256) hash:\s*([0-9A-Fa-f]+)$/.exec(line);
    if (hash?.[1] && hash[2]) {
      const startsNew = !current || (hash[1] === '256' ? current.sha256 !== null : current.sha1 !== null) || current.label !== null;
      if (startsNew) {
        flush();
        current = { sha1: null, sha256: null, label: null, alias: null, location: keychain };
      }
      if (current) current[hash[1] === '256' ? 'sha256' : 'sha1'] = hash[2].toLowerCase();
      continue;
    }
    if (!current) continue;
    const kc = /^keychain:\s*"(.*)"$/.exec(line);
    if (kc?.[1]) current.location = kc[1];
    const attr = /^\s+"(labl|alis)"<blob>="(.*)"$/.exec(line);
    if (attr?.[1] && attr[2] !== undefined) current[attr[1] === 'labl' ? 'label' : 'alias'] = attr[2];
  }
  flush();
  if (certs.length === 0 && text.trim()) return unparsable('the security find-certificate output', text);
  return parsed(certs);
}
