import { EventEmitter } from 'node:events';
import { z } from 'zod';
// The SDK's modules one by one, not its index: the idle agent loads only what it uses.
import { SET_ERROR_CODES, pushSet } from '../../broker/sdk/shared-signals/push.js';
import { verifySet, type VerifiedSet } from '../../broker/sdk/shared-signals/set.js';
import {
  createHandlerBackend,
  type AgentBackend,
  type AgentState,
  type AgentStateEvent,
  type BrokerInfo,
  type ChannelHandlers,
  type IdentityInfo,
  type PostureView,
  type PowerEvent,
  type PushMessage,
  type SessionStatus,
  type SignInProgress,
  type StepUpResult,
} from '../shared/ipc-contract.js';
import { buildDeviceComplianceSet, isLocallyCompliant, SSF_POLL_PATH, SSF_PUSH_PATH } from './broker/device-set.js';
import { EventChannel, type EventChannelOptions } from './broker/event-channel.js';
import { Outbox } from './broker/outbox.js';
import { classifyHttpStatus, OutboxDeliverer, type DeliveryResult } from './broker/outbox-deliverer.js';
import { PollFallback, type PollFallbackOptions, type SignalTransport } from './broker/poll-fallback.js';
import { PostureReporter, verdictReasons, type PostureVerdict } from './broker/posture-reporter.js';
import { ReportStreamClient } from './broker/report-stream-client.js';
import { SetPoller, type SetError, type SetPollerOptions } from './broker/set-poller.js';
import type { SseMessage } from './broker/sse-parser.js';
import type { WardConfig } from './config/schema.js';
import { WardError } from './errors.js';
import type { Host } from './exec/host.js';
import type { IdentityRecord } from './identity/identity-record.js';
import type { DeviceSigner } from './identity/key-store.js';
import { silentLogger, type Logger } from './log.js';
import type { PostureCheck } from './posture/check.js';
import { ALL_CHECKS } from './posture/registry.js';
import type { PostureSnapshot } from './posture/snapshot.js';
import { PostureMonitor, type PostureUpdate } from './posture/watchers/posture-monitor.js';
import type { WatchTarget } from './posture/watchers/watch-target.js';
import { watchTargetsFor } from './posture/watchers/watch-targets.js';
import { backoffDelayMs, systemClock, type Clock, type TimerHandle } from './session/clock.js';
import { DpopFetch, type FetchLike } from './session/dpop-fetch.js';
import { nodeHttpFetch } from './session/node-http-fetch.js';
import type { OAuthProcessSpec } from './session/oauth-process-client.js';
import type { AuthorizationRequirements, OidcClient } from './session/oidc-client.js';

/** What the agent asks of its OAuth client, in this process or in a child process. */
type OAuthCalls = Pick<OidcClient, 'signInWithBrowser' | 'signInWithDeviceCode' | 'refresh' | 'revoke'>;
import { SessionError } from './session/session-error.js';
import { StepUpPrompt, type StepUpAsk } from './session/step-up.js';
import type { TokenSet } from './session/token-set.js';
import type { TokenStore } from './session/token-store.js';
import { parseStepUpChallenge } from './session/www-authenticate.js';
import { AGENT_VERSION } from './version.js';

export const WARD_CLIENT_ID = 'ward-agent';

export interface AgentOptions {
  readonly host: Host;
  readonly config: Pick<WardConfig, 'brokerUrl' | 'lock' | 'posture'>;
  readonly loadIdentity: () => Promise<IdentityRecord | undefined>;
  readonly openSigner: (record: IdentityRecord) => Promise<DeviceSigner>;
  readonly tokenStore: TokenStore;
  readonly outbox: Outbox;
  /** Opens the system browser for sign-in (RFC 8252: never an embedded view). */
  readonly openBrowser?: (url: URL) => Promise<void> | void;
  readonly clock?: Clock;
  readonly log?: Logger;
  /** The network (tests pass a fetch that can be cut to simulate outages). */
  readonly fetch?: FetchLike;
  readonly checks?: readonly PostureCheck[];
  readonly watchTargets?: readonly WatchTarget[];
  readonly fullRecheckMs?: number;
  readonly networkPollMs?: number;
  readonly debounceMs?: number;
  readonly stepUpTimeoutMs?: number;
  readonly signInTimeoutMs?: number;
  readonly clientId?: string;
  /**
   * Run each OAuth call (sign-in, step-up, refresh, revoke) in a short-lived child process, so
   * openid-client's `fetch` (undici, ~13–18 MB kept for good) never loads in this process.
   * `ward daemon` sets it; without it the calls run here (tests with a fake clock or fetch).
   */
  readonly oauthProcess?: OAuthProcessSpec;
  readonly shell?: 'web' | 'electron';
  /** ACR asked for when the policy requires a fresh sign-in (after unlock, on credential change). */
  readonly stepUpAcr?: string;
  /**
   * Calls back when the identity record may have changed on disk (`ward identity rotate` in
   * another process); the daemon passes `watchIdentityFile`. Started by `start()`.
   */
  readonly watchIdentity?: (onChange: () => void) => { close(): void };
  /**
   * Send posture reports over the broker's report stream (one WebSocket, report-stream-client.ts)
   * when it has one, `POST /posture` otherwise. Default: on, unless `fetch` is given (the stream
   * would go around a network a test cuts); false: always POST.
   */
  readonly reportStream?: boolean;
  /** Event channel timing (defaults: 1 s backoff doubling to 60 s, 45 s idle timeout). */
  readonly eventChannel?: Pick<EventChannelOptions, 'baseDelayMs' | 'maxDelayMs' | 'idleTimeoutMs'>;
  /** The RFC 8936 poll fallback: when it starts, how it polls. */
  readonly setPoll?: Pick<PollFallbackOptions, 'failuresBeforePoll' | 'healthyAfterMs' | 'firstEventTimeoutMs'> &
    Pick<SetPollerOptions, 'returnImmediately' | 'intervalMs' | 'baseDelayMs' | 'maxDelayMs' | 'maxEvents'>;
}

