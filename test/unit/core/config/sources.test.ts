import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { buildBinary, build as buildPlist } from 'plist';
import { afterAll, describe, expect, it } from 'vitest';
import { EnrollmentTokenLedger } from '../../../../main/core/config/enrollment-token.js';
import { loadConfig, mergeConfigSources } from '../../../../main/core/config/resolve.js';
import { BOOLEAN_KEY_PATHS, CONFIG_DEFAULTS, WardConfigSchema } from '../../../../main/core/config/schema.js';
import {
  ConfigError, DARWIN_MANAGED_PLIST, defaultConfigLocations, parseManagedPlist, readConfigSources, validateConfig,
  WIN32_POLICY_KEY, type ConfigLocations,
} from '../../../../main/core/config/sources.js';
import { LiveHost } from '../../../../main/core/exec/live-host.js';
import { ReplayHost } from '../../../../main/core/exec/replay-host.js';

const root = mkdtempSync(join(tmpdir(), 'ward-config-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function linuxDirs(files: Record<string, unknown>): ConfigLocations {
  const base = join(root, `case-${n++}`);
  for (const [name, content] of Object.entries(files)) {
    const path = join(base, name);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  }
  return { linuxEtcDir: join(base, 'etc'), darwinManagedPlist: DARWIN_MANAGED_PLIST, win32PolicyKey: WIN32_POLICY_KEY, userConfigFile: join(base, 'user', 'config.json') };
}
const linux = new LiveHost('linux');

describe('Linux: /etc/ward/config.json, config.d/*.json and the user file (real files)', () => {
  it('applies user < config.json < config.d in lexical order, and reports locked and overridden keys', async () => {
    const loc = linuxDirs({
      'user/config.json': { brokerUrl: 'https://mine.example.com', lock: { unlockGraceSeconds: 5, stepUpAfterUnlock: false }, hardwareKey: 'any' },
      'etc/config.json': { brokerUrl: 'https://broker.corp.example', updateChannel: 'beta', lock: { stepUpAfterUnlock: true } },
      'etc/config.d/20-team.json': { updateChannel: 'alpha' },
      'etc/config.d/10-site.json': { updateChannel: 'latest', requiredChecks: ['firewall'] },
      'etc/config.d/README.txt': 'not json, ignored',
    });
    const resolved = await loadConfig(linux, loc);
    expect(resolved.config.brokerUrl).toBe('https://broker.corp.example');
    expect(resolved.config.updateChannel).toBe('alpha');
    expect(resolved.config.hardwareKey).toBe('any');
    expect(resolved.config.lock).toEqual({ stepUpAfterUnlock: true, stepUpAfterWake: false, unlockGraceSeconds: 5 });
    expect(resolved.config.requiredChecks).toEqual(['firewall']);
    expect(resolved.locked).toEqual(['brokerUrl', 'lock.stepUpAfterUnlock', 'requiredChecks', 'updateChannel']);
    expect(resolved.overridden.map((o) => o.key).sort()).toEqual(['brokerUrl', 'lock.stepUpAfterUnlock']);
    expect(resolved.origins.updateChannel).toBe(join(loc.linuxEtcDir, 'config.d', '20-team.json'));
    expect(resolved.origins.hardwareKey).toBe(loc.userConfigFile);
  });

  it('uses the defaults when no file exists', async () => {
    const resolved = await loadConfig(linux, linuxDirs({}));
    expect(resolved.config).toEqual(CONFIG_DEFAULTS);
    expect(resolved.sources.every((s) => !s.found)).toBe(true);
  });

  it('refuses an unknown key, a bad value and broken JSON, naming each key and file', async () => {
    const loc = linuxDirs({
      'etc/config.json': { brokerUrl: 'http://broker.corp.example', updateChanel: 'beta' },
      'etc/config.d/10-x.json': '{"autoUpdate": tru',
      'user/config.json': { requiredChecks: ['firewal'], lock: { stepUpAfterUnlok: true } },
    });
    const err = await loadConfig(linux, loc).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.map((p) => `${p.source}|${p.key}`);
    expect(problems).toEqual(expect.arrayContaining([
      `${join(loc.linuxEtcDir, 'config.json')}|brokerUrl`,
      `${join(loc.linuxEtcDir, 'config.json')}|updateChanel`,
      `${join(loc.linuxEtcDir, 'config.d', '10-x.json')}|(file)`,
      `${loc.userConfigFile}|requiredChecks.0`,
      `${loc.userConfigFile}|lock.stepUpAfterUnlok`,
    ]));
    expect((err as ConfigError).message).toContain('updateChanel: unknown key');
  });

  it('never puts the enrollment token into an error message', async () => {
    const token = 'super-secret-enrollment-token-123';
    const loc = linuxDirs({ 'etc/config.json': { enrollmentToken: token, hardwareKey: 'sometimes' } });
    const err = (await loadConfig(linux, loc).catch((e: unknown) => e)) as ConfigError;
    expect(err.code).toBe('config-invalid');
    expect(JSON.stringify(err.problems) + err.message).not.toContain(token);
  });

  it('finds the user file under $XDG_CONFIG_HOME, else ~/.config', () => {
    const env = (vars: Record<string, string>) => (name: string) => vars[name];
    expect(defaultConfigLocations('linux', env({ HOME: '/home/a', XDG_CONFIG_HOME: '/x' })).userConfigFile).toBe('/x/ward/config.json');
    expect(defaultConfigLocations('linux', env({ HOME: '/home/a' })).userConfigFile).toBe('/home/a/.config/ward/config.json');
    expect(defaultConfigLocations('win32', env({ APPDATA: 'C:\\Users\\a\\AppData\\Roaming' })).userConfigFile).toBe('C:\\Users\\a\\AppData\\Roaming\\Ward\\config.json');
    expect(defaultConfigLocations('linux', env({})).linuxEtcDir).toBe('/etc/ward');
  });
});

describe('macOS managed preferences', () => {
  const fixture = readFileSync(join(import.meta.dirname, '..', '..', '..', 'fixtures', 'darwin', 'plist-managed-storage--eff-privacybadger-mcx-state.xml'), 'utf8');
  const loc = defaultConfigLocations('darwin', () => '/Users/a');

  it('parses a captured managed-preferences plist and names its unknown key and the plist path', async () => {
    expect(parseManagedPlist(fixture)).toEqual({ value: { 'com.google.Chrome.extensions.cfoidkdkbbpjjlaidafdgkeeglomoaij': { showCounter: { state: 'always', value: false } } } });
    const host = new ReplayHost('darwin', [{ kind: 'file', path: DARWIN_MANAGED_PLIST, content: fixture }, { kind: 'file', path: loc.userConfigFile ?? '', error: { code: 'not-found', message: 'absent' } }]);
    const [, managed] = await readConfigSources(host, loc);
    expect(managed?.problems).toEqual([{ source: '/Library/Managed Preferences/dev.ward.agent.plist', key: 'com.google.Chrome.extensions.cfoidkdkbbpjjlaidafdgkeeglomoaij', message: expect.stringContaining('unknown key') }]);
  });

  it('reads a profile-installed plist (XML as the plist library writes it) and locks its keys', async () => {
    const xml = buildPlist({ brokerUrl: 'https://broker.corp.example', autoUpdate: false, lock: { stepUpAfterWake: true }, allowedBrowserOrigins: ['https://login.corp.example'] });
    const host = new ReplayHost('darwin', [
      { kind: 'file', path: DARWIN_MANAGED_PLIST, content: xml },
      { kind: 'file', path: loc.userConfigFile ?? '', content: JSON.stringify({ autoUpdate: true, hardwareKey: 'required' }) },
    ]);
    const resolved = await loadConfig(host, loc);
    expect(resolved.config).toMatchObject({ brokerUrl: 'https://broker.corp.example', autoUpdate: false, hardwareKey: 'required', lock: { stepUpAfterWake: true } });
    expect(resolved.overridden).toEqual([{ key: 'autoUpdate', userSource: loc.userConfigFile, managedSource: DARWIN_MANAGED_PLIST }]);
  });

  it('converts a binary plist through the allow-listed plutil before parsing', async () => {
    const xml = buildPlist({ updateChannel: 'beta' });
    const host = new ReplayHost('darwin', [
      { kind: 'file', path: DARWIN_MANAGED_PLIST, content: Buffer.from(buildBinary({ updateChannel: 'beta' })).toString('utf8') },
      { kind: 'exec', command: 'plutil', args: ['-convert', 'xml1', '-o', '-', DARWIN_MANAGED_PLIST], stdout: xml, exitCode: 0 },
      { kind: 'file', path: loc.userConfigFile ?? '', error: { code: 'not-found', message: 'absent' } },
    ]);
    expect((await loadConfig(host, loc)).config.updateChannel).toBe('beta');
  });

  it('parseManagedPlist never throws on arbitrary text or XML-ish input', () => {
    const xmlish = fc.array(fc.constantFrom('<plist>', '<dict>', '<key>a</key>', '<integer>x</integer>', '<true/>', '</dict>', '</plist>', '<array>', '<?xml version="1.0"?>'), { maxLength: 10 }).map((p) => p.join(''));
    fc.assert(fc.property(fc.oneof(fc.string(), xmlish), (text) => {
      const out = parseManagedPlist(text);
      expect('value' in out || 'error' in out).toBe(true);
      if ('value' in out) validateConfig(out.value, 'x.plist');
    }), { numRuns: 500 });
  });
});

describe('Windows policy key through the Host', () => {
  const loc = defaultConfigLocations('win32', () => undefined);
  it('treats "unable to find the specified registry key" (exit 1) as no policy', async () => {
    const host = new ReplayHost('win32', [{ kind: 'exec', command: 'reg', args: ['query', WIN32_POLICY_KEY, '/s'], exitCode: 1, stderr: 'ERROR: The system was unable to find the specified registry key or value.' }]);
    const [managed] = await readConfigSources(host, loc);
    expect(managed).toMatchObject({ found: false, problems: [], location: WIN32_POLICY_KEY });
  });
});

describe('the schema', () => {
  it('lists exactly the boolean keys the registry coerces', () => {
    for (const path of BOOLEAN_KEY_PATHS) {
      const obj = path.split('.').reduceRight<unknown>((inner, part) => ({ [part]: inner }), true);
      expect(WardConfigSchema.safeParse(obj).success).toBe(true);
      const bad = path.split('.').reduceRight<unknown>((inner, part) => ({ [part]: inner }), 1);
      expect(WardConfigSchema.safeParse(bad).success).toBe(false);
    }
  });

  it('validateConfig never throws and merging valid sources never throws', () => {
    fc.assert(fc.property(fc.jsonValue(), (raw) => {
      const { data, problems } = validateConfig(raw, 'src');
      expect(data === undefined).toBe(problems.length > 0);
      if (data) mergeConfigSources([{ kind: 'managed', location: 'src', found: true, problems: [], data }]);
    }), { numRuns: 500 });
  });
});

describe('enrollment token: used once, then ignored', () => {
  it('records a hash of the used token and refuses it afterwards; a new token is usable', async () => {
    const file = join(root, 'state', 'enrollment.json');
    const ledger = new EnrollmentTokenLedger(file, () => new Date('2025-01-01T00:00:00Z'));
    const token = 'first-enrollment-token-abcdef';
    expect(await ledger.usable(token)).toBe(token);
    await ledger.markUsed(token);
    expect(await ledger.usable(token)).toBeUndefined();
    expect(await ledger.usable('second-enrollment-token-xyz')).toBe('second-enrollment-token-xyz');
    expect(await ledger.usable(undefined)).toBeUndefined();
    const stored = readFileSync(file, 'utf8');
    expect(stored).not.toContain(token);
    expect(stored).toContain('2025-01-01T00:00:00.000Z');
  });
});
