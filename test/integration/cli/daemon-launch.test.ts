import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { DAEMON_NODE_FLAGS, ROOT, buildAgentBundle, freshAgentBundle } from '../../../bin/agent-bundle.mjs';

/**
 * How `ward daemon` ships: the compiled bundle (bin/agent-bundle.mjs) and the launcher
 * (bin/ward.mjs) that starts the daemon in a node with DAEMON_NODE_FLAGS.
 */
const run = promisify(execFile);
// Inside the checkout (node_modules/.cache), so the bundle resolves the packages it leaves out.
const bundleDir = join(ROOT, 'node_modules', '.cache', `ward-agent-test-${randomUUID()}`);
const stateDir = mkdtempSync(join(tmpdir(), 'ward-daemon-launch-'));

afterAll(() => {
  rmSync(bundleDir, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
});

/** Start a daemon (`command args… --ephemeral-tokens`) and wait for its ready line; `exited` gives its exit code. */
async function startDaemon(command: string, args: string[], wardStateDir: string): Promise<{ child: ChildProcess; exited: Promise<number | null> }> {
  const child = spawn(command, [...args, '--ephemeral-tokens', '--log-level', 'warn'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: stateDir, WARD_STATE_DIR: wardStateDir, XDG_CONFIG_HOME: join(stateDir, 'config') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('loopback API on')) resolve();
    });
    void exited.then((code) => reject(new Error(`${command} exited with ${code}: ${out}`)));
  });
  return { child, exited };
}

describe('the compiled agent bundle', () => {
  it('runs ward, and is used only while every input is unchanged since the build', async () => {
    const entry = await buildAgentBundle(bundleDir);
    expect(freshAgentBundle(bundleDir)).toBe(entry);
    const { stdout } = await run(process.execPath, [entry, 'checks', '--json'], { env: { ...process.env, WARD_STATE_DIR: stateDir }, timeout: 60_000 });
    expect(JSON.parse(stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ id: 'firewall' })]));

    const manifestFile = join(bundleDir, 'inputs.json');
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as { builtAtMs: number; inputs: string[] };
    expect(manifest.inputs).toEqual(expect.arrayContaining(['main/core/agent.ts', 'main/cli/daemon.ts']));
    writeFileSync(manifestFile, JSON.stringify({ ...manifest, builtAtMs: 0 })); // as if every source changed since
    expect(freshAgentBundle(bundleDir)).toBeUndefined();
    rmSync(manifestFile);
    expect(freshAgentBundle(bundleDir)).toBeUndefined();
  });
});

describe('bin/ward.mjs daemon', () => {
  it('runs the daemon in a node started with the daemon flags, and stops it on SIGTERM', async () => {
    const { child: launcher, exited } = await startDaemon(process.execPath, ['bin/ward.mjs', 'daemon'], stateDir);
    // Node >= 22.15 execs the daemon in place; older ones keep the launcher as its parent.
    const children = readFileSync(`/proc/${launcher.pid}/task/${launcher.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    const daemonPid = children.length ? Number(children[0]) : launcher.pid!;
    const argv = readFileSync(`/proc/${daemonPid}/cmdline`, 'utf8').split('\0');
    for (const flag of DAEMON_NODE_FLAGS) expect(argv).toContain(flag);
    expect(argv).toContain('daemon');

    launcher.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(`/proc/${daemonPid}/cmdline`) && readFileSync(`/proc/${daemonPid}/cmdline`, 'utf8') !== '').toBe(false);
  }, 120_000);
});

describe('bin/ward-daemon', () => {
  it('execs the daemon in place with the daemon flags: one process, no launcher left as its parent', async () => {
    const { child: daemon, exited } = await startDaemon(join(ROOT, 'bin', 'ward-daemon'), [], join(stateDir, 'sh'));
    // The pid we started is the daemon itself: sh exec'd node, so no launcher stands between.
    const argv = readFileSync(`/proc/${daemon.pid}/cmdline`, 'utf8').split('\0');
    expect(argv[0]).toMatch(/node$/);
    for (const flag of DAEMON_NODE_FLAGS) expect(argv).toContain(flag);
    expect(argv).toContain('daemon');
    // Its children are only the commands the checks run, never a second `ward daemon`.
    const children = readFileSync(`/proc/${daemon.pid}/task/${daemon.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    for (const child of children) {
      let childArgv: string[] = [];
      try {
        childArgv = readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0');
      } catch {
        // the command ended between the two reads
      }
      expect(childArgv).not.toContain('daemon');
    }

    daemon.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 120_000);
});
