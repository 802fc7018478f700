import { parsed, unparsable, undetermined, type ParseResult } from '../parse-result.js';

/** `systemsetup -getremotelogin`: "Remote Login: On" / "Remote Login: Off"; without admin rights it refuses. */
export function parseRemoteLogin(text: string): ParseResult<boolean> {
  const m = /Remote Login:\s*(On|Off)\b/i.exec(text);
  if (m?.[1]) return parsed(m[1].toLowerCase() === 'on');
  if (/administrator access/i.test(text)) return undetermined('systemsetup needs administrator rights to report Remote Login');
  return unparsable('the systemsetup -getremotelogin output', text);
}
