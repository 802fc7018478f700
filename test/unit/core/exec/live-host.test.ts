import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecError } from '../../../../main/core/exec/exec-error.js';
import { LiveHost } from '../../../../main/core/exec/live-host.js';

// Real processes through the real exec path; only the allow-list is the test's own.
const host = new LiveHost('linux', {
  allowList: {
    sleep: ['/usr/bin/sleep', '/bin/sleep'],
    sh: ['/bin/sh'],
    echo: ['/bin/echo', '/usr/bin/echo'],
    missing: ['/nonexistent/ward-test-binary'],
  },
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ward-exec-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    expect(err).toBeInstanceOf(ExecError);
    return (err as ExecError).code;
  }
}

describe('LiveHost.run', () => {
  it('runs an allow-listed command with an argument vector, never a shell', async () => {
    const r = await host.run('echo', ['$HOME', '; rm -rf /', '`id`']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('$HOME ; rm -rf / `id`\n');
    expect(r.path.startsWith('/')).toBe(true);
  });

  it('refuses a command that is not allow-listed', async () => {
    expect(await codeOf(host.run('rm', ['-rf', dir]))).toBe('not-allowed');
    expect(await codeOf(new LiveHost('linux').run('bash', ['-c', 'true']))).toBe('not-allowed');
  });

  it('says not-found when no allow-listed path exists', async () => {
    expect(await codeOf(host.run('missing', []))).toBe('not-found');
  });

  it('kills a command that overruns its timeout', async () => {
    const started = Date.now();
    expect(await codeOf(host.run('sleep', ['5'], { timeoutMs: 200 }))).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('caps output', async () => {
    const err = await host.run('sh', ['-c', 'head -c 100000 /dev/zero'], { maxOutputBytes: 1000 }).catch((e: unknown) => e);
    expect((err as ExecError).code).toBe('output-too-large');
  });

  it('turns an unexpected exit code into exit, keeping the output', async () => {
    const err = (await host.run('sh', ['-c', 'echo out; echo err >&2; exit 3']).catch((e: unknown) => e)) as ExecError;
    expect(err.code).toBe('exit');
    expect(err.exitCode).toBe(3);
    expect(err.stdout).toBe('out\n');
    expect(err.stderr).toBe('err\n');
  });

  it('accepts exit codes the caller names as answers', async () => {
    const r = await host.run('sh', ['-c', 'exit 3'], { okExitCodes: [0, 3] });
    expect(r.exitCode).toBe(3);
    expect((await host.run('sh', ['-c', 'exit 7'], { okExitCodes: 'any' })).exitCode).toBe(7);
  });

  it('runs children in the C locale with a fixed PATH', async () => {
    const r = await host.run('sh', ['-c', 'echo "$LC_ALL|$PATH"']);
    expect(r.stdout.trim()).toBe('C|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  });

  it('does not pass arbitrary parent environment to children', async () => {
    process.env.WARD_TEST_SECRET = 'should-not-leak';
    try {
      const r = await host.run('sh', ['-c', 'echo "[$WARD_TEST_SECRET]"']);
      expect(r.stdout.trim()).toBe('[]');
    } finally {
      delete process.env.WARD_TEST_SECRET;
    }
  });
});

describe('LiveHost file access', () => {
  it('reads files, including /proc files whose size is reported as 0', async () => {
    const f = join(dir, 'a.txt');
    await writeFile(f, 'hello');
    expect(await host.readFile(f)).toBe('hello');
    expect((await host.readFile('/proc/self/status')).length).toBeGreaterThan(10);
  });

  it('types missing files, oversize files and directories', async () => {
    expect(await codeOf(host.readFile(join(dir, 'nope')))).toBe('not-found');
    const big = join(dir, 'big');
    await writeFile(big, 'x'.repeat(5000));
    expect(await codeOf(host.readFile(big, { maxBytes: 100 }))).toBe('output-too-large');
    expect(await codeOf(host.readFile(dir))).toBe('io');
  });

  it('hashes files with SHA-256 and resolves links', async () => {
    const f = join(dir, 'h.txt');
    await writeFile(f, 'abc');
    expect(await host.hashFile(f)).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    await symlink(f, join(dir, 'link'));
    expect(await host.readLink(join(dir, 'link'))).toBe(f);
    expect(await host.readDir(dir)).toEqual(expect.arrayContaining(['a.txt', 'h.txt', 'link']));
  });

  it('puts a time limit on library calls that never settle', async () => {
    expect(await codeOf(host.call('never', () => new Promise(() => {}), { timeoutMs: 50 }))).toBe('timeout');
    expect(await host.call('ok', () => Promise.resolve({ a: 1 }))).toEqual({ a: 1 });
  });
});
