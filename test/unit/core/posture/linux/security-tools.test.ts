import { describe, expect, it } from 'vitest';
import { parseMdatpHealth, parseMokutilSbState, parseSecureBootVar } from '../../../../../main/core/posture/parsers/linux/security-tools.js';
import { fixture, neverThrowsUntyped } from './fixture.js';

describe('parseMdatpHealth', () => {
  it('reads the current snake_case format (real unlicensed install)', () => {
    const h = parseMdatpHealth(fixture('mdatp-health--unlicensed-linux-excerpt.txt'));
    expect(h.get('healthy')).toBe('false');
    expect(h.get('real_time_protection_enabled')).toBe('false');
    expect(h.get('app_version')).toBe('101.02.55');
  });
  it('normalises the legacy camelCase format (real healthy install)', () => {
    const h = parseMdatpHealth(fixture('mdatp-health--legacy-cli-healthy-fragment.txt'));
    expect(h.get('healthy')).toBe('true');
    expect(h.get('real_time_protection_enabled')).toBe('true');
  });
  it('never throws', () => neverThrowsUntyped(fixture('mdatp-health--unlicensed-linux-excerpt.txt'), parseMdatpHealth));
});

describe('Secure Boot', () => {
  it('reads the SecureBoot EFI variable: 4 attribute bytes then 1 data byte', () => {
    expect(parseSecureBootVar('\x06\x00\x00\x00\x01')).toBe(true);
    expect(parseSecureBootVar('\x06\x00\x00\x00\x00')).toBe(false);
    expect(parseSecureBootVar('\x06\x00\x00\x00')).toBeNull();
    expect(parseSecureBootVar('\x06\x00\x00\x00\x02')).toBeNull();
  });
  it('reads mokutil --sb-state (real captures)', () => {
    expect(parseMokutilSbState(fixture('mokutil-sb-state--enabled.txt'))).toEqual({ enabled: true, setupMode: false, efiAvailable: true });
    expect(parseMokutilSbState(fixture('mokutil-sb-state--disabled-setup-mode.txt'))).toEqual({ enabled: false, setupMode: true, efiAvailable: true });
    expect(parseMokutilSbState(fixture('mokutil--efi-not-supported.txt'))).toEqual({ enabled: null, setupMode: false, efiAvailable: false });
  });
  it('never throws', () => {
    neverThrowsUntyped('\x06\x00\x00\x00\x01', parseSecureBootVar);
    neverThrowsUntyped(fixture('mokutil-sb-state--disabled-setup-mode.txt'), parseMokutilSbState);
  });
});
