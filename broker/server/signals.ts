import type { Logger } from '../../main/core/log.js';
import { buildSet, pushSet, type BuildSetInput, type CaepEventName, type JwsSigner, type SubjectId } from '../sdk/index.js';
import type { EventHub } from './events.js';
import { WARD_CLIENT_ID } from './oidc/provider.js';

const PUSH_ATTEMPTS = 4;

export interface PushReceiverConfig {
  readonly url: string;
  readonly authorizationHeader?: string | undefined;
}

/**
 * Emits CAEP Security Event Tokens (RFC 8417): to the device's event channel (audience
 * `ward-agent`) and, when configured, to a push receiver (RFC 8935, audience = its URL), in
 * order, retrying retryable failures with backoff. The push queue lives in memory: SETs not yet
 * delivered when the broker stops are lost (logged), which a receiver can detect from `txn` gaps.
 */
export class SignalEmitter {
  #queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: {
      signer: JwsSigner;
      issuer: string;
      hub: EventHub;
      log: Logger;
      pushReceiver?: PushReceiverConfig | undefined;
      now: () => number;
      sleep?: (ms: number) => Promise<void>;
    },
  ) {}

  async emit<N extends CaepEventName>(type: N, subject: SubjectId, event: BuildSetInput<N>['event'], options: { deviceId?: string; txn?: string } = {}): Promise<void> {
    const now = new Date(this.deps.now());
    const base = { type, subject, event, issuer: this.deps.issuer, now, ...(options.txn ? { txn: options.txn } : {}) };
    if (options.deviceId) {
      const set = await buildSet({ ...base, audience: WARD_CLIENT_ID }, this.deps.signer);
      this.deps.hub.send(options.deviceId, 'caep', set);
    }
    const receiver = this.deps.pushReceiver;
    if (receiver) {
      const set = await buildSet({ ...base, audience: receiver.url }, this.deps.signer);
      this.#queue = this.#queue.then(() => this.#push(receiver, set, type));
    }
  }

  /** Resolves when every queued push has been delivered or given up. */
  flush(): Promise<void> {
    return this.#queue;
  }

  async #push(receiver: PushReceiverConfig, set: string, type: CaepEventName): Promise<void> {
    const sleep = this.deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref()));
    for (let attempt = 1; attempt <= PUSH_ATTEMPTS; attempt++) {
      const result = await pushSet(receiver.url, set, { ...(receiver.authorizationHeader ? { authorization: receiver.authorizationHeader } : {}), timeoutMs: 5000 });
      if (result.ok) return;
      this.deps.log.warn({ type, status: result.status, err: result.err, attempt }, 'push receiver refused or missed a SET');
      if (!result.retryable) return;
      await sleep(500 * 2 ** (attempt - 1));
    }
  }
}
