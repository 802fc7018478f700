import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { Outbox } from '../../../main/core/broker/outbox.js';
import { PostureReporter, type PostureVerdict } from '../../../main/core/broker/posture-reporter.js';
import { ReportStreamClient, type ReportStreamClientOptions } from '../../../main/core/broker/report-stream-client.js';
import { LiveHost } from '../../../main/core/exec/live-host.js';
import { openSigner } from '../../../main/core/identity/device-signer.js';
import { enroll } from '../../../main/core/identity/enrollment.js';
import { IdentityFile } from '../../../main/core/identity/identity-record.js';
import type { DeviceSigner } from '../../../main/core/identity/key-store.js';
import { MemoryKeyStore } from '../../../main/core/identity/memory-key-store.js';
import { takeSnapshot } from '../../../main/core/posture/engine.js';
import type { PostureSnapshot } from '../../../main/core/posture/snapshot.js';
import { DpopFetch } from '../../../main/core/session/dpop-fetch.js';
import { nodeHttpFetch } from '../../../main/core/session/node-http-fetch.js';
import { restartBroker, startBroker, type RunningBroker } from './helpers.js';

/**
 * The agent's reporter over the report stream against the real broker: what goes over the
 * stream, what falls back to `POST /posture`, and how it comes back after the broker ends a stream
 * or restarts.
 */
