import { describe, expect, it } from 'vitest';
import { RULE_CHECKS_WITHOUT_PROCESS_LISTING, expectEvidenceForPasses, reasonOf, replayCli, replaySnapshot, statuses } from '../replay-bundles.js';

const NOW = new Date('2026-11-28T12:00:00Z');

const COMMON = {
  'os-version': 'fail',
  'os-updates': 'fail',
  firewall: 'error',
  'screen-lock': 'error',
  antivirus: 'pass',
  'auto-update': 'error',
  ...RULE_CHECKS_WITHOUT_PROCESS_LISTING,
} as const;

const EXPECTED = {
  'win32-mostly-compliant.json': { ...COMMON, 'disk-encryption': 'pass', edr: 'pass', 'secure-boot': 'pass', 'remote-login': 'pass' },
  'win32-noncompliant.json': { ...COMMON, 'disk-encryption': 'fail', edr: 'fail', 'secure-boot': 'fail', 'remote-login': 'fail' },
};

describe('Windows probes end to end on replayed captures', () => {
  it.each(Object.entries(EXPECTED))('%s: the engine with a ReplayHost gives the expected statuses', async (file, expected) => {
    const snapshot = await replaySnapshot(file, NOW);
    expect(statuses(snapshot)).toEqual(expected);
    expectEvidenceForPasses(snapshot);
  });

  it.each(Object.entries(EXPECTED))('%s: `ward posture --replay --platform win32 --json` gives the same, exit code 1', async (file, expected) => {
    const { code, snapshot } = await replayCli(file, 'win32');
    expect(code).toBe(1);
    expect(statuses(snapshot)).toEqual(expected);
  });

  it('keeps the PowerShell script that ran as evidence of a pass', async () => {
    const snapshot = await replaySnapshot('win32-mostly-compliant.json', NOW);
    const disk = snapshot.checks.find((c) => c.id === 'disk-encryption');
    const ran = disk?.evidence.find((e) => e.kind === 'exec');
    expect(ran?.source).toMatch(/^powershell -NoProfile -NonInteractive -Command Get-BitLockerVolume /);
    expect(ran?.excerpt).toContain('FullyEncrypted');
    // The system drive came from the environment (absent in the bundle, so C:), and that read is evidence too.
    expect(disk?.evidence.find((e) => e.kind === 'env')).toMatchObject({ source: 'SystemDrive', error: 'unset' });
  });

  it('names the command a probe asked for when the bundle lacks it, as an error', async () => {
    const snapshot = await replaySnapshot('win32-mostly-compliant.json', NOW);
    expect(reasonOf(snapshot, 'firewall')).toContain('PowerShell (Get-NetFirewallProfile)');
    expect(reasonOf(snapshot, 'firewall')).toContain('no recording of the command "powershell -NoProfile -NonInteractive -Command Get-NetFirewallProfile');
  });
});
