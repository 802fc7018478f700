import { z } from 'zod';
import type { DeviceSigner } from '../identity/key-store.js';
import type { Logger } from '../log.js';
import type { PostureSnapshot } from '../posture/snapshot.js';
import type { FetchLike } from '../session/dpop-fetch.js';
import type { Outbox } from './outbox.js';
import { classifyHttpStatus, type DeliveryResult } from './outbox-deliverer.js';
import { buildPostureReport } from './report.js';
import type { ReportStreamClient } from './report-stream-client.js';

/** The broker's answer to `POST /posture` (broker/server/http-api.ts), validated. */
export const PostureVerdictSchema = z.object({
  deviceId: z.string().max(200),
  seq: z.number().int(),
  decision: z.enum(['allow', 'warn', 'deny']),
  compliant: z.boolean(),
  reportOnly: z.boolean().optional(),
  policyVersion: z.union([z.string().max(200), z.number()]).nullable().optional(),
  results: z
    .array(
      z.object({
        ruleId: z.string().max(200),
        check: z.string().max(200),
        passed: z.boolean(),
        expected: z.string().max(2000).optional(),
        actual: z.unknown().optional(),
        reason: z.string().max(2000).optional(),
        severity: z.enum(['warn', 'block']).optional(),
      }).loose(),
    )
    .max(500)
    .default([]),
});
export type PostureVerdict = z.infer<typeof PostureVerdictSchema>;

/** One sentence per failing rule, from the broker's verdict. */
export function verdictReasons(verdict: PostureVerdict): string[] {
  return verdict.results.filter((r) => !r.passed).map((r) => (r.reason ? `${r.check}: ${r.reason}` : `${r.check}: expected ${r.expected ?? 'pass'}`));
}

export interface PostureReporterOptions {
  readonly brokerUrl: URL;
  readonly deviceId: string;
  readonly signer: DeviceSigner;
  /** DPoP-signing fetch: the broker authenticates the device by its key. */
  readonly fetch: FetchLike;
  /** Where `seq` is kept durably. */
  readonly outbox: Outbox;
  readonly now: () => number;
  readonly log?: Logger;
  readonly onVerdict?: (verdict: PostureVerdict, answeredNonce: string | undefined) => void;
  /** The report stream (report-stream-client.ts): tried first, `POST /posture` when it cannot carry a report. */
  readonly stream?: ReportStreamClient;
}

/**
 * Signs and sends posture reports. Every send goes through one queue: `seq` is assigned inside
 * it, just before the request, so two reports never reach the broker out of order (a challenge
 * answer overtaking an outbox delivery would otherwise be refused as a rolled-back seq).
 */
export class PostureReporter {
  readonly #o: PostureReporterOptions;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(options: PostureReporterOptions) {
    this.#o = options;
  }

  #build(snapshot: PostureSnapshot, nonce: string | undefined): Promise<string> {
    return buildPostureReport(snapshot, this.#o.signer, {
      deviceId: this.#o.deviceId,
      seq: this.#o.outbox.nextSeq(),
      now: new Date(this.#o.now()),
      ...(nonce === undefined ? {} : { nonce }),
    });
  }

  /** Build a signed report now (for the loopback API: the page sends it on itself). */
  sign(snapshot: PostureSnapshot, nonce?: string): Promise<string> {
    return this.#serial(() => this.#build(snapshot, nonce));
  }

  /**
   * Build a report and use it (the token refresh sends it) inside the queue, so no report with a
   * higher `seq` reaches the broker before this one.
   */
  withReport<T>(snapshot: PostureSnapshot, use: (report: string) => Promise<T>): Promise<T> {
    return this.#serial(async () => use(await this.#build(snapshot, undefined)));
  }

  /**
   * Sign and send one report, over the report stream when it can carry it, else as `POST
   * /posture`; the outbox deliverer calls this for each queued snapshot.
   */
  send(snapshot: PostureSnapshot, nonce?: string): Promise<DeliveryResult> {
    return this.#serial(async () => {
      let report = await this.#build(snapshot, nonce);
      const streamed = this.#o.stream ? await this.#o.stream.send(report) : 'not-sent';
      let status: number;
      let text: string;
      if (typeof streamed === 'object') {
        ({ status, text } = streamed);
      } else {
        // Sent and unanswered: the broker may have stored it, so the POST carries the next seq.
        if (streamed === 'lost') report = await this.#build(snapshot, nonce);
        let res: Response;
        try {
          res = await this.#o.fetch(new URL('/posture', this.#o.brokerUrl), {
            method: 'POST',
            headers: { 'content-type': 'application/jwt' },
            body: report,
            signal: AbortSignal.timeout(10_000),
          });
        } catch (err) {
          return { kind: 'retry', reason: `broker unreachable (${err instanceof Error ? err.message.slice(0, 120) : 'network'})` } as const;
        }
        status = res.status;
        text = await res.text().catch(() => '');
      }
      const result = classifyHttpStatus(status);
      if (result.kind !== 'delivered') {
        const why = /"message"\s*:\s*"([^"]{0,300})/.exec(text)?.[1];
        return { ...result, reason: why ? `${result.reason}: ${why}` : result.reason };
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const verdict = PostureVerdictSchema.safeParse(json);
      if (!verdict.success) {
        this.#o.log?.warn({ mod: 'reporter', issue: verdict.error.issues[0]?.message }, 'the broker accepted the report but its verdict is malformed');
        return result;
      }
      this.#o.onVerdict?.(verdict.data, nonce);
      return result;
    });
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(task, task);
    this.#chain = next.catch(() => undefined);
    return next;
  }
}
