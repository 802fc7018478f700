import type { Platform } from '../platform.js';
import { ExecError, type ExecErrorCode } from './exec-error.js';
import type { ExecOptions, ExecResult, Host, HostRecord, HostRecordError } from './host.js';

const EXEC_ERROR_CODES: readonly ExecErrorCode[] = [
  'not-allowed', 'not-found', 'timeout', 'exit', 'output-too-large', 'permission-denied', 'not-recorded', 'io',
];

function keyOf(record: HostRecord): string {
  switch (record.kind) {
    case 'exec':
      return `exec\u0000${record.command}\u0000${record.args.join('\u0000')}`;
    case 'env':
      return `env\u0000${record.name}`;
    case 'call':
      return `call\u0000${record.key}`;
    default:
      return `${record.kind}\u0000${record.path}`;
  }
}

function replayError(error: HostRecordError, target: string, extra?: { exitCode?: number; stdout?: string; stderr?: string }): ExecError {
  const code = (EXEC_ERROR_CODES as readonly string[]).includes(error.code) ? (error.code as ExecErrorCode) : 'io';
  return new ExecError(code, target, error.message, extra);
}

/**
 * Answers every request from a capture bundle, on any OS. A request the bundle did not record is
 * an `ExecError('not-recorded')` that names it, so a probe that asks something new fails loudly
 * in its own check instead of crashing the snapshot.
 */
export class ReplayHost implements Host {
  readonly platform: Platform;
  private readonly records = new Map<string, HostRecord>();

  constructor(platform: Platform, records: readonly HostRecord[]) {
    this.platform = platform;
    // The last answer for a request wins (a capture may ask twice; the later answer is freshest).
    for (const record of records) this.records.set(keyOf(record), record);
  }

  private find<K extends HostRecord['kind']>(probe: HostRecord & { kind: K }): Extract<HostRecord, { kind: K }> | undefined {
    return this.records.get(keyOf(probe)) as Extract<HostRecord, { kind: K }> | undefined;
  }

  private missing(what: string): ExecError {
    return new ExecError('not-recorded', what, `the replay bundle has no recording of ${what}`);
  }

  run(command: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const shown = [command, ...args].join(' ');
    const rec = this.find({ kind: 'exec', command, args });
    if (!rec) return Promise.reject(this.missing(`the command "${shown}"`));
    const stdout = rec.stdout ?? '';
    const stderr = rec.stderr ?? '';
    if (rec.error && rec.error.code !== 'exit') return Promise.reject(replayError(rec.error, command));
    const exitCode = rec.exitCode ?? 0;
    const ok = options.okExitCodes ?? [0];
    if (ok !== 'any' && !ok.includes(exitCode)) {
      return Promise.reject(
        new ExecError('exit', command, `${shown} exited with code ${exitCode}`, { exitCode, stdout, stderr }),
      );
    }
    return Promise.resolve({ command, path: rec.path ?? command, args: [...args], exitCode, stdout, stderr, durationMs: 0 });
  }

  readFile(path: string): Promise<string> {
    const rec = this.find({ kind: 'file', path });
    if (!rec) return Promise.reject(this.missing(`the file ${path}`));
    if (rec.error) return Promise.reject(replayError(rec.error, path));
    return Promise.resolve(rec.content ?? '');
  }

  readDir(path: string): Promise<string[]> {
    const rec = this.find({ kind: 'dir', path });
    if (!rec) return Promise.reject(this.missing(`the directory ${path}`));
    if (rec.error) return Promise.reject(replayError(rec.error, path));
    return Promise.resolve([...(rec.entries ?? [])]);
  }

  readLink(path: string): Promise<string> {
    const rec = this.find({ kind: 'link', path });
    if (!rec) return Promise.reject(this.missing(`the link ${path}`));
    if (rec.error) return Promise.reject(replayError(rec.error, path));
    return Promise.resolve(rec.target ?? '');
  }

  hashFile(path: string): Promise<string> {
    const rec = this.find({ kind: 'hash', path });
    if (!rec) return Promise.reject(this.missing(`the hash of ${path}`));
    if (rec.error) return Promise.reject(replayError(rec.error, path));
    return Promise.resolve(rec.sha256 ?? '');
  }

  env(name: string): string | undefined {
    const rec = this.find({ kind: 'env', name });
    return rec?.value;
  }

  /** The producer is never run in replay: the answer comes from the bundle. */
  call<T>(key: string, _producer?: () => Promise<T>): Promise<T> {
    const rec = this.find({ kind: 'call', key });
    if (!rec) return Promise.reject(this.missing(`the call ${key}`));
    if (rec.error) return Promise.reject(replayError(rec.error, key));
    return Promise.resolve(rec.value as T);
  }
}
