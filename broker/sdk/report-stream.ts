/**
 * The report stream's wire protocol (docs/broker-sdk.md, "Report stream"), shared by the agent
 * (`main/core/broker/report-stream-client.ts`), the reference broker
 * (`broker/server/report-stream.ts`) and any broker that implements the stream itself.
 *
 * - `GET {issuer}/posture/stream` upgraded to a WebSocket, with a DPoP proof by the enrolled
 *   device key (`htm: GET`, `htu` that URL) in the `DPoP` header; a refused upgrade is answered
 *   with the status and JSON body `POST /posture` would get.
 * - Each text message from the agent is one posture report (the compact JWT `POST /posture`
 *   takes); each gets one text answer, in order: the verdict JSON, or the error body with its
 *   HTTP status as `status` ({@link reportStreamAnswerStatus} reads it back).
 * - Close codes: {@link REPORT_STREAM_CLOSE}.
 */

/** Where agents open the report stream, on the broker's issuer. */
export const REPORT_STREAM_PATH = '/posture/stream';

/** Close codes of the report stream (RFC 6455 §7.4.2: 4000–4999 are the application's). */
export const REPORT_STREAM_CLOSE = {
  /** The stream's lifetime ended: open a new one with a fresh DPoP proof; nothing is wrong. */
  reauthenticate: 4000,
  /** The device was revoked or its key replaced: `POST /posture` says which. */
  deviceGone: 4001,
  /** Too many reports waiting for their answers, or replaced by a newer stream of the device. */
  policy: 1008,
  /** A message larger than the broker takes. */
  tooBig: 1009,
  /** The broker is shutting down: reconnect later. */
  shutdown: 1001,
} as const;

/**
 * The HTTP status a report stream answer stands for: 200 for a verdict (`{"deviceId":…`), the
 * `status` an error body carries (400–599), and 502 for anything else (the broker answered
 * something that is neither). Never throws.
 *
 * @example
 * ```ts
 * ws.on('message', (data) => {
 *   const status = reportStreamAnswerStatus(data.toString('utf8'));
 *   if (status !== 200) console.warn(`report refused (HTTP ${status})`);
 * });
 * ```
 */
export function reportStreamAnswerStatus(text: string): number {
  if (text.startsWith('{"deviceId"')) return 200;
  try {
    const status = (JSON.parse(text) as { status?: unknown } | null)?.status;
    return typeof status === 'number' && Number.isInteger(status) && status >= 400 && status <= 599 ? status : 502;
  } catch {
    return 502;
  }
}
