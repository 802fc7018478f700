import { allowedPaths } from '../../../../main/core/exec/allowlist/index.js';
import { ExecError } from '../../../../main/core/exec/exec-error.js';
import type { ExecOptions, ExecResult, Host } from '../../../../main/core/exec/host.js';
import type { Platform } from '../../../../main/core/platform.js';

/** What the fake was asked to run: the allow-list name, the absolute path it resolves to, the argv. */
export interface FakeLaunch {
  readonly command: string;
  readonly path: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>> | undefined;
}

/**
 * A Host for another OS's commands, which cannot run here: it resolves every command through that
 * OS's real allow-list (a command that is not listed throws `not-allowed`, as LiveHost does),
 * records what would run, and answers exit 0 with empty output. Files do not exist.
 */
export class AllowListedFakeHost implements Host {
  readonly launches: FakeLaunch[] = [];
  /** Every request in order, as `exec <name> <args…>`, `file <path>`, `hash <path>`, …. */
  readonly asked: string[] = [];
  readonly platform: Platform;

  constructor(platform: Platform) {
    this.platform = platform;
  }

  run(command: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const path = allowedPaths(this.platform, command)?.[0];
    if (!path) return Promise.reject(new ExecError('not-allowed', command, `${command} is not on the ${this.platform} allow-list`));
    this.asked.push(['exec', command, ...args].join(' '));
    this.launches.push({ command, path, args: [...args], env: options.env });
    return Promise.resolve({ command, path, args: [...args], exitCode: 0, stdout: '', stderr: '', durationMs: 0 });
  }

  #missing(path: string, kind = 'file'): Promise<never> {
    this.asked.push(`${kind} ${path}`);
    return Promise.reject(new ExecError('not-found', path, `${path} does not exist`));
  }

  readFile(path: string): Promise<string> {
    return this.#missing(path);
  }

  readDir(path: string): Promise<string[]> {
    return this.#missing(path, 'dir');
  }

  readLink(path: string): Promise<string> {
    return this.#missing(path, 'link');
  }

  hashFile(path: string): Promise<string> {
    return this.#missing(path, 'hash');
  }

  env(): string | undefined {
    return undefined;
  }

  call<T>(key: string): Promise<T> {
    return this.#missing(key, 'call');
  }
}
