import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CliIO } from '../../../main/cli/io.js';
import { verifySet, type VerifiedSet } from '../../../broker/sdk/index.js';
import type { Broker, BrokerOptions } from '../../../broker/server/broker.js';
import { main } from '../../../broker/server/cli.js';
import { SqliteStorage } from '../../../broker/server/storage/sqlite-storage.js';
import { startSetReceiver, type SetReceiver } from '../../support/set-receiver.js';
import { ADMIN_TOKEN, BLOCK_FIREWALL_POLICY, adminHeaders, enroll, newDevice, openEvents, postReport, postureReport, restartBroker, startBroker, type RunningBroker, type TestDevice } from './helpers.js';

function capture(env: Record<string, string>): CliIO & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { stdout: (t) => (out += t), stderr: (t) => (err += t), isTTY: false, env, out: () => out, err: () => err };
}

interface DeadLetterJson {
  id: number;
  type: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string;
  set: string;
}

/**
 * The real broker and a real RFC 8935 receiver on 127.0.0.1: SETs the receiver refuses become
 * dead letters that survive a restart, and the admin CLI resends (or drops) them; a SET staged
 * with a verdict but never emitted (the broker died in between) is emitted at the next start.
 */
describe('reference broker: push dead letters and staged SETs', () => {
  let receiver: SetReceiver;
  let dataDir: string;
  let running: RunningBroker | undefined;
  const config = () => ({ pushReceiver: { url: receiver.url } });
  const start = async (overrides: Partial<BrokerOptions> = {}): Promise<Broker> => {
    running = await startBroker({ dataDir, config: config(), ...overrides });
    return running.broker;
  };
  const restart = async (): Promise<Broker> => {
    const previous = running!;
    running = undefined;
    running = await restartBroker(previous, { config: config() });
    return running.broker;
  };
  const cli = async (args: string[]): Promise<{ code: number; out: string; err: string }> => {
    const io = capture({ WARD_BROKER_DATA: dataDir, WARD_BROKER_ADMIN_TOKEN: ADMIN_TOKEN });
    const code = await main(args, io);
    return { code, out: io.out(), err: io.err() };
  };
  const deadLetters = async (): Promise<DeadLetterJson[]> => {
    const answer = await cli(['push', 'dead-letters', '--json']);
    expect(answer.code).toBe(0);
    return (JSON.parse(answer.out) as { deadLetters: DeadLetterJson[] }).deadLetters;
  };
  const verified = async (broker: Broker, set: string): Promise<VerifiedSet> => {
    const jwks = (await (await fetch(`${broker.url}/broker/keys`)).json()) as { keys: { kid: string }[] };
    const verdict = verifySet(set, { keys: jwks.keys.map((k) => ({ kid: k.kid, key: k as never })), issuer: broker.issuer, audience: receiver.url });
    if (!verdict.ok) throw new Error(`SET refused: ${verdict.reason}`);
    return verdict.set;
  };
  const enrolled = async (broker: Broker): Promise<TestDevice> => {
    const device = await newDevice();
    expect((await enroll(broker, device)).status).toBe(201);
    return device;
  };
  const accepted = () => receiver.attempts.filter((a) => a.status === 202).map((a) => a.body);

  beforeAll(async () => {
    receiver = await startSetReceiver();
  });
  afterAll(() => receiver.close());
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'ward-broker-dead-letters-'));
    receiver.attempts.length = 0;
    receiver.accepting = false;
    receiver.refusing = undefined;
  });
  afterEach(async () => {
    await running?.cleanup();
    running = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps refused SETs as dead letters across a restart; the CLI lists, resends (in order) and drops them', async () => {
    receiver.refusing = 400;
    let broker = await start();
    const device = await enrolled(broker);
    broker.admin.setPolicy(BLOCK_FIREWALL_POLICY);
    expect((await postReport(broker, device, await postureReport(device, { firewall: 'fail' }))).status).toBe(200);
    expect((await postReport(broker, device, await postureReport(device, { firewall: 'pass' }))).status).toBe(200);
    await broker.admin.revokeDevice(device.deviceId!, 'lost laptop');
    await expect.poll(() => receiver.attempts.length).toBe(3);

    const before = await deadLetters();
    expect(before.map((d) => [d.type, d.attempts, d.lastStatus, d.lastError])).toEqual([
      ['device-compliance-change', 1, 400, 'invalid_audience: not for this receiver (test)'],
      ['device-compliance-change', 1, 400, 'invalid_audience: not for this receiver (test)'],
      ['session-revoked', 1, 400, 'invalid_audience: not for this receiver (test)'],
    ]);
    expect(before.map((d) => d.set)).toEqual(receiver.attempts.map((a) => a.body));

    // The receiver is fixed; the broker restarts: the dead letters are still there, and not sent on their own.
    receiver.refusing = undefined;
    receiver.accepting = true;
    broker = await restart();
    const table = await cli(['push', 'dead-letters']);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/^ID +TYPE +ATTEMPTS +STATUS +DEAD SINCE +LAST ERROR$/m);
    expect(table.out).toMatch(new RegExp(`^${before[2]!.id} +session-revoked +1 +400 +\\S+ +invalid_audience: not for this receiver \\(test\\)$`, 'm'));
    expect(table.err).toBe('3 of 3 dead letters shown\n');
    expect(await deadLetters()).toEqual(before);
    expect(accepted()).toEqual([]);

    // One by id, then one dropped, then the rest: each delivered exactly as it was signed.
    const [first, second, third] = before as [DeadLetterJson, DeadLetterJson, DeadLetterJson];
    const resent = await cli(['push', 'resend', String(first.id)]);
    expect(resent.code).toBe(0);
    expect(JSON.parse(resent.out)).toEqual({ resent: [first.id], left: 2 });
    await expect.poll(() => accepted()).toEqual([first.set]);
    expect((await cli(['push', 'drop', String(second.id)])).code).toBe(0);
    const all = await cli(['push', 'resend', '--all']);
    expect(JSON.parse(all.out)).toEqual({ resent: [third.id], left: 0 });
    await expect.poll(() => accepted()).toEqual([first.set, third.set]);
    expect(await deadLetters()).toEqual([]);
    const summary = await Promise.all(accepted().map(async (s) => (await verified(broker, s)).type));
    expect(summary).toEqual(['device-compliance-change', 'session-revoked']);

    // Errors a person can act on.
    const missing = await cli(['push', 'drop', String(second.id)]);
    expect(missing.code).toBe(3);
    expect(missing.err).toContain(`There is no dead letter ${second.id}`);
    expect((await cli(['push', 'drop', 'abc'])).code).toBe(2);
    expect((await cli(['push', 'resend'])).code).toBe(2);
  });

  it('lists dead letters through the real bin, and guards the admin routes (bearer, role, zod)', async () => {
    receiver.refusing = 400;
    const broker = await start();
    const device = await enrolled(broker);
    await broker.admin.revokeDevice(device.deviceId!, 'gone');
    await expect.poll(() => receiver.attempts.length).toBe(1);

    const { stdout } = await promisify(execFile)(process.execPath, ['bin/ward-broker.mjs', 'push', 'dead-letters', '--json', '--data', dataDir], {
      env: { ...process.env, WARD_BROKER_ADMIN_TOKEN: ADMIN_TOKEN },
    });
    const listed = JSON.parse(stdout) as { total: number; deadLetters: DeadLetterJson[] };
    expect(listed.total).toBe(1);
    expect(listed.deadLetters[0]).toMatchObject({ type: 'session-revoked', lastStatus: 400 });

    const url = `${broker.url}/admin/push/dead-letters`;
    expect((await fetch(url)).status).toBe(401);
    const query = broker.admin.createCredential('query', 'reader').token;
    expect((await fetch(url, { headers: { authorization: `Bearer ${query}` } })).status).toBe(403);
    const resend = (body: unknown) => fetch(`${url}/resend`, { method: 'POST', headers: adminHeaders, body: JSON.stringify(body) });
    for (const body of [{ ids: ['1'] }, { ids: [] }, { ids: [1.5] }, { all: false }, { ids: [1], all: true }, {}]) {
      const res = await resend(body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe('validation-failed');
    }
    expect((await fetch(`${url}?limit=0`, { headers: adminHeaders })).status).toBe(400);
    expect((await fetch(`${url}/0`, { method: 'DELETE', headers: adminHeaders })).status).toBe(400);
    expect((await fetch(`${url}/123456`, { method: 'DELETE', headers: adminHeaders })).status).toBe(404);
    expect((await resend({ ids: [123456] })).status).toBe(404);
    // Arbitrary ids and limits: a 4xx or the answer, never a 5xx; only the one real id could drop it.
    const realId = listed.deadLetters[0]!.id;
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 40 }), fc.integer().map(String), fc.double().map(String)), async (raw) => {
        const segment = encodeURIComponent(raw) || '%20';
        fc.pre(segment !== String(realId));
        const drop = await fetch(`${url}/${segment}`, { method: 'DELETE', headers: adminHeaders });
        const list = await fetch(`${url}?limit=${segment}`, { headers: adminHeaders });
        await Promise.all([drop.arrayBuffer(), list.arrayBuffer()]);
        expect([400, 404, 405]).toContain(drop.status);
        expect([200, 400]).toContain(list.status);
      }),
      { numRuns: 100 },
    );
    // Still there after all that.
    expect((await deadLetters()).map((d) => d.id)).toEqual([realId]);
  });

  it('emits a compliance-change SET staged with its verdict but not emitted before the broker stopped', async () => {
    receiver.accepting = true;
    let broker = await start();
    const device = await enrolled(broker);
    await running!.broker.close();
    // What ingest() writes in the verdict's transaction when compliance flips; the broker died before emitting it.
    const storage = new SqliteStorage(join(dataDir, 'broker.db'));
    const stagedAtMs = Date.now() - 5_000;
    storage.transaction(() => {
      storage.setOutbox.add({
        type: 'device-compliance-change',
        subject: { format: 'complex', device: { format: 'opaque', id: device.deviceId! } },
        event: { previous_status: 'compliant', current_status: 'not-compliant', initiating_entity: 'policy', reason_admin: { en: 'failing: fw' } },
        deviceId: device.deviceId!,
        txn: null,
        createdAtMs: stagedAtMs,
      });
    });
    storage.close();

    broker = await restart();
    await expect.poll(() => accepted().length).toBe(1);
    const set = await verified(broker, accepted()[0]!);
    expect(set).toMatchObject({ type: 'device-compliance-change', event: { current_status: 'not-compliant' }, subject: { device: { id: device.deviceId } } });
    expect(set.claims.iat).toBe(Math.floor(stagedAtMs / 1000));
    // The agent gets its copy over its event channel (replayed from the event log).
    const channel = await openEvents(broker, device, { lastEventId: '0' });
    const caep = await channel.next('caep');
    channel.close();
    expect(caep.data.split('.')).toHaveLength(3);

    // Emitted, so no longer staged: the next start would not emit it again.
    const reader = new SqliteStorage(join(dataDir, 'broker.db'));
    expect(reader.setOutbox.pending()).toEqual([]);
    reader.close();
  });
});
