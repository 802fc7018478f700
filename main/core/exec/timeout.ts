import { ExecError } from './exec-error.js';

/**
 * Settle `promise` or fail with `ExecError('timeout')` after `ms`. The underlying work is not
 * cancelled (systeminformation offers no way to), but the caller is never held past its budget.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      cleanup();
      reject(new ExecError('timeout', what, `${what} was cancelled`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new ExecError('timeout', what, `${what} did not finish within ${ms} ms`));
    }, ms);
    timer.unref?.();
    const cleanup = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (err: unknown) => {
        cleanup();
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