describe('agent reporter over the report stream (real broker)', () => {
  let running: RunningBroker;
  let dir: string;
  let snapshot: PostureSnapshot;
  const clients: ReportStreamClient[] = [];

  beforeAll(async () => {
    running = await startBroker({ reportStreamLifetimeMs: 1_000 });
    dir = mkdtempSync(join(tmpdir(), 'ward-stream-agent-'));
    snapshot = await takeSnapshot({ host: new LiveHost('linux'), agentVersion: '0.1.0', checks: [] });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await running.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * An enrolled device as the agent holds it, and a reporter wired as `Agent` wires it. `via`: the
   * URL the agent uses for everything (default the broker's own); `streamUrl`: where the stream
   * client goes, when that differs.
   */
  async function agentDevice(
    name: string,
    options: Pick<ReportStreamClientOptions, 'answerTimeoutMs' | 'openTimeoutMs' | 'heartbeatMs'> & { broker?: RunningBroker; via?: string; streamUrl?: string } = {},
  ): Promise<{ deviceId: string; signer: DeviceSigner; dpop: DpopFetch; outbox: Outbox; reporter: PostureReporter; stream: ReportStreamClient; verdicts: PostureVerdict[] }> {
    const { broker = running, via = broker.broker.url, streamUrl = via, ...streamOptions } = options;
    const store = new MemoryKeyStore();
    const identity = new IdentityFile(join(dir, name));
    const { token } = broker.broker.admin.createEnrollmentToken({ label: name });
    await enroll(via, token, { identity, device: snapshot.device, store });
    const record = (await identity.read())!;
    const signer = await openSigner(store, record.keyAlias);
    const dpop = new DpopFetch({ signer });
    const outbox = Outbox.open(join(dir, name, 'outbox.db'));
    const stream = new ReportStreamClient({ brokerUrl: new URL(streamUrl), proof: (url) => dpop.proofFor('GET', url), learn: (url, h) => dpop.learnFrom(url, h), now: Date.now, ...streamOptions });
    clients.push(stream);
    const verdicts: PostureVerdict[] = [];
    const reporter = new PostureReporter({ brokerUrl: new URL(via), deviceId: record.deviceId, signer, fetch: dpop.over(nodeHttpFetch), outbox, now: Date.now, stream, onVerdict: (v) => verdicts.push(v) });
    return { deviceId: record.deviceId, signer, dpop, outbox, reporter, stream, verdicts };
  }

  it('sends reports over one stream, reopens it after the broker ends it, and gets the same verdicts', async () => {
    const d = await agentDevice('streams');
    expect(await d.reporter.send(snapshot)).toEqual({ kind: 'delivered' });
    expect(running.broker.reportStreamCount(d.deviceId)).toBe(1);
    expect(await d.reporter.send(snapshot)).toEqual({ kind: 'delivered' });
    expect(running.broker.reportStreamCount(d.deviceId)).toBe(1);
    expect(d.verdicts.map((v) => v.seq)).toEqual([1, 2]);
    // The broker ends the stream after its lifetime (1 s here); the next report opens a new one.
    await new Promise((r) => setTimeout(r, 1_300));
    expect(d.stream.isOpen).toBe(false);
    expect(await d.reporter.send(snapshot)).toEqual({ kind: 'delivered' });
    expect(d.stream.isOpen).toBe(true);
    expect(d.verdicts.map((v) => v.seq)).toEqual([1, 2, 3]);
    d.outbox.close();
  });

  it('after a broker restart, opens the stream again with the DPoP-Nonce the broker asks for', async () => {
    const d = await agentDevice('restart');
    expect(await d.reporter.send(snapshot)).toEqual({ kind: 'delivered' });
    expect(d.stream.isOpen).toBe(true);
    // The broker closes its streams as it stops (1001) and comes back on the same port, requiring
    // its new DPoP-Nonce: the agent's next report reopens the stream with it.
    running = await restartBroker(running, { reportStreamLifetimeMs: 1_000 });
    expect(d.stream.isOpen).toBe(false);
    expect(await d.reporter.send(snapshot)).toEqual({ kind: 'delivered' });
    expect(running.broker.reportStreamCount(d.deviceId)).toBe(1);
    expect(d.verdicts.map((v) => v.seq)).toEqual([1, 2]);
    d.outbox.close();
  });

  it('a connection that dies silently: the heartbeat finds it and closes the stream, and the next report opens a new one', async () => {
    // The agent reaches the broker through a relay (the broker's public URL is the relay's), so
    // that one connection can die as a network loses it while new ones still get through.
    const network = await silenceableRelay();
    const behind = await startBroker({ issuer: network.url });
    network.forwardTo(behind.broker.port);
    try {
      const d = await agentDevice('heartbeat', { broker: behind, via: network.url, heartbeatMs: 100 });
      expect(await d.reporter.send(snapshot)).toEqual({ kind: 'delivered' });
      expect(d.stream.isOpen).toBe(true);
      // The connections open now go silent: no FIN, no RST, nothing arrives either way.
      network.silenceOpenConnections();
      for (let waited = 0; d.stream.isOpen && waited < 5_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
      expect(d.stream.isOpen).toBe(false);
      // No report waited on the dead stream: the next one opens a new stream and goes over it.
      expect(await d.reporter.send(snapshot)).toEqual({ kind: 'delivered' });
      expect(d.stream.isOpen).toBe(true);
      expect(d.verdicts.map((v) => v.seq)).toEqual([1, 2]);
      d.outbox.close();
    } finally {
      for (const c of clients.splice(0)) c.close();
      await network.close();
      await behind.cleanup();
    }
  });

  it('a revoked device: the upgrade is refused, the POST gets the refusal and it is final', async () => {
    const d = await agentDevice('revoked');
    expect(await d.reporter.send(snapshot)).toEqual({ kind: 'delivered' });
    await running.broker.admin.revokeDevice(d.deviceId);
    const result = await d.reporter.send(snapshot);
    expect(result).toMatchObject({ kind: 'rejected' });
    expect(JSON.stringify(result)).toMatch(/HTTP 403.*revoked/);
    expect(running.broker.reportStreamCount(d.deviceId)).toBe(0);
    // A refused upgrade: the stream is not tried again for a while, reports go straight to POST.
    expect(await d.stream.send('anything')).toBe('not-sent');
    d.outbox.close();
  });

  describe('brokers that cannot carry the report', () => {
    let other: Server;
    let url: string;
    let wss: WebSocketServer;
    let upgrades: 'refuse' | 'silent' = 'refuse';
    beforeAll(async () => {
      // Where the stream client goes, while the reporter POSTs to the real broker: a broker without
      // the stream (an older or third-party one), whose upgrade gets 404; then one that accepts the
      // stream and never answers on it.
      wss = new WebSocketServer({ noServer: true });
      other = createServer((_req, res) => res.writeHead(404).end());
      other.on('upgrade', (req, socket, head) => {
        if (upgrades === 'refuse') socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
        else wss.handleUpgrade(req, socket, head, () => undefined);
      });
      await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      wss.close();
      await new Promise<void>((r) => other.close(() => r()));
    });

    it('no stream there (404): POSTs, and does not ask again', async () => {
      const d = await agentDevice('no-stream', { streamUrl: url });
      expect(await d.reporter.send(snapshot)).toEqual({ kind: 'delivered' });
      expect(await d.stream.send('anything')).toBe('not-sent');
      expect(d.verdicts.map((v) => v.seq)).toEqual([1]);
      d.outbox.close();
    });

    it('a stream that stays silent: the report is lost, and sent again over HTTP with the next seq', async () => {
      upgrades = 'silent';
      const d = await agentDevice('silent', { streamUrl: url, answerTimeoutMs: 200 });
      expect(await d.reporter.send(snapshot)).toEqual({ kind: 'delivered' });
      // seq 1 went into the silent stream; the POST carried seq 2, and the broker has only that.
      expect(d.verdicts.map((v) => v.seq)).toEqual([2]);
      expect(d.stream.isOpen).toBe(false);
      d.outbox.close();
    });
  });
});

/**
 * A TCP relay on 127.0.0.1 to the port it is told to forward to. `silenceOpenConnections`: the
 * connections open then forward nothing more either way and stay open, as connections a network
 * lost do (a NAT that forgot them, a laptop that changed networks); new connections get through.
 */
async function silenceableRelay(): Promise<{ url: string; forwardTo: (port: number) => void; silenceOpenConnections: () => void; close: () => Promise<void> }> {
  let targetPort = 0;
  const open = new Set<{ silent: boolean; sockets: Socket[] }>();
  const server = createTcpServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    const pair = { silent: false, sockets: [client, upstream] };
    open.add(pair);
    for (const s of pair.sockets) {
      s.on('error', () => undefined);
      s.once('close', () => {
        open.delete(pair);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => void (pair.silent || upstream.write(chunk)));
    upstream.on('data', (chunk: Buffer) => void (pair.silent || client.write(chunk)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    forwardTo: (port) => (targetPort = port),
    silenceOpenConnections: () => {
      for (const pair of open) pair.silent = true;
    },
    close: async () => {
      for (const pair of open) for (const s of pair.sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
