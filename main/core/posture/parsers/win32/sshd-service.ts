import { outcome, type CheckOutcome } from '../../check.js';
import { field, parsePsObjects, psErrorMessage } from './powershell-output.js';

/**
 * `Get-Service -Name sshd` (JSON or the default table): OpenSSH Server's state. No output, or the
 * "Cannot find any service" error, means the server is not installed.
 */
export function interpretSshdService(text: string): CheckOutcome {
  if (/Cannot find any service with service name/i.test(text)) {
    return outcome.pass('the OpenSSH server (sshd) is not installed', { installed: false, status: null, startType: null, error: psErrorMessage(text) ?? null });
  }
  const objects = parsePsObjects(text);
  if (!objects.ok) return { status: objects.status, reason: objects.reason, observed: {} };
  const sshd = objects.value.find((o) => (field(o, 'Name') ?? '').toLowerCase() === 'sshd');
  if (!sshd) {
    const others = objects.value.map((o) => field(o, 'Name')).filter(Boolean);
    return outcome.pass('the OpenSSH server (sshd) is not installed', { installed: false, status: null, startType: null, otherServices: others });
  }
  const status = field(sshd, 'Status') ?? null;
  const startType = field(sshd, 'StartType') ?? null;
  const observed = { installed: true, status, startType };
  if (status && /^(Running|4|StartPending|2)$/i.test(status)) return outcome.fail('the OpenSSH server (sshd) is running and accepts connections', observed);
  if (startType && /^(Automatic|2)$/i.test(startType)) return outcome.fail('the OpenSSH server (sshd) is stopped but starts automatically at boot', observed);
  if (status && /^(Stopped|1)$/i.test(status)) {
    return outcome.pass(`the OpenSSH server (sshd) is installed but stopped${startType ? ` (start type ${startType})` : ''}`, observed);
  }
  return outcome.error(`unrecognised sshd service status "${status ?? ''}"`, observed);
}
