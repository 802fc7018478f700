import { describe, expect, it } from 'vitest';
import { parseFindCertificate } from '../../../../../main/core/posture/parsers/darwin/certificates.js';
import { interpretCsrutilStatus } from '../../../../../main/core/posture/parsers/darwin/csrutil.js';
import { parseFalconctlStats, parseMdatpHealth } from '../../../../../main/core/posture/parsers/darwin/edr-agents.js';
import { interpretFdesetupStatus } from '../../../../../main/core/posture/parsers/darwin/fdesetup.js';
import { parseSpctlStatus } from '../../../../../main/core/posture/parsers/darwin/gatekeeper.js';
import { macosReleaseOf } from '../../../../../main/core/posture/parsers/darwin/macos-releases.js';
import { evaluateMacScreenLock, parsePmsetDisplaySleep } from '../../../../../main/core/posture/parsers/darwin/screen-lock.js';
import { interpretFirewallGlobalState } from '../../../../../main/core/posture/parsers/darwin/socketfilterfw.js';
import { parseSoftwareUpdateList } from '../../../../../main/core/posture/parsers/darwin/softwareupdate.js';
import { parseSwVers } from '../../../../../main/core/posture/parsers/darwin/sw-vers.js';
import { parseSystemProfiler } from '../../../../../main/core/posture/parsers/darwin/system-profiler.js';
import { fixture } from './fixture.js';

const value = <T>(r: { ok: true; value: T } | { ok: false; reason: string }): T => {
  if (!r.ok) throw new Error(`expected a parse, got: ${r.reason}`);
  return r.value;
};

describe('sw_vers', () => {
  it('reads tab- and space-separated output and the single-line form', () => {
    expect(value(parseSwVers(fixture('sw_vers--catalina-10.15.5-spaces.txt')))).toEqual({ productName: 'Mac OS X', productVersion: '10.15.5', buildVersion: '19F101' });
    expect(value(parseSwVers(fixture('sw_vers--high-sierra-10.13-tabs.txt')))).toMatchObject({ productVersion: '10.13', buildVersion: '17A405' });
    expect(value(parseSwVers(fixture('sw_vers-productVersion--10.13.6.txt')))).toMatchObject({ productVersion: '10.13.6', buildVersion: null });
  });

  it('maps versions to releases in the support table, 10.x by minor and 11+ by major', () => {
    expect(macosReleaseOf('10.15.5')?.name).toBe('macOS Catalina');
    expect(macosReleaseOf('14.2.1')?.name).toBe('macOS Sonoma');
    expect(macosReleaseOf('99.1')).toBeUndefined();
  });
});

describe('softwareupdate -l', () => {
  it('reads the legacy "- label / Title (version) [recommended]" format', () => {
    const { updates } = value(parseSoftwareUpdateList(fixture('softwareupdate-l--mavericks-10.9-updates.txt')));
    expect(updates.map((u) => u.label)).toEqual(['031-00536-5.1.0.0', 'Safari7.1Mavericks-7.1', 'Command Line Tools (OS X Mavericks)-6.0', 'iBooksDelta-1.0.1', 'iTunesXPatch-11.4']);
    expect(updates.every((u) => u.recommended)).toBe(true);
  });

  it('reads the modern "* Label:" format, with restart actions', () => {
    const { updates } = value(parseSoftwareUpdateList(fixture('softwareupdate-l--ventura-13-with-sonoma-upgrade.txt')));
    expect(updates.map((u) => [u.title, u.recommended, u.restart])).toEqual([
      ['Safari', true, false],
      ['macOS Ventura 13.6', true, true],
      ['macOS Sonoma 14.0', true, true],
    ]);
  });

  it('ignores stderr noise interleaved with the list', () => {
    const { updates } = value(parseSoftwareUpdateList(fixture('softwareupdate-l--ventura-safari-with-xtype-stderr.txt')));
    expect(updates).toEqual([{ label: 'Safari17.3.1VenturaAuto-17.3.1', title: 'Safari', recommended: true, restart: false }]);
  });
});

