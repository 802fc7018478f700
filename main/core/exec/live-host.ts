import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, constants, open, readdir, readlink } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { Platform } from '../platform.js';
import { allowedPaths, commandGuard } from './allowlist/index.js';
import { ExecError } from './exec-error.js';
import type { ExecOptions, ExecResult, Host, ReadOptions } from './host.js';
import { withTimeout } from './timeout.js';

export const DEFAULT_TIMEOUT_MS = 5_000;
export const DEFAULT_MAX_OUTPUT_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_READ_BYTES = 1024 * 1024;
const DEFAULT_MAX_HASH_BYTES = 512 * 1024 * 1024;

/** Variables a child may inherit: what desktop-settings tools need to find the user's session. */
const INHERITED_ENV = [
  'HOME', 'USER', 'LOGNAME', 'XDG_RUNTIME_DIR', 'XDG_CONFIG_HOME', 'XDG_DATA_DIRS', 'XDG_CURRENT_DESKTOP',
  'DBUS_SESSION_BUS_ADDRESS', 'DISPLAY', 'WAYLAND_DISPLAY', 'GSETTINGS_BACKEND', 'APT_CONFIG',
  'TPM2TOOLS_TCTI', 'SystemRoot', 'windir', 'ProgramData', 'ProgramFiles',
] as const;

function childEnv(platform: Platform, extra: Readonly<Record<string, string>> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of INHERITED_ENV) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  // Parsers expect untranslated output: fix the locale.
  env.LC_ALL = 'C';
  env.LANG = 'C';
  env.PATH = platform === 'win32' ? 'C:\\Windows\\System32' : '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  return { ...env, ...extra };
}

function fsError(err: unknown, target: string): ExecError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new ExecError('not-found', target, `${target} does not exist`, { cause: err });
  if (code === 'EACCES' || code === 'EPERM') {
    return new ExecError('permission-denied', target, `permission denied reading ${target}`, { cause: err });
  }
  if (code === 'ABORT_ERR') return new ExecError('timeout', target, `reading ${target} was aborted`, { cause: err });
  return new ExecError('io', target, `could not read ${target}: ${(err as Error).message}`, { cause: err });
}

/**
 * The real machine. The only code in Ward that starts processes: allow-listed absolute paths,
 * `execFile` with an argument vector (never a shell), a timeout and an output cap on every call.
 */
export interface LiveHostOptions {
  /**
   * Replace the platform's allow-list (tests run real commands such as /bin/sleep through the
   * same code path). Production code never passes this.
   */
  readonly allowList?: Readonly<Record<string, readonly string[]>>;
}

export class LiveHost implements Host {
  readonly platform: Platform;
  private readonly resolved = new Map<string, Promise<string | undefined>>();
  private readonly allowList: Readonly<Record<string, readonly string[]>> | undefined;

  constructor(platform: Platform, options: LiveHostOptions = {}) {
    this.platform = platform;
    this.allowList = options.allowList;
  }

  private paths(command: string): readonly string[] | undefined {
    if (!this.allowList) return allowedPaths(this.platform, command);
    return Object.hasOwn(this.allowList, command) ? this.allowList[command] : undefined;
  }

  private resolve(command: string): Promise<string | undefined> {
    let found = this.resolved.get(command);
    if (!found) {
      found = (async () => {
        for (const candidate of this.paths(command) ?? []) {
          try {
            await access(candidate, constants.X_OK);
            return candidate;
          } catch {
            // try the next allow-listed location
          }
        }
        return undefined;
      })();
      this.resolved.set(command, found);
    }
    return found;
  }

