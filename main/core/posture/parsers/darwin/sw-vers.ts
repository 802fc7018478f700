import { linesOf, parsed, unparsable, type ParseResult } from '../parse-result.js';

export interface SwVers {
  readonly productName: string | null;
  readonly productVersion: string;
  readonly buildVersion: string | null;
}

const VERSION = /^\d+(?:\.\d+){0,3}$/;

/**
 * `sw_vers` prints `ProductName:`, `ProductVersion:` and `BuildVersion:` lines separated by a tab
 * (copies pasted into issues often show spaces); `sw_vers -productVersion` prints the bare version.
 */
export function parseSwVers(text: string): ParseResult<SwVers> {
  const fields = new Map<string, string>();
  for (const line of linesOf(text)) {
    const m = /^\s*(ProductName|ProductVersion|ProductVersionExtra|BuildVersion)\s*:\s*(.*)$/.exec(line);
    if (m?.[1] && m[2] !== undefined) fields.set(m[1], m[2].trim());
  }
  const version = fields.get('ProductVersion') ?? (fields.size === 0 ? text.trim() : undefined);
  if (!version || !VERSION.test(version)) return unparsable('the sw_vers output', text);
  return parsed({ productName: fields.get('ProductName') || null, productVersion: version, buildVersion: fields.get('BuildVersion') || null });
}
