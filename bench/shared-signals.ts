import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBroker } from '../broker/server/broker.js';
import { Agent } from '../main/core/agent.js';
import { Outbox } from '../main/core/broker/outbox.js';
import { CONFIG_DEFAULTS } from '../main/core/config/schema.js';
import { LiveHost } from '../main/core/exec/live-host.js';
import { openSigner } from '../main/core/identity/device-signer.js';
import { enroll } from '../main/core/identity/enrollment.js';
import { IdentityFile } from '../main/core/identity/identity-record.js';
import { MemoryKeyStore } from '../main/core/identity/memory-key-store.js';
import { requiredFiles } from '../main/core/posture/checks/required-files.js';
import { PostureConfigSchema } from '../main/core/posture/config.js';
import { takeSnapshot } from '../main/core/posture/engine.js';
import { MemoryTokenStore } from '../main/core/session/token-store.js';
import { percentile, report, round } from './stats.js';

const FLIPS = 20;

/**
 * `npm run bench -- shared-signals [--json]`: how fast the broker's `device-compliance-change`
 * SET reaches the agent over the event channel, and over the RFC 8936 poll fallback when a proxy
 * holds the event stream back (simulated in the agent's network layer). For each transport the
 * in-process reference broker and a headless agent with a required-file policy run; a watched
 * file is deleted and restored 20 times, each timed from the file change to the agent handling
 * the broker's SET. Also: how long the agent takes to fall back to polling.
 */
export async function run(args: string[]): Promise<void> {
  const json = args.includes('--json');
  const sse = await measure('event-channel');
  const poll = await measure('poll');
  report(
    json,
    [
      `change → broker SET handled by the agent, ${FLIPS} changes each (includes the 100 ms watcher batching):`,
      `  event channel (SSE):     p50 ${round(percentile(sse.times, 50), 0)} ms, p95 ${round(percentile(sse.times, 95), 0)} ms`,
      `  poll fallback (RFC 8936): p50 ${round(percentile(poll.times, 50), 0)} ms, p95 ${round(percentile(poll.times, 95), 0)} ms`,
      `  fallback to polling with the stream held back: ${round(poll.fallbackMs, 0)} ms (2 failed connections, 300 ms idle timeout in this run)`,
    ],
    {
      sseP50Ms: round(percentile(sse.times, 50), 1),
      sseP95Ms: round(percentile(sse.times, 95), 1),
      pollP50Ms: round(percentile(poll.times, 50), 1),
      pollP95Ms: round(percentile(poll.times, 95), 1),
      fallbackMs: round(poll.fallbackMs, 1),
    },
  );
}

async function measure(transport: 'event-channel' | 'poll'): Promise<{ times: number[]; fallbackMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'ward-bench-ssf-'));
  const broker = await createBroker({ dataDir: join(dir, 'broker'), port: 0, adminToken: 'wba_bench-shared-signals' });
  const outbox = Outbox.open(join(dir, 'state', 'outbox.db'));
  let agent: Agent | undefined;
  try {
    mkdirSync(join(dir, 'watched'));
    const required = join(dir, 'watched', 'edr.conf');
    writeFileSync(required, 'on');
    broker.admin.setPolicy({ schemaVersion: 1, name: 'bench', rules: [{ id: 'files', check: 'required-files', expect: { status: 'pass' }, severity: 'block', graceSeconds: 0 }] });
    const store = new MemoryKeyStore();
    const identity = new IdentityFile(join(dir, 'state'));
    const host = new LiveHost('linux');
    const device = (await takeSnapshot({ host, agentVersion: '0.1.0', checks: [] })).device;
    await enroll(broker.url, broker.admin.createEnrollmentToken({ label: 'bench' }).token, { identity, device, store });
    // A proxy that buffers server-sent events: headers pass, the stream never does.
    const network = async (input: string | URL, init?: RequestInit): Promise<Response> => {
      if (transport === 'poll' && new URL(String(input)).pathname === '/events') {
        const body = new ReadableStream<Uint8Array>({
          start: (c) => init?.signal?.addEventListener('abort', () => c.error(new Error('aborted')), { once: true }),
        });
        return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
      }
      return fetch(input, init);
    };
    agent = new Agent({
      host,
      config: { ...CONFIG_DEFAULTS, brokerUrl: broker.url, posture: PostureConfigSchema.parse({ requiredFiles: [{ path: required }] }) },
      loadIdentity: () => identity.read(),
      openSigner: (record) => openSigner(store, record.keyAlias),
      tokenStore: new MemoryTokenStore(),
      outbox,
      checks: [requiredFiles],
      networkPollMs: 0,
      fetch: network,
      eventChannel: { baseDelayMs: 50, maxDelayMs: 200, idleTimeoutMs: 300 },
      setPoll: { failuresBeforePoll: 2, healthyAfterMs: 300 },
    });
    const started = performance.now();
    const fellBack = new Promise<number>((resolve) => agent!.on('signal-transport', (t) => t === 'poll' && resolve(performance.now() - started)));
    await agent.start();
    const fallbackMs = transport === 'poll' ? await fellBack : 0;
    await new Promise((r) => setTimeout(r, 500));
    const times: number[] = [];
    for (let i = 0; i < FLIPS; i++) {
      const compliant = i % 2 === 1;
      const t0 = performance.now();
      const handled = new Promise<void>((resolve) => {
        const on = (v: { compliant: boolean; source: string }): void => {
          if (v.source !== 'caep' || v.compliant !== compliant) return;
          agent!.off('verdict', on);
          resolve();
        };
        agent!.on('verdict', on);
      });
      if (compliant) writeFileSync(required, 'on');
      else unlinkSync(required);
      await handled;
      times.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 150));
    }
    return { times, fallbackMs };
  } finally {
    await agent?.stop();
    outbox.close();
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
