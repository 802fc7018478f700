/**
 * The load generator's report-stream client (`broker/server/report-stream.ts`): one WebSocket per
 * simulated device, opened with a DPoP proof as an agent opens it, pre-signed reports sent as text
 * messages one at a time. An answer is accepted when it is a verdict (`{"deviceId":…`), refused
 * when it is an error body (`{"error":…`).
 */
import WebSocket from 'ws';

const VERDICT_PREFIX = Buffer.from('{"deviceId":');

export class StreamConnection {
  readonly #ws: WebSocket;
  #pending: { resolve: (accepted: boolean) => void; reject: (err: Error) => void } | undefined;
  #failure: Error | undefined;
  /** Resolves once the stream is open (rejects with the broker's refusal if the upgrade fails). */
  readonly connected: Promise<void>;

  constructor(url: string, dpopProof: string) {
    this.#ws = new WebSocket(url, { headers: { dpop: dpopProof }, perMessageDeflate: false });
    this.connected = new Promise((resolve, reject) => {
      this.#ws.once('open', () => resolve());
      this.#ws.once('unexpected-response', (_req, res) => reject(new Error(`the broker refused the report stream: HTTP ${res.statusCode}`)));
      this.#ws.once('error', reject);
    });
    this.#ws.on('message', (data: Buffer) => {
      const pending = this.#pending;
      if (!pending) {
        this.#fail(new Error('an answer arrived with no report in flight'));
        return;
      }
      this.#pending = undefined;
      pending.resolve(data.length >= VERDICT_PREFIX.length && data.subarray(0, VERDICT_PREFIX.length).equals(VERDICT_PREFIX));
    });
    this.#ws.on('error', (err) => this.#fail(err));
    this.#ws.on('close', (code, reason) => this.#fail(new Error(`the broker closed the report stream (${code} ${reason.toString()})`)));
  }

  /** Send one report (the compact JWT's bytes); resolves with whether it was accepted. One at a time. */
  send(report: Buffer): Promise<boolean> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#pending) return Promise.reject(new Error('a report is already in flight on this stream'));
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#ws.send(report, { binary: false });
    });
  }

  close(): void {
    this.#failure ??= new Error('closed');
    this.#ws.terminate();
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(err);
  }
}
