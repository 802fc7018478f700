import { outcome, type CheckOutcome } from '../../check.js';
import { linesOf, unparsable } from '../parse-result.js';

const KEYS = ['AutomaticCheckEnabled', 'AutomaticDownload', 'CriticalUpdateInstall', 'ConfigDataInstall', 'AutomaticallyInstallMacOSUpdates'] as const;

/**
 * `defaults read /Library/Preferences/com.apple.SoftwareUpdate`: an old-style property list,
 * `{ Key = value; ... }`. Security responses install automatically when `CriticalUpdateInstall` is 1
 * and checking is not turned off. A key that is absent leaves macOS's built-in default in force,
 * which this file does not state, so Ward reports that as unknown rather than assuming it.
 */
export function interpretSoftwareUpdatePrefs(text: string, exitCode: number): CheckOutcome {
  if (exitCode !== 0 && /does not exist/i.test(text)) {
    return outcome.unknown('com.apple.SoftwareUpdate has no settings file; macOS defaults apply but are not recorded anywhere Ward can read', {});
  }
  if (!/^\s*\{/.test(text)) return outcome.error(unparsable('the com.apple.SoftwareUpdate settings', text).reason);
  const values: Record<string, number | null> = {};
  for (const key of KEYS) values[key] = null;
  for (const line of linesOf(text)) {
    const m = /^\s{1,8}"?(\w+)"?\s*=\s*"?(\d+)"?;$/.exec(line);
    if (m?.[1] && m[2] !== undefined && (KEYS as readonly string[]).includes(m[1])) values[m[1]] = Number(m[2]);
  }
  const observed = { ...values };
  if (values.AutomaticCheckEnabled === 0) return outcome.fail('automatic checking for updates is turned off', observed);
  if (values.CriticalUpdateInstall === 0) return outcome.fail('security responses and system files are not installed automatically', observed);
  if (values.CriticalUpdateInstall === 1) return outcome.pass('security responses and system files install automatically', observed);
  return outcome.unknown('CriticalUpdateInstall is not set explicitly; the macOS default applies but Ward cannot read it', observed);
}
