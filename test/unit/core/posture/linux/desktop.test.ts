import { describe, expect, it } from 'vitest';
import { parseGsettingsList, parseGVariant, parseKscreenlockerrc } from '../../../../../main/core/posture/parsers/linux/screen-lock.js';
import { fixture, neverThrowsUntyped } from './fixture.js';

// Real `gsettings list-recursively org.gnome.desktop.screensaver` on this VM (GNOME schemas 43).
const GSETTINGS = `org.gnome.desktop.screensaver idle-activation-enabled true
org.gnome.desktop.screensaver lock-delay uint32 0
org.gnome.desktop.screensaver lock-enabled true
org.gnome.desktop.screensaver picture-uri 'file:///usr/share/backgrounds/gnome/adwaita-timed.xml'
`;

describe('gsettings values', () => {
  it('reads GVariant booleans, unsigned integers and strings', () => {
    expect(parseGVariant('true\n')).toBe(true);
    expect(parseGVariant('uint32 300')).toBe(300);
    expect(parseGVariant("'it\\'s'")).toBe("it's");
    expect(parseGVariant('@as []')).toBeNull();
  });
  it('reads list-recursively output', () => {
    const keys = parseGsettingsList(GSETTINGS, 'org.gnome.desktop.screensaver');
    expect(keys.get('lock-enabled')).toBe(true);
    expect(keys.get('lock-delay')).toBe(0);
    expect(keys.get('picture-uri')).toBe('file:///usr/share/backgrounds/gnome/adwaita-timed.xml');
  });
  it('never throws', () => {
    neverThrowsUntyped(GSETTINGS, parseGVariant);
    neverThrowsUntyped(GSETTINGS, (s) => parseGsettingsList(s, 'org.gnome.desktop.screensaver'));
  });
});

describe('parseKscreenlockerrc', () => {
  it('reads Autolock=false and Timeout=10 from [Daemon] (real Fedora KDE file)', () => {
    expect(parseKscreenlockerrc(fixture('kscreenlockerrc--autolock-false-timeout10.txt'))).toEqual({ autolock: false, timeoutMinutes: 10 });
  });
  it('ignores keys outside [Daemon] and leaves unset keys null', () => {
    expect(parseKscreenlockerrc('[Greeter]\nTimeout=99\n')).toEqual({ autolock: null, timeoutMinutes: null });
  });
  it('never throws', () => neverThrowsUntyped(fixture('kscreenlockerrc--autolock-false-timeout10.txt'), parseKscreenlockerrc));
});
