import { ExecError } from './exec-error.js';
import type { ExecOptions, ExecResult, Host, HostRecord, HostRecordError, ReadOptions } from './host.js';

function recordError(err: unknown): HostRecordError {
  if (err instanceof ExecError) return { code: err.code, message: err.message };
  return { code: 'io', message: err instanceof Error ? err.message : String(err) };
}

/**
 * A Host that passes every request to another and keeps what was asked and answered. Used for
 * `ward capture` bundles and, per check, for the evidence a check result carries.
 */
export class RecordingHost implements Host {
  readonly records: HostRecord[] = [];
  private readonly inner: Host;
  private readonly sink: ((record: HostRecord) => void) | undefined;

  constructor(inner: Host, sink?: (record: HostRecord) => void) {
    this.inner = inner;
    this.sink = sink;
  }

  get platform(): Host['platform'] {
    return this.inner.platform;
  }

  private push(record: HostRecord): void {
    this.records.push(record);
    this.sink?.(record);
  }

  async run(command: string, args: readonly string[], options?: ExecOptions): Promise<ExecResult> {
    try {
      const result = await this.inner.run(command, args, options);
      this.push({
        kind: 'exec',
        command,
        args: [...args],
        path: result.path,
        exitCode: result.exitCode,
        stdout: result.stdout,
        stderr: result.stderr,
        durationMs: Math.round(result.durationMs * 10) / 10,
      });
      return result;
    } catch (err) {
      const extra =
        err instanceof ExecError && err.code === 'exit'
          ? { exitCode: err.exitCode ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }
          : {};
      this.push({ kind: 'exec', command, args: [...args], ...extra, error: recordError(err) });
      throw err;
    }
  }

  private async wrap<T>(make: (value: T | undefined, error?: HostRecordError) => HostRecord, op: () => Promise<T>): Promise<T> {
    try {
      const value = await op();
      this.push(make(value));
      return value;
    } catch (err) {
      this.push(make(undefined, recordError(err)));
      throw err;
    }
  }

  readFile(path: string, options?: ReadOptions): Promise<string> {
    return this.wrap<string>(
      (content, error) => (error ? { kind: 'file', path, error } : { kind: 'file', path, content: content ?? '' }),
      () => this.inner.readFile(path, options),
    );
  }

  readDir(path: string, options?: ReadOptions): Promise<string[]> {
    return this.wrap<string[]>(
      (entries, error) => (error ? { kind: 'dir', path, error } : { kind: 'dir', path, entries: entries ?? [] }),
      () => this.inner.readDir(path, options),
    );
  }

  readLink(path: string, options?: ReadOptions): Promise<string> {
    return this.wrap<string>(
      (target, error) => (error ? { kind: 'link', path, error } : { kind: 'link', path, target: target ?? '' }),
      () => this.inner.readLink(path, options),
    );
  }

  hashFile(path: string, options?: ReadOptions): Promise<string> {
    return this.wrap<string>(
      (sha256, error) => (error ? { kind: 'hash', path, error } : { kind: 'hash', path, sha256: sha256 ?? '' }),
      () => this.inner.hashFile(path, options),
    );
  }

  env(name: string): string | undefined {
    const value = this.inner.env(name);
    this.push(value === undefined ? { kind: 'env', name } : { kind: 'env', name, value });
    return value;
  }

  call<T>(key: string, producer: () => Promise<T>, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<T> {
    return this.wrap<T>(
      (value, error) => (error ? { kind: 'call', key, error } : { kind: 'call', key, value }),
      () => this.inner.call(key, producer, options),
    );
  }
}