describe('fdesetup status', () => {
  it('passes on "FileVault is On." (no real capture of Off or of a conversion in progress exists in the fixtures)', () => {
    const r = interpretFdesetupStatus(fixture('fdesetup-status--on-master-keychain.txt'));
    expect(r.status).toBe('pass');
    expect(r.observed).toMatchObject({ fileVault: 'on', conversion: null });
  });
});

describe('socketfilterfw --getglobalstate', () => {
  it('passes on states 1 and 2 in old and new wording and fails on state 0', () => {
    expect(interpretFirewallGlobalState(fixture('socketfilterfw-getglobalstate--enabled-state1-2021.txt'))).toMatchObject({ status: 'pass', observed: { globalState: 1 } });
    expect(interpretFirewallGlobalState(fixture('socketfilterfw-getglobalstate--enabled-state2-2021.txt'))).toMatchObject({ status: 'pass', observed: { globalState: 2, blockAllIncoming: true } });
    expect(interpretFirewallGlobalState(fixture('socketfilterfw-getglobalstate--blocking-state2-2025.txt'))).toMatchObject({ status: 'pass', observed: { globalState: 2 } });
    expect(interpretFirewallGlobalState(fixture('socketfilterfw-getglobalstate--disabled-state0-2021.txt'))).toMatchObject({ status: 'fail', observed: { globalState: 0 } });
  });
});

describe('csrutil status', () => {
  it('passes only full System Integrity Protection', () => {
    expect(interpretCsrutilStatus(fixture('csrutil-status--enabled-10.11.txt')).status).toBe('pass');
  });

  it('fails a custom configuration even when it says "enabled", naming what is off', () => {
    const r = interpretCsrutilStatus(fixture('csrutil-status--custom-config-enabled-10.11-beta.txt'));
    expect(r.status).toBe('fail');
    expect(r.observed).toMatchObject({ sip: 'enabled', customConfiguration: true });
    expect(r.observed.disabledProtections).toContain('Kext Signing');
  });

  it.each([
    ['csrutil-status--custom-unknown-catalina.txt', 7],
    ['csrutil-status--custom-unknown-apple-silicon-12.5.txt', 6],
    ['csrutil-status--custom-unknown-sonoma-14.2.1-spaces.txt', 5],
  ])('fails "unknown (Custom Configuration)" with tabs or spaces: %s', (file, disabled) => {
    const r = interpretCsrutilStatus(fixture(file));
    expect(r.status).toBe('fail');
    expect(r.observed.disabledProtections).toHaveLength(disabled);
  });
});

describe('screen lock', () => {
  it('reads the display sleep in use from pmset -g, annotations and all', () => {
    expect(value(parsePmsetDisplaySleep(fixture('pmset-g--hackintosh-imac20-1-ventura-sleep-prevented.txt')))).toBe(20);
    expect(value(parsePmsetDisplaySleep(fixture('pmset-g--hackintosh-thinkpad-x1c6-2020-destroyfvkey.txt')))).toBe(10);
  });

  // sysadminctl's own output has no real capture here; its verdict logic is tested on the values it yields.
  it('passes when display sleep plus the lock delay is within the limit, and treats an unread screen saver as an upper bound only', () => {
    const minutes = value(parsePmsetDisplaySleep(fixture('pmset-g--hackintosh-imac20-1-ventura-sleep-prevented.txt')));
    const base = { displaySleepMinutes: minutes, maxSeconds: 1500 };
    expect(evaluateMacScreenLock({ ...base, lock: { enabled: true, delaySeconds: 5 }, screensaverIdleSeconds: undefined }).status).toBe('pass');
    expect(evaluateMacScreenLock({ ...base, maxSeconds: 900, lock: { enabled: true, delaySeconds: 0 }, screensaverIdleSeconds: undefined }).status).toBe('unknown');
    expect(evaluateMacScreenLock({ ...base, maxSeconds: 900, lock: { enabled: true, delaySeconds: 0 }, screensaverIdleSeconds: 1800 }).status).toBe('fail');
    expect(evaluateMacScreenLock({ ...base, maxSeconds: 900, lock: { enabled: true, delaySeconds: 0 }, screensaverIdleSeconds: 300 }).status).toBe('pass');
    expect(evaluateMacScreenLock({ ...base, lock: { enabled: false }, screensaverIdleSeconds: 60 }).status).toBe('fail');
    expect(evaluateMacScreenLock({ ...base, displaySleepMinutes: 0, lock: { enabled: true, delaySeconds: 0 }, screensaverIdleSeconds: 0 }).status).toBe('fail');
  });
});

