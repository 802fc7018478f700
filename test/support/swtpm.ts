import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, waitForPort } from './ports.js';

const execFileAsync = promisify(execFile);

/**
 * A real software TPM 2.0 (swtpm) on a free loopback port, for tests and benchmarks. Its state
 * lives in a throw-away directory, so `stop()` + `start()` is a TPM power cycle that keeps
 * persistent keys, and `replace()` swaps in a brand-new TPM (empty state) on the same port.
 *
 *   const tpm = await startSwtpm();
 *   new TpmKeyStore({ host, stateDir, tcti: tpm.tcti });
 *   await tpm.dispose();
 */
export interface Swtpm {
  /** `TPM2TOOLS_TCTI` value that reaches this TPM. */
  readonly tcti: string;
  readonly port: number;
  readonly stateDir: string;
  readonly isRunning: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stop, throw the state away, start an empty TPM on the same port (a replaced TPM). */
  replace(): Promise<void>;
  /** Run a tpm2-tools command against this TPM (for test set-up: tpm2_clear, tpm2_duplicate, ...). */
  tool(name: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }>;
  /** Stop and delete the state. */
  dispose(): Promise<void>;
}

export async function startSwtpm(): Promise<Swtpm> {
  const root = await mkdtemp(join(tmpdir(), 'ward-swtpm-'));
  let generation = 0;
  let stateDir = join(root, `state-${generation}`);
  // swtpm needs two ports: the TPM command channel and, right after it, its control channel.
  const port = await freePort(2);
  const tcti = `swtpm:host=127.0.0.1,port=${port}`;
  let child: ChildProcess | undefined;
  let stderr = '';

  const start = async (): Promise<void> => {
    if (child) return;
    const { mkdir } = await import('node:fs/promises');
    await mkdir(stateDir, { recursive: true });
    stderr = '';
    const proc = spawn(
      '/usr/bin/swtpm',
      [
        'socket', '--tpm2',
        '--tpmstate', `dir=${stateDir}`,
        '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`,
        '--ctrl', `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
        '--flags', 'not-need-init,startup-clear',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    proc.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child = proc;
    const exited = new Promise<never>((_, reject) =>
      proc.once('exit', (code) => reject(new Error(`swtpm exited (${code ?? 'signal'}): ${stderr.trim()}`))),
    );
    exited.catch(() => undefined);
    // The control port is polled, not the TPM port: a probe connection on the command channel
    // would be taken for a TPM client.
    await Promise.race([waitForPort(port + 1), exited]);
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    if (!proc) return;
    child = undefined;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    });
  };

  await start();
  return {
    tcti,
    port,
    get stateDir() {
      return stateDir;
    },
    get isRunning() {
      return child !== undefined;
    },
    start,
    stop,
    async replace() {
      await stop();
      generation += 1;
      stateDir = join(root, `state-${generation}`);
      await start();
    },
    async tool(name, args) {
      return execFileAsync(`/usr/bin/${name}`, [...args], { env: { ...process.env, TPM2TOOLS_TCTI: tcti }, timeout: 10_000 });
    },
    async dispose() {
      await stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}
