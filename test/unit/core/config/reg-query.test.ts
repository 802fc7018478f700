import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRegQuery, registryToObject, type RegKey } from '../../../../main/core/config/reg-query.js';
import { configFromRegQuery, validateConfig } from '../../../../main/core/config/sources.js';

const fixtures = join(import.meta.dirname, '..', '..', '..', 'fixtures', 'win32');
const read = (name: string) => readFileSync(join(fixtures, name), 'utf8');
const OUTDATED = read('reg-query-windowsupdate--htb-outdated-empty-sz-and-subkey-line.txt');
const LOGGING = read('reg-query-s-windowsupdate--htb-logging-two-keys.txt');
const DNS = read('reg-query-dns-parameters--multi-sz-htb-academy.txt');

/**
 * Renders keys in reg.exe's layout. The first test proves it reproduces the captured real output
 * byte for byte, which is what lets the Ward-specific tests below build registry text with it.
 */
function renderRegQuery(keys: readonly RegKey[]): string {
  const raw = (v: RegKey['values'][number]) =>
    typeof v.data === 'number' ? `0x${v.data.toString(16)}` : Array.isArray(v.data) ? v.data.join('\\0') : String(v.data);
  return `\n${keys
    .map((k) => [k.path, ...k.values.map((v) => `    ${v.name}    ${v.type}${raw(v) === '' ? '' : `    ${raw(v)}`}`)].join('\n'))
    .join('\n\n')}\n`;
}

describe('parseRegQuery on captured reg.exe output', () => {
  it('round-trips every capture through parse and render', () => {
    for (const text of [OUTDATED, LOGGING, DNS]) {
      const parsed = parseRegQuery(text);
      expect(parsed.unparsed).toEqual([]);
      expect(renderRegQuery(parsed.keys)).toBe(text);
    }
  });

  it('reads DWORDs as numbers, an empty REG_SZ as "", and a bare subkey line as a key without values', () => {
    const { keys } = parseRegQuery(OUTDATED);
    expect(keys.map((k) => k.path)).toEqual([
      'HKEY_LOCAL_MACHINE\\Software\\Policies\\Microsoft\\Windows\\WindowsUpdate',
      'HKEY_LOCAL_MACHINE\\Software\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU',
    ]);
    expect(keys[0]?.values).toContainEqual({ name: 'ActiveHoursEnd', type: 'REG_DWORD', data: 0x17 });
    expect(keys[0]?.values).toContainEqual({ name: 'WUServer', type: 'REG_SZ', data: 'http://wsus.outdated.htb:8530' });
    expect(keys[0]?.values).toContainEqual({ name: 'UpdateServiceUrlAlternate', type: 'REG_SZ', data: '' });
    expect(keys[1]?.values).toEqual([]);
  });

  it('splits REG_MULTI_SZ on its literal \\0 separator', () => {
    const values = parseRegQuery(DNS).keys[0]?.values ?? [];
    expect(values.find((v) => v.name === 'GlobalQueryBlockList')?.data).toEqual(['wpad', 'isatap']);
    expect(values.find((v) => v.name === 'Forwarders')?.data).toEqual(['1.1.1.1', '8.8.8.8']);
  });

  it('reads Windows line endings (CRLF) exactly like LF', () => {
    expect(parseRegQuery(LOGGING.replaceAll('\n', '\r\n'))).toEqual(parseRegQuery(LOGGING));
  });

  it('nests /s subkeys under their parent, matching HKLM and HKEY_LOCAL_MACHINE case-insensitively', () => {
    const { value } = registryToObject(parseRegQuery(LOGGING), 'HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate');
    expect(value).toMatchObject({ AcceptTrustedPublisherCerts: 1, AU: { AUOptions: 4, UseWUServer: 1, NoAutoUpdate: 0 } });
    expect(registryToObject(parseRegQuery(LOGGING), 'HKLM\\SOFTWARE\\Policies\\Ward').value).toEqual({});
  });

  it('never throws on arbitrary text, and every line is either parsed or kept as unparsed', () => {
    const line = fc.oneof(fc.string(), fc.constantFrom('HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Ward', '    a    REG_DWORD    0xZZ', '    b    REG_MULTI_SZ    ', '    c    REG_SZ', 'ERROR: The system was unable to find the specified registry key or value.'));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 20 }), (lines) => {
        const text = lines.join('\r\n');
        const result = parseRegQuery(text);
        const counted = result.keys.length + result.keys.reduce((n, k) => n + k.values.length, 0) + result.unparsed.length;
        expect(counted).toBe(text.split(/\r?\n/).filter((l) => l.trim() !== '').length);
        const cfg = configFromRegQuery(text, 'HKLM\\SOFTWARE\\Policies\\Ward');
        validateConfig(cfg.raw, 'HKLM\\SOFTWARE\\Policies\\Ward');
      }),
      { numRuns: 500 },
    );
  });
});

describe('Ward policy from the registry', () => {
  const KEY = 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Ward';
  it('turns group-policy values into Ward config: DWORD booleans, ADMX list subkeys, JSON posture', () => {
    const text = renderRegQuery([
      { path: KEY, values: [
        { name: 'brokerUrl', type: 'REG_SZ', data: 'https://broker.example.com' },
        { name: 'autoUpdate', type: 'REG_DWORD', data: 0 },
        { name: 'updateChannel', type: 'REG_SZ', data: 'beta' },
        { name: 'posture', type: 'REG_SZ', data: '{"maxScreenLockDelaySeconds":300}' },
        { name: 'requiredChecks', type: 'REG_MULTI_SZ', data: ['firewall', 'disk-encryption'] },
      ] },
      { path: `${KEY}\\allowedBrowserOrigins`, values: [
        { name: '2', type: 'REG_SZ', data: 'https://b.example.com' },
        { name: '1', type: 'REG_SZ', data: 'https://a.example.com' },
      ] },
      { path: `${KEY}\\lock`, values: [{ name: 'stepUpAfterUnlock', type: 'REG_DWORD', data: 1 }] },
    ]);
    const { raw, problems } = configFromRegQuery(text, 'HKLM\\SOFTWARE\\Policies\\Ward');
    expect(problems).toEqual([]);
    const { data, problems: invalid } = validateConfig(raw, KEY);
    expect(invalid).toEqual([]);
    expect(data).toMatchObject({
      brokerUrl: 'https://broker.example.com', autoUpdate: false, updateChannel: 'beta',
      allowedBrowserOrigins: ['https://a.example.com', 'https://b.example.com'],
      requiredChecks: ['firewall', 'disk-encryption'], lock: { stepUpAfterUnlock: true },
      posture: { maxScreenLockDelaySeconds: 300 },
    });
  });

  it('names the registry key and the value for an unknown value, a bad type and broken posture JSON', () => {
    const text = renderRegQuery([{ path: KEY, values: [
      { name: 'brokerURL', type: 'REG_SZ', data: 'https://broker.example.com' },
      { name: 'hardwareKey', type: 'REG_SZ', data: 'always' },
      { name: 'posture', type: 'REG_SZ', data: '{not json' },
    ] }]);
    const { raw, problems } = configFromRegQuery(text, KEY);
    expect(problems).toEqual([{ source: KEY, key: 'posture', message: 'must be a JSON object (REG_SZ)' }]);
    const keys = validateConfig(raw, KEY).problems.map((p) => `${p.source}|${p.key}`);
    expect(keys).toContain(`${KEY}|brokerURL`);
    expect(keys).toContain(`${KEY}|hardwareKey`);
  });
});
