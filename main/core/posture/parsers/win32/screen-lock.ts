import { outcome, type CheckOutcome } from '../../check.js';
import { field, parsePsObjects } from './powershell-output.js';

/**
 * The JSON Ward's script prints from the registry: the machine inactivity limit
 * (`HKLM\...\Policies\System\InactivityTimeoutSecs`) and the screen saver settings, policy values
 * (`PolicyScreenSave*`, from `HKCU\Software\Policies\...\Control Panel\Desktop`) winning over the
 * user's own (`HKCU\Control Panel\Desktop`). Locking on wake from sleep is not inspected, so a
 * machine with no idle lock configured here is unknown, not failed.
 */
export function interpretWindowsScreenLock(text: string, maxSeconds: number): CheckOutcome {
  const objects = parsePsObjects(text);
  if (!objects.ok) return { status: objects.status, reason: objects.reason, observed: {} };
  const o = objects.value[0];
  if (!o) return outcome.error('the screen lock script printed nothing', {});
  const num = (...names: string[]): number | null => {
    const v = field(o, ...names);
    return v !== undefined && /^\d+$/.test(v.trim()) ? Number(v) : null;
  };
  const inactivity = num('InactivityTimeoutSecs');
  const active = num('PolicyScreenSaveActive', 'ScreenSaveActive');
  const secure = num('PolicyScreenSaverIsSecure', 'ScreenSaverIsSecure');
  const timeout = num('PolicyScreenSaveTimeOut', 'ScreenSaveTimeOut');
  const observed = { inactivityTimeoutSeconds: inactivity, screenSaverActive: active, screenSaverIsSecure: secure, screenSaverTimeoutSeconds: timeout, maxSeconds };
  if (inactivity !== null && inactivity > 0 && inactivity <= maxSeconds) {
    return outcome.pass(`the machine inactivity limit locks the screen after ${inactivity} s`, observed);
  }
  if (active === 1 && secure === 1 && timeout !== null && timeout > 0) {
    if (timeout <= maxSeconds) return outcome.pass(`a password-protected screen saver starts after ${timeout} s`, observed);
    return outcome.fail(`the password-protected screen saver starts only after ${timeout} s (limit ${maxSeconds} s)`, observed);
  }
  if (active === 1 && secure === 0) return outcome.fail('the screen saver does not ask for a password when it ends', observed);
  if (inactivity !== null && inactivity > maxSeconds) return outcome.fail(`the machine inactivity limit is ${inactivity} s (limit ${maxSeconds} s)`, observed);
  return outcome.unknown('no inactivity limit or password-protected screen saver is configured; locking on wake from sleep is not inspected', observed);
}
