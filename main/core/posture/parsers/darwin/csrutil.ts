import { outcome, type CheckOutcome } from '../../check.js';
import { linesOf, unparsable } from '../parse-result.js';

/**
 * `csrutil status`. "enabled." is full System Integrity Protection. A "(Custom Configuration)"
 * (reported as "enabled" on early 10.11 builds and "unknown" later) means some protections were
 * turned off from Recovery: that is not full protection, whatever the first word says.
 */
export function interpretCsrutilStatus(text: string): CheckOutcome {
  const m = /System Integrity Protection status:\s*(enabled|disabled|unknown)\s*(\(Custom Configuration\))?\s*\./i.exec(text);
  const disabledParts: string[] = [];
  for (const line of linesOf(text)) {
    const part = /^\s+([A-Za-z][A-Za-z -]+):\s*disabled$/.exec(line);
    if (part?.[1]) disabledParts.push(part[1].trim());
  }
  if (!m?.[1]) return outcome.error(unparsable('the csrutil status output', text).reason);
  const status = m[1].toLowerCase();
  const custom = m[2] !== undefined;
  const observed = { sip: status, customConfiguration: custom, disabledProtections: disabledParts };
  if (status === 'enabled' && !custom) return outcome.pass('System Integrity Protection is fully enabled', observed);
  if (status === 'disabled') return outcome.fail('System Integrity Protection is disabled', observed);
  const which = disabledParts.length ? `: ${disabledParts.join(', ')} disabled` : '';
  return outcome.fail(`System Integrity Protection runs a custom configuration${which}`, observed);
}
