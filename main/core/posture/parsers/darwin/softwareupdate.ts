import { linesOf, parsed, unparsable, type ParseResult } from '../parse-result.js';

export interface PendingUpdate {
  readonly label: string;
  readonly title: string;
  readonly recommended: boolean;
  readonly restart: boolean;
}

/**
 * `softwareupdate -l`, stdout and stderr together (it prints "No new software available." on
 * stderr). Two formats: Catalina and later print `* Label: X` then a tab-indented
 * `Title: T, Version: V, Size: S, Recommended: YES, Action: restart,` line; older releases print
 * `- label` then `Title (version), sizeK [recommended] [restart]`.
 */
export function parseSoftwareUpdateList(text: string): ParseResult<{ updates: PendingUpdate[] }> {
  if (/No new software available\./i.test(text)) return parsed({ updates: [] });
  if (!/found the following new or updated software/i.test(text)) return unparsable('the softwareupdate -l output', text);
  const updates: PendingUpdate[] = [];
  let label: string | undefined;
  for (const line of linesOf(text)) {
    const modern = /^\s*\*\s*Label:\s*(.+)$/.exec(line);
    const legacy = /^-\s+(.+)$/.exec(line);
    if (modern?.[1]) {
      label = modern[1].trim();
      continue;
    }
    if (legacy?.[1]) {
      label = legacy[1].trim();
      continue;
    }
    if (!label || !/^\s+\S/.test(line)) continue;
    const body = line.trim();
    const title = /^Title:\s*([^,]+)/.exec(body)?.[1] ?? body.replace(/\s*\(.*$/, '');
    updates.push({
      label,
      title: title.trim(),
      recommended: /Recommended:\s*YES/i.test(body) || /\[recommended\]/i.test(body),
      restart: /Action:\s*restart/i.test(body) || /\[restart\]/i.test(body),
    });
    label = undefined;
  }
  if (updates.length === 0) return unparsable('the list of updates in the softwareupdate -l output', text);
  return parsed({ updates });
}
