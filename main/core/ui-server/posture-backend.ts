import { randomUUID } from 'node:crypto';
import { WardError } from '../errors.js';
import type { Host } from '../exec/host.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import type { PostureCheck } from '../posture/check.js';
import type { PostureConfig } from '../posture/config.js';
import { recheck, takeSnapshot } from '../posture/engine.js';
import { ALL_CHECKS } from '../posture/registry.js';
import type { PostureSnapshot } from '../posture/snapshot.js';
import { AGENT_VERSION } from '../version.js';
import { shellHandlers } from './shell-handlers.js';
import {
  type AboutInfo,
  type AgentBackend,
  type AgentState,
  type BrokerInfo,
  type Channel,
  type ChannelHandlers,
  type PostureView,
  type PowerEvent,
  type PushMessage,
  type RequestOf,
  type ResponseOf,
  type SessionStatus,
  type StepUpRequest,
  type StepUpResult,
} from '../../shared/ipc-contract.js';

export interface PostureBackendOptions {
  readonly host: Host;
  /** Re-read before every snapshot, so a changed managed config applies on the next recheck. */
  readonly loadConfig?: () => Promise<PostureConfig | undefined>;
  readonly broker?: BrokerInfo | null;
  /** Which checks to run (default: every check). */
  readonly checks?: readonly PostureCheck[];
  readonly shell?: AboutInfo['shell'];
  /** Where settings persist (JSON); in memory when absent. */
  readonly settingsFile?: string;
  readonly now?: () => Date;
  readonly log?: Logger;
}

/**
 * An `AgentBackend` served by the posture engine alone: snapshots, rechecks, settings and a
 * step-up prompt driven by `requestStepUp` (in the agent, the broker's RFC 9470 challenge drives
 * it). It cannot sign in: `session.signIn` says so in words. `ward ui --backend posture` and the
 * tests use it; `ward start` serves the real agent (`Agent.backend`, main/core/agent.ts).
 */
export class PostureBackend implements AgentBackend {
  readonly #options: PostureBackendOptions;
  readonly #listeners = new Set<(message: PushMessage) => void>();
  readonly #now: () => Date;
  readonly #handlers: ChannelHandlers;
  readonly #log: Logger;
  #snapshot: PostureSnapshot | null = null;
  #running: Promise<PostureSnapshot> | null = null;
  #pendingStepUp: { request: StepUpRequest; timer: NodeJS.Timeout } | null = null;
  #state: AgentState = 'unenrolled';
  #closed = false;

  constructor(options: PostureBackendOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
    this.#log = (options.log ?? silentLogger()).child({ mod: 'posture-backend' });
    this.#handlers = this.#createHandlers();
  }

