/**
 * Ward's typed errors. Every error that crosses a module boundary carries a stable `code`
 * (for programs and tests) and a sentence a person can act on (`message`). Secrets never go
 * into either: callers pass only what is safe to show.
 */
export class WardError<C extends string = string> extends Error {
  readonly code: C;
  /** Optional hint the UI can show next to the message ("Open Settings → …"). */
  readonly hint: string | undefined;

  constructor(code: C, message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options?.hint;
  }

  toJSON(): { name: string; code: C; message: string; hint?: string } {
    return { name: this.name, code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}) };
  }
}

/** Narrow an unknown thrown value to a short, safe description. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Truncate text for evidence and error messages, marking what was cut. */
export function truncate(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  return `${text.slice(0, maxChars)}… [${text.length - maxChars} more characters]`;
}
