/**
 * Ward's ONE IPC contract: what the UI (Electron renderer or the local web UI) may ask the agent,
 * and what the agent pushes back. Both transports carry exactly these channels and payloads:
 *
 *   Electron:  renderer → preload (`window.ward`, domain functions only) → ipcMain (sender frame
 *              checked, request parsed with the schema below) → `AgentBackend.handle`.
 *   Web UI:    renderer → `POST /api/<channel>` (cookie + Host + Origin checked, body parsed with the
 *              schema below) → `AgentBackend.handle`; push events over server-sent events.
 *
 * ## For the agent (issue 5): implement `AgentBackend`
 *
 * ```ts
 * const backend: AgentBackend = {
 *   handle: async (channel, request) => handlers[channel](request),   // request is ALREADY validated
 *   subscribe: (listener) => { emitter.on('push', listener); return () => emitter.off('push', listener); },
 *   power: (event) => agent.onPowerEvent(event),   // lock/unlock/suspend/resume from the OS
 *   close: async () => agent.stop(),
 * };
 * ```
 * - `handle` receives a request that already passed `CHANNELS[channel].request`; its result is
 *   validated against `CHANNELS[channel].response` before it leaves (a mismatch is a bug and is
 *   reported as `internal`). Throw a `WardError` (stable `code`, a sentence a person can act on,
 *   never a secret) to answer with an error; `toIpcError` turns it into the wire shape.
 * - Call every subscribed listener with a `PushMessage` when the state machine moves
 *   (`agent.state`), when posture changes (`posture.changed`), when the broker asks for step-up
 *   (`stepUp.requested`, RFC 9470 `acr_values` / `max_age`) and when it is settled (`stepUp.resolved`),
 *   and while a sign-in runs (`signIn.progress`).
 * - `createHandlerBackend(handlers, events)` below builds one from a plain handler map.
 * - Until the agent lands, `main/core/ui-server/posture-backend.ts` serves this contract from the
 *   posture engine alone; swap it for the agent's backend in `ward start` / `ward ui`.
 *
 * ## For the UI: use `WardApi`
 * The renderer only ever sees a `WardApi` (`window.ward` in Electron, the web bridge in a browser).
 * It imports this module TYPE-ONLY (test/unit/architecture/imports.test.ts enforces it).
 *
 * This module is plain TypeScript + zod: no electron, no node-only imports, so the preload
 * bundle, the main process, the web server and the tests all share it.
 */
import { z } from 'zod';
import { PostureSnapshotSchema } from '../core/posture/snapshot.js';

// ───────────────────────────── shared shapes ─────────────────────────────

/** The agent's state machine (DESIGN.md; main/core/agent.ts). */
export const AGENT_STATES = [
  'unenrolled',
  'enrolled',
  'signed-in',
  'compliant',
  'non-compliant',
  'step-up-required',
  'revoked',
  'offline',
] as const;
export const AgentStateSchema = z.enum(AGENT_STATES);
export type AgentState = z.infer<typeof AgentStateSchema>;

const isoTime = z.iso.datetime({ offset: true });
const shortText = z.string().max(2000);

/** Nothing to send: every request is a JSON object, so an empty one is `{}`. */
export const EmptyRequestSchema = z.object({}).strict();

/** A check's expectation in words ("Disk encryption is on for the system volume"), for "observed vs expected". */
export const CheckExpectationSchema = z.object({
  id: z.string().regex(/^[a-z][a-z0-9-]{1,63}$/),
  expected: shortText,
});

export const PostureViewSchema = z.object({
  /** The latest snapshot, or null before the first one finished. */
  snapshot: PostureSnapshotSchema.nullable(),
  /** What each check expects, keyed by check id. */
  expectations: z.array(CheckExpectationSchema).max(200),
  /** When posture was last reported to the broker (null: never, e.g. not signed in). */
  lastReportedAt: isoTime.nullable(),
  /** A snapshot or recheck is running now. */
  isChecking: z.boolean(),
});
export type PostureView = z.infer<typeof PostureViewSchema>;

export const RecheckRequestSchema = z
  .object({
    /** Only these checks (default: all). */
    checkIds: z.array(z.string().regex(/^[a-z][a-z0-9-]{1,63}$/)).max(100).optional(),
  })
  .strict();
