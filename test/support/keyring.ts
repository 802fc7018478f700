import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * A real gnome-keyring (Secret Service) on a private D-Bus session, in a throw-away HOME, for
 * tests and benchmarks. The user's own keyring is never touched.
 *
 *   const keyring = await startKeyring();
 *   keyring.useInThisProcess();          // before anything talks to the keychain
 *   ...
 *   await keyring.dispose();
 *
 * libdbus remembers the session bus address for the life of a process, so a process can use one
 * test keyring: call `useInThisProcess()` once, before @napi-rs/keyring first connects. vitest
 * runs each test file in its own process, so one keyring per file works.
 *
 * The bus is started with its own configuration and no service directories, so nothing is
 * D-Bus-activated behind the test's back: when the test stops the keyring daemon, the Secret
 * Service is really gone.
 */
export interface TestKeyring {
  readonly busAddress: string;
  readonly home: string;
  /** Point this process's D-Bus clients at the test bus. */
  useInThisProcess(): void;
  /** Lock the login collection (Secret Service `Lock`), as a screen lock or timeout would. */
  lock(): Promise<void>;
  /** Unlock it again with its password (by restarting the daemon with `--unlock`, as a login does). */
  unlock(): Promise<void>;
  /** Stop the keyring daemon: the bus stays, the Secret Service disappears. */
  stopDaemon(): Promise<void>;
  startDaemon(): Promise<void>;
  /** `secret-tool` against this keyring (inspect or delete items behind Ward's back). */
  secretTool(args: readonly string[]): Promise<string>;
  dispose(): Promise<void>;
}

const PASSWORD = 'ward-test-keyring';

function busConfig(dir: string): string {
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=${dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`;
}

async function stopChild(proc: ChildProcess | undefined): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    proc.once('exit', () => resolve());
    proc.kill('SIGTERM');
  });
}

export async function startKeyring(): Promise<TestKeyring> {
  const home = await mkdtemp(join(tmpdir(), 'ward-keyring-'));
  const runtime = join(home, 'run');
  await mkdir(runtime, { mode: 0o700 });
  const config = join(home, 'bus.conf');
  await writeFile(config, busConfig(runtime));

  const bus = spawn('/usr/bin/dbus-daemon', ['--config-file', config, '--nofork', '--nopidfile', '--print-address=1'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const busAddress = await new Promise<string>((resolve, reject) => {
    let out = '';
    bus.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    bus.once('exit', (code) => reject(new Error(`dbus-daemon exited (${code ?? 'signal'})`)));
  });
  const env: NodeJS.ProcessEnv = {
    PATH: '/usr/bin:/bin',
    HOME: home,
    XDG_RUNTIME_DIR: runtime,
    XDG_DATA_HOME: join(home, 'data'),
    XDG_CONFIG_HOME: join(home, 'config'),
    DBUS_SESSION_BUS_ADDRESS: busAddress,
    LC_ALL: 'C',
  };

  const gdbus = (args: readonly string[]): Promise<{ stdout: string }> =>
    execFileAsync('/usr/bin/gdbus', ['call', '--session', ...args], { env, timeout: 10_000 });

  const secretsOwned = async (): Promise<boolean> => {
    const { stdout } = await gdbus([
      '--dest', 'org.freedesktop.DBus', '--object-path', '/org/freedesktop/DBus',
      '--method', 'org.freedesktop.DBus.NameHasOwner', 'org.freedesktop.secrets',
    ]);
    return stdout.includes('true');
  };

  let daemon: ChildProcess | undefined;
  const startDaemon = async (): Promise<void> => {
    if (daemon) return;
    const proc = spawn('/usr/bin/gnome-keyring-daemon', ['--unlock', '--components=secrets', '--foreground'], {
      env,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    proc.stdin?.end(PASSWORD);
    daemon = proc;
    const deadline = Date.now() + 10_000;
    while (!(await secretsOwned())) {
      if (proc.exitCode !== null) throw new Error(`gnome-keyring-daemon exited (${proc.exitCode})`);
      if (Date.now() > deadline) throw new Error('gnome-keyring-daemon did not take org.freedesktop.secrets');
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const stopDaemon = async (): Promise<void> => {
    const proc = daemon;
    daemon = undefined;
    await stopChild(proc);
    // Wait until the bus has noticed: the name must be gone before the test continues.
    while (await secretsOwned()) await new Promise((r) => setTimeout(r, 10));
  };

  await startDaemon();
  return {
    busAddress,
    home,
    useInThisProcess() {
      process.env.DBUS_SESSION_BUS_ADDRESS = busAddress;
    },
    async lock() {
      await gdbus([
        '--dest', 'org.freedesktop.secrets', '--object-path', '/org/freedesktop/secrets',
        '--method', 'org.freedesktop.Secret.Service.Lock', "['/org/freedesktop/secrets/collection/login']",
      ]);
    },
    async unlock() {
      await stopDaemon();
      await startDaemon();
    },
    stopDaemon,
    startDaemon,
    async secretTool(args) {
      const { stdout } = await execFileAsync('/usr/bin/secret-tool', [...args], { env, timeout: 10_000 });
      return stdout;
    },
    async dispose() {
      await stopChild(daemon);
      daemon = undefined;
      await stopChild(bus);
      await rm(home, { recursive: true, force: true });
    },
  };
}
