import WebSocket from 'ws';
import type { Logger } from '../log.js';
import { REPORT_STREAM_CLOSE, REPORT_STREAM_PATH, reportStreamAnswerStatus } from '../../../broker/sdk/report-stream.js';
import { HEARTBEAT_INTERVAL_MS, keepAlive } from './ws-heartbeat.js';

/** One answer on the stream: what `POST /posture` would have answered, status and body. */
export interface StreamAnswer {
  readonly status: number;
  readonly text: string;
}

export interface ReportStreamClientOptions {
  /** The broker's base URL (http or https); the stream is `REPORT_STREAM_PATH` on it, as ws or wss. */
  readonly brokerUrl: URL;
  /** A DPoP proof by the device key for `GET url` (with the DPoP-Nonce learned so far). */
  readonly proof: (url: URL) => Promise<string>;
  /** Hand the refused upgrade's headers to the DPoP layer; true when they carried a new nonce worth one retry. */
  readonly learn: (url: URL, headers: Readonly<Record<string, string | string[] | undefined>>) => boolean;
  readonly now: () => number;
  readonly log?: Logger;
  /** How long an answer may take before the stream is given up for this report (default 10 s, as the POST's timeout). */
  readonly answerTimeoutMs?: number;
  /** How long opening may take (default 5 s). */
  readonly openTimeoutMs?: number;
  /** After a broker answered the upgrade with 404/405/426 (no stream there), POST only for this long (default 1 h). */
  readonly unsupportedBackoffMs?: number;
  /**
   * After the stream could not be opened for another reason (refused, unreachable, a proxy that
   * drops upgrades), POST only for this long (default 60 s), so no report waits on a stream that
   * keeps failing.
   */
  readonly failureBackoffMs?: number;
  /**
   * Ping the broker this often while the stream is open; a stream that answered nothing since the
   * last ping is closed, so a dead connection is found before a report waits on it (default 30 s).
   */
  readonly heartbeatMs?: number;
}

/**
 * What became of a report given to {@link ReportStreamClient.send}: its answer; `not-sent`, the
 * stream could not be used and the report never left; `lost`, it was sent and the stream ended
 * before its answer (the broker may or may not have stored it).
 */
export type StreamResult = StreamAnswer | 'not-sent' | 'lost';

interface Pending {
  readonly resolve: (answer: StreamAnswer | 'lost') => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * The agent's side of the report stream: one WebSocket to the broker, opened with a DPoP proof
 * when the first report needs it and kept open for the next ones (the broker closes it after its
 * lifetime, and it is opened again with a fresh proof). Reports go out one after another and the
 * answers come back in order.
 *
 * It never decides a report's fate by itself: whenever the stream cannot carry a report (it
 * cannot be opened, it closes or stays silent before the answer) {@link send} says so and the
 * caller posts the report over HTTP instead (signed again with a new `seq` if it was sent).
 * The broker answers an upgrade it cannot authenticate with the error `POST /posture` would get;
 * the POST then gets that same answer and the caller handles it as it always did (revoked,
 * unknown key, ...). A broker without the stream (404, 405, 426) is not asked again for an hour;
 * after any other failure to open it, not for a minute. While open, the stream is pinged every
 * 30 s ({@link keepAlive}); one that stays silent is closed.
 */
export class ReportStreamClient {
  readonly #o: ReportStreamClientOptions;
  readonly #url: URL;
  #ws: WebSocket | undefined;
  #opening: Promise<WebSocket | undefined> | undefined;
  readonly #pending: Pending[] = [];
  /** Until then reports go over HTTP without trying the stream (no stream there, or it failed to open). */
  #postOnlyUntilMs = 0;
  #closed = false;

  constructor(options: ReportStreamClientOptions) {
    this.#o = options;
    this.#url = new URL(REPORT_STREAM_PATH, options.brokerUrl);
  }