export type RecheckRequest = z.infer<typeof RecheckRequestSchema>;

/** RFC 9470 step-up challenge as the UI shows it. */
export const StepUpRequestSchema = z.object({
  /** Opaque id the decision refers to. */
  id: z.string().min(1).max(128),
  /** Why, in words ("Opening payroll.example.com needs a fresh sign-in"). */
  reason: shortText,
  /** RFC 9470 `acr_values`: space-separated authentication context class references. */
  acr_values: z.string().max(1000).optional(),
  /** RFC 9470 `max_age`: the authentication must be at most this many seconds old. */
  max_age: z.number().int().nonnegative().max(31_536_000).optional(),
  /** The resource that asked, when known. */
  resource: z.string().max(2000).optional(),
  /** After this instant the request is void and counts as declined. */
  deadline: isoTime,
});
export type StepUpRequest = z.infer<typeof StepUpRequestSchema>;

export const StepUpDecisionSchema = z
  .object({
    id: z.string().min(1).max(128),
    decision: z.enum(['accept', 'decline']),
  })
  .strict();
export type StepUpDecision = z.infer<typeof StepUpDecisionSchema>;

export const StepUpOutcomeSchema = z.enum(['accepted', 'declined', 'expired', 'failed', 'unknown-request']);
export const StepUpResultSchema = z.object({
  id: z.string().min(1).max(128),
  outcome: StepUpOutcomeSchema,
  message: shortText.optional(),
});
export type StepUpResult = z.infer<typeof StepUpResultSchema>;

export const SIGN_IN_STAGES = ['idle', 'enrolling', 'opening-browser', 'waiting-for-browser', 'exchanging', 'done', 'failed'] as const;
export const SignInProgressSchema = z.object({
  stage: z.enum(SIGN_IN_STAGES),
  /** A sentence for the user; for `failed`, what to do next. */
  message: shortText.optional(),
  /** Device flow (RFC 8628) on a headless machine: where to go and what to type. */
  verificationUri: z.string().url().max(2000).optional(),
  userCode: z.string().max(64).optional(),
});
export type SignInProgress = z.infer<typeof SignInProgressSchema>;

/** The broker IT configured (managed config), shown before sign-in. */
export const BrokerInfoSchema = z.object({
  url: z.string().url().max(2000),
  name: z.string().max(200).optional(),
  /** Where the broker came from, so the user knows it is IT's choice. */
  source: z.enum(['managed-config', 'user-config', 'embedded']),
});
export type BrokerInfo = z.infer<typeof BrokerInfoSchema>;

export const SessionStatusSchema = z.object({
  state: AgentStateSchema,
  /** Why the agent is in this state, in words. */
  reason: shortText.optional(),
  broker: BrokerInfoSchema.nullable(),
  user: z
    .object({ subject: z.string().max(500), name: z.string().max(500).optional(), email: z.string().max(500).optional() })
    .nullable(),
  /** When the current access token expires (never the token itself). */
  expiresAt: isoTime.nullable(),
  signIn: SignInProgressSchema,
  pendingStepUp: StepUpRequestSchema.nullable(),
});
export type SessionStatus = z.infer<typeof SessionStatusSchema>;

export const SignInRequestSchema = z
  .object({
    /** `browser`: PKCE + loopback redirect (RFC 8252). `device`: device flow (RFC 8628). */
    method: z.enum(['browser', 'device']).optional(),
  })
  .strict();
export type SignInRequest = z.infer<typeof SignInRequestSchema>;

export const KEY_STORE_KINDS = ['tpm', 'secure-enclave', 'cng', 'os-keychain', 'memory', 'none'] as const;
/** DESIGN.md "Assurance levels, said out loud". */
export const AssuranceSchema = z.enum(['hardware', 'os-keychain', 'none']);
export type Assurance = z.infer<typeof AssuranceSchema>;

