import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { DeviceRecord } from './storage/storage.js';
import type { DpopVerifier } from './dpop.js';
import { BrokerError } from './errors.js';
import type { IngestResult } from './broker-core.js';
import { REPORT_STREAM_CLOSE } from '../sdk/report-stream.js';
import { HEARTBEAT_INTERVAL_MS, keepAlive } from '../../main/core/broker/ws-heartbeat.js';
import type { Logger } from '../../main/core/log.js';

/** How long one stream lives before the broker asks the agent to open a new one (a fresh DPoP proof). */
export const REPORT_STREAM_LIFETIME_MS = 10 * 60_000;
/** Reports one stream may have sent and not yet had answered; more closes it (1008). */
export const REPORT_STREAM_MAX_IN_FLIGHT = 32;
/** Streams one device may hold at once (agent restarts overlap); the oldest is closed for a new one. */
export const REPORT_STREAMS_PER_DEVICE = 4;

export interface ReportStreamDeps {
  readonly dpop: DpopVerifier;
  /** The stream's `htu`: the issuer's origin and `REPORT_STREAM_PATH`. */
  readonly htu: string;
  /** Looks the device up by its key's thumbprint; throws (a {@link BrokerError}) when revoked or unknown. */
  readonly deviceForKey: (jkt: string) => DeviceRecord;
  readonly ingest: (device: DeviceRecord, jwt: string) => Promise<IngestResult>;
  readonly log: Logger;
  /** Largest report accepted, in bytes (the HTTP endpoint's body limit). */
  readonly maxReportBytes: number;
  readonly lifetimeMs?: number;
  /** How often each stream is pinged; one whose agent answered nothing since the last ping is cut (default 30 s). */
  readonly heartbeatMs?: number;
}

/**
 * The answer to an accepted report, as `POST /posture` sends it: the verdict with `results`
 * spliced in as the text already serialised for storage (the largest part, not serialised twice).
 */
export function verdictAnswerText(result: IngestResult): string {
  const head = JSON.stringify({
    deviceId: result.deviceId,
    seq: result.seq,
    decision: result.decision,
    compliant: result.compliant,
    reportOnly: result.reportOnly,
    policyVersion: result.policyVersion,
  });
  return `${head.slice(0, -1)},"results":${result.resultsJson}}`;
}

interface Stream {
  readonly ws: WebSocket;
  readonly jkt: string;
  readonly deviceId: string;
  inFlight: number;
  /** The last answer queued: answers go out in the order their reports came in. */
  answered: Promise<void>;
}

/**
 * Posture reports over one WebSocket per agent (docs/broker-server.md, "Report stream"). The
 * upgrade request is authenticated as `POST /posture` is, by a DPoP proof (`htm: GET`, `htu` the
 * stream's URL) by the enrolled device key; after that every text message is one posture report
 * (the compact JWT), verified, evaluated and stored exactly as the HTTP endpoint does it, and
 * answered with one text message: the verdict JSON `POST /posture` answers, or the error body it
 * would send with the status it would have had (`{ error, message, reason?, status }`). Answers
 * come in the order of the reports.
 *
 * What the stream saves is per report: HTTP parsing and a DPoP proof (one ES256 verification of
 * the two); every report is still signed by the device key, bound to its `seq` (no replay or
 * rollback) and fresh. What it keeps from the per-request proof:
 * - the device is looked up by its key for every report, so a revoked device or a replaced key
 *   is refused at once, and its streams are closed ({@link disconnect});
 * - a stream lives at most {@link REPORT_STREAM_LIFETIME_MS}, then closes with 4000 and the agent
 *   opens a new one with a fresh proof;
 * - a request with an `Origin` header is refused: agents are not browsers;
 * - each stream is pinged every 30 s, and one whose agent answered nothing since the last ping
 *   is cut.
 */
export class ReportStreams {
  readonly #wss: WebSocketServer;
  readonly #byDevice = new Map<string, Set<Stream>>();
  readonly #d: ReportStreamDeps;

