import { outcome, type CheckOutcome } from '../../check.js';
import { psErrorMessage } from './powershell-output.js';

/**
 * `Confirm-SecureBootUEFI` prints True or False on UEFI machines. On firmware without Secure Boot it
 * fails with "Variable is currently undefined" (no SecureBoot variable) or "Cmdlet not supported on
 * this platform" (BIOS): Secure Boot is then not in effect. It needs administrator rights.
 */
export function interpretConfirmSecureBoot(output: string): CheckOutcome {
  const first = output.trim().split(/\r?\n/)[0]?.trim();
  if (first === 'True') return outcome.pass('UEFI Secure Boot is on', { secureBoot: true });
  if (first === 'False') return outcome.fail('UEFI Secure Boot is supported but turned off', { secureBoot: false });
  const message = psErrorMessage(output) ?? output.trim().slice(0, 300);
  if (/Variable is currently undefined/i.test(output)) {
    return outcome.fail('the firmware has no SecureBoot variable, so Secure Boot is not in effect', { secureBoot: false, error: message });
  }
  if (/not supported on this platform/i.test(output)) return outcome.fail('this machine boots without UEFI, so Secure Boot is not available', { secureBoot: false, error: message });
  if (/Access was denied|administrator/i.test(output)) return outcome.unknown('Confirm-SecureBootUEFI needs administrator rights', { secureBoot: null, error: message });
  return outcome.error(`could not read the Confirm-SecureBootUEFI output: "${message}"`, { secureBoot: null });
}
