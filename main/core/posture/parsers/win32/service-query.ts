import { linesOf, parsed, unparsable, type ParseResult } from '../parse-result.js';

export interface ServiceState {
  readonly installed: boolean;
  /** `RUNNING`, `STOPPED`, `START_PENDING`, … as sc prints it; null when not installed. */
  readonly state: string | null;
}

/**
 * `sc query NAME`: a `SERVICE_NAME:` block with `STATE : 4  RUNNING`, or error 1060 when the
 * service does not exist. Output of several queries may be concatenated; the block for `name` is used.
 */
export function parseScQuery(text: string, name: string): ParseResult<ServiceState> {
  if (/FAILED 1060\b/.test(text) || /does not exist as an installed service/i.test(text)) return parsed({ installed: false, state: null });
  let inBlock = false;
  for (const line of linesOf(text)) {
    const svc = /^SERVICE_NAME:\s*(\S+)/.exec(line);
    if (svc?.[1]) inBlock = svc[1].toLowerCase() === name.toLowerCase();
    const state = /^\s+STATE\s+:\s+\d+\s+(\w+)/.exec(line);
    if (inBlock && state?.[1]) return parsed({ installed: true, state: state[1] });
  }
  return unparsable(`the sc query ${name} output`, text);
}