export const IdentityInfoSchema = z.object({
  isEnrolled: z.boolean(),
  deviceId: z.string().max(200).nullable(),
  keyStore: z.object({ kind: z.enum(KEY_STORE_KINDS), label: z.string().max(200).optional() }),
  assurance: AssuranceSchema,
  /** RFC 7638 thumbprint of the device key (public; safe to show). */
  keyThumbprint: z.string().max(100).nullable(),
  enrolledAt: isoTime.nullable(),
  hostname: z.string().max(255).optional(),
});
export type IdentityInfo = z.infer<typeof IdentityInfoSchema>;

export const SettingsSchema = z
  .object({
    launchAtLogin: z.boolean(),
    notifications: z.object({ stepUp: z.boolean(), complianceChanges: z.boolean() }).strict(),
  })
  .strict();
export type Settings = z.infer<typeof SettingsSchema>;

export const SettingsViewSchema = z.object({
  values: SettingsSchema,
  /** False in the web UI and headless agent, where there is no login item to register. */
  isLaunchAtLoginSupported: z.boolean(),
});
export type SettingsView = z.infer<typeof SettingsViewSchema>;

export const SettingsPatchSchema = z
  .object({
    launchAtLogin: z.boolean().optional(),
    notifications: z.object({ stepUp: z.boolean().optional(), complianceChanges: z.boolean().optional() }).strict().optional(),
  })
  .strict();
export type SettingsPatch = z.infer<typeof SettingsPatchSchema>;

export const UPDATE_STATES = ['unsupported', 'idle', 'checking', 'available', 'downloading', 'downloaded', 'up-to-date', 'error'] as const;
export const AboutInfoSchema = z.object({
  name: z.string().max(100),
  version: z.string().max(100),
  platform: z.string().max(50),
  /** Which client serves this UI. */
  shell: z.enum(['electron', 'web']),
  electronVersion: z.string().max(50).optional(),
  update: z.object({
    state: z.enum(UPDATE_STATES),
    availableVersion: z.string().max(100).optional(),
    message: shortText.optional(),
  }),
});
export type AboutInfo = z.infer<typeof AboutInfoSchema>;

// ───────────────────────────── request/response channels ─────────────────────────────

/** Every request channel: its request and response schemas. The ONLY list of what the UI can ask. */
export const CHANNELS = {
  'posture.snapshot': { request: EmptyRequestSchema, response: PostureViewSchema },
  'posture.recheck': { request: RecheckRequestSchema, response: PostureViewSchema },
  'session.status': { request: EmptyRequestSchema, response: SessionStatusSchema },
  'session.signIn': { request: SignInRequestSchema, response: SessionStatusSchema },
  'session.signOut': { request: EmptyRequestSchema, response: SessionStatusSchema },
  'session.stepUp': { request: StepUpDecisionSchema, response: StepUpResultSchema },
  'identity.info': { request: EmptyRequestSchema, response: IdentityInfoSchema },
  'settings.get': { request: EmptyRequestSchema, response: SettingsViewSchema },
  'settings.set': { request: SettingsPatchSchema, response: SettingsViewSchema },
  'app.about': { request: EmptyRequestSchema, response: AboutInfoSchema },
} as const satisfies Record<string, { request: z.ZodType; response: z.ZodType }>;

export type Channel = keyof typeof CHANNELS;
export const CHANNEL_NAMES = Object.keys(CHANNELS) as Channel[];
export type RequestOf<C extends Channel> = z.infer<(typeof CHANNELS)[C]['request']>;
export type ResponseOf<C extends Channel> = z.infer<(typeof CHANNELS)[C]['response']>;

export function isChannel(value: unknown): value is Channel {
  return typeof value === 'string' && Object.hasOwn(CHANNELS, value);
}

// ───────────────────────────── push events (agent → UI) ─────────────────────────────

export const AgentStateEventSchema = z.object({
  state: AgentStateSchema,
  previous: AgentStateSchema.nullable(),
  reason: shortText.optional(),
  at: isoTime,
});
export type AgentStateEvent = z.infer<typeof AgentStateEventSchema>;

export const PUSH_EVENTS = {
  'agent.state': AgentStateEventSchema,
  'posture.changed': PostureViewSchema,
  'stepUp.requested': StepUpRequestSchema,
  'stepUp.resolved': StepUpResultSchema,
  'signIn.progress': SignInProgressSchema,
} as const satisfies Record<string, z.ZodType>;

