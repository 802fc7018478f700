import { outcome, type CheckOutcome } from '../../check.js';
import { unparsable } from '../parse-result.js';

/**
 * `socketfilterfw --getglobalstate`. State 1 is on, 2 is on and blocking all incoming connections
 * (worded "enabled" on older releases and "blocking all non-essential incoming connections" on
 * newer ones), 0 is off.
 */
export function interpretFirewallGlobalState(text: string): CheckOutcome {
  const state = /\(State = (\d)\)/.exec(text)?.[1];
  const words = /Firewall is (enabled|disabled|blocking all)/i.exec(text)?.[1]?.toLowerCase();
  const code = state !== undefined ? Number(state) : words === 'disabled' ? 0 : words === 'enabled' ? 1 : words === 'blocking all' ? 2 : undefined;
  const observed = { globalState: code ?? null, blockAllIncoming: code === undefined ? null : code === 2 };
  if (code === 1) return outcome.pass('the application firewall is on', observed);
  if (code === 2) return outcome.pass('the application firewall is on and blocks all incoming connections', observed);
  if (code === 0) return outcome.fail('the application firewall is off', observed);
  return outcome.error(unparsable('the socketfilterfw output', text).reason, observed);
}
