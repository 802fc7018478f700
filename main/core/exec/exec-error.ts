import { WardError } from '../errors.js';

export type ExecErrorCode =
  /** The command is not on the allow-list for this platform. */
  | 'not-allowed'
  /** No allow-listed path exists on this machine, or the file to read does not exist. */
  | 'not-found'
  /** The command ran past its time budget and was killed. */
  | 'timeout'
  /** The command exited with a code the caller did not accept. */
  | 'exit'
  /** stdout or stderr (or a file) exceeded the output cap. */
  | 'output-too-large'
  /** The OS refused access (EACCES/EPERM). */
  | 'permission-denied'
  /** Replay: the bundle has no recording for this command, file or call. */
  | 'not-recorded'
  /** Anything else the OS said while spawning or reading. */
  | 'io';

/** The one error type `main/core/exec` throws. `target` names the command or path, never its output. */
export class ExecError extends WardError<ExecErrorCode> {
  readonly target: string;
  readonly exitCode: number | undefined;
  readonly stdout: string | undefined;
  readonly stderr: string | undefined;

  constructor(
    code: ExecErrorCode,
    target: string,
    message: string,
    extra?: { cause?: unknown; exitCode?: number; stdout?: string; stderr?: string },
  ) {
    super(code, message, extra?.cause === undefined ? undefined : { cause: extra.cause });
    this.target = target;
    this.exitCode = extra?.exitCode;
    this.stdout = extra?.stdout;
    this.stderr = extra?.stderr;
  }
}

export function isExecError(err: unknown, code?: ExecErrorCode): err is ExecError {
  return err instanceof ExecError && (code === undefined || err.code === code);
}