export type PushEvent = keyof typeof PUSH_EVENTS;
export const PUSH_EVENT_NAMES = Object.keys(PUSH_EVENTS) as PushEvent[];
export type PushPayload<E extends PushEvent> = z.infer<(typeof PUSH_EVENTS)[E]>;
export type PushMessage = { [E in PushEvent]: { event: E; payload: PushPayload<E> } }[PushEvent];

export function isPushEvent(value: unknown): value is PushEvent {
  return typeof value === 'string' && Object.hasOwn(PUSH_EVENTS, value);
}

/** Validate a push message before it crosses to the UI (a malformed one is dropped, not forwarded). */
export function parsePushMessage(value: unknown): PushMessage | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { event, payload } = value as { event?: unknown; payload?: unknown };
  if (!isPushEvent(event)) return undefined;
  const parsed = PUSH_EVENTS[event].safeParse(payload);
  return parsed.success ? ({ event, payload: parsed.data } as PushMessage) : undefined;
}

// ───────────────────────────── the wire envelope ─────────────────────────────

/** Error codes a UI can switch on. Agents add their own `WardError` codes; these are the transport's. */
export const IpcErrorSchema = z.object({
  code: z.string().min(1).max(64),
  message: shortText,
  hint: shortText.optional(),
});
export type IpcError = z.infer<typeof IpcErrorSchema>;

/**
 * What every channel answers on the wire, in both transports. Errors travel as values: Electron's
 * `ipcMain.handle` would otherwise flatten a thrown error into "Error invoking remote method …".
 */
export type IpcResult<T> = { ok: true; value: T } | { ok: false; error: IpcError };

/** Turn anything thrown by a handler into a safe wire error: typed errors keep code/message/hint. */
export function toIpcError(err: unknown): IpcError {
  if (typeof err === 'object' && err !== null && 'code' in err && 'message' in err) {
    const { code, message, hint } = err as { code: unknown; message: unknown; hint?: unknown };
    if (typeof code === 'string' && /^[a-z][a-z0-9-]{0,63}$/.test(code) && typeof message === 'string') {
      return { code, message: message.slice(0, 2000), ...(typeof hint === 'string' && hint ? { hint: hint.slice(0, 2000) } : {}) };
    }
  }
  // An untyped error is a bug: do not forward its text (it may carry a path or a secret).
  return { code: 'internal', message: 'Ward hit an unexpected error. Details are in the agent log.' };
}

/** Describe the first zod issue in words, for a 400 / a refused IPC call. */
export function describeIssues(error: z.ZodError): string {
  const issue = error.issues[0];
  return `${issue?.path.join('.') || '(request)'}: ${issue?.message ?? 'invalid'}`;
}

/**
 * Validate, dispatch and validate again: the single server-side path both transports use.
 * `request` is untrusted (it came from a renderer or an HTTP body).
 */
export async function dispatch(backend: AgentBackend, channel: unknown, request: unknown): Promise<IpcResult<unknown>> {
  if (!isChannel(channel)) return { ok: false, error: { code: 'unknown-channel', message: 'There is no such request.' } };
  const parsed = CHANNELS[channel].request.safeParse(request ?? {});
  if (!parsed.success) return { ok: false, error: { code: 'invalid-request', message: describeIssues(parsed.error) } };
  let value: unknown;
  try {
    value = await backend.handle(channel, parsed.data as RequestOf<typeof channel>);
  } catch (err) {
    return { ok: false, error: toIpcError(err) };
  }
  const checked = CHANNELS[channel].response.safeParse(value);
  if (!checked.success) return { ok: false, error: { code: 'internal', message: `The agent answered ${channel} with an invalid response.` } };
  return { ok: true, value: checked.data };
}

// ───────────────────────────── the two ends ─────────────────────────────

