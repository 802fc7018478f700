import { describe, expect, it } from 'vitest';
import { RULE_CHECKS_WITHOUT_PROCESS_LISTING, expectEvidenceForPasses, reasonOf, replayCli, replaySnapshot, statuses } from '../replay-bundles.js';

const NOW = new Date('2026-11-28T12:00:00Z');

const COMMON = {
  'screen-lock': 'error',
  'auto-update': 'error',
  'remote-login': 'error',
  ...RULE_CHECKS_WITHOUT_PROCESS_LISTING,
} as const;

const EXPECTED = {
  'darwin-mostly-compliant.json': {
    ...COMMON,
    'os-version': 'fail',
    'os-updates': 'fail',
    'disk-encryption': 'pass',
    firewall: 'pass',
    antivirus: 'pass',
    edr: 'pass',
    'secure-boot': 'pass',
  },
  'darwin-noncompliant.json': {
    ...COMMON,
    'os-version': 'fail',
    'os-updates': 'fail',
    'disk-encryption': 'error',
    firewall: 'fail',
    antivirus: 'fail',
    edr: 'fail',
    'secure-boot': 'fail',
  },
};

describe('macOS probes end to end on replayed captures', () => {
  it.each(Object.entries(EXPECTED))('%s: the engine with a ReplayHost gives the expected statuses', async (file, expected) => {
    const snapshot = await replaySnapshot(file, NOW);
    expect(statuses(snapshot)).toEqual(expected);
    expectEvidenceForPasses(snapshot);
    expect(snapshot.source).toEqual({ mode: 'replay', bundle: file });
  });

  it.each(Object.entries(EXPECTED))('%s: `ward posture --replay --platform darwin --json` gives the same, exit code 1', async (file, expected) => {
    const { code, snapshot } = await replayCli(file, 'darwin');
    expect(code).toBe(1);
    expect(statuses(snapshot)).toEqual(expected);
  });

  it('reads device facts from system_profiler in replay, not from the Linux machine running the test', async () => {
    const snapshot = await replaySnapshot('darwin-mostly-compliant.json', NOW);
    expect(snapshot.device).toMatchObject({
      os: { platform: 'darwin', name: 'macOS', version: '15.3', build: '24D60', kernel: 'Darwin 24.3.0', arch: 'arm64' },
      hostname: 'idr-2651-sequoia-15-4250',
      hardware: { model: 'VirtualMac2,1', serial: 'ZRFGPL2J3W', virtual: true },
    });
  });

  it('names the command a probe asked for when the bundle lacks it, as an error', async () => {
    const snapshot = await replaySnapshot('darwin-mostly-compliant.json', NOW);
    expect(reasonOf(snapshot, 'screen-lock')).toContain('no recording of the command "sysadminctl -screenLock status"');
    expect(reasonOf(snapshot, 'remote-login')).toContain('"systemsetup -getremotelogin"');
    expect(reasonOf(snapshot, 'required-processes')).toContain('"ps -axo pid=,comm="');
  });
});
