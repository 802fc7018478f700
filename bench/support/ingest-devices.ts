/**
 * The simulated devices of `npm run bench -- broker`, in their own process (forked by
 * `bench/broker-ingest.ts`), so that neither their signing nor their HTTP client shares a
 * process or an event loop with the broker being measured.
 *
 * Protocol (IPC): this process says `{ ready }`, the parent sends one {@link IngestLoadRequest}; this process enrolls its
 * devices, runs the closed-loop phase then the open-loop phase, answers one
 * {@link IngestLoadResult} (or `{ error }`) and exits.
 *
 * Every report and its DPoP proof are signed before each phase's clock starts, close enough to
 * it that they stay within the broker's freshness windows (proof `iat` ±60 s, report age
 * ≤ `reportMaxAgeSeconds`): each device's `seq` increases from one report to the next, each proof
 * has its own `jti`, and a device never has two reports in flight (the agent's reporter
 * serialises them), so reports arrive in `seq` order. Unsolicited reports carry no `eat_nonce`
 * (only answers to a challenge do). A broker that restarted recently requires its DPoP-Nonce
 * (RFC 9449 §8): one report is sent first, and if it is refused with `use_dpop_nonce` every
 * pre-signed proof carries the nonce from the answer's `DPoP-Nonce` header (a fresh data
 * directory, as the bench uses, needs none).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { signCompactJws } from '../../broker/sdk/index.js';
import { POSTURE_REPORT_TYP } from '../../broker/sdk/report-claims.js';
import { REPORT_STREAM_PATH } from '../../broker/sdk/report-stream.js';
import { postureReportClaims } from '../../main/core/broker/report.js';
import { buildEnrollmentRequest } from '../../main/core/identity/enrollment.js';
import { jwkThumbprint } from '../../main/core/identity/jws.js';
import type { PostureSnapshot } from '../../main/core/posture/snapshot.js';
import { simulateDevices, type SimulatedDevice } from '../broker.js';
import { percentile, round } from '../stats.js';
import { RawConnection, serializeRequest } from './raw-http-client.js';
import { StreamConnection } from './stream-client.js';
import { WIRE_CHUNK, WireQueue } from './wire-queue.js';

export interface IngestLoadRequest {
  readonly url: string;
  readonly adminToken: string;
  readonly brokerPid: number;
  readonly snapshot: PostureSnapshot;
  /** Maximum throughput: `devices` each send `reportsPerDevice`, the next one when the last is answered. */
  readonly closed: { readonly devices: number; readonly reportsPerDevice: number };
  /** Latency at an offered rate: `ratePerSecond` reports on a fixed schedule for `seconds`, spread over `devices`. */
  /**
   * `warmupSeconds` of reports at the same rate come first and are not measured: the broker sat
   * idle while the devices signed, and its first seconds of load are a transient a loaded broker
   * does not have: the heap regrows from its idle size (scavenges every ~10 ms, the young
   * generation doubling, one or two mark-compacts as the old generation grows), with stalls of up
   * to ~170 ms whose backlog can still be draining 2 s in (docs/broker-server.md, "Figures
   * (session 7)"). The bench's default is 10 s.
   */
  readonly open: { readonly devices: number; readonly ratePerSecond: number; readonly seconds: number; readonly warmupSeconds: number };
  /**
   * Busy-poll the open loop's schedule (`setImmediate`) instead of sleeping until the next send
   * (`setTimeout`). Only with a CPU of the devices' own: it takes that whole CPU. On this VM a
   * sleeping CPU wakes late (a halted vCPU waits for the host to run it again), and every late
   * send and late read of an answer counts as broker latency: the median fell from ~2.3 to
   * ~1.0 ms when the devices stopped sleeping.
   */
  readonly spin: boolean;
  /** Send the broker SIGUSR2 as the open loop starts and ends (its `WARD_BROKER_LOOP_STATS` windows). */
  readonly signalBroker: boolean;
  /**
   * How the devices send their reports: `stream`, one report stream (WebSocket) per device as the
   * agent sends them (broker/server/report-stream.ts); `http`, a `POST /posture` with its own DPoP
   * proof per report.
   */
  readonly transport: Transport;
}

export type Transport = 'http' | 'stream';

/** One device's connection to the broker, whichever the transport. */
interface DeviceConnection {
  readonly connected: Promise<void>;
  /** Send one pre-signed report (its whole request, or the JWT alone on a stream); resolves with whether it was accepted. */
  send(wire: Buffer): Promise<boolean>;
  close(): void;
}

