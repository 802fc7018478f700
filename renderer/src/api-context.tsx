import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from 'react';
import type { WardApi } from '../../main/shared/ipc-contract.js';
import { strings } from './strings.js';

const ApiContext = createContext<WardApi | null>(null);

export function ApiProvider({ api, children }: { api: WardApi; children: ReactNode }) {
  return <ApiContext.Provider value={api}>{children}</ApiContext.Provider>;
}

export function useApi(): WardApi {
  const api = useContext(ApiContext);
  if (!api) throw new Error('useApi outside ApiProvider');
  return api;
}

/** What the agent said went wrong, in words (both transports' errors carry message + hint). */
export interface ShownError {
  readonly message: string;
  readonly hint?: string;
}

export function toShownError(err: unknown): ShownError {
  if (err instanceof Error) {
    const hint = (err as { hint?: unknown }).hint;
    return { message: err.message, ...(typeof hint === 'string' ? { hint } : {}) };
  }
  return { message: String(err) };
}

export type Loaded<T> = { value: T | undefined; error: ShownError | undefined; reload: () => void; set: (value: T) => void };

/** Load once on mount (and on `reload`); keeps the last value while reloading. */
export function useLoad<T>(load: (api: WardApi) => Promise<T>): Loaded<T> {
  const api = useApi();
  const [value, setValue] = useState<T>();
  const [error, setError] = useState<ShownError>();
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let isCurrent = true;
    load(api).then(
      (v) => {
        if (!isCurrent) return;
        setValue(v);
        setError(undefined);
      },
      (err: unknown) => isCurrent && setError(toShownError(err)),
    );
    return () => {
      isCurrent = false;
    };
    // `load` is a module-level function in every caller; reload through `generation`.
  }, [api, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { value, error, reload, set: setValue };
}

export function ErrorNotice({ error, onRetry }: { error: ShownError; onRetry?: () => void }) {
  return (
    <div className="notice notice-error" role="alert">
      <p className="notice-title">{error.message}</p>
      {error.hint ? <p>{error.hint}</p> : null}
      {onRetry ? (
        <button type="button" className="button" onClick={onRetry}>
          {strings.retry}
        </button>
      ) : null}
    </div>
  );
}

/** A screen's heading: focused when the screen opens, so screen readers announce where you are. */
export function ScreenHeading({ id, children }: { id: string; children: ReactNode }) {
  return (
    <h1 id={id} className="screen-title" tabIndex={-1} data-screen-heading>
      {children}
    </h1>
  );
}

/** Definition list rows: label → value. */
export function Facts({ rows }: { rows: readonly (readonly [string, ReactNode])[] }) {
  return (
    <dl className="facts">
      {rows.map(([label, value]) => (
        <div className="fact" key={label}>
          <dt>{label}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}
