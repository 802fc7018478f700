import { randomUUID } from 'node:crypto';
import type { StepUpRequest, StepUpResult } from '../../shared/ipc-contract.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';

export interface StepUpAsk {
  readonly reason: string;
  readonly acrValues?: readonly string[];
  readonly maxAgeSeconds?: number;
  readonly resource?: string;
}

type Decision = 'accepted' | 'declined' | 'expired';

/**
 * One pending RFC 9470 step-up prompt at a time: the agent asks, the UI (or CLI) answers with
 * the request id, and an unanswered prompt expires at its deadline. A second ask while one is
 * pending joins it (two resources asking at once get one prompt, not two).
 */
export class StepUpPrompt {
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  #pending: { request: StepUpRequest; ask: StepUpAsk; waiters: Array<(d: Decision) => void>; timer: TimerHandle } | undefined;

  constructor(options: { clock?: Clock; timeoutMs?: number } = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#timeoutMs = options.timeoutMs ?? 120_000;
  }

  get pending(): StepUpRequest | undefined {
    return this.#pending?.request;
  }

  get pendingAsk(): StepUpAsk | undefined {
    return this.#pending?.ask;
  }

  /** Open a prompt (or join the open one). `onOpen` runs only when a new prompt was created. */
  ask(ask: StepUpAsk, onOpen: (request: StepUpRequest) => void): Promise<{ request: StepUpRequest; decision: Decision }> {
    if (!this.#pending) {
      const request: StepUpRequest = {
        id: randomUUID(),
        reason: ask.reason.slice(0, 2000),
        ...(ask.acrValues && ask.acrValues.length > 0 ? { acr_values: ask.acrValues.join(' ').slice(0, 1000) } : {}),
        ...(ask.maxAgeSeconds === undefined ? {} : { max_age: ask.maxAgeSeconds }),
        ...(ask.resource ? { resource: ask.resource.slice(0, 2000) } : {}),
        deadline: new Date(this.#clock.now() + this.#timeoutMs).toISOString(),
      };
      const timer = this.#clock.setTimeout(() => this.#settle('expired'), this.#timeoutMs);
      this.#pending = { request, ask, waiters: [], timer };
      onOpen(request);
    }
    const pending = this.#pending;
    return new Promise((resolve) => pending.waiters.push((decision) => resolve({ request: pending.request, decision })));
  }

  /** The user's answer. Unknown or stale ids get `unknown-request`. */
  decide(id: string, decision: 'accept' | 'decline'): StepUpResult['outcome'] {
    if (!this.#pending || this.#pending.request.id !== id) return 'unknown-request';
    this.#settle(decision === 'accept' ? 'accepted' : 'declined');
    return decision === 'accept' ? 'accepted' : 'declined';
  }

  /** Drop the prompt (sign-out, revocation). */
  cancel(): void {
    if (this.#pending) this.#settle('declined');
  }

  #settle(decision: Decision): void {
    const pending = this.#pending;
    if (!pending) return;
    this.#pending = undefined;
    this.#clock.clearTimeout(pending.timer);
    for (const w of pending.waiters) w(decision);
  }
}