/** CPU use of both processes over a phase. */
export interface PhaseCpu {
  /** Reports per CPU-second of the broker process: its cost, independent of the machine's load. */
  readonly perBrokerCpuSecond: number;
  /** Share of one core the broker / this process used over the phase's wall time. */
  readonly brokerCores: number;
  readonly clientCores: number;
}

export interface ClosedLoopFigures extends PhaseCpu {
  readonly devices: number;
  readonly reports: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface OpenLoopFigures extends PhaseCpu {
  readonly devices: number;
  readonly reports: number;
  /** Seconds of reports at the offered rate sent before the measured ones (see `IngestLoadRequest.open`). */
  readonly warmupSeconds: number;
  readonly offeredPerSecond: number;
  /** Answers per second over the phase (below the offered rate when the broker cannot keep up). */
  readonly achievedPerSecond: number;
  /** From each report's scheduled send time to its answer (no coordinated omission). */
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** How late this process's scheduler dispatched reports (p99 of dispatch − scheduled time): its own lag, not the broker's. */
  readonly sendLagP99Ms: number;
}

export interface IngestLoadResult {
  readonly reportBytes: number;
  /** Reports plus proofs signed per second while preparing (this process, not measured). */
  readonly presignPerSecond: number;
  readonly closed: ClosedLoopFigures;
  readonly open: OpenLoopFigures;
}

interface Signed {
  readonly report: string;
  /** What goes on the wire: the whole HTTP request (head with the DPoP proof, and the report as body), or the report alone on a stream. */
  readonly wire: Buffer;
}

/** Each device's key thumbprint (~40 µs to compute: once, not per signed report). */
const thumbprints = new WeakMap<SimulatedDevice, string>();

/**
 * Sign `count` consecutive reports of one device, each with its own DPoP proof for `postureUrl`
 * (`http`; a stream needs none); report `i` is issued at `issuedAtMs(i)` (default: now).
 */
async function presign(transport: Transport, device: SimulatedDevice, snapshot: PostureSnapshot, postureUrl: string, count: number, dpopNonce?: string, issuedAtMs?: (i: number) => number): Promise<Signed[]> {
  let thumbprint = thumbprints.get(device);
  if (thumbprint === undefined) thumbprints.set(device, (thumbprint = await jwkThumbprint(device.signer.publicJwk)));
  const items: Signed[] = [];
  for (let i = 0; i < count; i++) {
    // The agent's own claim builder; signed with the same header as `buildPostureReport`.
    const claims = postureReportClaims(snapshot, thumbprint, device.signer, { deviceId: device.deviceId, seq: device.seq++, ...(issuedAtMs ? { now: new Date(issuedAtMs(i)) } : {}) });
    const report = await signCompactJws({ typ: POSTURE_REPORT_TYP, kid: thumbprint }, claims, device.signer);
    if (transport === 'stream') {
      items.push({ report, wire: Buffer.from(report, 'utf8') });
      continue;
    }
    const proof = await dpopProof(device, 'POST', postureUrl, claims.iat, dpopNonce);
    items.push({ report, wire: serializeRequest('POST', new URL(postureUrl), { 'content-type': 'application/jwt', dpop: proof }, report) });
  }
  return items;
}

/** A DPoP proof (RFC 9449) by the device's key for `htm htu`, issued at `iat` (epoch seconds). */
function dpopProof(device: SimulatedDevice, htm: string, htu: string, iat: number, nonce: string | undefined): Promise<string> {
  return signCompactJws({ typ: 'dpop+jwt', jwk: device.signer.publicJwk }, { jti: randomUUID(), htm, htu, iat, ...(nonce === undefined ? {} : { nonce }) }, device.signer);
}

/** utime + stime of a process from /proc (Linux), in seconds; 0 elsewhere. */
function processCpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks; USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

/** Start measuring CPU of the broker and of this process; the returned function ends it. */
function cpuMeter(brokerPid: number): (reports: number, wallSeconds: number) => PhaseCpu {
  const brokerBefore = processCpuSeconds(brokerPid);
  const clientBefore = process.cpuUsage();
  return (reports, wallSeconds) => {
    const broker = processCpuSeconds(brokerPid) - brokerBefore;
    const c = process.cpuUsage(clientBefore);
    return {
      perBrokerCpuSecond: broker > 0 ? Math.round(reports / broker) : 0,
      brokerCores: round(broker / wallSeconds),
      clientCores: round((c.user + c.system) / 1e6 / wallSeconds),
    };
  };
}

/**
 * One connection per device, all established before the phase's clock starts: a fleet's agents
 * hold their connections, they do not all open one in the same millisecond. `http`: a keep-alive
 * connection (`raw-http-client.ts`: the load generator's own cost kept small); `stream`: a report
 * stream opened with a DPoP proof signed now.
 */
async function connectAll(transport: Transport, postureUrl: string, devices: readonly SimulatedDevice[], dpopNonce?: string): Promise<DeviceConnection[]> {
  const connections: DeviceConnection[] = [];
  for (const device of devices) {
    if (transport === 'http') {
      const raw = new RawConnection(new URL(postureUrl));
      connections.push({ connected: raw.connected, send: async (wire) => (await raw.send(wire)).status === 200, close: () => raw.close() });
      continue;
    }
    const streamUrl = new URL(REPORT_STREAM_PATH, postureUrl).href;
    const proof = await dpopProof(device, 'GET', streamUrl, Math.floor(Date.now() / 1000), dpopNonce);
    connections.push(new StreamConnection(streamUrl.replace(/^http/, 'ws'), proof));
  }
  await Promise.all(connections.map((c) => c.connected));
  return connections;
}

async function enroll(url: string, adminToken: string, device: SimulatedDevice, snapshot: PostureSnapshot): Promise<void> {
  const tokenRes = await fetch(`${url}/admin/enrollment-tokens`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: '{}' });
  const { token } = (await tokenRes.json()) as { token: string };
  const jws = await buildEnrollmentRequest({ signer: device.signer, token, brokerUrl: url, device: snapshot.device });
  const res = await fetch(`${url}/enroll`, { method: 'POST', headers: { 'content-type': 'application/jose' }, body: jws });
  if (res.status !== 201) throw new Error(`enrollment failed: HTTP ${res.status}`);
  (device as { deviceId: string }).deviceId = ((await res.json()) as { deviceId: string }).deviceId;
  device.seq = 1;
}

