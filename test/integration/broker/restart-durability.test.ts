import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { verifySet } from '../../../broker/sdk/index.js';
import type { Broker, BrokerOptions } from '../../../broker/server/broker.js';
import { startSetReceiver, type SetReceiver } from '../../support/set-receiver.js';
import {
  ALICE,
  BLOCK_FIREWALL_POLICY,
  adminHeaders,
  decodeJwt,
  dpopProof,
  enroll,
  newDevice,
  openEvents,
  postReport,
  postureReport,
  restartBroker,
  signIn,
  startBroker,
  type RunningBroker,
  type TestDevice,
} from './helpers.js';

type Json = Record<string, unknown>;

/**
 * What must survive a restart of the real broker on the same data directory and port: pending
 * challenges (and used ones staying used), events for the agents' channels (Last-Event-ID
 * replay), SETs queued for the push receiver, and no DPoP proof accepted before it.
 */
describe('reference broker: nothing lost across a restart', () => {
  const dataDirs: string[] = [];
  let dataDir: string;
  let running: RunningBroker | undefined;

  const start = async (overrides: Partial<BrokerOptions> = {}): Promise<Broker> => {
    running = await startBroker({ dataDir, ...overrides });
    return running.broker;
  };
  /** Stop the broker and start it again on the same port and data directory. */
  const restart = async (overrides: Partial<BrokerOptions> = {}): Promise<Broker> => {
    const port = running!.broker.port;
    const previous = running!;
    running = undefined;
    running = await restartBroker(previous, overrides);
    expect(running.broker.port).toBe(port);
    return running.broker;
  };
  const enrolled = async (broker: Broker): Promise<TestDevice> => {
    const device = await newDevice();
    expect((await enroll(broker, device)).status).toBe(201);
    return device;
  };

  beforeEach(() => {
    // Each test its own database: a broker started on a database another one just used asks for
    // DPoP-Nonce (what the last test checks).
    dataDir = mkdtempSync(join(tmpdir(), 'ward-broker-durable-'));
    dataDirs.push(dataDir);
  });
  afterEach(async () => {
    await running?.cleanup();
    running = undefined;
  });
  afterAll(() => {
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  });

  it('a challenge issued before a restart is answered after it, and a used one stays used', async () => {
    let broker = await start();
    const device = await enrolled(broker);
    const channel = await openEvents(broker, device);
    // One challenge answered before the restart…
    const answered = broker.admin.challenge(device.deviceId!);
    const first = JSON.parse((await channel.next('challenge')).data) as { nonce: string };
    expect((await postReport(broker, device, await postureReport(device, { nonce: first.nonce }))).status).toBe(200);
    expect((await answered).nonce).toBe(first.nonce);
    // …and one still pending when the broker stops (its waiting caller goes away with the process).
    void broker.admin.challenge(device.deviceId!).catch(() => undefined);
    const pending = JSON.parse((await channel.next('challenge')).data) as { nonce: string; expiresAt: string };
    channel.close();

    broker = await restart();
    const res = await postReport(broker, device, await postureReport(device, { nonce: pending.nonce }));
    expect(res.status).toBe(200);
    const detail = (await (await fetch(`${broker.url}/devices/${device.deviceId}`, { headers: adminHeaders })).json()) as { posture: { nonce: string; seq: number } };
    expect(detail.posture).toMatchObject({ nonce: pending.nonce, seq: device.seq });
    // Both nonces are spent: the one used before the restart and the one used after it.
    for (const nonce of [first.nonce, pending.nonce]) {
      const again = await postReport(broker, device, await postureReport(device, { nonce }));
      expect(again.status).toBe(422);
      expect(((await again.json()) as Json).reason).toBe('replayed-nonce');
    }
    // A nonce the broker never issued is still unknown.
    const unknown = await postReport(broker, device, await postureReport(device, { nonce: 'A'.repeat(43) }));
    expect(((await unknown.json()) as Json).reason).toBe('unknown-nonce');
  });

  it('replays the events an agent missed, across a restart, in order and before live ones; a position older than what is kept gets reset', async () => {
    let broker = await start();
    const device = await enrolled(broker);
    const first = await openEvents(broker, device);
    const ready = await first.next('ready');
    expect(ready.id).toMatch(/^\d+$/);
    first.close();

    // While the agent is away: a policy change (broadcast) and a compliance change (its own SET).
    broker.admin.setPolicy(BLOCK_FIREWALL_POLICY);
    expect((await postReport(broker, device, await postureReport(device, { firewall: 'fail' }))).status).toBe(200);
    // (The compliance-change SET is signed after the answer; a clean stop waits for it.)
    broker = await restart();
    broker.admin.setPolicy({ ...BLOCK_FIREWALL_POLICY, name: 'after-restart' });

    const second = await openEvents(broker, device, { lastEventId: ready.id! });
    const caught = await second.next('ready');
    const missed = second.all.slice(0, second.all.indexOf(caught));
    expect(missed.map((e) => e.event)).toEqual(['policy', 'caep', 'policy']);
    const ids = missed.map((e) => Number(e.id));
    expect(ids.every((id, i) => id > Number(ready.id) && (i === 0 || id > ids[i - 1]!))).toBe(true);
    expect(JSON.parse(caught.data)).toMatchObject({ deviceId: device.deviceId, replayed: 3 });
    expect(Number(caught.id)).toBe(ids[2]);
    const set = decodeJwt(missed[1]!.data) as { events: Record<string, { current_status?: string }> };
    expect(Object.values(set.events)[0]?.current_status).toBe('not-compliant');
    // Live events follow with higher ids.
    broker.admin.setPolicy({ ...BLOCK_FIREWALL_POLICY, name: 'live' });
    await expect.poll(() => second.all.length).toBe(missed.length + 2);
    const live = second.all.at(-1)!;
    expect(live.event).toBe('policy');
    expect(Number(live.id)).toBeGreaterThan(Number(caught.id));
    second.close();

    // More policy changes than the broadcast retention (20) while away: the old position is gone.
    for (let i = 0; i < 22; i++) broker.admin.setPolicy({ ...BLOCK_FIREWALL_POLICY, name: `bulk-${i}` });
    const third = await openEvents(broker, device, { lastEventId: caught.id! });
    const afterReset = await third.next('ready');
    expect(third.all[0]?.event).toBe('reset');
    expect(JSON.parse(third.all[0]!.data)).toEqual({ reason: 'events-expired' });
    expect(third.all.filter((e) => e.event === 'policy')).toHaveLength(20);
    expect(Number(afterReset.id)).toBeGreaterThan(Number(live.id));
    third.close();

    // A position this broker never handed out (another broker, a wiped database): reset, no replay.
    for (const bogus of ['999999999', 'not-a-number']) {
      const channel = await openEvents(broker, device, { lastEventId: bogus });
      const end = await channel.next('ready');
      expect(channel.all.map((e) => e.event)).toEqual(['reset', 'ready']);
      expect(JSON.parse(channel.all[0]!.data)).toEqual({ reason: 'unknown-event-id' });
      expect(end.id).toBe(afterReset.id);
      channel.close();
    }
  });

  describe('push queue', () => {
    let receiver: SetReceiver;

    beforeAll(async () => {
      receiver = await startSetReceiver();
    });
    afterAll(() => receiver.close());

    it('delivers SETs still queued when the broker stopped after it starts again, in order', async () => {
      const config = { pushReceiver: { url: receiver.url } };
      let broker = await start({ config });
      const device = await enrolled(broker);
      broker.admin.setPolicy(BLOCK_FIREWALL_POLICY);
      // Three SETs while the receiver is down (503): not compliant, compliant again, revoked.
      expect((await postReport(broker, device, await postureReport(device, { firewall: 'fail' }))).status).toBe(200);
      await expect.poll(() => receiver.attempts.length).toBeGreaterThan(0);
      expect((await postReport(broker, device, await postureReport(device, { firewall: 'pass' }))).status).toBe(200);
      await broker.admin.revokeDevice(device.deviceId!, 'lost laptop');
      expect(receiver.attempts.every((a) => a.status === 503)).toBe(true);

      receiver.accepting = true;
      broker = await restart({ config });
      await expect.poll(() => receiver.attempts.filter((a) => a.status === 202).length, { timeout: 10_000 }).toBe(3);
      const keys = ((await (await fetch(`${broker.url}/broker/keys`)).json()) as { keys: { kid: string }[] }).keys.map((k) => ({ kid: k.kid, key: k as never }));
      const delivered = receiver.attempts.filter((a) => a.status === 202).map((a) => verifySet(a.body, { keys, issuer: broker.issuer, audience: receiver.url }));
      const summary = delivered.map((v) => (v.ok ? [v.set.type, (v.set.event as { current_status?: string }).current_status ?? null] : [v.reason, null]));
      expect(summary).toEqual([
        ['device-compliance-change', 'not-compliant'],
        ['device-compliance-change', 'compliant'],
        ['session-revoked', null],
      ]);
      // The head SET was retried (it was refused before the restart), each delivered once.
      const head = receiver.attempts.find((a) => a.status === 202)!.body;
      expect(receiver.attempts.filter((a) => a.body === head).length).toBeGreaterThanOrEqual(2);
      expect(new Set(receiver.attempts.filter((a) => a.status === 202).map((a) => a.body)).size).toBe(3);
    });
  });

  it('refuses a DPoP proof accepted before the restart (use_dpop_nonce), and accepts one with the new nonce once', async () => {
    let broker = await start();
    const device = await enrolled(broker);
    const tokens = await signIn(broker, device, ALICE);
    const url = `${broker.url}/posture`;
    const proof = await dpopProof(device, 'POST', url);
    const send = (dpop: string, report: string) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/jwt', dpop }, body: report });
    expect((await send(proof, await postureReport(device))).status).toBe(200);
    // Replayed before the restart: the in-memory jti cache refuses it.
    const beforeRestart = await send(proof, await postureReport(device));
    expect(beforeRestart.status).toBe(401);
    expect(((await beforeRestart.json()) as Json).message).toMatch(/already used/);

    broker = await restart();
    const replay = await send(proof, await postureReport(device));
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as Json).reason).toBe('use-dpop-nonce');
    const nonce = replay.headers.get('dpop-nonce');
    expect(nonce).toMatch(/^[\w-]{16,}$/);
    expect(replay.headers.get('www-authenticate')).toMatch(/error="use_dpop_nonce"/);
    // A proof without the nonce, even a fresh one, is refused while pre-restart proofs could live…
    expect((await send(await dpopProof(device, 'POST', url), await postureReport(device))).status).toBe(401);
    // …one with it is accepted, once.
    const withNonce = await dpopProof(device, 'POST', url, { nonce });
    expect((await send(withNonce, await postureReport(device))).status).toBe(200);
    expect((await send(withNonce, await postureReport(device))).status).toBe(401);
    // The event channel (also DPoP-authenticated) asks for the nonce too.
    const events = await fetch(`${broker.url}/events`, { headers: { dpop: await dpopProof(device, 'GET', `${broker.url}/events`) } });
    expect(events.status).toBe(401);
    expect(events.headers.get('dpop-nonce')).toBe(nonce);
    // So does the demo resource (an RFC 9449 §9 resource server) with a token issued before the restart.
    const demoUrl = `${broker.url}/demo/resource`;
    const ath = createHash('sha256').update(tokens.access_token).digest('base64url');
    const demo = await fetch(demoUrl, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: await dpopProof(device, 'GET', demoUrl, { ath }) } });
    expect(demo.status).toBe(401);
    expect(((await demo.json()) as Json).error).toBe('use_dpop_nonce');
    expect(demo.headers.get('dpop-nonce')).toBe(nonce);
  });
});
