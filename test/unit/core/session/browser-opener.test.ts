import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordingHost } from '../../../../main/core/exec/recording-host.js';
import { LiveHost } from '../../../../main/core/exec/live-host.js';
import type { Platform } from '../../../../main/core/platform.js';
import { BrowserOpenError, type UrlRefusal } from '../../../../main/core/session/browser-open-error.js';
import { BrowserOpener, MAX_BROWSER_URL_CHARS } from '../../../../main/core/session/browser-opener.js';
import { AllowListedFakeHost } from '../exec/allow-listed-fake-host.js';

const BROKER = 'https://broker.example:8443';
const SIGN_IN = `${BROKER}/oidc/auth?client_id=ward&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A41234%2Fcallback&scope=openid&state=abc&acr_values=urn%3Award%3Aacr%3Amfa`;
const DISPLAY_ENV: Record<string, string> = { DISPLAY: ':0' };

function openerOn(platform: Platform, env: Record<string, string> = DISPLAY_ENV): { opener: BrowserOpener; fake: AllowListedFakeHost; recorded: RecordingHost } {
  const fake = new AllowListedFakeHost(platform);
  const recorded = new RecordingHost(fake);
  return { opener: new BrowserOpener({ host: recorded, allowedOrigins: () => [BROKER], env: (n) => env[n] }), fake, recorded };
}

describe('BrowserOpener: the exact argv per platform (allow-listed absolute paths, no shell)', () => {
  const table: [Platform, string, string, readonly string[]][] = [
    ['darwin', 'open', '/usr/bin/open', [SIGN_IN]],
    ['win32', 'rundll32', 'C:\\Windows\\System32\\rundll32.exe', ['url.dll,FileProtocolHandler', SIGN_IN]],
    ['linux', 'xdg-open', '/usr/bin/xdg-open', [SIGN_IN]],
  ];
  it.each(table)('%s runs %s (%s) with the URL as one argument', async (platform, command, path, args) => {
    const { opener, fake, recorded } = openerOn(platform);
    expect(await opener.open(new URL(SIGN_IN))).toEqual({ launched: true });
    expect(fake.launches.map((l) => ({ command: l.command, path: l.path, args: l.args }))).toEqual([{ command, path, args }]);
    expect(recorded.records).toEqual([expect.objectContaining({ kind: 'exec', command, path, args })]);
  });

  it('forwards only the session variables xdg-open needs on Linux, and none elsewhere', async () => {
    const env = { DISPLAY: ':0', BROWSER: '/usr/bin/firefox', SECRET_TOKEN: 'x', XDG_CURRENT_DESKTOP: 'GNOME' };
    const linux = openerOn('linux', env);
    await linux.opener.open(SIGN_IN);
    expect(linux.fake.launches[0]!.env).toEqual({ DISPLAY: ':0', BROWSER: '/usr/bin/firefox', XDG_CURRENT_DESKTOP: 'GNOME' });
    const mac = openerOn('darwin', env);
    await mac.opener.open(SIGN_IN);
    expect(mac.fake.launches[0]!.env).toEqual({});
  });

  it('opens loopback pages on any port, over http', async () => {
    for (const url of ['http://127.0.0.1:41234/callback', 'http://[::1]:8080/x', 'http://localhost:5173/sign-in']) {
      const { opener, fake } = openerOn('darwin');
      expect(await opener.open(url)).toEqual({ launched: true });
      expect(fake.launches[0]!.args).toEqual([new URL(url).href]);
    }
  });

  it('on Linux without a display launches nothing and says why', async () => {
    const { opener, fake } = openerOn('linux', {});
    expect(await opener.open(SIGN_IN)).toEqual({ launched: false, detail: expect.stringContaining('no graphical session') });
    expect(fake.launches).toEqual([]);
  });
});