export interface AgentEvents {
  state: [event: AgentStateEvent];
  push: [message: PushMessage];
  /** A posture update was reported (queued for the broker): for the benchmark and tests. */
  posture: [update: PostureUpdate];
  verdict: [verdict: { compliant: boolean; reasons: string[]; source: 'report' | 'refresh' | 'caep' }];
  caep: [set: VerifiedSet];
  /** The broker's SETs now arrive over the event channel or by RFC 8936 polling. */
  'signal-transport': [transport: SignalTransport, reason: string];
}

const ChallengeSchema = z.object({
  nonce: z.string().min(8).max(88),
  expiresAt: z.string().max(64).optional(),
  reportUrl: z.string().max(2000).optional(),
});

/** Refresh this long before the access token expires (or a fifth of its life, if longer). */
const REFRESH_MARGIN_MS = 30_000;
const MAX_ANSWERED_NONCES = 1_000;
/** The outbox counter holding the last broker event id handled (SSE `Last-Event-ID`). */
const EVENT_ID_COUNTER = 'event-channel.last-id';
const KEY_CHANGED = 'The device key was replaced (key rotation), which ended the sign-in bound to the old key: sign in again.';
/** SETs remembered by `jti` so one delivered twice is not acted on twice. */
const MAX_SEEN_SETS = 1_000;

/** Where a SET came from: the two channels can carry the same SET while the agent switches. */
type SetSource = 'event-channel' | 'poll';

/**
 * The agent: the state machine that wires posture, identity, session and broker together.
 *
 *   unenrolled → enrolled → signed-in → compliant | non-compliant | step-up-required | revoked | offline
 *
 * The state is derived from a few facts (enrolled? tokens? revoked? a step-up pending? the
 * broker reachable? its latest verdict?) each time one changes, and every change is an
 * `agent.state` event. Every timer and "now" goes through the injected clock.
 */
export class Agent extends EventEmitter<AgentEvents> {
  readonly #o: AgentOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #stepUp: StepUpPrompt;
  #identity: IdentityRecord | undefined;
  #signer: DeviceSigner | undefined;
  #dpop: DpopFetch | undefined;
  #oidc: OAuthCalls | undefined;
  #tokens: TokenSet | undefined;
  #monitor: PostureMonitor | undefined;
  #reporter: PostureReporter | undefined;
  #reportStream: ReportStreamClient | undefined;
  #deliverer: OutboxDeliverer | undefined;
  #channel: EventChannel | undefined;
  #poller: SetPoller | undefined;
  #fallback: PollFallback | undefined;
  /** SETs handled, by `jti`: how each arrived and its exact text (a replay is refused, not re-applied). */
  readonly #seenSets = new Map<string, { source: SetSource; token: string }>();
  /** The device's own compliance reading (every check passes), to transmit a SET when it changes. */
  #localCompliant: boolean | undefined;
  #verdict: { compliant: boolean; reasons: string[] } | undefined;
  #revoked: string | undefined;
  #offline: string | undefined;
  #state: AgentState = 'unenrolled';
  #reason: string | undefined;
  #signIn: SignInProgress = { stage: 'idle' };
  #refreshTimer: TimerHandle | undefined;
  #refreshFailures = 0;
  #refreshing: Promise<void> | undefined;
  #lastReportedAt: number | undefined;
  #lockedAt: number | undefined;
  readonly #answeredNonces = new Set<string>();
  #started = false;
  #identityWatch: { close(): void } | undefined;
  #reloading: Promise<boolean> = Promise.resolve(false);
  /** Why the user must sign in, when it is not the plain "not signed in yet". */
  #signInReason: string | undefined;
  /** The DPoP fetch of the key in use now: long-lived users (the event channel) follow a rotation. */
  readonly #keyFetch: FetchLike = (input, init) => this.#brokerFetch!(input, init);
  /** DPoP over node:http for the always-on broker traffic: keeps undici (~19 MB) out of the idle agent. */
  #brokerFetch: FetchLike | undefined;
  #opened = false;

  constructor(options: AgentOptions) {
    super();
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = (options.log ?? silentLogger()).child({ mod: 'agent' });
    this.#stepUp = new StepUpPrompt({ clock: this.#clock, ...(options.stepUpTimeoutMs === undefined ? {} : { timeoutMs: options.stepUpTimeoutMs }) });
  }

  get state(): AgentState {
    return this.#state;
  }

  get snapshot(): PostureSnapshot | undefined {
    return this.#monitor?.snapshot;
  }

  get identity(): IdentityRecord | undefined {
    return this.#identity;
  }

  get outbox(): Outbox {
    return this.#o.outbox;
  }

  // ───────────────────────────── lifecycle ─────────────────────────────

