import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { signCompactJws } from '../broker/sdk/index.js';
import { buildPostureReport } from '../main/core/broker/report.js';
import { buildEnrollmentRequest } from '../main/core/identity/enrollment.js';
import { percentile, round } from './stats.js';
import { benchSnapshot, simulateDevices, type IngestFigures, type SimulatedDevice } from './broker.js';

/**
 * End-to-end ingestion: the real `ward-broker serve` in its own process (one JS thread: HTTP,
 * DPoP proof and report verification, policy evaluation, SQLite writes), simulated devices in
 * this one. Each device enrolls over HTTP, then sends its reports one after another (a device
 * never has two in flight, as the agent's reporter serialises them); `devices` of them run
 * concurrently over keep-alive loopback connections. Reports and DPoP proofs are signed before
 * the clock starts, so the figures are the broker's, not the signers'.
 */
export async function measureIngestOverLoopback(options: { devices: number; reportsPerDevice: number }): Promise<IngestFigures & Record<string, number>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ward-bench-broker-'));
  // WARD_BENCH_BROKER_NODE_ARGS: extra node flags for the broker child, e.g. `--cpu-prof --cpu-prof-dir=DIR`.
  const nodeArgs = (process.env.WARD_BENCH_BROKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, 'bin/ward-broker.mjs', 'serve', '--data', dataDir, '--port', '0'], {
    env: { ...process.env, WARD_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const url = await listeningUrl(child);
    const admin = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    const agent = new Agent({ keepAlive: true, maxSockets: options.devices });
    const snapshot = await benchSnapshot();
    const devices = await simulateDevices(options.devices);
    for (const device of devices) await enrollDevice(url, admin, device, snapshot.device);

    // Pre-sign every report and its DPoP proof (iat within the broker's 60 s window).
    const postureUrl = `${url}/posture`;
    const queues = await Promise.all(
      devices.map(async (device) => {
        const items: { report: string; proof: string }[] = [];
        for (let i = 0; i < options.reportsPerDevice; i++) {
          const report = await buildPostureReport(snapshot, device.signer, { deviceId: device.deviceId, seq: device.seq++ });
          const proof = await signCompactJws(
            { typ: 'dpop+jwt', jwk: device.signer.publicJwk },
            { jti: randomUUID(), htm: 'POST', htu: postureUrl, iat: Math.floor(Date.now() / 1000) },
            device.signer,
          );
          items.push({ report, proof });
        }
        return items;
      }),
    );

    const latencies: number[] = [];
    let failures = 0;
    const cpuBefore = processCpuSeconds(child.pid);
    const clientCpuBefore = process.cpuUsage();
    const start = performance.now();
    await Promise.all(
      queues.map(async (items) => {
        for (const item of items) {
          const t = performance.now();
          const status = await post(postureUrl, item.report, item.proof, agent);
          latencies.push(performance.now() - t);
          if (status !== 200) failures++;
        }
      }),
    );
    const wallSeconds = (performance.now() - start) / 1000;
    const brokerCpuSeconds = processCpuSeconds(child.pid) - cpuBefore;
    const clientCpu = process.cpuUsage(clientCpuBefore);
    const clientCpuSeconds = (clientCpu.user + clientCpu.system) / 1e6;
    agent.destroy();
    if (failures > 0) throw new Error(`${failures} of ${latencies.length} reports were refused during the benchmark`);
    return {
      ingestPerSecond: Math.round(latencies.length / wallSeconds),
      ingestP99Ms: round(percentile(latencies, 99)),
      ingestP50Ms: round(percentile(latencies, 50)),
      ingestReports: latencies.length,
      ingestDevices: options.devices,
      ingestReportBytes: queues[0]?.[0]?.report.length ?? 0,
      // Reports per CPU-second of the broker process: its cost independent of this machine's load.
      ingestPerBrokerCpuSecond: brokerCpuSeconds > 0 ? Math.round(latencies.length / brokerCpuSeconds) : 0,
      // The simulated devices' side (HTTP client only: reports are pre-signed). When this is near
      // `ingestPerSecond`, the client, not the broker, holds the wall-clock figure down.
      ingestPerClientCpuSecond: clientCpuSeconds > 0 ? Math.round(latencies.length / clientCpuSeconds) : 0,
      // Wall-clock share of one core each process used during the run (1 = a whole core).
      ingestBrokerCores: round(brokerCpuSeconds / wallSeconds),
      ingestClientCores: round(clientCpuSeconds / wallSeconds),
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function listeningUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the broker did not start within 30 s')), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`the broker exited (${code}) before listening`)));
  });
}

/** utime + stime of a process from /proc (Linux), in seconds; 0 elsewhere. */
function processCpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks; USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

function post(url: string, body: string, dpop: string, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/jwt', 'content-length': Buffer.byteLength(body), dpop } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function enrollDevice(url: string, admin: string, device: SimulatedDevice, facts: Parameters<typeof buildEnrollmentRequest>[0]['device']): Promise<void> {
  const tokenRes = await fetch(`${url}/admin/enrollment-tokens`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: '{}' });
  const { token } = (await tokenRes.json()) as { token: string };
  const jws = await buildEnrollmentRequest({ signer: device.signer, token, brokerUrl: url, device: facts });
  const res = await fetch(`${url}/enroll`, { method: 'POST', headers: { 'content-type': 'application/jose' }, body: jws });
  if (res.status !== 201) throw new Error(`enrollment failed: HTTP ${res.status}`);
  (device as { deviceId: string }).deviceId = ((await res.json()) as { deviceId: string }).deviceId;
  device.seq = 1;
}