describe('BrowserOpener refuses hostile URLs with a typed error, before anything runs', () => {
  const hostile: [string, string, UrlRefusal][] = [
    ['cmd.exe metacharacters', '"& calc', 'not-printable-ascii'],
    ['a quote-and-ampersand break-out after a broker URL', `${BROKER}/"&calc.exe&"`, 'not-printable-ascii'],
    ['a space-separated second command', `${BROKER}/x & calc`, 'not-printable-ascii'],
    ['file:', 'file:///etc/passwd', 'scheme'],
    ['javascript:', 'javascript:alert(document.cookie)', 'scheme'],
    ['data:', 'data:text/html,<script>alert(1)</script>', 'scheme'],
    ['a custom scheme', 'ms-settings:windowsupdate', 'scheme'],
    ['a newline (WHATWG parsing would silently drop it)', `${BROKER}/a\nb`, 'not-printable-ascii'],
    ['CR LF', `${BROKER}/a\r\nSet-Cookie: x=y`, 'not-printable-ascii'],
    ['a tab', `${BROKER}/\tx`, 'not-printable-ascii'],
    ['a NUL', `${BROKER}/\u0000`, 'not-printable-ascii'],
    ['non-ASCII (homograph)', 'https://brоker.example:8443/', 'not-printable-ascii'],
    ['very long', `${BROKER}/?q=${'a'.repeat(MAX_BROWSER_URL_CHARS)}`, 'too-long'],
    ['another origin', 'https://evil.example/oidc/auth', 'origin'],
    ['a look-alike subdomain', 'https://broker.example.evil.example:8443/', 'origin'],
    ['the broker host on another port', 'https://broker.example/oidc/auth', 'origin'],
    ['the broker over plain http', 'http://broker.example:8443/oidc/auth', 'origin'],
    ['credentials in the URL', 'https://user:pw@broker.example:8443/', 'credentials'],
    ['an option-looking argument', '-a Calculator', 'not-printable-ascii'],
    ['not a URL', 'broker.example/oidc', 'not-a-url'],
    ['empty', '', 'not-printable-ascii'],
  ];
  it.each(hostile)('%s', async (_name, url, refusal) => {
    for (const platform of ['darwin', 'win32', 'linux'] as const) {
      const { opener, fake } = openerOn(platform);
      const err = await opener.open(url).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BrowserOpenError);
      expect(err).toMatchObject({ code: 'url-refused', refusal });
      // The message names the rule, never the URL itself.
      if (url.length > 12) expect((err as Error).message).not.toContain(url);
      expect(fake.launches).toEqual([]);
    }
  });

  it('refuses everything but loopback when no broker is enrolled', async () => {
    const fake = new AllowListedFakeHost('darwin');
    const opener = new BrowserOpener({ host: fake, allowedOrigins: () => [], env: () => undefined });
    await expect(opener.open(SIGN_IN)).rejects.toMatchObject({ refusal: 'origin' });
    await expect(opener.open('http://127.0.0.1:1/x')).resolves.toEqual({ launched: true });
  });

  it('property: any input is refused with BrowserOpenError or opened as the normalised http(s) URL of an allowed origin', async () => {
    const urlish = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.webUrl({ withQueryParameters: true, withFragments: true }),
      fc.webPath().map((p) => `${BROKER}${p}`),
      fc.tuple(fc.constantFrom(BROKER, 'http://127.0.0.1:9', 'https://evil.example'), fc.string({ maxLength: 80 })).map(([o, s]) => `${o}/${s}`),
    );
    await fc.assert(
      fc.asyncProperty(urlish, fc.constantFrom<Platform>('darwin', 'win32', 'linux'), async (url, platform) => {
        const { opener, fake } = openerOn(platform);
        try {
          await opener.open(url);
        } catch (err) {
          expect(err).toBeInstanceOf(BrowserOpenError);
          expect(fake.launches).toEqual([]);
          return;
        }
        const href = fake.launches[0]!.args.at(-1)!;
        expect(href).toMatch(/^https?:\/\/[\x21-\x7e]+$/);
        expect(href).not.toContain('"');
        const origin = new URL(href);
        expect(origin.origin === BROKER || ['127.0.0.1', '[::1]', 'localhost'].includes(origin.hostname)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('BrowserOpener with the real LiveHost on Linux', () => {
  it('a browser that cannot be launched is reported, not thrown', async () => {
    const host = new LiveHost('linux', { allowList: { 'xdg-open': ['/nonexistent/ward-test/xdg-open'] } });
    const opener = new BrowserOpener({ host, allowedOrigins: () => [BROKER], env: (n) => DISPLAY_ENV[n] });
    expect(await opener.open(SIGN_IN)).toEqual({ launched: false, detail: expect.stringContaining('xdg-open') });
  });
});