  /**
   * Load the identity, key and tokens without watching or connecting: enough for one-shot
   * commands (`ward login` / `ward logout` when no daemon runs).
   */
  async open(): Promise<void> {
    if (this.#opened) return;
    this.#opened = true;
    await this.#loadIdentity();
    this.#derive();
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#monitor = new PostureMonitor({
      engine: { host: this.#o.host, agentVersion: AGENT_VERSION, config: this.#o.config.posture, ...(this.#o.checks ? { checks: this.#o.checks } : {}) },
      targets: this.#o.watchTargets ?? watchTargetsFor(this.#o.host.platform, { home: this.#o.host.env('HOME'), config: this.#o.config.posture }),
      clock: this.#clock,
      log: this.#log,
      ...(this.#o.fullRecheckMs === undefined ? {} : { fullRecheckMs: this.#o.fullRecheckMs }),
      ...(this.#o.networkPollMs === undefined ? {} : { networkPollMs: this.#o.networkPollMs }),
      ...(this.#o.debounceMs === undefined ? {} : { debounceMs: this.#o.debounceMs }),
    });
    this.#monitor.on('update', (u) => this.#onPosture(u));
    this.#monitor.on('error', (err) => this.#log.warn({ err: err.message }, 'posture recheck failed'));
    await this.open();
    if (this.#identity) this.#identityWatch = this.#o.watchIdentity?.(() => void this.reloadIdentity());
    await this.#monitor.start();
    this.#deliverer?.start();
    this.#channel?.start();
    this.#derive();
  }

  async stop(): Promise<void> {
    this.#started = false;
    this.#identityWatch?.close();
    this.#monitor?.stop();
    this.#channel?.stop();
    this.#stepUp.cancel();
    await this.#poller?.stop();
    await this.#deliverer?.stop();
    this.#reportStream?.close();
    if (this.#refreshTimer !== undefined) this.#clock.clearTimeout(this.#refreshTimer);
    await this.#refreshing?.catch(() => undefined);
    await this.#monitor?.idle();
  }

  async #loadIdentity(): Promise<void> {
    this.#identity = await this.#o.loadIdentity();
    if (!this.#identity) return;
    this.#useKey(this.#identity, await this.#o.openSigner(this.#identity));
    const brokerUrl = new URL(this.#identity.brokerUrl);
    this.#deliverer = new OutboxDeliverer({
      outbox: this.#o.outbox,
      clock: this.#clock,
      log: this.#log,
      send: async (item) => {
        const result = item.kind === 'set' ? await this.#pushSet(brokerUrl, item.body) : await this.#reporter!.send(JSON.parse(item.body) as PostureSnapshot);
        if (result.kind === 'delivered') {
          this.#lastReportedAt = this.#clock.now();
          this.#setOffline(undefined);
        } else if (result.kind === 'retry') this.#setOffline(`the broker cannot be reached (${result.reason})`);
        return result;
      },
    });
    this.#deliverer.on('dead-letter', (_item, reason) => {
      if (/device-revoked|revoked/i.test(reason)) this.#revoke('this device was revoked by the broker');
    });
    this.#channel = new EventChannel({
      url: new URL('/events', brokerUrl),
      fetch: this.#keyFetch,
      accessToken: () => Promise.resolve(undefined),
      clock: this.#clock,
      log: this.#log,
      // Resume where the last run stopped: the broker replays what was missed (or sends `reset`).
      lastEventId: this.#o.outbox.counter(EVENT_ID_COUNTER)?.toString(),
      ...this.#o.eventChannel,
    });
    this.#channel.on('message', (m) => void this.#onChannelMessage(m));
    // Refused: perhaps the key was rotated by another process and the watch missed it.
    this.#channel.on('unauthorized', () => void this.reloadIdentity());
    const { failuresBeforePoll, healthyAfterMs, firstEventTimeoutMs, ...pollOptions } = this.#o.setPoll ?? {};
    this.#poller = new SetPoller({
      url: new URL(SSF_POLL_PATH, brokerUrl),
      fetch: this.#keyFetch,
      process: (jti, set) => this.#onSet(set, 'poll', jti),
      clock: this.#clock,
      log: this.#log,
      ...pollOptions,
    });
    this.#fallback = new PollFallback({
      channel: this.#channel,
      poller: this.#poller,
      clock: this.#clock,
      log: this.#log,
      ...(failuresBeforePoll === undefined ? {} : { failuresBeforePoll }),
      ...(healthyAfterMs === undefined ? {} : { healthyAfterMs }),
      ...(firstEventTimeoutMs === undefined ? {} : { firstEventTimeoutMs }),
    });
    this.#fallback.on('transport', (transport, reason) => this.emit('signal-transport', transport, reason));
    // A channel that was open and dropped, and one that could not connect at all, say different
    // things: the second is the broker out of reach, as a failed delivery or refresh says it.
    let channelWasOpen = false;
    this.#channel.on('status', (status, detail) => {
      if (status === 'open') {
        channelWasOpen = true;
        this.#setOffline(undefined);
      }
      if (status !== 'waiting') return;
      const why = detail ?? 'closed';
      if (this.#o.outbox.stats().pending > 0) {
        this.#setOffline(channelWasOpen ? `the broker's event channel dropped (${why})` : `the broker cannot be reached (event channel: ${why})`);
      }
      channelWasOpen = false;
    });
    this.#tokens = await this.#o.tokenStore.load().catch((err: unknown) => {
      this.#log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not read the tokens from the keychain');
      return undefined;
    });
    if (this.#tokens && this.#tokens.jkt !== this.#identity.thumbprint) this.#dropTokens(KEY_CHANGED);
    if (this.#tokens) this.#scheduleRefresh();
  }

  /** Sign with this key from now on: DPoP proofs, posture reports, the OAuth client. */
  #useKey(identity: IdentityRecord, signer: DeviceSigner): void {
    this.#signer = signer;
    this.#dpop = new DpopFetch({ signer, clock: this.#clock, log: this.#log, ...(this.#o.fetch ? { fetch: this.#o.fetch } : {}) });
    this.#brokerFetch = this.#dpop.over(this.#o.fetch ?? nodeHttpFetch);
    // The old key's stream ends here; the new one opens with the new key's proof on the next report.
    this.#reportStream?.close();
    const dpop = this.#dpop;
    this.#reportStream =
      (this.#o.reportStream ?? this.#o.fetch === undefined) === false
        ? undefined
        : new ReportStreamClient({
            brokerUrl: new URL(identity.brokerUrl),
            proof: (url) => dpop.proofFor('GET', url),
            learn: (url, headers) => dpop.learnFrom(url, headers),
            now: () => this.#clock.now(),
            log: this.#log,
          });
    this.#reporter = new PostureReporter({
      brokerUrl: new URL(identity.brokerUrl),
      deviceId: identity.deviceId,
      signer,
      fetch: this.#keyFetch,
      outbox: this.#o.outbox,
      now: () => this.#clock.now(),
      log: this.#log,
      onVerdict: (v) => this.#onBrokerVerdict(v),
      ...(this.#reportStream ? { stream: this.#reportStream } : {}),
    });
    this.#oidc = undefined; // discovered again with the new key's thumbprint (dpop_jkt)
  }

  /**
   * Switch to the key `identity.json` names now, if it is not the one in use: `ward identity
   * rotate` ran in another process. Called when the identity file changes, when the broker says a
   * credential changed (CAEP `credential-change`), when the event channel is refused, before a
   * sign-in and when a refresh is refused. DPoP proofs, posture reports and the OAuth client move to
   * the new key, the event channel reconnects with it and a fresh report goes out signed by it.
   *
   * Tokens bound to the old key (`cnf.jkt`) are dropped and the user is asked to sign in again:
   * the broker revoked their grant when it pinned the new key, and a DPoP-bound refresh token of
   * a public client only refreshes with the key it was bound to (RFC 9449 §5), so no refresh can
   * carry them over. Resolves true when the key changed. Calls are serialised.
   */
  reloadIdentity(): Promise<boolean> {
    this.#reloading = this.#reloading.then(() => this.#reload()).catch((err: unknown) => {
      this.#log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not reload the device identity');
      return false;
    });
    return this.#reloading;
  }

  async #reload(): Promise<boolean> {
    const current = this.#identity;
    const next = await this.#o.loadIdentity();
    if (!current || !next || next.thumbprint === current.thumbprint) return false;
    if (next.deviceId !== current.deviceId || next.brokerUrl !== current.brokerUrl) {
      this.#log.warn('the device was enrolled again while the agent ran: restart Ward to use the new identity');
      return false;
    }
    this.#useKey(next, await this.#o.openSigner(next));
    this.#identity = next;
    this.#log.info({ thumbprint: next.thumbprint }, 'the device key was rotated: using the new key');
    if (this.#tokens && this.#tokens.jkt !== next.thumbprint) this.#dropTokens(KEY_CHANGED);
    this.#channel?.reconnect();
    void this.#monitor?.request('all', 'manual');
    this.#derive();
    return true;
  }

  /** Forget the tokens here and in the keychain; `reason` says why the user must sign in. */
  #dropTokens(reason?: string): void {
    this.#tokens = undefined;
    this.#signInReason = reason;
    if (this.#refreshTimer !== undefined) this.#clock.clearTimeout(this.#refreshTimer);
    void this.#o.tokenStore.clear().catch((err: unknown) => this.#log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not wipe the tokens'));
  }

  async #oidcClient(): Promise<OAuthCalls> {
    if (this.#oidc) return this.#oidc;
    if (!this.#identity || !this.#dpop || !this.#signer) throw this.#notEnrolled();
    if (this.#o.oauthProcess) {
      const { OAuthProcessClient } = await import('./session/oauth-process-client.js');
      this.#oidc = new OAuthProcessClient({
        process: this.#o.oauthProcess,
        issuer: new URL(this.#identity.brokerUrl),
        clientId: this.#o.clientId ?? WARD_CLIENT_ID,
        signer: this.#signer,
        jkt: this.#identity.thumbprint,
        log: this.#log,
      });
      return this.#oidc;
    }
    // Loaded on first use: an agent that is not signing in or refreshing never pays for the OAuth stack.
    const { OidcClient } = await import('./session/oidc-client.js');
    this.#oidc = await OidcClient.discover({
      issuer: new URL(this.#identity.brokerUrl),
      clientId: this.#o.clientId ?? WARD_CLIENT_ID,
      dpop: this.#dpop,
      jkt: this.#identity.thumbprint,
      clock: this.#clock,
      log: this.#log,
    });
    return this.#oidc;
  }

  #notEnrolled(): SessionError {
    return new SessionError('not-enrolled', 'this device is not enrolled with a broker yet', { hint: 'Run `ward enroll --broker URL` with the enrollment token from IT.' });
  }

  // ───────────────────────────── state ─────────────────────────────

  /** The state rules in order: the first that holds names the state and why. */
  #rules(): ReadonlyArray<readonly [holds: boolean, state: AgentState, reason: () => string]> {
    const verdict = this.#verdict;
    return [
      [!this.#identity, 'unenrolled', () => 'This device is not enrolled: run `ward enroll`.'],
      [this.#revoked !== undefined, 'revoked', () => this.#revoked ?? ''],
      [!this.#tokens, 'enrolled', () => this.#signInReason ?? 'Enrolled; sign in to get access.'],
      [this.#stepUp.pending !== undefined, 'step-up-required', () => this.#stepUp.pending?.reason ?? ''],
      [this.#offline !== undefined, 'offline', () => this.#offline ?? ''],
      [!verdict, 'signed-in', () => 'Signed in; waiting for the broker to judge this device.'],
      [verdict?.compliant === true, 'compliant', () => 'The broker says this device meets the policy.'],
      [
        true,
        'non-compliant',
        () => (verdict && verdict.reasons.length > 0 ? `The broker refused access: ${verdict.reasons.join('; ')}` : 'The broker says this device does not meet the policy.'),
      ],
    ];
  }

  #derive(): void {
    const [, state, why] = this.#rules().find(([holds]) => holds)!;
    const reason = why();
    if (state === this.#state && reason === this.#reason) return;
    const previous = this.#state;
    this.#state = state;
    this.#reason = reason;
    const event: AgentStateEvent = { state, previous, ...(reason ? { reason: reason.slice(0, 2000) } : {}), at: new Date(this.#clock.now()).toISOString() };
    this.#log.info({ state, previous }, 'agent state');
    this.emit('state', event);
    this.#push({ event: 'agent.state', payload: event });
  }

  #push(message: PushMessage): void {
    this.emit('push', message);
  }

  #setOffline(reason: string | undefined): void {
    if (this.#offline === reason) return;
    this.#offline = reason;
    this.#derive();
  }

  #setVerdict(compliant: boolean, reasons: string[], source: 'report' | 'refresh' | 'caep'): void {
    this.#verdict = { compliant, reasons };
    this.emit('verdict', { compliant, reasons, source });
    this.#derive();
  }

  #onBrokerVerdict(v: PostureVerdict): void {
    this.#setVerdict(v.compliant, verdictReasons(v), 'report');
  }

  #revoke(reason: string): void {
    this.#revoked = reason;
    this.#dropTokens();
    this.#stepUp.cancel();
    this.#derive();
  }

  // ───────────────────────────── posture ─────────────────────────────

  #onPosture(update: PostureUpdate): void {
    this.#push({ event: 'posture.changed', payload: this.postureView() });
    if (!this.#identity) return;
    if (update.changedChecks.length === 0 && update.trigger !== 'start' && update.trigger !== 'manual' && update.trigger !== 'power') return;
    // Superseded snapshots coalesce: only the newest unsent one is kept.
    try {
      this.#o.outbox.enqueue('posture', JSON.stringify(update.snapshot), { coalesceKey: 'posture' });
    } catch (err) {
      this.#log.error({ err: err instanceof Error ? err.message : String(err) }, 'could not queue the posture report');
    }
    this.emit('posture', update);
    this.#noteLocalCompliance(update.snapshot);
    this.#deliverer?.kick();
  }

  /**
   * When the device's own reading flips (a check starts or stops failing), transmit a CAEP
   * `device-compliance-change` SET signed by the device key through the outbox, after the report
   * queued above. It is the device's claim: the broker's verdict on the report stays authoritative.
   */
  #noteLocalCompliance(snapshot: PostureSnapshot): void {
    const identity = this.#identity;
    const signer = this.#signer;
    const isCompliant = isLocallyCompliant(snapshot);
    const previous = this.#localCompliant;
    this.#localCompliant = isCompliant;
    if (previous === undefined || previous === isCompliant || !identity || !signer) return;
    const input = {
      deviceId: identity.deviceId,
      thumbprint: identity.thumbprint,
      brokerUrl: new URL(identity.brokerUrl),
      isCompliant,
      failingChecks: snapshot.checks.filter((c) => c.status === 'fail').map((c) => c.id),
      now: new Date(this.#clock.now()),
    };
    void buildDeviceComplianceSet(input, signer)
      .then((set) => {
        this.#o.outbox.enqueue('set', set);
        this.#deliverer?.kick();
      })
      .catch((err: unknown) => this.#log.error({ err: err instanceof Error ? err.message : String(err) }, 'could not queue the device-compliance-change SET'));
  }

  /** RFC 8935 push of one of the device's own SETs to the broker, DPoP-authenticated. */
  async #pushSet(brokerUrl: URL, set: string): Promise<DeliveryResult> {
    const result = await pushSet(new URL(SSF_PUSH_PATH, brokerUrl), set, { fetch: this.#keyFetch });
    if (result.ok) return { kind: 'delivered' };
    if (result.status === null) return { kind: 'retry', reason: `broker unreachable (${result.description})` };
    const classified = classifyHttpStatus(result.status);
    return classified.kind === 'delivered' ? { kind: 'retry', reason: `HTTP ${result.status}` } : { ...classified, reason: `${classified.reason}: ${result.err}: ${result.description}` };
  }

  postureView(): PostureView {
    return {
      snapshot: this.#monitor?.snapshot ?? null,
      expectations: (this.#o.checks ?? ALL_CHECKS).map((c) => ({ id: c.id, expected: c.description })),
      lastReportedAt: this.#lastReportedAt === undefined ? null : new Date(this.#lastReportedAt).toISOString(),
      isChecking: this.#monitor?.isChecking ?? false,
    };
  }

  async recheck(checkIds?: readonly string[]): Promise<PostureView> {
    if (!this.#monitor) throw new WardError('agent-not-started', 'the agent is not running');
    await this.#monitor.request(checkIds && checkIds.length > 0 ? checkIds : 'all', 'manual');
    return this.postureView();
  }

  /**
   * A signed, nonce-bound posture report of the current snapshot: for broker challenges and for
   * browser sign-in pages through the loopback API. The signature binds it to this device.
   */
  async signedReport(nonce: string): Promise<string> {
    const snapshot = this.#monitor?.snapshot;
    if (!this.#reporter || !snapshot) throw this.#notEnrolled();
    return this.#reporter.sign(snapshot, nonce);
  }

  // ───────────────────────────── broker events ─────────────────────────────

  async #onChannelMessage(message: SseMessage): Promise<void> {
    try {
      if (message.event === 'challenge') await this.#answerChallenge(message.data);
      else if (message.event === 'caep') await this.#onSet(message.data, 'event-channel');
      // `reset`: events were missed and are gone at the broker: re-read the state (the recheck
      // sends a fresh report, whose answer carries the current policy's verdict).
      else if (message.event === 'policy' || message.event === 'reset') void this.#monitor?.request('all', 'manual');
    } catch (err) {
      this.#log.warn({ event: message.event, err: err instanceof Error ? err.message : String(err) }, 'could not handle a broker event');
    }
    // Handled: the next run resumes after it (ids are the broker's event-log positions).
    if (message.id !== undefined && /^\d{1,15}$/.test(message.id)) {
      try {
        this.#o.outbox.setCounter(EVENT_ID_COUNTER, Number(message.id));
      } catch (err) {
        this.#log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not store the last broker event id');
      }
    }
  }

  async #answerChallenge(data: string): Promise<void> {
    const parsed = ChallengeSchema.safeParse(JSON.parse(data));
    if (!parsed.success) throw new Error('malformed challenge');
    const { nonce } = parsed.data;
    // A replayed challenge is not answered twice: the broker would refuse it anyway.
    if (this.#answeredNonces.has(nonce)) {
      this.#log.warn({ mod: 'challenge' }, 'ignored a replayed broker challenge');
      return;
    }
    this.#answeredNonces.add(nonce);
    if (this.#answeredNonces.size > MAX_ANSWERED_NONCES) this.#answeredNonces.delete(this.#answeredNonces.values().next().value as string);
    const snapshot = this.#monitor?.snapshot;
    if (!snapshot || !this.#reporter) return;
    const result = await this.#reporter.send(snapshot, nonce);
    if (result.kind === 'delivered') this.#lastReportedAt = this.#clock.now();
    else this.#log.warn({ mod: 'challenge', reason: result.reason }, 'challenge answer not accepted');
  }

  /**
   * Verify a SET from the broker against its pinned keys and act on it. Resolves to the error to
   * report (RFC 8936 `setErrs`) when it is refused: it does not verify, its `jti` is not the one
   * it was delivered under, or it is a replay of a SET already handled. The same SET arriving over
   * both the event channel and a poll (while switching) is acknowledged, not acted on twice.
   */
  async #onSet(jwt: string, source: SetSource, deliveredAs?: string): Promise<SetError | undefined> {
    if (!this.#identity) return { err: 'access_denied', description: 'this device is not enrolled' };
    const token = jwt.trim();
    const verdict = verifySet(token, {
      keys: this.#identity.brokerKeys.keys.map((k, i) => ({ kid: k.kid ?? `broker-${i}`, key: k as never })),
      audience: this.#o.clientId ?? WARD_CLIENT_ID,
      now: new Date(this.#clock.now()),
      clockSkewSeconds: 300,
    });
    if (!verdict.ok) {
      this.#log.warn({ reason: verdict.reason, source }, 'refused a security event that did not verify');
      return { err: SET_ERROR_CODES[verdict.reason], description: verdict.detail };
    }
    const set = verdict.set;
    if (deliveredAs !== undefined && deliveredAs !== set.jti) return { err: 'invalid_request', description: 'the SET was delivered under another jti than its own' };
    const seen = this.#seenSets.get(set.jti);
    if (seen) {
      if (seen.source !== source && seen.token === token) return undefined; // the other channel's copy
      this.#log.warn({ source }, 'refused a replayed security event');
      return { err: 'invalid_request', description: 'replayed SET: this jti was already processed' };
    }
    this.#seenSets.set(set.jti, { source, token });
    if (this.#seenSets.size > MAX_SEEN_SETS) this.#seenSets.delete(this.#seenSets.keys().next().value as string);
    // Handled over the event channel: acknowledge it on the next poll so it is not delivered twice.
    if (source === 'event-channel') this.#poller?.acknowledge(set.jti);
    this.emit('caep', set);
    switch (set.type) {
      case 'session-revoked':
        this.#revoke('Your session was revoked by the broker. Sign in again.');
        break;
      case 'credential-change':
      case 'assurance-level-change':
        // A device-key change is usually our own rotation: pick up the new key if it is on disk yet.
        if (set.type === 'credential-change') await this.reloadIdentity();
        void this.requireStepUp({
          reason: set.type === 'credential-change' ? 'Your credentials changed: confirm it is you by signing in again.' : 'The required sign-in strength changed: sign in again.',
          ...(this.#o.stepUpAcr ? { acrValues: [this.#o.stepUpAcr] } : {}),
          maxAgeSeconds: 0,
        }).catch(() => undefined);
        break;
      case 'device-compliance-change':
        // The broker is authoritative: its verdict replaces our local reading.
        this.#setVerdict(
          set.event.current_status === 'compliant',
          set.event.current_status === 'compliant' ? [] : [reasonText(set.event.reason_admin) ?? 'the broker marked this device not compliant'],
          'caep',
        );
        break;
    }
    return undefined;
  }

  // ───────────────────────────── session ─────────────────────────────

  get tokens(): Pick<TokenSet, 'expiresAt' | 'subject' | 'acr'> | undefined {
    return this.#tokens && { expiresAt: this.#tokens.expiresAt, ...(this.#tokens.subject ? { subject: this.#tokens.subject } : {}), ...(this.#tokens.acr ? { acr: this.#tokens.acr } : {}) };
  }

  #progress(progress: SignInProgress): void {
    this.#signIn = progress;
    this.#push({ event: 'signIn.progress', payload: progress });
  }

  /** Sign in (browser with loopback redirect, or device flow). */
  async signIn(method: 'browser' | 'device' = 'browser', requirements: AuthorizationRequirements = {}): Promise<void> {
    await this.reloadIdentity(); // sign in with the key the broker has pinned now
    if (!this.#identity) throw this.#notEnrolled();
    try {
      const oidc = await this.#oidcClient();
      let tokens: TokenSet;
      if (method === 'device') {
        tokens = await oidc.signInWithDeviceCode({
          ...requirements,
          onPrompt: (p) =>
            this.#progress({
              stage: 'waiting-for-browser',
              message: `Open ${p.verificationUri} and enter the code ${p.userCode}.`,
              verificationUri: p.verificationUri,
              userCode: p.userCode,
            }),
        });
      } else {
        const open = this.#o.openBrowser;
        if (!open) throw new SessionError('sign-in-failed', 'there is no browser to open on this machine', { hint: 'Use `ward login --device`.' });
        this.#progress({ stage: 'opening-browser' });
        tokens = await oidc.signInWithBrowser({
          ...requirements,
          openBrowser: async (url) => {
            await open(url);
            this.#progress({ stage: 'waiting-for-browser', message: 'Finish signing in in your browser.' });
          },
          ...(this.#o.signInTimeoutMs === undefined ? {} : { timeoutMs: this.#o.signInTimeoutMs }),
        });
      }
      this.#progress({ stage: 'exchanging' });
      await this.#o.tokenStore.save(tokens);
      this.#tokens = tokens;
      this.#signInReason = undefined;
      this.#revoked = undefined;
      this.#refreshFailures = 0;
      this.#scheduleRefresh();
      this.#progress({ stage: 'done', message: `Signed in as ${tokens.subject ?? 'you'}.` });
      this.#derive();
      // Tell the broker where this device stands right away.
      void this.#monitor?.request('all', 'manual');
    } catch (err) {
      this.#progress({ stage: 'failed', message: err instanceof WardError ? err.message : 'Sign-in failed; see the agent log.' });
      throw err;
    }
  }

  async signOut(): Promise<void> {
    const tokens = this.#tokens;
    this.#tokens = undefined;
    this.#stepUp.cancel();
    if (this.#refreshTimer !== undefined) this.#clock.clearTimeout(this.#refreshTimer);
    await this.#o.tokenStore.clear();
    if (tokens && this.#oidc) await this.#oidc.revoke(tokens).catch(() => undefined); // best effort: works offline too
    this.#progress({ stage: 'idle' });
    this.#derive();
  }

  #scheduleRefresh(delayMs?: number): void {
    if (this.#refreshTimer !== undefined) this.#clock.clearTimeout(this.#refreshTimer);
    const tokens = this.#tokens;
    if (!tokens) return;
    const lifetime = Math.max(0, tokens.expiresAt - this.#clock.now());
    const due = delayMs ?? Math.max(0, lifetime - Math.max(REFRESH_MARGIN_MS, lifetime / 5));
    this.#refreshTimer = this.#clock.setTimeout(() => {
      this.#refreshTimer = undefined;
      void this.refresh().catch(() => undefined);
    }, due);
  }

  /**
   * Refresh the tokens with DPoP, carrying a fresh signed posture report. A refusal for
   * non-compliance → `non-compliant` with the broker's reasons; an invalid grant → `revoked`;
   * the broker down → `offline` and a retry with backoff.
   */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#doRefresh().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #doRefresh(): Promise<void> {
    const tokens = this.#tokens;
    if (!tokens) throw new SessionError('not-signed-in', 'not signed in');
    try {
      const oidc = await this.#oidcClient();
      const snapshot = this.#monitor?.snapshot;
      const next =
        snapshot && this.#reporter
          ? await this.#reporter.withReport(snapshot, (report) => oidc.refresh(tokens, { posture_report: report }))
          : await oidc.refresh(tokens, {});
      await this.#o.tokenStore.save(next);
      this.#tokens = next;
      this.#refreshFailures = 0;
      this.#setOffline(undefined);
      this.#scheduleRefresh();
    } catch (err) {
      const e = err instanceof SessionError ? err : new SessionError('broker-unreachable', 'the broker could not be reached', { cause: err });
      if (e.code === 'non-compliant') {
        this.#setVerdict(false, [e.message.replace(/^the broker refused access: /, '')], 'refresh');
        this.#scheduleRefresh(backoffDelayMs(this.#refreshFailures++, { baseMs: 5_000, maxMs: 60_000 }));
      } else if (e.code === 'revoked') {
        // Not a revocation when the key was rotated under us: the tokens are dropped instead.
        if (!(await this.reloadIdentity())) this.#revoke('The broker no longer accepts this session. Sign in again.');
      } else {
        this.#setOffline(`The broker cannot be reached to renew the session: ${e.message}`);
        this.#scheduleRefresh(backoffDelayMs(this.#refreshFailures++, { baseMs: 2_000, maxMs: 60_000 }));
      }
      throw e;
    }
  }

  // ───────────────────────────── step-up (RFC 9470) ─────────────────────────────

  /**
   * Ask the user to authenticate again. Resolves when they did; rejects with `step-up-declined`
   * when they declined or let the prompt expire (access stays restricted, with a clear message).
   */
  async requireStepUp(ask: StepUpAsk): Promise<void> {
    const { request, decision } = await this.#stepUp.ask(ask, (req) => {
      this.#derive();
      this.#push({ event: 'stepUp.requested', payload: req });
    });
    if (decision !== 'accepted') {
      const result: StepUpResult = {
        id: request.id,
        outcome: decision,
        message: decision === 'expired' ? 'The sign-in request expired; access stays restricted until you sign in again.' : 'You declined to sign in again; access stays restricted.',
      };
      this.#push({ event: 'stepUp.resolved', payload: result });
      this.#derive();
      throw new SessionError('step-up-declined', `${ask.resource ? `${ask.resource} needs` : 'Access needs'} a fresh sign-in, which was ${decision}.`, {
        hint: 'Sign in again from Ward when you are ready.',
      });
    }
    try {
      await this.signIn('browser', {
        ...(ask.acrValues && ask.acrValues.length > 0 ? { acrValues: ask.acrValues } : {}),
        ...(ask.maxAgeSeconds === undefined ? {} : { maxAgeSeconds: ask.maxAgeSeconds }),
        prompt: 'login',
      });
      this.#push({ event: 'stepUp.resolved', payload: { id: request.id, outcome: 'accepted' } });
    } catch (err) {
      this.#push({ event: 'stepUp.resolved', payload: { id: request.id, outcome: 'failed', message: err instanceof WardError ? err.message : 'sign-in failed' } });
      throw err;
    } finally {
      this.#derive();
    }
  }

  decideStepUp(id: string, decision: 'accept' | 'decline'): StepUpResult {
    const outcome = this.#stepUp.decide(id, decision);
    return { id, outcome, ...(outcome === 'unknown-request' ? { message: 'There is no such pending sign-in request (it may have expired).' } : {}) };
  }

  /**
   * Call a protected resource with the DPoP-bound access token. On an RFC 9470 challenge the user
   * is asked to step up; on consent the request is retried once with the new token.
   */
  async fetchResource(url: URL, init: RequestInit = {}): Promise<Response> {
    if (!this.#dpop) throw this.#notEnrolled();
    const send = (): Promise<Response> => {
      if (!this.#tokens) throw new SessionError('not-signed-in', 'sign in first', { hint: 'Run `ward login`.' });
      const headers = new Headers(init.headers);
      headers.set('authorization', `DPoP ${this.#tokens.accessToken}`);
      return this.#dpop!.fetch(url, { ...init, headers });
    };
    const first = await send();
    if (first.status !== 401 && first.status !== 403) return first;
    const challenge = parseStepUpChallenge(first.headers.get('www-authenticate'));
    if (!challenge) return first;
    await first.body?.cancel().catch(() => undefined);
    await this.requireStepUp({
      reason: challenge.description ?? `${url.host} asks for a stronger or more recent sign-in.`,
      acrValues: challenge.acrValues,
      ...(challenge.maxAgeSeconds === undefined ? {} : { maxAgeSeconds: challenge.maxAgeSeconds }),
      resource: url.href,
    });
    return send();
  }

  // ───────────────────────────── power events ─────────────────────────────

  power(event: PowerEvent): void {
    const lock = this.#o.config.lock;
    switch (event) {
      case 'lock-screen':
        this.#lockedAt = this.#clock.now();
        void this.#monitor?.request(['screen-lock'], 'power');
        break;
      case 'unlock-screen': {
        const lockedMs = this.#lockedAt === undefined ? 0 : this.#clock.now() - this.#lockedAt;
        this.#lockedAt = undefined;
        void this.#monitor?.request('all', 'power');
        if (lock.stepUpAfterUnlock && this.#tokens && lockedMs >= lock.unlockGraceSeconds * 1000) {
          void this.requireStepUp({ reason: 'Your company asks you to sign in again after unlocking.', ...(this.#o.stepUpAcr ? { acrValues: [this.#o.stepUpAcr] } : {}), maxAgeSeconds: 0 }).catch(() => undefined);
        }
        break;
      }
      case 'suspend':
        this.#lockedAt ??= this.#clock.now();
        this.#channel?.stop();
        break;
      case 'resume':
        void this.#monitor?.request('all', 'power');
        this.#channel?.start();
        this.#channel?.reconnect();
        if (this.#tokens && this.#tokens.expiresAt - this.#clock.now() < REFRESH_MARGIN_MS) void this.refresh().catch(() => undefined);
        if (lock.stepUpAfterWake && this.#tokens) {
          void this.requireStepUp({ reason: 'Your company asks you to sign in again after the computer wakes.', ...(this.#o.stepUpAcr ? { acrValues: [this.#o.stepUpAcr] } : {}), maxAgeSeconds: 0 }).catch(() => undefined);
        }
        break;
    }
  }

  // ───────────────────────────── UI contract ─────────────────────────────

  sessionStatus(): SessionStatus {
    const brokerUrl = this.#identity?.brokerUrl ?? this.#o.config.brokerUrl;
    const broker: BrokerInfo | null = brokerUrl ? { url: brokerUrl, source: this.#identity ? 'user-config' : 'managed-config' } : null;
    return {
      state: this.#state,
      ...(this.#reason ? { reason: this.#reason.slice(0, 2000) } : {}),
      broker,
      user: this.#tokens?.subject ? { subject: this.#tokens.subject } : null,
      expiresAt: this.#tokens ? new Date(this.#tokens.expiresAt).toISOString() : null,
      signIn: this.#signIn,
      pendingStepUp: this.#stepUp.pending ?? null,
    };
  }

  identityInfo(): IdentityInfo {
    const id = this.#identity;
    return {
      isEnrolled: id !== undefined,
      deviceId: id?.deviceId ?? null,
      keyStore: { kind: id?.keyStore ?? 'none' },
      assurance: id?.assurance ?? 'none',
      keyThumbprint: id?.thumbprint ?? null,
      enrolledAt: id ? new Date(id.enrolledAt).toISOString() : null,
      ...(this.#monitor?.snapshot ? { hostname: this.#monitor.snapshot.device.hostname.slice(0, 255) } : {}),
    };
  }

  /** The agent as the UI contract's backend (Electron IPC and the web UI both use it). */
  backend(extra: Pick<ChannelHandlers, 'settings.get' | 'settings.set' | 'app.about'>): AgentBackend {
    const handlers: ChannelHandlers = {
      'posture.snapshot': async () => {
        await this.#monitor?.idle();
        return this.postureView();
      },
      'posture.recheck': async (r) => this.recheck(r.checkIds),
      'session.status': async () => this.sessionStatus(),
      'session.signIn': async (r) => {
        // Sign-in runs in the background; progress comes as `signIn.progress` events.
        void this.signIn(r.method ?? 'browser').catch(() => undefined);
        return this.sessionStatus();
      },
      'session.signOut': async () => {
        await this.signOut();
        return this.sessionStatus();
      },
      'session.stepUp': async (d) => this.decideStepUp(d.id, d.decision),
      'identity.info': async () => this.identityInfo(),
      ...extra,
    };
    return createHandlerBackend({
      handlers,
      subscribe: (listener) => {
        this.on('push', listener);
        return () => this.off('push', listener);
      },
      power: (event) => this.power(event),
      close: () => this.stop(),
    });
  }
}

function reasonText(reason: string | Record<string, string> | undefined): string | undefined {
  if (reason === undefined) return undefined;
  if (typeof reason === 'string') return reason;
  return reason.en ?? Object.values(reason)[0];
}

/** Open the agent's outbox in its state directory. */
export function openAgentOutbox(stateDir: string, clock?: Clock): Outbox {
  return Outbox.open(`${stateDir}/outbox.db`, clock ? { clock } : {});
}
