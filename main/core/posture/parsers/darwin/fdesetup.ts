import { outcome, type CheckOutcome } from '../../check.js';
import { unparsable } from '../parse-result.js';

/** `fdesetup status`: "FileVault is On." / "FileVault is Off.", with progress lines while converting. */
export function interpretFdesetupStatus(text: string): CheckOutcome {
  const on = /FileVault is On\./.test(text);
  const off = /FileVault is Off\./.test(text);
  const progress = /(Encryption|Decryption) in progress:?[^\n]*?(\d+(?:\.\d+)?)?\s*$/im.exec(text);
  const percent = /Percent completed = (\d+(?:\.\d+)?)/.exec(text)?.[1];
  const observed = { fileVault: on ? 'on' : off ? 'off' : null, conversion: progress?.[1]?.toLowerCase() ?? null, percentCompleted: percent ? Number(percent) : null };
  if (progress?.[1] === 'Decryption') return outcome.fail('FileVault is being turned off (decryption in progress)', observed);
  if (progress?.[1] === 'Encryption') {
    return outcome.fail(`FileVault encryption is still in progress${percent ? ` (${percent}% done)` : ''}; the disk is not fully encrypted yet`, observed);
  }
  if (on && !off) return outcome.pass('FileVault is on for the startup disk', observed);
  if (off && !on) return outcome.fail('FileVault is off', observed);
  const bad = unparsable('the fdesetup status output', text);
  return outcome.error(bad.reason, observed);
}
