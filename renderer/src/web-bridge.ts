import type { API_METHODS, Channel, IpcResult, PushEvent, WardApi } from '../../main/shared/ipc-contract.js';

/** Same mapping as the contract's `API_METHODS` (imported as a type, so the compiler keeps them equal). */
const METHODS: typeof API_METHODS = {
  posture: { snapshot: 'posture.snapshot', recheck: 'posture.recheck' },
  session: { status: 'session.status', signIn: 'session.signIn', signOut: 'session.signOut', stepUp: 'session.stepUp' },
  identity: { info: 'identity.info' },
  settings: { get: 'settings.get', set: 'settings.set' },
  app: { about: 'app.about' },
};

/** An error the agent answered with: `code` for programs, `message` and `hint` for people. */
export class BridgeError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  constructor(code: string, message: string, hint?: string) {
    super(message);
    this.name = 'BridgeError';
    this.code = code;
    this.hint = hint;
  }
}

export interface WebBridgeDeps {
  readonly fetch: typeof fetch;
  readonly createEventSource: (url: string) => EventSource;
  /** Base URL of the UI server (default: this page's origin). */
  readonly base?: string;
}

/**
 * `WardApi` over the local web UI's JSON bridge: `POST /api/<channel>` (the session cookie and the
 * page's Origin authorize it) and server-sent events on `/api/events` for push.
 */
export function createWebBridge(deps: WebBridgeDeps): WardApi {
  const base = deps.base ?? '';
  const call = async (channel: Channel, request: unknown = {}): Promise<never> => {
    let result: IpcResult<unknown>;
    try {
      const res = await deps.fetch(`${base}/api/${channel}`, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(request),
      });
      result = (await res.json()) as IpcResult<unknown>;
    } catch {
      throw new BridgeError('unreachable', 'Ward is not answering.', 'Is `ward ui` still running? Reload this page to reconnect.');
    }
    if (result.ok) return result.value as never;
    throw new BridgeError(result.error.code, result.error.message, result.error.hint);
  };
  const group = <G extends keyof typeof METHODS>(name: G): WardApi[G] =>
    Object.fromEntries(
      Object.entries(METHODS[name]).map(([method, channel]) => [method, (request?: unknown) => call(channel as Channel, request)]),
    ) as unknown as WardApi[G];

  let source: EventSource | undefined;
  return {
    posture: group('posture'),
    session: group('session'),
    identity: group('identity'),
    settings: group('settings'),
    app: group('app'),
    on(event: PushEvent, listener: (payload: never) => void) {
      source ??= deps.createEventSource(`${base}/api/events`);
      const handler = (e: MessageEvent<string>): void => {
        try {
          listener(JSON.parse(e.data) as never);
        } catch {
          // A malformed event is dropped; the next snapshot or state change will arrive.
        }
      };
      source.addEventListener(event, handler as EventListener);
      return () => source?.removeEventListener(event, handler as EventListener);
    },
  } as WardApi;
}