/** What this process is doing, on stderr (the bench's stdout ends with its JSON line). */
function progress(what: string): void {
  process.stderr.write(`broker bench devices: ${what}\n`);
}

function checkAnswers(failures: number, total: number): void {
  if (failures > 0) throw new Error(`${failures} of ${total} reports were refused during the benchmark`);
}

/** The DPoP-Nonce the broker requires, if any: one report without it, as an RFC 9449 client learns it. */
async function learnDpopNonce(device: SimulatedDevice, snapshot: PostureSnapshot, postureUrl: string): Promise<string | undefined> {
  const [first] = await presign('http', device, snapshot, postureUrl, 1);
  const connection = new RawConnection(new URL(postureUrl));
  await connection.connected;
  const answer = await connection.send((first as Signed).wire);
  connection.close();
  if (answer.status === 200) return undefined;
  const nonce = /\r\ndpop-nonce:[ \t]*([^\r\n]+)/i.exec(answer.head)?.[1]?.trim();
  if (answer.status === 401 && nonce !== undefined) return nonce;
  throw new Error(`the first report was refused: HTTP ${answer.status}`);
}

async function closedLoop(req: IngestLoadRequest, devices: readonly SimulatedDevice[], postureUrl: string, dpopNonce: string | undefined): Promise<ClosedLoopFigures> {
  const queues = await Promise.all(devices.map((d) => presign(req.transport, d, req.snapshot, postureUrl, req.closed.reportsPerDevice, dpopNonce)));
  const connections = await connectAll(req.transport, postureUrl, devices, dpopNonce);
  const latencies: number[] = [];
  let failures = 0;
  progress(`closed loop: ${devices.length} devices × ${req.closed.reportsPerDevice} reports`);
  const meter = cpuMeter(req.brokerPid);
  const start = performance.now();
  await Promise.all(
    queues.map(async (items, d) => {
      const connection = connections[d] as DeviceConnection;
      for (const item of items) {
        const t = performance.now();
        if (!(await connection.send(item.wire))) failures++;
        latencies.push(performance.now() - t);
      }
    }),
  );
  const wallSeconds = (performance.now() - start) / 1000;
  for (const c of connections) c.close();
  checkAnswers(failures, latencies.length);
  return {
    devices: devices.length,
    reports: latencies.length,
    perSecond: Math.round(latencies.length / wallSeconds),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    ...meter(latencies.length, wallSeconds),
  };
}

