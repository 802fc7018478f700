import { parsePlistXml } from '../../../plist-xml.js';
import { parsed, unparsable, type ParseResult } from '../parse-result.js';

/** `spctl --status`: "assessments enabled" (Gatekeeper on) or "assessments disabled". */
export function parseSpctlStatus(text: string): ParseResult<boolean> {
  if (/assessments enabled/.test(text)) return parsed(true);
  if (/assessments disabled/.test(text)) return parsed(false);
  return unparsable('the spctl --status output', text);
}

/** XProtect's bundle Info.plist (XML): its `CFBundleShortVersionString`. */
export function parseBundleVersion(xml: string): ParseResult<string> {
  // The XML parser logs to the console on malformed input: only hand it what claims to be a plist.
  if (!/<plist[\s>]/.test(xml)) return unparsable('the XProtect bundle version', xml);
  try {
    const doc = parsePlistXml(xml);
    const version = doc && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>).CFBundleShortVersionString : undefined;
    if (typeof version === 'string' && version.trim()) return parsed(version.trim());
  } catch {
    // fall through: not a property list
  }
  return unparsable('the XProtect bundle version', xml);
}