  constructor(deps: ReportStreamDeps) {
    this.#d = deps;
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: deps.maxReportBytes, perMessageDeflate: false, clientTracking: false });
  }

  /** The HTTP server's `upgrade` event for `REPORT_STREAM_PATH`. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    let device: DeviceRecord;
    let jkt = '';
    try {
      if (req.method !== 'GET') throw new BrokerError('method-not-allowed', 'Open the report stream with GET.');
      if (req.headers.origin !== undefined) throw new BrokerError('forbidden', 'The report stream is for agents, not browsers.');
      if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') throw new BrokerError('bad-request', 'The report stream is a WebSocket: send Upgrade: websocket.');
      device = this.#d.dpop.verifyFor(req, this.#d.htu, (k) => {
        jkt = k;
        return this.#d.deviceForKey(k);
      });
    } catch (err) {
      refuseUpgrade(socket, err instanceof BrokerError ? err : new BrokerError('internal', 'The broker hit an unexpected error; see its log.'));
      if (!(err instanceof BrokerError)) this.#d.log.error({ err: err instanceof Error ? err.message : String(err) }, 'report stream upgrade failed');
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#open(ws, device.id, jkt));
  }

  #open(ws: WebSocket, deviceId: string, jkt: string): void {
    const stream: Stream = { ws, jkt, deviceId, inFlight: 0, answered: Promise.resolve() };
    let set = this.#byDevice.get(deviceId);
    if (!set) {
      set = new Set();
      this.#byDevice.set(deviceId, set);
    }
    if (set.size >= REPORT_STREAMS_PER_DEVICE) {
      const oldest = set.values().next().value as Stream;
      set.delete(oldest);
      oldest.ws.close(REPORT_STREAM_CLOSE.policy, 'replaced by a newer stream of this device');
    }
    set.add(stream);
    const lifetime = setTimeout(() => ws.close(REPORT_STREAM_CLOSE.reauthenticate, 'stream lifetime ended: reconnect with a fresh DPoP proof'), this.#d.lifetimeMs ?? REPORT_STREAM_LIFETIME_MS);
    lifetime.unref();
    ws.on('message', (data, isBinary) => this.#report(stream, data, isBinary));
    // A dead agent (asleep, off the network) is cut within two pings: its slot among the device's
    // streams and its socket are freed, not held for the stream's lifetime.
    keepAlive(ws, this.#d.heartbeatMs ?? HEARTBEAT_INTERVAL_MS);
    ws.on('error', () => ws.terminate()); // a framing error, an oversized message: ws closes with its code
    ws.once('close', () => {
      clearTimeout(lifetime);
      set.delete(stream);
      if (set.size === 0 && this.#byDevice.get(deviceId) === set) this.#byDevice.delete(deviceId);
    });
  }

  #report(stream: Stream, data: RawData, isBinary: boolean): void {
    if (++stream.inFlight > REPORT_STREAM_MAX_IN_FLIGHT) {
      stream.ws.close(REPORT_STREAM_CLOSE.policy, `more than ${REPORT_STREAM_MAX_IN_FLIGHT} reports waiting for their answers`);
      return;
    }
    let answer: Promise<string>;
    try {
      if (isBinary) throw new BrokerError('unsupported-media-type', 'Send each report as a text message (the compact JWT).');
      // The key is looked up again for every report: revocation and rotation apply at once.
      const device = this.#d.deviceForKey(stream.jkt);
      answer = this.#d.ingest(device, rawText(data).trim()).then(verdictAnswerText, (err: unknown) => this.#errorText(stream, err));
    } catch (err) {
      answer = Promise.resolve(this.#errorText(stream, err));
    }
    stream.answered = Promise.all([stream.answered, answer]).then(([, text]) => {
      stream.inFlight--;
      if (stream.ws.readyState === stream.ws.OPEN) stream.ws.send(text);
    });
  }

  #errorText(stream: Stream, err: unknown): string {
    if (err instanceof BrokerError) {
      if (err.code === 'device-revoked' || err.code === 'unknown-device') setImmediate(() => stream.ws.close(REPORT_STREAM_CLOSE.deviceGone, err.reason ?? err.code));
      return errorAnswer(err);
    }
    this.#d.log.error({ err: err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : String(err) }, 'unexpected error on a report stream');
    return errorAnswer(new BrokerError('internal', 'The broker hit an unexpected error; see its log.'));
  }

  /** How many streams a device holds open (tests, diagnostics). */
  openCount(deviceId: string): number {
    return this.#byDevice.get(deviceId)?.size ?? 0;
  }

  /** Close a device's streams (revoked, or its key replaced). */
  disconnect(deviceId: string, reason: string): void {
    for (const stream of this.#byDevice.get(deviceId) ?? []) stream.ws.close(REPORT_STREAM_CLOSE.deviceGone, reason);
  }

  /**
   * Close every stream (broker shutdown): agents reconnect to the next broker. A stream whose
   * agent does not answer the close within a second is cut, so shutdown never waits on it.
   */
  closeAll(): void {
    for (const set of this.#byDevice.values()) {
      for (const stream of set) {
        stream.ws.close(REPORT_STREAM_CLOSE.shutdown, 'broker shutting down');
        setTimeout(() => stream.ws.terminate(), 1_000).unref();
      }
    }
    this.#byDevice.clear();
  }
}

/** An error answer on the stream: the body `POST /posture` would send, with the status it would have had. */
export function errorAnswer(err: BrokerError): string {
  return JSON.stringify({ ...err.body(), status: err.status });
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/** Answer a refused upgrade with a plain HTTP error (the JSON body every endpoint sends) and close. */
export function refuseUpgrade(socket: Duplex, err: BrokerError): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(err.body());
  const headers = [`HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? 'Error'}`, 'content-type: application/json; charset=utf-8', `content-length: ${Buffer.byteLength(body)}`, 'cache-control: no-store', 'connection: close'];
  for (const [name, value] of Object.entries(err.headers)) if (!/[\r\n]/.test(value)) headers.push(`${name}: ${value}`);
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
}