/**
 * Open loop (as wrk2 and k6's constant-arrival-rate do): report k is due at `start + k / rate`
 * whether or not earlier ones were answered, on device `k mod devices`. Its latency runs from
 * that scheduled time, so a stalled broker shows as latency instead of silently lowering the
 * offered rate (coordinated omission). A device whose previous report is still in flight sends
 * the next when it is answered, late, and the wait counts.
 */
async function openLoop(req: IngestLoadRequest, devices: readonly SimulatedDevice[], postureUrl: string, dpopNonce: string | undefined, presignPerSecond: number): Promise<OpenLoopFigures> {
  const { ratePerSecond, seconds, warmupSeconds } = req.open;
  const total = Math.round(ratePerSecond * seconds); // measured
  const warm = Math.round(ratePerSecond * warmupSeconds); // sent first, not measured
  const all = warm + total;
  const perDevice = Math.ceil(all / devices.length);
  // Everything is signed before the clock starts, so the devices spend nothing on signing while
  // they send. Each report and its DPoP proof carry the time the report is due as their `iat`,
  // as an agent's would, however long the run: the schedule's start is planned from the signing
  // rate measured before, with a quarter more time than that rate needs, and the clock starts at
  // that planned time (or at once, if signing took even longer: each `iat` is then early by that
  // much, well inside the broker's ±60 s unless the estimate was off by a minute).
  const plannedStartMs = Date.now() + (1.25 * all / Math.max(1, presignPerSecond / 2)) * 1000 + 1000;
  const queues: WireQueue[] = [];
  for (const [d, device] of devices.entries()) {
    const queue = new WireQueue();
    for (let k = 0; k < perDevice; k += WIRE_CHUNK) {
      const signed = await presign(req.transport, device, req.snapshot, postureUrl, Math.min(WIRE_CHUNK, perDevice - k), dpopNonce, (i) => plannedStartMs + ((k + i) * devices.length + d) * (1000 / ratePerSecond));
      queue.add(signed.map((item) => item.wire));
    }
    queues.push(queue);
  }
  // Preallocated: per-report figures kept as numbers in flat arrays, so the load generator's own
  // young generation stays small and its scavenges short (a stall here would count as latency).
  const latencies = new Float64Array(total);
  const dues = new Float64Array(total);
  const lags = new Float64Array(total);
  let answered = 0; // of all, the warm-up included
  let recorded = 0; // measured
  let failures = 0;
  const busy = new Array<boolean>(devices.length).fill(false);
  const waiting: { index: number; dueMs: number }[][] = devices.map(() => []);
  const intervalMs = 1000 / ratePerSecond;

  let settle: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (settle = resolve));
  const send = (index: number, dueMs: number): void => {
    const d = index % devices.length;
    const item = (queues[d] as WireQueue).take(Math.floor(index / devices.length));
    busy[d] = true;
    const onAnswer = (isAccepted: boolean): void => {
      if (index >= warm) {
        latencies[recorded] = performance.now() - dueMs;
        dues[recorded++] = dueMs;
      }
      answered++;
      if (!isAccepted) failures++;
      busy[d] = false;
      const next = waiting[d]?.shift();
      if (next) send(next.index, next.dueMs);
      if (answered === all) settle();
    };
    (connections[d] as DeviceConnection).send(item).then(
      (accepted) => onAnswer(accepted),
      (err: unknown) => {
        if (failures === 0) progress(`a report failed: ${err instanceof Error ? err.message : String(err)}`);
        onAnswer(false);
      },
    );
  };

  // Start the clock with this process's heap settled: the pre-signed reports were just built, and
  // promoting them during the first scavenges would stall the sending and count as latency. (The
  // parent starts this process with --expose-gc for this one call.)
  (globalThis as { gc?: () => void }).gc?.();
  const early = plannedStartMs - Date.now();
  if (early > 0) await new Promise((resolve) => setTimeout(resolve, early));
  // Connected only now: a connection that sends nothing for the broker's headers timeout (10 s)
  // is closed by it, and the wait above can be longer than that.
  const connections = await connectAll(req.transport, postureUrl, devices, dpopNonce);
  progress(`open loop: ${ratePerSecond} reports/s for ${warmupSeconds} s of warm-up, then ${seconds} s measured, over ${devices.length} devices (${req.transport === 'stream' ? 'report streams' : 'POST /posture'})`);
  const start = performance.now() + 20;
  const measuredStart = start + warm * intervalMs;
  let meter: ReturnType<typeof cpuMeter> | undefined;
  let next = 0;
  const tick = (): void => {
    const now = performance.now();
    for (; next < all && start + next * intervalMs <= now; next++) {
      const dueMs = start + next * intervalMs;
      if (next === warm) {
        // The measured window opens: the broker's loop-stats window and both CPU meters with it.
        if (req.signalBroker) process.kill(req.brokerPid, 'SIGUSR2');
        meter = cpuMeter(req.brokerPid);
      }
      if (next >= warm) lags[next - warm] = now - dueMs;
      const d = next % devices.length;
      if (busy[d]) waiting[d]?.push({ index: next, dueMs });
      else send(next, dueMs);
    }
    if (next >= all) return;
    if (req.spin) setImmediate(tick);
    else setTimeout(tick, Math.max(0, start + next * intervalMs - performance.now()));
  };
  setTimeout(tick, 20);
  await finished;
  if (req.signalBroker) process.kill(req.brokerPid, 'SIGUSR2');
  const wallSeconds = (performance.now() - measuredStart) / 1000;
  const cpu = (meter as ReturnType<typeof cpuMeter>)(total, wallSeconds);
  if (process.env.WARD_BENCH_LATENCY_TRACE) writeLatencyTrace(process.env.WARD_BENCH_LATENCY_TRACE, dues, latencies, (dueMs) => lags[Math.round((dueMs - measuredStart) / intervalMs)] ?? 0);
  for (const c of connections) c.close();
  checkAnswers(failures, answered);
  return {
    devices: devices.length,
    reports: total,
    warmupSeconds,
    offeredPerSecond: ratePerSecond,
    achievedPerSecond: Math.round(total / wallSeconds),
    p50Ms: round(percentile(latencies, 50)),
    p95Ms: round(percentile(latencies, 95)),
    p99Ms: round(percentile(latencies, 99)),
    maxMs: round(percentile(latencies, 100)),
    sendLagP99Ms: round(percentile(lags, 99)),
    ...cpu,
  };
}

