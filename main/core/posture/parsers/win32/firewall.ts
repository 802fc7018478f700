import { outcome, type CheckOutcome } from '../../check.js';
import { linesOf } from '../parse-result.js';
import { field, parsePsObjects, psBool } from './powershell-output.js';

const PROFILES = ['Domain', 'Private', 'Public'] as const;

function verdict(enabled: ReadonlyMap<string, boolean>, source: string): CheckOutcome {
  const observed = { profiles: Object.fromEntries(PROFILES.map((p) => [p, enabled.get(p) ?? null])), source };
  const off = PROFILES.filter((p) => enabled.get(p) === false);
  const missing = PROFILES.filter((p) => !enabled.has(p));
  if (off.length) return outcome.fail(`Windows Firewall is off for the ${off.join(', ')} profile${off.length > 1 ? 's' : ''}`, observed);
  if (missing.length) return outcome.unknown(`${source} did not report the ${missing.join(', ')} profile${missing.length > 1 ? 's' : ''}`, observed);
  return outcome.pass('Windows Firewall is on for the Domain, Private and Public profiles', observed);
}

/** `Get-NetFirewallProfile` (JSON or text): `Name` and `Enabled` per profile. */
export function interpretNetFirewallProfiles(text: string): CheckOutcome {
  const objects = parsePsObjects(text);
  if (!objects.ok) return { status: objects.status, reason: objects.reason, observed: {} };
  const enabled = new Map<string, boolean>();
  for (const o of objects.value) {
    const name = PROFILES.find((p) => p.toLowerCase() === (field(o, 'Name') ?? '').toLowerCase());
    // Enabled is a GpoBoolean: True, False or NotConfigured (2 in JSON); only True/False settle it.
    const value = psBool(field(o, 'Enabled')) ?? ({ '1': true, '0': false } as Record<string, boolean>)[field(o, 'Enabled') ?? ''];
    if (name && value !== undefined) enabled.set(name, value);
  }
  if (objects.value.length === 0) return outcome.error('Get-NetFirewallProfile printed nothing', {});
  return verdict(enabled, 'Get-NetFirewallProfile');
}

/** `netsh advfirewall show allprofiles` (or one profile): "X Profile Settings:" sections with a `State ON|OFF` line. */
export function interpretNetshFirewall(text: string): CheckOutcome {
  const enabled = new Map<string, boolean>();
  let profile: string | undefined;
  for (const line of linesOf(text)) {
    const header = /^(Domain|Private|Public) Profile Settings:/.exec(line);
    if (header?.[1]) profile = header[1];
    const state = /^State\s+(ON|OFF)\b/.exec(line);
    if (profile && state?.[1]) enabled.set(profile, state[1] === 'ON');
  }
  if (enabled.size === 0) return outcome.error(`could not read the netsh advfirewall output: "${text.trim().slice(0, 300)}"`, {});
  return verdict(enabled, 'netsh advfirewall');
}