  async run(command: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const candidates = this.paths(command);
    if (!candidates) throw new ExecError('not-allowed', command, `${command} is not an allow-listed command on ${this.platform}`);
    const refused = await commandGuard(this.platform, command)?.(args);
    if (refused) throw new ExecError('not-allowed', command, refused);
    const path = await this.resolve(command);
    if (!path) {
      throw new ExecError('not-found', command, `${command} is not installed (looked in ${candidates.join(', ')})`);
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const maxBuffer = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const started = performance.now();
    const shown = [command, ...args].join(' ');
    return new Promise<ExecResult>((resolve, reject) => {
      const child = execFile(
        path,
        [...args],
        {
          timeout: timeoutMs,
          killSignal: 'SIGKILL',
          maxBuffer,
          encoding: 'utf8',
          env: childEnv(this.platform, options.env),
          windowsHide: true,
          ...(options.signal ? { signal: options.signal } : {}),
        },
        (error, stdout, stderr) => {
          const durationMs = performance.now() - started;
          if (!error) {
            resolve({ command, path, args: [...args], exitCode: 0, stdout, stderr, durationMs });
            return;
          }
          const err = error as NodeJS.ErrnoException & { killed?: boolean; code?: string | number; signal?: string };
          if (err.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
            reject(new ExecError('output-too-large', command, `${shown} printed more than ${maxBuffer} bytes`, { cause: error }));
          } else if (err.code === 'ABORT_ERR') {
            reject(new ExecError('timeout', command, `${shown} was cancelled`, { cause: error }));
          } else if (err.killed === true || err.signal === 'SIGKILL') {
            reject(new ExecError('timeout', command, `${shown} did not finish within ${timeoutMs} ms`, { cause: error }));
          } else if (err.code === 'ENOENT') {
            reject(new ExecError('not-found', command, `${path} could not be started`, { cause: error }));
          } else if (err.code === 'EACCES' || err.code === 'EPERM') {
            reject(new ExecError('permission-denied', command, `${path} may not be run by this user`, { cause: error }));
          } else if (typeof err.code === 'number') {
            const ok = options.okExitCodes ?? [0];
            const result = { command, path, args: [...args], exitCode: err.code, stdout, stderr, durationMs };
            if (ok === 'any' || ok.includes(err.code)) resolve(result);
            else {
              reject(
                new ExecError('exit', command, `${shown} exited with code ${err.code}`, {
                  cause: error,
                  exitCode: err.code,
                  stdout,
                  stderr,
                }),
              );
            }
          } else {
            reject(new ExecError('io', command, `${shown} failed: ${err.message}`, { cause: error }));
          }
        },
      );
      if (options.input !== undefined) child.stdin?.end(options.input);
      else child.stdin?.end();
    });
  }

  async readFile(path: string, options: ReadOptions = {}): Promise<string> {
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_READ_BYTES;
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      throw fsError(err, path);
    }
    try {
      // /proc and /sys files report size 0: read in chunks up to the cap instead of trusting stat.
      const chunks: Buffer[] = [];
      let total = 0;
      for (;;) {
        const buf = Buffer.alloc(Math.min(64 * 1024, maxBytes + 1 - total));
        const { bytesRead } = await handle.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        chunks.push(buf.subarray(0, bytesRead));
        total += bytesRead;
        if (total > maxBytes) throw new ExecError('output-too-large', path, `${path} is larger than ${maxBytes} bytes`);
        options.signal?.throwIfAborted();
      }
      return Buffer.concat(chunks).toString('utf8');
    } catch (err) {
      if (err instanceof ExecError) throw err;
      throw fsError(err, path);
    } finally {
      await handle.close();
    }
  }

  async readDir(path: string): Promise<string[]> {
    try {
      return (await readdir(path)).sort();
    } catch (err) {
      throw fsError(err, path);
    }
  }

  async readLink(path: string): Promise<string> {
    try {
      return await readlink(path);
    } catch (err) {
      throw fsError(err, path);
    }
  }

  async hashFile(path: string, options: ReadOptions = {}): Promise<string> {
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_HASH_BYTES;
    const hash = createHash('sha256');
    let total = 0;
    try {
      for await (const chunk of createReadStream(path, options.signal ? { signal: options.signal } : {})) {
        total += (chunk as Buffer).length;
        if (total > maxBytes) throw new ExecError('output-too-large', path, `${path} is larger than ${maxBytes} bytes`);
        hash.update(chunk as Buffer);
      }
    } catch (err) {
      if (err instanceof ExecError) throw err;
      throw fsError(err, path);
    }
    return hash.digest('hex');
  }

  env(name: string): string | undefined {
    return process.env[name];
  }

  call<T>(key: string, producer: () => Promise<T>, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    return withTimeout(producer(), options.timeoutMs ?? DEFAULT_TIMEOUT_MS, key, options.signal);
  }
}
