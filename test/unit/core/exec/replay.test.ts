import fc from 'fast-check';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BundleError, makeBundle, parseBundle, redactBundle } from '../../../../main/core/exec/bundle.js';
import { ExecError } from '../../../../main/core/exec/exec-error.js';
import { LiveHost } from '../../../../main/core/exec/live-host.js';
import { RecordingHost } from '../../../../main/core/exec/recording-host.js';
import { ReplayHost } from '../../../../main/core/exec/replay-host.js';

const live = new LiveHost('linux', { allowList: { sh: ['/bin/sh'] } });

describe('capture and replay', () => {
  it('replays exactly what was recorded: output, exit codes, errors, files, env and calls', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ward-replay-'));
    try {
      await writeFile(join(dir, 'f'), 'content');
      const rec = new RecordingHost(live);
      await rec.run('sh', ['-c', 'echo hi']);
      await rec.run('sh', ['-c', 'exit 4'], { okExitCodes: 'any' });
      await rec.run('sh', ['-c', 'exit 5']).catch(() => undefined);
      await rec.readFile(join(dir, 'f'));
      await rec.readFile(join(dir, 'missing')).catch(() => undefined);
      rec.env('HOME');
      await rec.call('facts', () => Promise.resolve({ model: 'X1' }));

      // Through JSON, as a bundle on disk would be.
      const bundle = parseBundle(JSON.stringify(makeBundle('linux', '0.1.0', rec.records, new Date())));
      const replay = new ReplayHost('darwin', bundle.records);
      expect(replay.platform).toBe('darwin');
      expect((await replay.run('sh', ['-c', 'echo hi'])).stdout).toBe('hi\n');
      expect((await replay.run('sh', ['-c', 'exit 4'], { okExitCodes: 'any' })).exitCode).toBe(4);
      const exit = (await replay.run('sh', ['-c', 'exit 5']).catch((e: unknown) => e)) as ExecError;
      expect(exit.code).toBe('exit');
      expect(exit.exitCode).toBe(5);
      expect(await replay.readFile(join(dir, 'f'))).toBe('content');
      expect(((await replay.readFile(join(dir, 'missing')).catch((e: unknown) => e)) as ExecError).code).toBe('not-found');
      expect(replay.env('HOME')).toBe(process.env.HOME);
      expect(await replay.call('facts', () => Promise.reject(new Error('must not run')))).toEqual({ model: 'X1' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names what the bundle lacks instead of crashing', async () => {
    const replay = new ReplayHost('win32', []);
    const err = (await replay.run('powershell', ['-Command', 'Get-Thing']).catch((e: unknown) => e)) as ExecError;
    expect(err).toBeInstanceOf(ExecError);
    expect(err.code).toBe('not-recorded');
    expect(err.message).toContain('powershell -Command Get-Thing');
  });

  it('redacts identifying values everywhere in a bundle', () => {
    const bundle = makeBundle(
      'linux',
      '0.1.0',
      [
        { kind: 'exec', command: 'x', args: ['--host', 'alice-laptop'], exitCode: 0, stdout: 'serial C02XYZ owner alice', stderr: '' },
        { kind: 'call', key: 'si.system', value: { serial: 'C02XYZ', nested: ['alice-laptop'] } },
      ],
      new Date(),
    );
    const red = redactBundle(bundle, new Map([['alice-laptop', '<hostname>'], ['C02XYZ', '<serial>'], ['alice', '<user>']]));
    const text = JSON.stringify(red);
    expect(text).not.toContain('alice');
    expect(text).not.toContain('C02XYZ');
    expect(text).toContain('<hostname>');
    expect(red.redacted).toBe(true);
  });

  it('rejects anything that is not a bundle with a typed error', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
        try {
          parseBundle(text);
        } catch (err) {
          expect(err).toBeInstanceOf(BundleError);
        }
      }),
      { numRuns: 300 },
    );
    expect(() => parseBundle('{"format":"ward-capture"}')).toThrow(/not a Ward capture bundle/);
  });
});
