import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultProbeCacheFile, parseProbeCacheFile, ProbeMemo, type ProbeCacheFile } from '../../../../main/core/posture/probe-cache.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ward-probe-cache-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const HOUR = 3_600_000;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (ms: number): string => new Date(ms).toISOString();

const entryArb = fc.record({
  name: fc.string({ minLength: 1, maxLength: 20 }),
  fingerprint: fc.string({ maxLength: 50 }),
  at: fc.integer({ min: 0, max: 4_000_000_000_000 }).map(at),
  value: fc.dictionary(fc.stringMatching(/^[A-Za-z][A-Za-z0-9]{0,9}$/), fc.string({ maxLength: 50 }), { maxKeys: 3 }),
});
const fileArb = fc.record({ version: fc.constant(1 as const), entries: fc.array(entryArb, { maxLength: 8 }) });

describe('parseProbeCacheFile', () => {
  it('never throws on arbitrary text, and returns either nothing or a valid cache', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fileArb.map((f) => JSON.stringify(f))), (text) => {
        const parsed = parseProbeCacheFile(text);
        if (parsed !== undefined) {
          expect(parsed.version).toBe(1);
          expect(parsed.entries.length).toBeLessThanOrEqual(8);
        }
      }),
    );
  });

  it('reads back every valid file it could have written', () => {
    fc.assert(
      fc.property(fileArb, (file) => {
        expect(parseProbeCacheFile(JSON.stringify(file))).toEqual(file);
      }),
    );
  });

  it('never trusts a truncated file', () => {
    fc.assert(
      fc.property(fileArb, fc.nat(), (file, cut) => {
        const text = JSON.stringify(file);
        const end = cut % text.length;
        expect(parseProbeCacheFile(text.slice(0, end))).toBeUndefined();
      }),
    );
  });

  it('rejects other versions, too many entries and dates that are not ISO timestamps', () => {
    const one = { name: 'a', fingerprint: 'f', at: at(T0), value: { stdout: 'x' } };
    expect(parseProbeCacheFile(JSON.stringify({ version: 2, entries: [] }))).toBeUndefined();
    expect(parseProbeCacheFile(JSON.stringify({ version: 1, entries: Array.from({ length: 9 }, () => one) }))).toBeUndefined();
    expect(parseProbeCacheFile(JSON.stringify({ version: 1, entries: [{ ...one, at: 'yesterday' }] }))).toBeUndefined();
    expect(parseProbeCacheFile(JSON.stringify({ version: 1, entries: [{ ...one, value: { stdout: 1 } }] }))).toBeUndefined();
    // A "__proto__" key is dropped, never turned into a prototype.
    const proto = parseProbeCacheFile('{"version":1,"entries":[{"name":"a","fingerprint":"f","at":"2026-01-01T00:00:00.000Z","value":{"__proto__":{"stdout":"x"}}}]}');
    expect(proto?.entries[0]?.value ?? {}).not.toHaveProperty('stdout');
  });
});

describe('ProbeMemo', () => {
  it('lives under WARD_STATE_DIR when it is set', () => {
    expect(defaultProbeCacheFile('linux', (n) => (n === 'WARD_STATE_DIR' ? '/x/state' : undefined))).toBe('/x/state/probe-cache.json');
    expect(defaultProbeCacheFile('linux', (n) => (n === 'HOME' ? '/home/u' : undefined))).toBe('/home/u/.local/state/ward/probe-cache.json');
  });

  it('in memory: reuses an answer for the same fingerprint only, and says it came from memory', async () => {
    const memo = new ProbeMemo({ now: () => T0 + HOUR });
    await memo.set('apt', 'fp1', { stdout: 'one' }, at(T0));
    expect(await memo.get('apt', 'fp1')).toEqual({ value: { stdout: 'one' }, at: at(T0), from: 'memory' });
    expect(await memo.get('apt', 'fp2')).toBeUndefined();
    expect(await memo.get('other', 'fp1')).toBeUndefined();
  });

  it('in a file: a second memo (another process) reuses it, written 0600; past the age limit it is not reused', async () => {
    const file = join(dir, 'state', 'probe-cache.json');
    await new ProbeMemo({ file, now: () => T0 }).set('apt', 'fp', { stdout: 'answer' }, at(T0));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const later = new ProbeMemo({ file, now: () => T0 + 5 * HOUR });
    expect(await later.get('apt', 'fp')).toEqual({ value: { stdout: 'answer' }, at: at(T0), from: 'file' });
    expect(await new ProbeMemo({ file, now: () => T0 + 7 * HOUR }).get('apt', 'fp')).toBeUndefined();
    expect(await new ProbeMemo({ file, maxAgeMs: HOUR, now: () => T0 + 2 * HOUR }).get('apt', 'fp')).toBeUndefined();
  });

  it('a newer answer for the same probe replaces the older one; different probes are kept side by side', async () => {
    const file = join(dir, 'replace', 'probe-cache.json');
    const memo = new ProbeMemo({ file, now: () => T0 });
    await memo.set('apt', 'old', { stdout: '1' }, at(T0));
    await memo.set('apt', 'new', { stdout: '2' }, at(T0));
    await memo.set('conf', 'c', { dump: 'd' }, at(T0));
    const saved = parseProbeCacheFile(await readFile(file, 'utf8')) as ProbeCacheFile;
    expect(saved.entries.map((e) => [e.name, e.fingerprint])).toEqual([
      ['apt', 'new'],
      ['conf', 'c'],
    ]);
  });

  it('ignores a damaged file and rewrites it whole on the next answer', async () => {
    const file = join(dir, 'damaged', 'probe-cache.json');
    await new ProbeMemo({ file, now: () => T0 }).set('apt', 'fp', { stdout: 'answer' }, at(T0));
    const good = await readFile(file, 'utf8');
    await writeFile(file, good.slice(0, good.length / 2));
    const memo = new ProbeMemo({ file, now: () => T0 });
    expect(await memo.get('apt', 'fp')).toBeUndefined();
    await memo.set('apt', 'fp', { stdout: 'again' }, at(T0));
    expect(parseProbeCacheFile(await readFile(file, 'utf8'))?.entries).toEqual([{ name: 'apt', fingerprint: 'fp', at: at(T0), value: { stdout: 'again' } }]);
  });
});