/** What the UI calls. `window.ward` in Electron; the web bridge in a browser. */
export interface WardApi {
  readonly posture: {
    snapshot(): Promise<PostureView>;
    recheck(request?: RecheckRequest): Promise<PostureView>;
  };
  readonly session: {
    status(): Promise<SessionStatus>;
    signIn(request?: SignInRequest): Promise<SessionStatus>;
    signOut(): Promise<SessionStatus>;
    /** Accept or decline a pending step-up request. */
    stepUp(decision: StepUpDecision): Promise<StepUpResult>;
  };
  readonly identity: { info(): Promise<IdentityInfo> };
  readonly settings: {
    get(): Promise<SettingsView>;
    set(patch: SettingsPatch): Promise<SettingsView>;
  };
  readonly app: { about(): Promise<AboutInfo> };
  /** Listen to one push event; returns the unsubscribe function. */
  on<E extends PushEvent>(event: E, listener: (payload: PushPayload<E>) => void): () => void;
}

/** Which `WardApi` method serves which channel (the preload and the web bridge both follow it). */
export const API_METHODS = {
  posture: { snapshot: 'posture.snapshot', recheck: 'posture.recheck' },
  session: { status: 'session.status', signIn: 'session.signIn', signOut: 'session.signOut', stepUp: 'session.stepUp' },
  identity: { info: 'identity.info' },
  settings: { get: 'settings.get', set: 'settings.set' },
  app: { about: 'app.about' },
} as const satisfies { [G in keyof Omit<WardApi, 'on'>]: Record<keyof WardApi[G], Channel> };

/** OS power/session events the shell forwards (Electron `powerMonitor`). */
export const POWER_EVENTS = ['lock-screen', 'unlock-screen', 'suspend', 'resume'] as const;
export type PowerEvent = (typeof POWER_EVENTS)[number];

/** What the agent implements to serve this contract (see the header). */
export interface AgentBackend {
  /** Serve one channel. `request` has already been validated. Throw a WardError to refuse. */
  handle<C extends Channel>(channel: C, request: RequestOf<C>): Promise<ResponseOf<C>>;
  /** Receive every push message; returns the unsubscribe function. */
  subscribe(listener: (message: PushMessage) => void): () => void;
  /** An OS power/session event: re-evaluate at once (lock → screen-lock state, resume → recheck). */
  power(event: PowerEvent): void;
  close(): Promise<void>;
}

export type ChannelHandlers = { [C in Channel]: (request: RequestOf<C>) => Promise<ResponseOf<C>> };

/** Build an `AgentBackend` from one handler per channel and an event source. */
export function createHandlerBackend(options: {
  handlers: ChannelHandlers;
  subscribe: AgentBackend['subscribe'];
  power?: AgentBackend['power'];
  close?: AgentBackend['close'];
}): AgentBackend {
  const { handlers } = options;
  return {
    handle: (channel, request) => (handlers[channel] as (r: typeof request) => Promise<ResponseOf<typeof channel>>)(request),
    subscribe: options.subscribe,
    power: options.power ?? (() => undefined),
    close: options.close ?? (async () => undefined),
  };
}

/**
 * Build a `WardApi` from a transport: `invoke` sends one validated-on-the-other-side request and
 * returns its envelope; `listen` delivers push messages. Used by the preload and by tests.
 */
export function bindWardApi(
  invoke: (channel: Channel, request: unknown) => Promise<IpcResult<unknown>>,
  listen: (event: PushEvent, listener: (payload: unknown) => void) => () => void,
): WardApi {
  const call = async (channel: Channel, request: unknown = {}): Promise<never> => {
    const result = await invoke(channel, request);
    if (result.ok) return result.value as never;
    throw new WardIpcError(result.error);
  };
  const group = <G extends keyof typeof API_METHODS>(name: G) =>
    Object.fromEntries(
      Object.entries(API_METHODS[name]).map(([method, channel]) => [method, (request?: unknown) => call(channel, request)]),
    ) as unknown as WardApi[G];
  return {
    posture: group('posture'),
    session: group('session'),
    identity: group('identity'),
    settings: group('settings'),
    app: group('app'),
    on: (event, listener) => {
      if (!isPushEvent(event)) throw new TypeError('unknown Ward event');
      return listen(event, listener as (payload: unknown) => void);
    },
  };
}

/** An error answered by the agent, as the UI sees it. */
export class WardIpcError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  constructor(error: IpcError) {
    super(error.message);
    this.name = 'WardIpcError';
    this.code = error.code;
    this.hint = error.hint;
  }
}
