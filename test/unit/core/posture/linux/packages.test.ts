import { describe, expect, it } from 'vitest';
import { aptValue, parseAptConfigDump, parseDpkgStatus, periodicEnabled } from '../../../../../main/core/posture/parsers/linux/apt-config.js';
import { parseAptSimulate } from '../../../../../main/core/posture/parsers/linux/apt-simulate.js';
import { parseDnfCheckUpdate } from '../../../../../main/core/posture/parsers/linux/dnf-check-update.js';
import { ParseError } from '../../../../../main/core/posture/parsers/linux/parse-error.js';
import { fixture, neverThrowsUntyped } from './fixture.js';

describe('parseAptSimulate', () => {
  const output = fixture('apt-get-s-upgrade--118-pending-debian12.txt');

  it('counts every Inst line and the ones from a security archive (real Debian 12 capture)', () => {
    const sim = parseAptSimulate(output);
    expect(sim.upgradable).toHaveLength(118);
    expect(sim.securityCount).toBe(71);
    expect(sim.heldBack).toBe(0);
    const gcrypt = sim.upgradable.find((p) => p.name === 'libgcrypt20');
    expect(gcrypt).toMatchObject({ installed: '1.10.1-3', candidate: '1.10.1-3+deb12u1', security: true });
    expect(gcrypt?.origins).toEqual(['Debian:12.15/oldstable', 'Debian-Security:12/oldstable-security']);
    expect(sim.upgradable.find((p) => p.name === 'bash')?.security).toBe(false);
  });

  it('rejects output without apt’s summary line as unparsable, keeping an excerpt', () => {
    const err = (() => {
      try {
        parseAptSimulate('E: Could not open lock file');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ParseError);
    expect((err as ParseError).excerpt).toContain('Could not open lock file');
  });

  it('never throws anything but ParseError', () => neverThrowsUntyped(output, parseAptSimulate));
});

describe('parseDnfCheckUpdate', () => {
  const output = fixture('dnf-check-update--fedora25-some-fragment.txt');
  it('reads name, arch, version and repository of each update (real Fedora 25 capture)', () => {
    const updates = parseDnfCheckUpdate(output);
    expect(updates).toHaveLength(10);
    expect(updates[0]).toEqual({ name: 'PackageKit', arch: 'x86_64', version: '1.1.4-2.fc25', repo: 'updates' });
    expect(updates.some((u) => u.name.startsWith('Last'))).toBe(false);
  });
  it('never throws', () => neverThrowsUntyped(output, parseDnfCheckUpdate));
});

describe('apt configuration', () => {
  it('finds no APT::Periodic keys on this Debian 12 image (real capture)', () => {
    const config = parseAptConfigDump(fixture('apt-config-dump--no-periodic-debian12.txt'));
    expect(aptValue(config, 'Dir::State::status')).toBe('/var/lib/dpkg/status');
    expect(aptValue(config, 'APT::Periodic::Unattended-Upgrade')).toBeUndefined();
  });

  it('reads 20auto-upgrades as written by dpkg-reconfigure (real Debian capture)', () => {
    const config = parseAptConfigDump(fixture('apt-20auto-upgrades--enabled-debian.txt'));
    expect(periodicEnabled(aptValue(config, 'APT::Periodic::Unattended-Upgrade'))).toBe(true);
    expect(periodicEnabled(aptValue(config, 'APT::Periodic::Update-Package-Lists'))).toBe(true);
  });

  it('keeps list items in order (real Ubuntu fragment)', () => {
    const config = parseAptConfigDump(fixture('apt-config-dump--unattended-allowed-origins-fragment.txt'));
    expect(config.get('Unattended-Upgrade::Allowed-Origins::')).toHaveLength(5);
  });

  it('treats 0, empty and garbage intervals as off, days and "always" as on', () => {
    expect([undefined, '0', '', 'no'].map(periodicEnabled)).toEqual([false, false, false, false]);
    expect(['1', '7', 'always', '1d'].map(periodicEnabled)).toEqual([true, true, true, true]);
  });

  it('reads dpkg-query status lines', () => {
    expect(parseDpkgStatus('ii |2.9.1\n')).toEqual({ installed: true, version: '2.9.1' });
    expect(parseDpkgStatus('rc |2.9.1\n')).toEqual({ installed: false, version: null });
    expect(parseDpkgStatus('')).toEqual({ installed: false, version: null });
  });

  it('never throws', () => {
    neverThrowsUntyped(fixture('apt-config-dump--no-periodic-debian12.txt'), parseAptConfigDump);
    neverThrowsUntyped('ii |1.0', parseDpkgStatus);
    neverThrowsUntyped('1\nalways\n0', periodicEnabled);
  });
});
