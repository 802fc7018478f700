import { outcome, type CheckOutcome } from '../../check.js';
import { field, parsePsObjects, psBool } from './powershell-output.js';

export const MAX_SIGNATURE_AGE_DAYS = 7;

/** `Get-MpComputerStatus` (JSON or the default list): Microsoft Defender Antivirus state. */
export function interpretMpComputerStatus(text: string): CheckOutcome {
  const objects = parsePsObjects(text);
  if (!objects.ok) return { status: objects.status, reason: objects.reason, observed: {} };
  const o = objects.value[0];
  if (!o) return outcome.error('Get-MpComputerStatus printed nothing', {});
  const av = psBool(field(o, 'AntivirusEnabled'));
  const rtp = psBool(field(o, 'RealTimeProtectionEnabled'));
  const service = psBool(field(o, 'AMServiceEnabled'));
  const ageText = field(o, 'AntivirusSignatureAge');
  const age = ageText && /^\d+$/.test(ageText) ? Number(ageText) : null;
  const mode = field(o, 'AMRunningMode') ?? null;
  const observed = { antivirusEnabled: av ?? null, realTimeProtectionEnabled: rtp ?? null, serviceEnabled: service ?? null, signatureAgeDays: age, runningMode: mode };
  if (mode && /passive|EDR Block/i.test(mode)) {
    return outcome.unknown(`Microsoft Defender runs in ${mode}, which means another antivirus is registered; Ward does not read third-party antivirus on Windows`, observed);
  }
  if (av === false || service === false) return outcome.fail('Microsoft Defender Antivirus is turned off', observed);
  if (rtp === false) return outcome.fail('Microsoft Defender real-time protection is off', observed);
  if (av === undefined || rtp === undefined) return outcome.error('Get-MpComputerStatus did not report AntivirusEnabled and RealTimeProtectionEnabled', observed);
  if (age === null) return outcome.unknown('real-time protection is on but the signature age was not reported', observed);
  if (age > MAX_SIGNATURE_AGE_DAYS) return outcome.fail(`Defender's signatures are ${age} days old (limit ${MAX_SIGNATURE_AGE_DAYS})`, observed);
  return outcome.pass(`Microsoft Defender real-time protection is on; signatures are ${age} day${age === 1 ? '' : 's'} old`, observed);
}
