import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../../broker/server/broker.js';
import { startSetReceiver, type SetReceiver } from '../../support/set-receiver.js';
import { BLOCK_FIREWALL_POLICY, decodeJwt, dpopFetch, dpopProof, enroll, newDevice, openEvents, postReport, postureReport } from './helpers.js';

/** `ward-broker serve` as a real process; resolves with its URL once it listens. */
async function serve(dataDir: string, config: string, port = 0): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['bin/ward-broker.mjs', 'serve', '--config', config, '--data', dataDir, '--port', String(port)], {
    env: { ...process.env, WARD_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
      const m = /listening on (\S+)/.exec(stdout);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`ward-broker exited (${code}): ${stderr}`)));
  });
  return { child, url };
}

async function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/**
 * The real broker process killed with SIGKILL (no clean stop) and started again on the same port
 * and data directory: what it wrote before answering is all there.
 */
describe('ward-broker killed with SIGKILL and restarted', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-broker-crash-'));
  const dataDir = join(dir, 'data');
  let receiver: SetReceiver;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    receiver = await startSetReceiver();
  });
  afterAll(async () => {
    for (const child of children) await kill9(child);
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the pending challenge, the missed events, the queued SET, and refuses pre-crash DPoP proofs', async () => {
    const config = join(dir, 'config.json');
    writeFileSync(config, `${JSON.stringify({ pushReceiver: { url: receiver.url }, challengeTimeoutSeconds: 60 })}\n`);
    const first = await serve(dataDir, config);
    children.push(first.child);
    const admin = { authorization: `Bearer ${readFileSync(join(dataDir, 'admin-token'), 'utf8').trim()}`, 'content-type': 'application/json' };
    const api = (path: string, init: RequestInit = {}) => fetch(`${first.url}${path}`, { ...init, headers: admin });
    // Only `url` is used by the helpers once the enrollment token is given.
    const broker = { url: first.url } as Broker;
    const { token } = (await (await api('/admin/enrollment-tokens', { method: 'POST', body: '{}' })).json()) as { token: string };
    const device = await newDevice();
    expect((await enroll(broker, device, token)).status).toBe(201);

    // A proof the broker accepts before the crash.
    const proof = await dpopProof(device, 'POST', `${first.url}/posture`);
    const accepted = await fetch(`${first.url}/posture`, { method: 'POST', headers: { 'content-type': 'application/jwt', dpop: proof }, body: await postureReport(device) });
    expect(accepted.status).toBe(200);
    // A challenge the device has received but not answered.
    const channel = await openEvents(broker, device);
    const position = (await channel.next('ready')).id!;
    void api(`/devices/${device.deviceId}/challenge`, { method: 'POST', body: '{}' }).catch(() => undefined);
    const challenge = JSON.parse((await channel.next('challenge')).data) as { nonce: string };
    channel.close();
    // While the agent is away: a policy change and the compliance change it causes (SET queued, receiver down).
    expect((await api('/admin/policy', { method: 'PUT', body: JSON.stringify(BLOCK_FIREWALL_POLICY) })).status).toBe(200);
    expect((await postReport(broker, device, await postureReport(device, { firewall: 'fail' }))).status).toBe(200);
    await expect.poll(() => receiver.attempts.length).toBeGreaterThan(0);

    await kill9(first.child);
    receiver.accepting = true;
    const second = await serve(dataDir, config, Number(new URL(first.url).port));
    children.push(second.child);
    expect(second.url).toBe(first.url);

    // The pre-crash proof is worthless now: the broker asks for its new nonce.
    const replay = await fetch(`${second.url}/posture`, { method: 'POST', headers: { 'content-type': 'application/jwt', dpop: proof }, body: await postureReport(device) });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { reason: string }).reason).toBe('use-dpop-nonce');
    // The SET queued before the crash reaches the receiver.
    await expect.poll(() => receiver.attempts.filter((a) => a.status === 202).length, { timeout: 15_000 }).toBe(1);
    const delivered = decodeJwt(receiver.attempts.find((a) => a.status === 202)!.body) as { events: Record<string, { current_status?: string }> };
    expect(Object.values(delivered.events)[0]?.current_status).toBe('not-compliant');
    // The agent catches up: challenge, policy, SET, in the order they happened.
    const resumed = await openEvents(broker, device, { lastEventId: position });
    await resumed.next('ready');
    expect(resumed.all.map((e) => e.event)).toEqual(['challenge', 'policy', 'caep', 'ready']);
    resumed.close();
    // The challenge issued before the crash is answered after it.
    const answer = await dpopFetch(device, `${second.url}/posture`, {
      method: 'POST',
      headers: { 'content-type': 'application/jwt' },
      body: await postureReport(device, { nonce: challenge.nonce }),
    });
    expect(answer.status).toBe(200);
    const detail = (await (await fetch(`${second.url}/devices/${device.deviceId}`, { headers: admin })).json()) as { posture: { nonce: string } };
    expect(detail.posture.nonce).toBe(challenge.nonce);
  });
});
