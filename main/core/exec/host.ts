import type { Platform } from '../platform.js';

/** Options for one command run. Every run has a timeout and an output cap, defaulted if not given. */
export interface ExecOptions {
  /** Kill the process after this long (default 5000 ms). */
  readonly timeoutMs?: number;
  /** Cap on stdout and on stderr, each (default 4 MiB). */
  readonly maxOutputBytes?: number;
  /**
   * Exit codes that count as an answer rather than a failure. Default `[0]`; `'any'` accepts all
   * (for commands such as `systemctl is-active`, whose exit code *is* the answer).
   */
  readonly okExitCodes?: readonly number[] | 'any';
  /** Extra environment for the child (merged over a minimal, locale-fixed environment). */
  readonly env?: Readonly<Record<string, string>>;
  /** Data written to the child's stdin. */
  readonly input?: string;
  /** Abort: kills the child. */
  readonly signal?: AbortSignal;
}

export interface ExecResult {
  /** The allow-list name, e.g. `lsblk`. */
  readonly command: string;
  /** The absolute path that was run. */
  readonly path: string;
  readonly args: readonly string[];
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

export interface ReadOptions {
  /** Cap on bytes read (default 1 MiB); larger files throw `output-too-large`. */
  readonly maxBytes?: number;
  readonly signal?: AbortSignal;
}

/**
 * Everything a posture probe may touch on the machine: commands (allow-listed), files,
 * directories, links, file hashes, environment variables and memoised library calls.
 *
 * Probes never reach for `fs` or `child_process` themselves; they ask a `Host`. That is what makes
 * capture (record every answer) and replay (answer from a bundle, on any OS) possible, and what
 * lets a check's evidence be collected automatically.
 */
export interface Host {
  /** The platform whose probes run. In replay this is the bundle's platform, not the machine's. */
  readonly platform: Platform;
  /** Run an allow-listed command by name. Throws `ExecError`. */
  run(command: string, args: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** Read a text file (UTF-8). Throws `ExecError` (`not-found`, `permission-denied`, `output-too-large`, `io`). */
  readFile(path: string, options?: ReadOptions): Promise<string>;
  /** List a directory's entry names, sorted. Throws `ExecError`. */
  readDir(path: string, options?: ReadOptions): Promise<string[]>;
  /** Resolve a symbolic link (e.g. `/proc/PID/exe`). Throws `ExecError`. */
  readLink(path: string, options?: ReadOptions): Promise<string>;
  /** SHA-256 of a file, lower-case hex. Throws `ExecError`. */
  hashFile(path: string, options?: ReadOptions): Promise<string>;
  /** An environment variable of the agent's own environment. */
  env(name: string): string | undefined;
  /**
   * A memoised call into a library that touches the machine itself (systeminformation): recorded
   * under `key` in capture, answered from the bundle in replay. The value must be JSON.
   */
  call<T>(key: string, producer: () => Promise<T>, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<T>;
}

/** One thing a probe asked of the host, and its answer. Capture bundles are lists of these. */
export type HostRecord =
  | {
      readonly kind: 'exec';
      readonly command: string;
      readonly args: readonly string[];
      readonly path?: string;
      readonly exitCode?: number;
      readonly stdout?: string;
      readonly stderr?: string;
      readonly durationMs?: number;
      readonly error?: HostRecordError;
    }
  | { readonly kind: 'file'; readonly path: string; readonly content?: string; readonly error?: HostRecordError }
  | { readonly kind: 'dir'; readonly path: string; readonly entries?: readonly string[]; readonly error?: HostRecordError }
  | { readonly kind: 'link'; readonly path: string; readonly target?: string; readonly error?: HostRecordError }
  | { readonly kind: 'hash'; readonly path: string; readonly sha256?: string; readonly error?: HostRecordError }
  | { readonly kind: 'env'; readonly name: string; readonly value?: string }
  | { readonly kind: 'call'; readonly key: string; readonly value?: unknown; readonly error?: HostRecordError };

export interface HostRecordError {
  readonly code: string;
  readonly message: string;
}
