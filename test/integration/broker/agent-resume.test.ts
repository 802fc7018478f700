import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../../broker/server/broker.js';
import { Agent } from '../../../main/core/agent.js';
import { EventChannel } from '../../../main/core/broker/event-channel.js';
import { Outbox } from '../../../main/core/broker/outbox.js';
import type { SseMessage } from '../../../main/core/broker/sse-parser.js';
import { CONFIG_DEFAULTS } from '../../../main/core/config/schema.js';
import { LiveHost } from '../../../main/core/exec/live-host.js';
import { openSigner } from '../../../main/core/identity/device-signer.js';
import { enroll as enrollAgent } from '../../../main/core/identity/enrollment.js';
import { IdentityFile } from '../../../main/core/identity/identity-record.js';
import { MemoryKeyStore } from '../../../main/core/identity/memory-key-store.js';
import { agentVersion } from '../../../main/core/posture/checks/agent-version.js';
import { takeSnapshot } from '../../../main/core/posture/engine.js';
import { MemoryTokenStore } from '../../../main/core/session/token-store.js';
import { BLOCK_FIREWALL_POLICY, dpopFetch, enroll, newDevice, restartBroker, startBroker, type RunningBroker } from './helpers.js';

const EVENT_ID_COUNTER = 'event-channel.last-id';

/**
 * The agent's side of the event channel against the real broker across broker restarts: it
 * resumes from the last event id it handled (kept in its outbox database, so an agent restart
 * resumes too), copes with the broker's DPoP-Nonce after a restart, and takes a `reset`.
 */
