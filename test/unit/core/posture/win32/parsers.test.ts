import { describe, expect, it } from 'vitest';
import { interpretBitLockerVolumes, interpretManageBde } from '../../../../../main/core/posture/parsers/win32/bitlocker.js';
import { interpretMpComputerStatus } from '../../../../../main/core/posture/parsers/win32/defender.js';
import { parseWindowsFacts } from '../../../../../main/core/posture/parsers/win32/device-facts.js';
import { interpretNetshFirewall } from '../../../../../main/core/posture/parsers/win32/firewall.js';
import { interpretHotfixes } from '../../../../../main/core/posture/parsers/win32/hotfix.js';
import { interpretWindowsVersion } from '../../../../../main/core/posture/parsers/win32/os-version.js';
import { parsePsObjects } from '../../../../../main/core/posture/parsers/win32/powershell-output.js';
import { interpretConfirmSecureBoot } from '../../../../../main/core/posture/parsers/win32/secure-boot.js';
import { parseScQuery } from '../../../../../main/core/posture/parsers/win32/service-query.js';
import { interpretSshdService } from '../../../../../main/core/posture/parsers/win32/sshd-service.js';
import { fixture } from './fixture.js';

const objects = (text: string): Record<string, string>[] => {
  const r = parsePsObjects(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value.map((o) => ({ ...o }));
};

describe('PowerShell output', () => {
  it('reads Format-List output, keeping empty properties and values with spaces', () => {
    const [o] = objects(fixture('get-bitlockervolume--docs-format-list-fully-encrypted.txt'));
    expect(o).toMatchObject({ MountPoint: 'C:', VolumeStatus: 'FullyEncrypted', ProtectionStatus: 'On', AutoUnlockEnabled: '', KeyProtector: '{RecoveryPassword, Tpm}' });
  });

  it('reads tables, joining headers wrapped over two lines', () => {
    const rows = objects(fixture('get-bitlockervolume--docs-table-multi-volume.txt'));
    expect(rows).toHaveLength(5);
    expect(rows[2]).toMatchObject({ VolumeType: 'OperatingSystem', MountPoint: 'C:', VolumeStatus: 'FullyDecrypted', EncryptionPercentage: '0', ProtectionStatus: 'Off' });
    expect(objects(fixture('get-hotfix--docs-table.txt')).map((r) => r.HotFixID)).toEqual(['KB4495590', 'KB4470788', 'KB4480056']);
  });

  it('reads ConvertTo-Json output the same as the text it came from (round trip over real captures)', () => {
    for (const file of ['get-mpcomputerstatus--docs-ws2022-format-list.txt', 'get-hotfix--docs-table.txt', 'get-service-sshd--real-running-win32openssh-ws2012r2.txt']) {
      const fromText = objects(fixture(file));
      expect(objects(JSON.stringify(fromText))).toEqual(fromText);
      if (fromText.length === 1) expect(objects(JSON.stringify(fromText[0]))).toEqual(fromText);
    }
  });
});

describe('OS version and updates', () => {
  it('fails Windows 10 21H1 (build 19043) from Get-ComputerInfo: out of servicing for every edition', () => {
    const r = interpretWindowsVersion(fixture('get-computerinfo--docs-version-properties-lenovo.txt'), new Date('2026-11-28T00:00:00Z'));
    expect(r.status).toBe('fail');
    expect(r.observed).toMatchObject({ build: 19043, release: 'Windows 10 21H1', edition: null });
  });

  it('judges Get-HotFix recency from the newest install date, learning the date order from the dates', () => {
    const text = fixture('get-hotfix--docs-table.txt');
    const soon = interpretHotfixes(text, new Date('2019-06-01T00:00:00Z'));
    expect(soon).toMatchObject({ status: 'pass', observed: { newestHotfix: 'KB4495590', newestInstalledOn: '2019-05-16', ageDays: 16 } });
    expect(interpretHotfixes(text, new Date('2019-08-01T00:00:00Z')).status).toBe('fail');
  });
});

describe('BitLocker', () => {
  it('passes a fully encrypted, protected OS volume (list format)', () => {
    expect(interpretBitLockerVolumes(fixture('get-bitlockervolume--docs-format-list-fully-encrypted.txt'), 'C:')).toMatchObject({ status: 'pass', observed: { volume: 'C:', protectionOn: true } });
  });

  it('fails when the OS volume of a multi-volume table is decrypted', () => {
    expect(interpretBitLockerVolumes(fixture('get-bitlockervolume--docs-table-multi-volume.txt'), 'C:')).toMatchObject({ status: 'fail', observed: { volumeStatus: 'FullyDecrypted' } });
  });

  it('fails manage-bde output where the volume is encrypted but protection is off (key in the clear)', () => {
    const r = interpretManageBde(fixture('manage-bde-status--real-used-space-encrypted-protection-off-fragment.txt'), 'C:');
    expect(r).toMatchObject({ status: 'fail', observed: { volumeStatus: 'Used Space Only Encrypted', protectionOn: false, percent: 100 } });
  });
});

describe('firewall', () => {
  it('reads netsh profile sections; one profile alone is unknown, not a pass (no capture of allprofiles or Get-NetFirewallProfile exists here)', () => {
    const r = interpretNetshFirewall(fixture('netsh-advfirewall-show-currentprofile--domain-on.txt'));
    expect(r).toMatchObject({ status: 'unknown', observed: { profiles: { Domain: true, Private: null, Public: null } } });
  });
});

describe('Defender, EDR services, Secure Boot, sshd', () => {
  it('passes Defender with real-time protection on and fresh signatures, in both property sets', () => {
    expect(interpretMpComputerStatus(fixture('get-mpcomputerstatus--docs-ws2022-format-list.txt'))).toMatchObject({ status: 'pass', observed: { signatureAgeDays: 1, runningMode: 'Normal' } });
    expect(interpretMpComputerStatus(fixture('get-mpcomputerstatus--docs-2013-legacy.txt'))).toMatchObject({ status: 'pass', observed: { signatureAgeDays: 0, runningMode: null } });
  });

  it('reads each service block of concatenated sc query output, and error 1060 as not installed', () => {
    const both = fixture('sc-query-sense--docs-running-plus-windefend.txt');
    expect(parseScQuery(both, 'Sense')).toEqual({ ok: true, value: { installed: true, state: 'RUNNING' } });
    expect(parseScQuery(both, 'WinDefend')).toEqual({ ok: true, value: { installed: true, state: 'RUNNING' } });
    expect(parseScQuery(both, 'CSFalconService')).toMatchObject({ ok: false, status: 'error' });
    expect(parseScQuery(fixture('sc-query--error-1060-not-installed-win11-23h2.txt'), 'SentinelAgent')).toEqual({ ok: true, value: { installed: false, state: null } });
  });

  it('passes Confirm-SecureBootUEFI True and fails the undefined-variable error (no real capture of False exists here)', () => {
    expect(interpretConfirmSecureBoot(fixture('confirm-securebootuefi--docs-true.txt')).status).toBe('pass');
    const undefinedVar = interpretConfirmSecureBoot(fixture('confirm-securebootuefi--error-variable-undefined-0xC0000100.txt'));
    expect(undefinedVar).toMatchObject({ status: 'fail', observed: { secureBoot: false, error: 'Variable is currently undefined: 0xC0000100' } });
  });

  it('fails a running sshd and passes a stopped, missing or differently named one', () => {
    expect(interpretSshdService(fixture('get-service-sshd--real-running-win32openssh-ws2012r2.txt')).status).toBe('fail');
    expect(interpretSshdService(fixture('get-service-sshd--real-stopped-win32openssh-ws2012r2.txt'))).toMatchObject({ status: 'pass', observed: { installed: true, status: 'Stopped' } });
    expect(interpretSshdService(fixture('get-service-sshd--real-wildcard-only-sshdbroker.txt'))).toMatchObject({ status: 'pass', observed: { installed: false, otherServices: ['SshdBroker'] } });
    expect(interpretSshdService(fixture('start-service-sshd--real-error-service-not-found.txt'))).toMatchObject({ status: 'pass', observed: { installed: false } });
  });
});

describe('device facts', () => {
  it('reads the version and build from Get-ComputerInfo and leaves what it does not print null', () => {
    const r = parseWindowsFacts(fixture('get-computerinfo--docs-version-properties-lenovo.txt'));
    expect(r).toMatchObject({ ok: true, value: { version: '10.0.19043', build: '19043', caption: null, serial: null } });
  });
});