  /** Whether a stream is open now (status, tests). */
  get isOpen(): boolean {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  /** Send one signed report; resolves with the broker's answer, or says why the caller should POST it instead. */
  async send(report: string): Promise<StreamResult> {
    if (this.#closed || this.#o.now() < this.#postOnlyUntilMs) return 'not-sent';
    const ws = this.isOpen ? this.#ws : await (this.#opening ??= this.#open().finally(() => (this.#opening = undefined)));
    if (!ws || ws.readyState !== WebSocket.OPEN) return 'not-sent';
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#o.log?.warn({ mod: 'report-stream' }, 'no answer on the report stream in time: closing it, the report goes over HTTP');
        ws.terminate(); // every pending report is then lost (the close handler)
      }, this.#o.answerTimeoutMs ?? 10_000);
      this.#pending.push({ resolve, timer });
      ws.send(report, (err) => {
        if (err) ws.terminate();
      });
    });
  }

  /** Close the stream (the agent stops, or signs with another key from now on). */
  close(): void {
    this.#closed = true;
    this.#ws?.close(1000, 'agent closing');
    this.#ws = undefined;
    this.#settleAll();
  }

  async #open(tryNonce = true): Promise<WebSocket | undefined> {
    let proof: string;
    try {
      proof = await this.#o.proof(this.#url);
    } catch (err) {
      this.#o.log?.warn({ mod: 'report-stream', err: err instanceof Error ? err.message : String(err) }, 'could not sign the report stream\'s DPoP proof');
      return undefined;
    }
    const wsUrl = new URL(this.#url);
    wsUrl.protocol = wsUrl.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(wsUrl, { headers: { dpop: proof }, perMessageDeflate: false, handshakeTimeout: this.#o.openTimeoutMs ?? 5_000, followRedirects: false });
    const opened = await new Promise<'open' | 'retry' | 'failed' | 'unsupported'>((resolve) => {
      ws.once('open', () => resolve('open'));
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        const unsupported = status === 404 || status === 405 || status === 426;
        if (unsupported) this.#o.log?.info({ mod: 'report-stream', status }, 'the broker has no report stream: reports go over HTTP');
        const retry = status === 401 && tryNonce && this.#o.learn(this.#url, res.headers);
        ws.terminate();
        resolve(unsupported ? 'unsupported' : retry ? 'retry' : 'failed');
      });
      ws.once('error', () => resolve('failed'));
    });
    if (opened === 'retry') return this.#open(false);
    if (opened !== 'open' || this.#closed) {
      ws.terminate();
      this.#postOnlyUntilMs = this.#o.now() + (opened === 'unsupported' ? (this.#o.unsupportedBackoffMs ?? 3_600_000) : (this.#o.failureBackoffMs ?? 60_000));
      return undefined;
    }
    ws.on('message', (data: Buffer, isBinary) => this.#answer(isBinary ? undefined : data.toString('utf8')));
    keepAlive(ws, this.#o.heartbeatMs ?? HEARTBEAT_INTERVAL_MS);
    ws.on('error', () => ws.terminate());
    ws.once('close', (code) => {
      if (this.#ws === ws) this.#ws = undefined;
      if (code !== 1000 && code !== REPORT_STREAM_CLOSE.reauthenticate) this.#o.log?.debug({ mod: 'report-stream', code }, 'the report stream closed');
      this.#settleAll();
    });
    this.#ws = ws;
    return ws;
  }

  #answer(text: string | undefined): void {
    const pending = this.#pending.shift();
    if (!pending) {
      this.#ws?.terminate(); // an answer to nothing: the stream is out of step, start again
      return;
    }
    clearTimeout(pending.timer);
    pending.resolve(text === undefined ? 'lost' : { status: reportStreamAnswerStatus(text), text });
  }

  #settleAll(): void {
    for (const pending of this.#pending.splice(0)) {
      clearTimeout(pending.timer);
      pending.resolve('lost');
    }
  }
}