/**
 * `WARD_BENCH_LATENCY_TRACE=FILE`: one line per answered report of the open loop, in answer
 * order: its due time (ms since the epoch), its latency (ms) and how late this process sent it
 * (ms). For lining latencies up with the broker's GC pauses and event-loop stalls when a run's
 * p99 needs explaining, and telling a late send (this side) from a slow answer.
 */
function writeLatencyTrace(file: string, dues: Float64Array, latencies: Float64Array, lagOf: (dueMs: number) => number): void {
  const lines: string[] = [];
  for (let i = 0; i < dues.length; i++) {
    const due = dues[i] ?? 0;
    lines.push(`${(due + performance.timeOrigin).toFixed(1)} ${(latencies[i] ?? 0).toFixed(2)} ${lagOf(due).toFixed(2)}`);
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
}

async function run(req: IngestLoadRequest): Promise<IngestLoadResult> {
  const postureUrl = `${req.url}/posture`;
  const devices = await simulateDevices(Math.max(req.closed.devices, req.open.devices));
  progress(`enrolling ${devices.length} devices, then signing each phase's reports and proofs before it starts`);
  for (const device of devices) await enroll(req.url, req.adminToken, device, req.snapshot);

  const dpopNonce = await learnDpopNonce(devices[0] as SimulatedDevice, req.snapshot, postureUrl);

  const presignStart = performance.now();
  const sample = await presign('http', devices[0] as SimulatedDevice, req.snapshot, postureUrl, 200, dpopNonce);
  const presignPerSecond = Math.round((2 * sample.length) / ((performance.now() - presignStart) / 1000));

  const closed = await closedLoop(req, devices.slice(0, req.closed.devices), postureUrl, dpopNonce);
  const open = await openLoop(req, devices.slice(0, req.open.devices), postureUrl, dpopNonce, presignPerSecond);
  return { reportBytes: sample[0]?.report.length ?? 0, presignPerSecond, closed, open };
}

process.once('message', (message: IngestLoadRequest) => {
  run(message).then(
    (result) => process.send?.({ result }, () => process.exit(0)),
    (err: unknown) => process.send?.({ error: err instanceof Error ? err.message : String(err) }, () => process.exit(1)),
  );
});
// Only now is the listener there: a request sent before it would be lost.
process.send?.({ ready: true });