describe('agent event channel across broker restarts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-agent-resume-'));
  let running: RunningBroker | undefined;
  const restart = async (): Promise<Broker> => {
    running = await restartBroker(running!);
    return running.broker;
  };

  beforeAll(async () => {
    running = await startBroker({ dataDir: join(dir, 'broker') });
  });
  afterAll(async () => {
    await running?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('EventChannel resumes from a stored id after the broker restarted: missed events first, in order', async () => {
    let broker = running!.broker;
    const device = await newDevice();
    expect((await enroll(broker, device)).status).toBe(201);
    const got: SseMessage[] = [];
    const open = (lastEventId?: string) => {
      const channel = new EventChannel({
        url: new URL('/events', broker.url),
        fetch: (input, init) => dpopFetch(device, String(input), init),
        accessToken: async () => undefined,
        baseDelayMs: 50,
        maxDelayMs: 200,
        lastEventId,
      });
      channel.on('message', (m) => got.push(m));
      channel.start();
      return channel;
    };
    let channel = open();
    await expect.poll(() => got.some((m) => m.event === 'ready')).toBe(true);
    channel.stop();
    const position = got.find((m) => m.event === 'ready')!.id!;

    broker.admin.setPolicy(BLOCK_FIREWALL_POLICY);
    broker = await restart();
    broker.admin.setPolicy({ ...BLOCK_FIREWALL_POLICY, name: 'second' });
    got.length = 0;
    channel = open(position);
    await expect.poll(() => got.some((m) => m.event === 'ready')).toBe(true);
    expect(got.map((m) => m.event)).toEqual(['policy', 'policy', 'ready']);
    expect(got.map((m) => JSON.parse(m.data) as { version?: number }).slice(0, 2).map((p) => p.version)).toEqual([1, 2]);
    // The channel stays up through the next restart and comes back by itself.
    broker = await restart();
    await expect.poll(() => got.filter((m) => m.event === 'ready').length, { timeout: 10_000 }).toBe(2);
    broker.admin.setPolicy({ ...BLOCK_FIREWALL_POLICY, name: 'third' });
    await expect.poll(() => got.at(-1)?.event).toBe('policy');
    expect(Number(got.at(-1)!.id)).toBeGreaterThan(Number(got.find((m) => m.event === 'ready')!.id));
    channel.stop();
  });

  it('the agent stores the last event id it handled and sends it after a restart of both; a reset moves it back to the broker', async () => {
    const broker = running!.broker;
    const store = new MemoryKeyStore();
    const identity = new IdentityFile(join(dir, 'agent-state'));
    const host = new LiveHost('linux');
    const device = (await takeSnapshot({ host, agentVersion: '0.1.0', checks: [] })).device;
    await enrollAgent(broker.url, broker.admin.createEnrollmentToken({ label: 'resume' }).token, { identity, device, store });
    const outbox = Outbox.open(join(dir, 'agent-state', 'outbox.db'));
    const sentIds: (string | null)[] = [];
    const makeAgent = (options: { recordFetch?: boolean } = {}) =>
      new Agent({
        host,
        config: { ...CONFIG_DEFAULTS, brokerUrl: broker.url },
        loadIdentity: () => identity.read(),
        openSigner: (record) => openSigner(store, record.keyAlias),
        tokenStore: new MemoryTokenStore(),
        outbox,
        checks: [agentVersion],
        networkPollMs: 0,
        eventChannel: { baseDelayMs: 50, maxDelayMs: 200 },
        ...(options.recordFetch === false
          ? {}
          : {
              fetch: (input: string | URL, init?: RequestInit) => {
                if (new URL(String(input)).pathname === '/events') sentIds.push(new Headers(init?.headers).get('last-event-id'));
                return fetch(input, init);
              },
            }),
      });
    // Declared out here so that a failed expectation still stops the agent before the outbox closes.
    let agent: ReturnType<typeof makeAgent> | undefined;
    try {
      agent = makeAgent();
      await agent.start();
      await expect.poll(() => outbox.counter(EVENT_ID_COUNTER)).toBeDefined();
      const handled = outbox.counter(EVENT_ID_COUNTER)!;
      await agent.stop();

      running!.broker.admin.setPolicy({ schemaVersion: 1, name: 'while-away', rules: [] });
      const restarted = await restart();
      expect(restarted.url).toBe(broker.url);
      sentIds.length = 0;
      agent = makeAgent();
      await agent.start();
      // It resumed from what it had handled (through the broker's DPoP-Nonce after the restart)…
      await expect.poll(() => sentIds.includes(String(handled)), { timeout: 10_000 }).toBe(true);
      // …and now stands after the replayed policy event.
      await expect.poll(() => outbox.counter(EVENT_ID_COUNTER)).toBeGreaterThan(handled);
      const current = outbox.counter(EVENT_ID_COUNTER)!;
      await agent.stop();

      // A position the broker never handed out: `reset`, and the agent takes the broker's position.
      outbox.setCounter(EVENT_ID_COUNTER, 999_999_999);
      sentIds.length = 0;
      agent = makeAgent();
      await agent.start();
      await expect.poll(() => sentIds.includes('999999999')).toBe(true);
      // The broker's position is its event log's last id, and that log is the broker's, not this
      // device's: an event appended after `current` was read moves it on (seen once in a full
      // suite run, 6 for 5; which event it was is not known). So: back from the bogus position to
      // the broker's, which is at least what the agent handled.
      await expect.poll(() => outbox.counter(EVENT_ID_COUNTER)).toBeLessThan(999_999_999);
      expect(outbox.counter(EVENT_ID_COUNTER)).toBeGreaterThanOrEqual(current);
      await agent.stop();

      // With its own transport (node:http, no injected fetch), right after a restart: the channel
      // opens through the DPoP-Nonce window and the broker sees the device connected.
      const again = await restart();
      agent = makeAgent({ recordFetch: false });
      await agent.start();
      const { deviceId } = (await identity.read())!;
      await expect.poll(() => again.admin.listDevices().find((d) => d.deviceId === deviceId)?.connected, { timeout: 10_000 }).toBe(true);
      await agent.stop();
    } finally {
      await agent?.stop();
      outbox.close();
    }
  });
});
