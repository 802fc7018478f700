import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LiveHost } from '../../../main/core/exec/live-host.js';
import { BrowserOpenError } from '../../../main/core/session/browser-open-error.js';
import { BrowserOpener } from '../../../main/core/session/browser-opener.js';

/**
 * The real /usr/bin/xdg-open (xdg-utils), run by the real LiveHost from its allow-list, with
 * `$BROWSER` pointing at a script that writes the argv it receives (NUL-separated). The desktop's
 * own handlers are hidden by empty XDG directories and an unknown desktop, so xdg-open takes its
 * generic path and falls back to `$BROWSER`, as on a desktop without a registered browser.
 */

const BROKER = 'https://broker.example:8443';
let dir: string;
let argvFile: string;
let env: Record<string, string>;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ward-xdg-open-'));
  argvFile = join(dir, 'argv');
  const browser = join(dir, 'record-browser.sh');
  writeFileSync(browser, `#!/bin/sh\n: > '${argvFile}'\nfor a in "$@"; do printf '%s\\0' "$a" >> '${argvFile}'; done\n`);
  chmodSync(browser, 0o755);
  for (const d of ['home', 'config', 'share']) mkdirSync(join(dir, d));
  env = {
    DISPLAY: ':ward-test',
    BROWSER: browser,
    HOME: join(dir, 'home'),
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_DATA_DIRS: join(dir, 'share'),
    XDG_CURRENT_DESKTOP: 'X-Ward-Test',
    // xdg-open asks D-Bus which desktop runs; without a bus address dbus-send tries X11 autolaunch for seconds.
    DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(dir, 'no-bus')}`,
  };
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const opener = (): BrowserOpener => new BrowserOpener({ host: new LiveHost('linux'), allowedOrigins: () => [BROKER], env: (n) => env[n], timeoutMs: 20_000 });
const argvSeen = (): string[] => readFileSync(argvFile, 'utf8').split('\0').slice(0, -1);

// xdg-open probes the desktop for about a second; the ceiling is for a loaded CI machine.
describe('BrowserOpener → real xdg-open → $BROWSER', { timeout: 30_000 }, () => {
  it('the browser receives the sign-in URL as exactly one argument, with & $( ) ; uninterpreted', async () => {
    const url = new URL(`${BROKER}/oidc/auth?client_id=ward&state=a;b&q=$(touch%20pwned)&r='x'&acr_values=urn:ward:acr:mfa`);
    expect(await opener().open(url)).toEqual({ launched: true });
    expect(argvSeen()).toEqual([url.href]);
    // The normalised URL keeps these characters raw: the argv check above is what proves nothing interpreted them.
    expect(url.href).toContain('&state=a;b&q=$(touch%20pwned)&r=%27x%27');
  });

  it('a loopback page opens too', async () => {
    expect(await opener().open('http://127.0.0.1:41234/callback?code=x')).toEqual({ launched: true });
    expect(argvSeen()).toEqual(['http://127.0.0.1:41234/callback?code=x']);
  });

  it('a hostile URL never reaches xdg-open', async () => {
    for (const url of ['"& calc', 'javascript:alert(1)', 'file:///etc/passwd', `${BROKER}/a\nb`, 'https://evil.example/']) {
      await expect(opener().open(url)).rejects.toBeInstanceOf(BrowserOpenError);
    }
    expect(existsSync(argvFile)).toBe(false);
  });
});
