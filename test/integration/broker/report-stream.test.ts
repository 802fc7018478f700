import fc from 'fast-check';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Broker } from '../../../broker/server/broker.js';
import { REPORT_STREAM_CLOSE, REPORT_STREAM_PATH } from '../../../broker/sdk/report-stream.js';
import { BLOCK_FIREWALL_POLICY, adminHeaders, dpopProof, enroll, newDevice, postReport, postureReport, startBroker, type TestDevice } from './helpers.js';

type Json = Record<string, unknown>;

/** A report stream as the agent opens it: a WebSocket upgrade with a DPoP proof for GET on the stream's URL. */
class Stream {
  readonly answers: Json[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.answers.push(JSON.parse(data.toString('utf8')) as Json);
      for (const w of this.#waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static async open(broker: Broker, device: Pick<TestDevice, 'signer' | 'publicJwk'>, options: { headers?: Record<string, string>; proof?: string; autoPong?: boolean } = {}): Promise<Stream> {
    const url = `${broker.url}${REPORT_STREAM_PATH}`;
    const proof = options.proof ?? (await dpopProof(device, 'GET', url));
    const ws = new WebSocket(url.replace(/^http/, 'ws'), { headers: { dpop: proof, ...options.headers }, autoPong: options.autoPong ?? true });
    const stream = new Stream(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body: JSON.parse(body) as Json })));
      });
      ws.once('error', reject);
    });
    return stream;
  }

  /** Wait until `count` answers have arrived in all. */
  async until(count: number): Promise<Json[]> {
    while (this.answers.length < count) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    return this.answers.slice(0, count);
  }
}

/** The refusal of an upgrade: its status and JSON body. */
async function refusedUpgrade(open: Promise<Stream>): Promise<{ status: number; body: Json }> {
  const err = (await open.then(
    () => {
      throw new Error('the stream opened');
    },
    (e: unknown) => e,
  )) as { status: number; body: Json };
  return { status: err.status, body: err.body };
}