describe('antivirus and EDR', () => {
  it('reads Gatekeeper on and off from spctl --status', () => {
    expect(value(parseSpctlStatus(fixture('spctl-status--enabled.txt')))).toBe(true);
    expect(value(parseSpctlStatus(fixture('spctl-status--disabled.txt')))).toBe(false);
  });

  it('reads the Falcon cloud state from a partial falconctl stats', () => {
    expect(value(parseFalconctlStats(fixture('falconctl-stats--partial-cloudinfo-communications.txt')))).toEqual({
      healthy: true,
      detail: 'CrowdStrike Falcon cloud state: connected',
    });
  });

  it('reads healthy true and false from mdatp health (captures taken on Linux: same CLI)', () => {
    expect(value(parseMdatpHealth(fixture('mdatp-health--legacy-cli-healthy-fragment-linux-capture.txt'))).healthy).toBe(true);
    const unlicensed = value(parseMdatpHealth(fixture('mdatp-health--unlicensed-excerpt-linux-capture.txt')));
    expect(unlicensed).toEqual({ healthy: false, detail: 'Microsoft Defender for Endpoint healthy: false, licensed: false' });
  });
});

describe('security find-certificate', () => {
  it('treats "item could not be found" as an empty keychain and a missing keychain as an error', () => {
    expect(value(parseFindCertificate(fixture('security-find-certificate--error-item-not-found.txt'), '/Library/Keychains/System.keychain'))).toEqual([]);
    const missing = parseFindCertificate(fixture('security-find-certificate--error-keychain-not-found.txt'), '/Library/Keychains/System.keychain');
    expect(missing).toMatchObject({ ok: false, status: 'error' });
  });
});

describe('system_profiler', () => {
  it('reads OS, kernel, model, serial and UUID from a Sequoia VM and marks it virtual', () => {
    expect(value(parseSystemProfiler(fixture('system_profiler-SPSoftwareDataType-SPHardwareDataType--sequoia-15.3-vm.txt')))).toMatchObject({
      osName: 'macOS',
      osVersion: '15.3',
      osBuild: '24D60',
      kernel: 'Darwin 24.3.0',
      computerName: 'idr-2651-sequoia-15-4250',
      modelIdentifier: 'VirtualMac2,1',
      serial: 'ZRFGPL2J3W',
      hardwareUuid: 'F487385C-8A64-5A17-8B73-BC62E9550CB2',
      arch: 'arm64',
      virtual: true,
    });
  });

  it('reads physical Apple silicon, leaves redacted serials null and does not call hardware physical without proof', () => {
    expect(value(parseSystemProfiler(fixture('system_profiler-SPHardwareDataType--m1pro-macbookpro18-3.txt')))).toMatchObject({ modelIdentifier: 'MacBookPro18,3', serial: 'GGJXG26P75', virtual: null });
    expect(value(parseSystemProfiler(fixture('system_profiler-SPHardwareDataType--m2max-redacted-fragment.txt')))).toMatchObject({ chip: 'Apple M2 Max', serial: null, hardwareUuid: null });
  });

  it('does not take stderr log lines for facts: a fragment with only noise is an error that keeps the output', () => {
    const r = parseSystemProfiler(fixture('system_profiler-SPHardwareDataType--stderr-noise-fragment.txt'));
    expect(r).toMatchObject({ ok: false, status: 'error' });
    expect(!r.ok && r.reason).toContain('platformPluginDictionary');
  });
});