  #createHandlers(): ChannelHandlers {
    return {
      'posture.snapshot': async () => {
        if (!this.#snapshot) await (this.#running ?? this.#run());
        return this.#view();
      },
      'posture.recheck': async (request) => {
        await this.#run(request.checkIds);
        return this.#view();
      },
      'session.status': async () => this.#status(),
      'session.signIn': async () => {
        const broker = this.#options.broker;
        throw broker
          ? new WardError('sign-in-unavailable', `This window runs Ward's posture checks without the agent, so it cannot sign in to ${broker.name ?? broker.url}.`, {
              hint: 'Run `ward start` (the agent with this window), or `ward login` in a terminal.',
            })
          : new WardError('no-broker', 'No access broker is configured, so there is nothing to sign in to.', {
              hint: 'Posture checks still run and can be rechecked here. Ask IT for a managed configuration that names your broker, or enroll with `ward enroll --broker URL`.',
            });
      },
      'session.signOut': async () => this.#status(),
      'session.stepUp': async (decision) => this.#decide(decision.id, decision.decision === 'accept' ? 'accepted' : 'declined'),
      'identity.info': async () => ({
        isEnrolled: false,
        deviceId: null,
        keyStore: { kind: 'none' },
        assurance: 'none',
        keyThumbprint: null,
        enrolledAt: null,
        ...(this.#snapshot ? { hostname: this.#snapshot.device.hostname } : {}),
      }),
      ...shellHandlers({
        shell: this.#options.shell ?? 'web',
        platform: this.#options.host.platform,
        ...(this.#options.settingsFile ? { settingsFile: this.#options.settingsFile } : {}),
        ...(this.#options.log ? { log: this.#options.log } : {}),
      }),
    };
  }

  handle<C extends Channel>(channel: C, request: RequestOf<C>): Promise<ResponseOf<C>> {
    return (this.#handlers[channel] as unknown as (r: RequestOf<C>) => Promise<ResponseOf<C>>)(request);
  }

  subscribe(listener: (message: PushMessage) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  power(event: PowerEvent): void {
    // Waking or unlocking can hide a changed machine (an update applied, a disk unmounted): look again now.
    if (event === 'resume' || event === 'unlock-screen') void this.#run().catch((err: unknown) => this.#log.warn({ err }, 'recheck after power event failed'));
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#pendingStepUp) clearTimeout(this.#pendingStepUp.timer);
    this.#pendingStepUp = null;
    this.#listeners.clear();
    // A snapshot in flight finishes on its own (each check has its budget); nobody waits for it.
  }

  /** Start the first snapshot without waiting for it. */
  start(): void {
    void this.#run().catch((err: unknown) => this.#log.warn({ err }, 'first snapshot failed'));
  }

  /**
   * Ask the user to step up (RFC 9470). The agent calls this when a resource answers
   * `insufficient_user_authentication`; here tests and demos call it directly.
   */
  requestStepUp(request: Omit<StepUpRequest, 'id' | 'deadline'> & { ttlSeconds?: number }): StepUpRequest {
    if (this.#pendingStepUp) this.#resolve('expired');
    const { ttlSeconds = 120, ...rest } = request;
    const stepUp: StepUpRequest = { ...rest, id: randomUUID(), deadline: new Date(this.#now().getTime() + ttlSeconds * 1000).toISOString() };
    const timer = setTimeout(() => this.#resolve('expired'), ttlSeconds * 1000);
    timer.unref();
    this.#pendingStepUp = { request: stepUp, timer };
    this.#setState('step-up-required', stepUp.reason);
    this.#emit({ event: 'stepUp.requested', payload: stepUp });
    return stepUp;
  }

  #run(checkIds?: readonly string[]): Promise<PostureSnapshot> {
    // One run at a time: a recheck waits for the snapshot in flight, then looks again.
    const previous = this.#running ?? Promise.resolve(null);
    const next = previous
      .catch(() => null)
      .then(async () => {
        const config = await this.#options.loadConfig?.();
        const options = {
          host: this.#options.host,
          agentVersion: AGENT_VERSION,
          now: this.#now,
          ...(config ? { config } : {}),
          ...(this.#options.checks ? { checks: this.#options.checks } : {}),
        };
        const before = this.#snapshot;
        this.#emit({ event: 'posture.changed', payload: this.#view(true) });
        const snapshot = before && checkIds?.length ? await recheck(before, checkIds, options) : await takeSnapshot(options);
        this.#snapshot = snapshot;
        return snapshot;
      })
      .finally(() => {
        if (this.#running === next) this.#running = null;
        if (!this.#closed) this.#emit({ event: 'posture.changed', payload: this.#view() });
      });
    this.#running = next;
    return next;
  }

  #view(isChecking = this.#running !== null): PostureView {
    return {
      snapshot: this.#snapshot,
      expectations: (this.#options.checks ?? ALL_CHECKS).map((c) => ({ id: c.id, expected: c.description })),
      lastReportedAt: null,
      isChecking,
    };
  }

  #status(): SessionStatus {
    return {
      state: this.#state,
      reason:
        this.#state === 'step-up-required'
          ? this.#pendingStepUp?.request.reason
          : 'This device is not enrolled: Ward checks posture locally and reports it to no one.',
      broker: this.#options.broker ?? null,
      user: null,
      expiresAt: null,
      signIn: { stage: 'idle' },
      pendingStepUp: this.#pendingStepUp?.request ?? null,
    };
  }

  #decide(id: string, outcome: 'accepted' | 'declined'): StepUpResult {
    if (!this.#pendingStepUp || this.#pendingStepUp.request.id !== id) {
      return { id, outcome: 'unknown-request', message: 'This request is no longer pending.' };
    }
    return this.#resolve(outcome);
  }

  #resolve(outcome: StepUpResult['outcome']): StepUpResult {
    const pending = this.#pendingStepUp;
    if (!pending) return { id: 'none', outcome: 'unknown-request' };
    clearTimeout(pending.timer);
    this.#pendingStepUp = null;
    const result: StepUpResult = { id: pending.request.id, outcome };
    this.#setState('unenrolled', `step-up ${outcome}`);
    this.#emit({ event: 'stepUp.resolved', payload: result });
    return result;
  }

  #setState(state: AgentState, reason?: string): void {
    const previous = this.#state;
    this.#state = state;
    this.#emit({ event: 'agent.state', payload: { state, previous, ...(reason ? { reason } : {}), at: this.#now().toISOString() } });
  }

  #emit(message: PushMessage): void {
    for (const listener of this.#listeners) {
      try {
        listener(message);
      } catch (err) {
        this.#log.warn({ err, event: message.event }, 'a push listener threw');
      }
    }
  }
}
