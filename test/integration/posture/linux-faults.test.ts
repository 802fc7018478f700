import { describe, expect, it } from 'vitest';
import { ExecError } from '../../../main/core/exec/exec-error.js';
import type { ExecOptions, ExecResult, Host, ReadOptions } from '../../../main/core/exec/host.js';
import { LiveHost } from '../../../main/core/exec/live-host.js';
import { RecordingHost } from '../../../main/core/exec/recording-host.js';
import { ReplayHost } from '../../../main/core/exec/replay-host.js';
import { takeSnapshot } from '../../../main/core/posture/engine.js';
import { clearLinuxProbeCaches } from '../../../main/core/posture/probes/linux.js';
import { ALL_CHECKS } from '../../../main/core/posture/registry.js';
import { PostureSnapshotSchema } from '../../../main/core/posture/snapshot.js';

type Fault = (command: string, args: readonly string[], options: ExecOptions) => Promise<ExecResult> | undefined;

/**
 * This machine, except for the commands a test breaks: every other request goes to the real
 * LiveHost, so the rest of the snapshot is read for real while one probe meets its fault.
 */
class FaultyHost implements Host {
  readonly platform = 'linux' as const;
  private readonly live = new LiveHost('linux');
  constructor(private readonly fault: Fault) {}
  run(command: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    return this.fault(command, args, options) ?? this.live.run(command, args, options);
  }
  readFile(path: string, options?: ReadOptions): Promise<string> {
    return this.live.readFile(path, options);
  }
  readDir(path: string, options?: ReadOptions): Promise<string[]> {
    void options;
    return this.live.readDir(path);
  }
  readLink(path: string, options?: ReadOptions): Promise<string> {
    void options;
    return this.live.readLink(path);
  }
  hashFile(path: string, options?: ReadOptions): Promise<string> {
    return this.live.hashFile(path, options);
  }
  env(name: string): string | undefined {
    return this.live.env(name);
  }
  call<T>(key: string, producer: () => Promise<T>, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<T> {
    return this.live.call(key, producer, options);
  }
}

/** A command that never answers until it is cancelled, as a wedged lsblk on a dead NFS mount does. */
function hang(options: ExecOptions): Promise<ExecResult> {
  return new Promise((_resolve, reject) => {
    options.signal?.addEventListener('abort', () => reject(new ExecError('timeout', 'lsblk', 'lsblk was cancelled')), { once: true });
  });
}

const answer = (command: string, args: readonly string[], stdout: string): Promise<ExecResult> =>
  Promise.resolve({ command, path: `/usr/bin/${command}`, args: [...args], exitCode: 0, stdout, stderr: '', durationMs: 1 });

const quickChecks = ALL_CHECKS.filter((c) => c.id !== 'os-updates');

describe('Linux probes under faults, through the engine', () => {
  it('a hanging lsblk makes disk-encryption an error at its budget while every other check returns', async () => {
    const snapshot = await takeSnapshot({
      host: new FaultyHost((command, _args, options) => (command === 'lsblk' ? hang(options) : undefined)),
      agentVersion: '0.1.0',
      checks: quickChecks,
      timeoutMs: 2_500,
    });
    PostureSnapshotSchema.parse(snapshot);
    const disk = snapshot.checks.find((c) => c.id === 'disk-encryption');
    expect(disk?.status).toBe('error');
    expect(disk?.reason).toBe('did not finish within its 2500 ms budget');
    const others = snapshot.checks.filter((c) => c.id !== 'disk-encryption');
    expect(others).toHaveLength(quickChecks.length - 1);
    expect(others.every((c) => c.status !== 'error')).toBe(true);
  });

  it('a missing lsblk makes disk-encryption unknown and says so', async () => {
    const snapshot = await takeSnapshot({
      host: new FaultyHost((command) =>
        command === 'lsblk' ? Promise.reject(new ExecError('not-found', 'lsblk', 'lsblk is not installed (looked in /usr/bin/lsblk, /bin/lsblk)')) : undefined,
      ),
      agentVersion: '0.1.0',
      checks: quickChecks.filter((c) => c.id === 'disk-encryption'),
    });
    const [disk] = snapshot.checks;
    // Only a volume on a block device needs lsblk; an overlay root is unknown for its own reason.
    expect(disk?.status).toBe('unknown');
    expect(disk?.evidence).toContainEqual(expect.objectContaining({ kind: 'exec', error: 'not-found' }));
  });

  it('unparsable lsblk output is an error that keeps the output', async () => {
    const snapshot = await takeSnapshot({
      host: new FaultyHost((command, args) => (command === 'lsblk' ? answer(command, args, 'lsblk: unknown column: MAJ:MIN\n') : undefined)),
      agentVersion: '0.1.0',
      checks: quickChecks.filter((c) => c.id === 'disk-encryption'),
    });
    const [disk] = snapshot.checks;
    expect(disk?.status).toBe('error');
    expect(disk?.reason).toContain('could not parse the output of lsblk -J');
    expect(disk?.observed.output).toContain('unknown column');
    expect(disk?.evidence).toContainEqual(expect.objectContaining({ kind: 'exec', excerpt: 'lsblk: unknown column: MAJ:MIN\n' }));
  });

  it('nft and iptables refused for lack of root leave the firewall unknown, not failed', async () => {
    const denied = (command: string): Promise<never> =>
      Promise.reject(new ExecError('exit', command, `${command} exited with code 1`, { exitCode: 1, stdout: '', stderr: 'Error: Operation not permitted' }));
    const snapshot = await takeSnapshot({
      host: new FaultyHost((command) => (command === 'nft' || command === 'iptables' ? denied(command) : undefined)),
      agentVersion: '0.1.0',
      checks: quickChecks.filter((c) => c.id === 'firewall'),
    });
    const [fw] = snapshot.checks;
    expect(fw?.status).toBe('unknown');
    expect(fw?.reason).toContain('needs root');
  });

  it('a capture replays to the same statuses; a command missing from the bundle is an error naming it', async () => {
    clearLinuxProbeCaches();
    const recorder = new RecordingHost(new LiveHost('linux'));
    const checks = quickChecks.filter((c) => ['disk-encryption', 'firewall', 'secure-boot', 'remote-login', 'auto-update'].includes(c.id));
    const captured = await takeSnapshot({ host: recorder, agentVersion: '0.1.0', checks });
    const replayed = await takeSnapshot({ host: new ReplayHost('linux', recorder.records), agentVersion: '0.1.0', checks, mode: 'replay' });
    expect(replayed.checks.map((c) => [c.id, c.status])).toEqual(captured.checks.map((c) => [c.id, c.status]));

    const withoutLsblk = recorder.records.filter((r) => !(r.kind === 'exec' && r.command === 'lsblk'));
    const broken = await takeSnapshot({ host: new ReplayHost('linux', withoutLsblk), agentVersion: '0.1.0', checks: checks.filter((c) => c.id === 'disk-encryption') });
    const [disk] = broken.checks;
    expect(disk?.status).toBe('error');
    expect(disk?.reason).toContain('the replay bundle has no recording of the command "lsblk -J');
    expect(disk?.evidence).toContainEqual(expect.objectContaining({ source: expect.stringContaining('lsblk -J'), error: 'not-recorded' }));
  });
});