describe('reference broker: the report stream (WebSocket)', () => {
  let broker: Broker;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ broker, cleanup } = await startBroker({ reportStreamLifetimeMs: 1_500, reportStreamHeartbeatMs: 150 }));
    const set = await fetch(`${broker.url}/admin/policy`, { method: 'PUT', headers: adminHeaders, body: JSON.stringify(BLOCK_FIREWALL_POLICY) });
    expect(set.status).toBe(200);
  });
  afterAll(async () => cleanup());

  const enrolled = async (): Promise<TestDevice> => {
    const device = await newDevice();
    expect((await enroll(broker, device)).status).toBe(201);
    return device;
  };

  it('pings every stream and cuts one whose agent answers nothing, freeing its slot; a live one lives out its lifetime', async () => {
    const device = await enrolled();
    const live = await Stream.open(broker, device);
    // An agent that is gone without a close (asleep, off the network): it never answers a ping.
    const dead = await Stream.open(broker, device, { autoPong: false });
    expect(broker.reportStreamCount(device.deviceId!)).toBe(2);
    expect((await dead.closed).code).toBe(1006); // terminated: no close frame
    // Its slot is freed once the broker's side has closed too (the live stream may have ended by then).
    const others = (): number => (live.ws.readyState === WebSocket.OPEN ? 1 : 0);
    for (let waited = 0; broker.reportStreamCount(device.deviceId!) > others() && waited < 2_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    expect(broker.reportStreamCount(device.deviceId!)).toBe(others());
    expect(await live.closed).toMatchObject({ code: REPORT_STREAM_CLOSE.reauthenticate });
  });

  it('answers each report with the verdict POST /posture answers, and stores it', async () => {
    const device = await enrolled();
    const stream = await Stream.open(broker, device);
    stream.ws.send(await postureReport(device, { firewall: 'fail' }));
    const [answer] = await stream.until(1);
    expect(answer).toMatchObject({ deviceId: device.deviceId, seq: 1, decision: 'deny', compliant: false });
    expect((answer?.results as Json[])[0]).toMatchObject({ ruleId: 'fw', passed: false });
    // The same verdict over HTTP for the next report: one evaluation, two transports.
    const overHttp = (await (await postReport(broker, device, await postureReport(device, { firewall: 'fail' }))).json()) as Json;
    expect(Object.keys(overHttp).sort()).toEqual(Object.keys(answer as Json).sort());
    const detail = (await (await fetch(`${broker.url}/devices/${device.deviceId}`, { headers: adminHeaders })).json()) as { posture: Json };
    expect(detail.posture).toMatchObject({ seq: 2, compliant: false });
    stream.ws.close();
  });

  it('answers reports in the order they came, a refused one in its own place', async () => {
    const device = await enrolled();
    const stream = await Stream.open(broker, device);
    const reports = [await postureReport(device, { seq: 1 }), await postureReport(device, { seq: 2 }), await postureReport(device, { seq: 2 }), await postureReport(device, { seq: 3, firewall: 'fail' }), await postureReport(device, { seq: 1 })];
    for (const r of reports) stream.ws.send(r);
    const answers = await stream.until(5);
    expect(answers.map((a) => a.seq ?? a.reason)).toEqual([1, 2, 'replayed-seq', 3, 'rolled-back-seq']);
    expect(answers[3]).toMatchObject({ decision: 'deny' });
    expect(answers[2]).toMatchObject({ error: 'report-refused' });
    stream.ws.close();
  });

  it('refuses tampered reports with their own reasons and keeps the stream open', async () => {
    const device = await enrolled();
    const other = await newDevice();
    const stream = await Stream.open(broker, device);
    const good = await postureReport(device);
    const [h, p, sig] = good.split('.');
    stream.ws.send(`${h}.${p}.${sig!.slice(0, 10)}${sig![10] === 'A' ? 'B' : 'A'}${sig!.slice(11)}`);
    stream.ws.send(await postureReport(device, { signer: other.signer, kid: other.thumbprint }));
    const iat = Math.floor(Date.now() / 1000) - 1000;
    stream.ws.send(await postureReport(device, { iat, exp: iat + 300 }));
    stream.ws.send('not a report');
    stream.ws.send(Buffer.from(await postureReport(device)), { binary: true });
    const answers = await stream.until(5);
    expect(answers.map((a) => a.reason ?? a.error)).toEqual(['bad-signature', 'foreign-key', 'expired', 'malformed', 'unsupported-media-type']);
    stream.ws.send(await postureReport(device));
    expect((await stream.until(6))[5]).toMatchObject({ compliant: true });
    stream.ws.close();
  });

  it('refuses to open without a valid DPoP proof by an enrolled key, or from a browser', async () => {
    const device = await enrolled();
    const url = `${broker.url}${REPORT_STREAM_PATH}`;
    expect(await refusedUpgrade(Stream.open(broker, device, { proof: 'x.y.z' }))).toMatchObject({ status: 401, body: { error: 'invalid-dpop-proof' } });
    expect(await refusedUpgrade(Stream.open(broker, device, { proof: await dpopProof(device, 'GET', `${broker.url}/posture`) }))).toMatchObject({ status: 401 });
    expect(await refusedUpgrade(Stream.open(broker, device, { proof: await dpopProof(device, 'POST', url) }))).toMatchObject({ status: 401 });
    expect(await refusedUpgrade(Stream.open(broker, await newDevice()))).toMatchObject({ status: 403, body: { reason: 'unknown-device' } });
    expect(await refusedUpgrade(Stream.open(broker, device, { headers: { origin: 'https://evil.example' } }))).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    // A proof is good for one upgrade: the second use is a replay.
    const proof = await dpopProof(device, 'GET', url);
    (await Stream.open(broker, device, { proof })).ws.close();
    expect(await refusedUpgrade(Stream.open(broker, device, { proof }))).toMatchObject({ status: 401, body: { error: 'invalid-dpop-proof' } });
  });

  it('closes a revoked device\'s streams (4001) and refuses to open new ones', async () => {
    const device = await enrolled();
    const stream = await Stream.open(broker, device);
    stream.ws.send(await postureReport(device));
    await stream.until(1);
    const res = await fetch(`${broker.url}/admin/devices/${device.deviceId}/revoke`, { method: 'POST', headers: adminHeaders, body: '{}' });
    expect(res.status).toBe(200);
    expect(await stream.closed).toEqual({ code: REPORT_STREAM_CLOSE.deviceGone, reason: 'device-revoked' });
    expect(await refusedUpgrade(Stream.open(broker, device))).toMatchObject({ status: 403, body: { reason: 'device-revoked' } });
  });

  it('ends a stream when its lifetime is over (4000): the agent reopens with a fresh proof', async () => {
    const device = await enrolled();
    const stream = await Stream.open(broker, device);
    expect((await stream.closed).code).toBe(REPORT_STREAM_CLOSE.reauthenticate);
    const again = await Stream.open(broker, device);
    again.ws.send(await postureReport(device));
    expect((await again.until(1))[0]).toMatchObject({ seq: 1 });
    again.ws.close();
  });

  it('closes a stream on an oversized message (1009) and on too many reports in flight (1008)', async () => {
    const device = await enrolled();
    const big = await Stream.open(broker, device);
    big.ws.send('x'.repeat(512 * 1024 + 1));
    expect((await big.closed).code).toBe(REPORT_STREAM_CLOSE.tooBig);
    const flood = await Stream.open(broker, device);
    const report = await postureReport(device);
    // Sent in one turn (~200 KB): the broker reads them 64 KiB at a time, many more than 32 per
    // read, and none of them is answered before the group commit after that read.
    for (let i = 0; i < 200; i++) flood.ws.send(report);
    expect((await flood.closed).code).toBe(REPORT_STREAM_CLOSE.policy);
  });

  it('answers malformed and misdirected upgrades (400, 404, 405) and keeps serving', async () => {
    const raw = (request: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = connect(broker.port, '127.0.0.1', () => socket.end(request));
        let answer = '';
        socket.on('data', (c: Buffer) => (answer += c.toString('latin1')));
        socket.on('close', () => resolve(answer));
        socket.on('error', reject);
      });
    const upgrade = 'Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
    expect(await raw(`GET //:bad HTTP/1.1\r\n${upgrade}`)).toMatch(/^HTTP\/1\.1 400 /);
    expect(await raw(`GET /events HTTP/1.1\r\n${upgrade}`)).toMatch(/^HTTP\/1\.1 404 /);
    expect(await raw(`POST ${REPORT_STREAM_PATH} HTTP/1.1\r\n${upgrade}`)).toMatch(/^HTTP\/1\.1 405 /);
    expect(await raw(`GET ${REPORT_STREAM_PATH} HTTP/1.1\r\n${upgrade}`)).toMatch(/^HTTP\/1\.1 401 .*"missing-dpop-proof"/s);
    expect((await fetch(`${broker.url}/healthz`)).status).toBe(200);
  });

  it('never crashes on arbitrary messages: each gets an error answer, in order (fast-check)', async () => {
    const device = await enrolled();
    const stream = await Stream.open(broker, device);
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 300 }), fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), fc.base64String({ maxLength: 300 }).map((s) => `${s}.${s}.${s}`)), async (message) => {
        stream.ws.send(message);
        sent++;
        const answer = (await stream.until(sent))[sent - 1] as Json;
        expect(answer.error).toBe('report-refused');
        expect(typeof answer.reason).toBe('string');
      }),
      { numRuns: 60 },
    );
    stream.ws.send(await postureReport(device));
    expect((await stream.until(sent + 1))[sent]).toMatchObject({ seq: device.seq });
    stream.ws.close();
  });
});
