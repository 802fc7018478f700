import { outcome, type CheckOutcome } from '../../check.js';
import { field, parsePsObjects } from './powershell-output.js';

/**
 * Automatic-update policy: `NoAutoUpdate` and `AUOptions` under
 * HKLM\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\AU, and a user pause
 * (`PauseUpdatesExpiryTime` under HKLM\SOFTWARE\Microsoft\WindowsUpdate\UX\Settings).
 * AUOptions (https://learn.microsoft.com/windows/deployment/update/waas-wu-settings):
 * 1 off, 2 notify before download, 3 download and notify, 4 download and install on a schedule,
 * 5 local admin chooses, 7 download, notify to install.
 * With no policy at all Windows installs updates automatically (its documented default).
 */
export function interpretUpdatePolicy(text: string, now: Date): CheckOutcome {
  if (/Cannot find path .*WindowsUpdate\\AU/i.test(text)) {
    return outcome.pass('no policy turns automatic updates off (the policy key does not exist); Windows installs updates automatically by default', {});
  }
  const objects = parsePsObjects(text);
  if (!objects.ok) return { status: objects.status, reason: objects.reason, observed: {} };
  const o = objects.value[0] ?? {};
  // Ward's script always prints these properties (null when unset); output without any of them is not its answer.
  if (!Object.keys(o).some((k) => /^(NoAutoUpdate|AUOptions|PauseUpdatesExpiryTime)$/i.test(k))) {
    return outcome.error(`the update policy output has none of NoAutoUpdate, AUOptions, PauseUpdatesExpiryTime: "${text.trim().slice(0, 200)}"`, {});
  }
  const num = (name: string): number | null => {
    const v = field(o, name);
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : null;
  };
  const noAuto = num('NoAutoUpdate');
  const options = num('AUOptions');
  const pauseText = field(o, 'PauseUpdatesExpiryTime') ?? null;
  const pausedUntil = pauseText && !Number.isNaN(Date.parse(pauseText)) ? new Date(pauseText) : null;
  const observed = { noAutoUpdate: noAuto, auOptions: options, pausedUntil: pausedUntil?.toISOString() ?? null };
  if (noAuto === 1 || options === 1) return outcome.fail('a policy turns automatic updates off', observed);
  if (options === 2 || options === 3 || options === 7) return outcome.fail(`the update policy (AUOptions ${options}) waits for someone to install updates`, observed);
  if (pausedUntil && pausedUntil > now) return outcome.fail(`updates are paused until ${pausedUntil.toISOString().slice(0, 10)}`, observed);
  if (options === 5) return outcome.unknown('the policy lets the local administrator choose (AUOptions 5); their choice is not recorded in the policy', observed);
  if (options === 4) return outcome.pass('the update policy downloads and installs updates automatically (AUOptions 4)', observed);
  if (noAuto === null && options === null) return outcome.pass('no policy turns automatic updates off, and they are not paused; Windows installs updates automatically by default', observed);
  return outcome.unknown(`unrecognised update policy values (NoAutoUpdate ${noAuto ?? 'unset'}, AUOptions ${options ?? 'unset'})`, observed);
}
