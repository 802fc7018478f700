import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyPolicyBundle, verifySet, type VerificationKey } from '../../../broker/sdk/index.js';
import type { Broker } from '../../../broker/server/broker.js';
import {
  BLOCK_FIREWALL_POLICY,
  adminHeaders,
  dpopProof,
  enroll,
  newDevice,
  nowSeconds,
  openEvents,
  postReport,
  postureReport,
  startBroker,
  type TestDevice,
} from './helpers.js';

type Json = Record<string, unknown>;
const json = async (res: Response): Promise<Json> => (await res.json()) as Json;

describe('reference broker: enrollment, posture, policy, challenges, events', () => {
  let broker: Broker;
  let cleanup: () => Promise<void>;
  let receiver: Server;
  const pushed: { type: string | undefined; body: string }[] = [];
  let brokerKeys: VerificationKey[];

  beforeAll(async () => {
    // A real RFC 8935 push receiver on loopback.
    receiver = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        pushed.push({ type: req.headers['content-type'], body });
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/events`;
    ({ broker, cleanup } = await startBroker({ config: { pushReceiver: { url: receiverUrl } } }));
    const keys = (await json(await fetch(`${broker.url}/broker/keys`))).keys as { kid: string }[];
    brokerKeys = keys.map((k) => ({ kid: k.kid, key: k as never }));
  });
  afterAll(async () => {
    await cleanup();
    await new Promise<void>((r) => receiver.close(() => r()));
  });

  const enrolled = async (): Promise<TestDevice> => {
    const device = await newDevice();
    const res = await enroll(broker, device);
    expect(res.status).toBe(201);
    return device;
  };

  describe('enrollment', () => {
    it('answers the device id and the broker keys, in the wire format of docs/identity.md', async () => {
      const device = await newDevice();
      const res = await enroll(broker, device);
      expect(res.status).toBe(201);
      const body = await json(res);
      expect(typeof body.deviceId).toBe('string');
      expect((body.brokerKeys as { keys: Json[] }).keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' });
      expect(JSON.stringify(body.brokerKeys)).not.toContain('"d"');
      const detail = await json(await fetch(`${broker.url}/devices/${device.deviceId}`, { headers: adminHeaders }));
      expect(detail).toMatchObject({ name: 'test-laptop', thumbprint: device.thumbprint, assurance: 'none', posture: null });
    });

    it('accepts each enrollment token once', async () => {
      const { token } = broker.admin.createEnrollmentToken({ label: 'once' });
      expect((await enroll(broker, await newDevice(), token)).status).toBe(201);
      const again = await enroll(broker, await newDevice(), token);
      expect(again.status).toBe(401);
      expect(await json(again)).toMatchObject({ error: 'enrollment-token-invalid', reason: 'token-used' });
    });

    it('refuses an unknown token, a request for another broker and a bad signature', async () => {
      expect(await json(await enroll(broker, await newDevice(), 'wet_not-a-real-token'))).toMatchObject({ reason: 'token-unknown' });
      expect(await json(await enroll(broker, await newDevice(), undefined, { aud: 'https://other.example/enroll' }))).toMatchObject({ reason: 'wrong-audience' });
      const device = await newDevice();
      const { token } = broker.admin.createEnrollmentToken();
      const { enrollmentRequest } = await import('./helpers.js');
      const jws = await enrollmentRequest(broker, device, token);
      const tampered = `${jws.slice(0, -4)}${jws.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
      const res = await fetch(`${broker.url}/enroll`, { method: 'POST', headers: { 'content-type': 'application/jose' }, body: tampered });
      expect(res.status).toBe(400);
      expect(await json(res)).toMatchObject({ error: 'enrollment-invalid', reason: 'bad-signature' });
    });
  });

  describe('posture reports', () => {
    let device: TestDevice;
    beforeAll(async () => {
      device = await enrolled();
    });

    it('accepts a fresh report signed by the pinned key and stores it with its age', async () => {
      const res = await postReport(broker, device, await postureReport(device));
      expect(res.status).toBe(200);
      expect(await json(res)).toMatchObject({ deviceId: device.deviceId, seq: device.seq, decision: 'allow', compliant: true });
      const detail = await json(await fetch(`${broker.url}/devices/${device.deviceId}`, { headers: adminHeaders }));
      const posture = detail.posture as Json;
      expect(posture).toMatchObject({ decision: 'allow', seq: device.seq });
      expect(posture.ageSeconds).toBeGreaterThanOrEqual(0);
      expect((posture.claims as Json).submods).toHaveProperty('firewall');
    });

    const refused = async (res: Response, status: number, reason: string) => {
      expect(res.status).toBe(status);
      expect((await json(res)).reason).toBe(reason);
    };

    it('refuses a report whose signature was tampered with (bad-signature)', async () => {
      const report = await postureReport(device);
      const [h, p, sig] = report.split('.');
      const flipped = `${sig!.slice(0, 10)}${sig![10] === 'A' ? 'B' : 'A'}${sig!.slice(11)}`;
      await refused(await postReport(broker, device, `${h}.${p}.${flipped}`), 422, 'bad-signature');
    });

    it('refuses a report signed by another key, even with the right DPoP key (foreign-key)', async () => {
      const other = await newDevice();
      const report = await postureReport(device, { signer: other.signer, kid: other.thumbprint });
      await refused(await postReport(broker, device, report), 422, 'foreign-key');
    });

    it('refuses an expired report (expired)', async () => {
      const iat = nowSeconds() - 1000;
      await refused(await postReport(broker, device, await postureReport(device, { iat, exp: iat + 300 })), 422, 'expired');
    });

    it('refuses a replayed report and a rolled-back seq (replayed-seq, rolled-back-seq)', async () => {
      const report = await postureReport(device);
      expect((await postReport(broker, device, report)).status).toBe(200);
      await refused(await postReport(broker, device, report), 422, 'replayed-seq');
      await refused(await postReport(broker, device, await postureReport(device, { seq: device.seq - 2 })), 422, 'rolled-back-seq');
    });

    it('refuses a report from a key that was never enrolled (unknown-device)', async () => {
      const stranger = await newDevice();
      stranger.deviceId = device.deviceId;
      await refused(await postReport(broker, stranger, await postureReport(stranger)), 403, 'unknown-device');
    });

    it('refuses a report without a valid DPoP proof', async () => {
      const url = `${broker.url}/posture`;
      const none = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/jwt' }, body: await postureReport(device) });
      await refused(none, 401, 'missing-dpop-proof');
      const wrongUrl = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/jwt', dpop: await dpopProof(device, 'POST', `${broker.url}/other`) }, body: await postureReport(device) });
      await refused(wrongUrl, 401, 'invalid-dpop-proof');
      const proof = await dpopProof(device, 'POST', url);
      expect((await fetch(url, { method: 'POST', headers: { 'content-type': 'application/jwt', dpop: proof }, body: await postureReport(device) })).status).toBe(200);
      await refused(await fetch(url, { method: 'POST', headers: { 'content-type': 'application/jwt', dpop: proof }, body: await postureReport(device) }), 401, 'invalid-dpop-proof');
    });

    it('keeps every refusal in the device history for admins', async () => {
      const history = (await json(await fetch(`${broker.url}/devices/${device.deviceId}/history?failures=1&limit=50`, { headers: adminHeaders }))).history as Json[];
      const reasons = new Set(history.filter((h) => h.outcome === 'refused').map((h) => h.reason));
      for (const reason of ['bad-signature', 'foreign-key', 'expired', 'replayed-seq', 'rolled-back-seq']) expect(reasons).toContain(reason);
    });
  });

  describe('challenges over the event channel', () => {
    it('sends a nonce down the SSE channel and returns the fresh nonce-bound report; a reused nonce is refused (replayed-nonce)', async () => {
      const device = await enrolled();
      const events = await openEvents(broker, device);
      expect(events.status).toBe(200);
      await events.next('ready');
      const pending = fetch(`${broker.url}/devices/${device.deviceId}/challenge`, { method: 'POST', headers: adminHeaders, body: JSON.stringify({ timeoutSeconds: 10 }) });
      const challenge = JSON.parse((await events.next('challenge')).data) as { nonce: string; reportUrl: string };
      expect(challenge.reportUrl).toBe(`${broker.url}/posture`);
      expect((await postReport(broker, device, await postureReport(device, { nonce: challenge.nonce }))).status).toBe(200);
      const answer = await pending;
      expect(answer.status).toBe(200);
      const body = await json(answer);
      expect(body.nonce).toBe(challenge.nonce);
      expect(body.posture).toMatchObject({ nonce: challenge.nonce, seq: device.seq });

      const replay = await postReport(broker, device, await postureReport(device, { nonce: challenge.nonce }));
      expect(replay.status).toBe(422);
      expect((await json(replay)).reason).toBe('replayed-nonce');
      const invented = await postReport(broker, device, await postureReport(device, { nonce: 'bm90LWlzc3VlZC1ieS10aGlzLWJyb2tlcg' }));
      expect((await json(invented)).reason).toBe('unknown-nonce');
      events.close();
    });

    it('answers 504 when the device does not answer, and 409 when it has no channel', async () => {
      const device = await enrolled();
      const offline = await fetch(`${broker.url}/devices/${device.deviceId}/challenge`, { method: 'POST', headers: adminHeaders });
      expect(offline.status).toBe(409);
      expect((await json(offline)).error).toBe('device-offline');
      const events = await openEvents(broker, device);
      await events.next('ready');
      const silent = await fetch(`${broker.url}/devices/${device.deviceId}/challenge`, { method: 'POST', headers: adminHeaders, body: JSON.stringify({ timeoutSeconds: 1 }) });
      expect(silent.status).toBe(504);
      expect((await json(silent)).error).toBe('challenge-timeout');
      events.close();
    });

    it('revoking a device sends a signed session-revoked SET and refuses its reports (device-revoked)', async () => {
      const device = await enrolled();
      const events = await openEvents(broker, device);
      await events.next('ready');
      const res = await fetch(`${broker.url}/admin/devices/${device.deviceId}/revoke`, { method: 'POST', headers: adminHeaders, body: '{}' });
      expect(res.status).toBe(200);
      const set = (await events.next('caep')).data;
      const verified = verifySet(set, { keys: brokerKeys, issuer: broker.issuer, audience: 'ward-agent' });
      expect(verified.ok).toBe(true);
      expect(set.split('.').length).toBe(3);
      const claims = JSON.parse(Buffer.from(set.split('.')[1]!, 'base64url').toString()) as Json;
      expect(Object.keys(claims.events as Json)).toEqual(['https://schemas.openid.net/secevent/caep/event-type/session-revoked']);
      expect(claims.sub_id).toMatchObject({ format: 'complex', device: { format: 'opaque', id: device.deviceId } });
      const after = await postReport(broker, device, await postureReport(device));
      expect(after.status).toBe(403);
      expect((await json(after)).reason).toBe('device-revoked');
      events.close();
    });
  });

  describe('policy', () => {
    it('serves the admin policy as a bundle signed by the broker key', async () => {
      const device = await enrolled();
      const set = await fetch(`${broker.url}/admin/policy`, { method: 'PUT', headers: adminHeaders, body: JSON.stringify(BLOCK_FIREWALL_POLICY) });
      expect(set.status).toBe(200);
      const { version } = await json(set);
      const url = `${broker.url}/policy`;
      const res = await fetch(url, { headers: { dpop: await dpopProof(device, 'GET', url) } });
      expect(res.status).toBe(200);
      const body = await json(res);
      const verdict = verifyPolicyBundle(body.bundle, brokerKeys, { issuer: broker.issuer });
      expect(verdict.ok && verdict.bundle.version).toBe(version);
      expect(verdict.ok && verdict.bundle.policy.rules[0]?.id).toBe('fw');
    });

    it('denies a failing block rule, emits device-compliance-change on each change (channel and push receiver) and keeps the failure history', async () => {
      await fetch(`${broker.url}/admin/policy`, { method: 'PUT', headers: adminHeaders, body: JSON.stringify(BLOCK_FIREWALL_POLICY) });
      const device = await enrolled();
      const events = await openEvents(broker, device);
      await events.next('ready');
      expect(await json(await postReport(broker, device, await postureReport(device)))).toMatchObject({ decision: 'allow', compliant: true });
      const failing = await json(await postReport(broker, device, await postureReport(device, { firewall: 'fail' })));
      expect(failing).toMatchObject({ decision: 'deny', compliant: false });
      expect((failing.results as Json[])[0]).toMatchObject({ ruleId: 'fw', passed: false, expected: 'status = pass', actual: 'fail' });

      const set = (await events.next('caep')).data;
      expect(verifySet(set, { keys: brokerKeys, issuer: broker.issuer, audience: 'ward-agent' }).ok).toBe(true);
      const event = (JSON.parse(Buffer.from(set.split('.')[1]!, 'base64url').toString()) as { events: Record<string, Json> }).events[
        'https://schemas.openid.net/secevent/caep/event-type/device-compliance-change'
      ];
      expect(event).toMatchObject({ previous_status: 'compliant', current_status: 'not-compliant' });

      expect(await json(await postReport(broker, device, await postureReport(device)))).toMatchObject({ decision: 'allow' });
      const back = (JSON.parse(Buffer.from((await events.next('caep')).data.split('.')[1]!, 'base64url').toString()) as { events: Record<string, Json> }).events;
      expect(Object.values(back)[0]).toMatchObject({ previous_status: 'not-compliant', current_status: 'compliant' });

      await expect.poll(() => pushed.filter((p) => p.body.length > 0).length).toBeGreaterThanOrEqual(2);
      expect(pushed[0]!.type).toBe('application/secevent+jwt');
      expect(verifySet(pushed[0]!.body, { keys: brokerKeys, issuer: broker.issuer }).ok).toBe(true);

      const history = (await json(await fetch(`${broker.url}/admin/history?failures=1&device=${device.deviceId}`, { headers: adminHeaders }))).history as Json[];
      expect(history[0]).toMatchObject({ outcome: 'accepted', status: 'deny' });
      expect((history[0]!.failures as Json[])[0]).toMatchObject({ ruleId: 'fw', severity: 'block', actual: 'fail' });
      events.close();
    });

    it('accepts a report once when copies of it arrive together, each with its own DPoP proof', async () => {
      const device = await enrolled();
      expect((await postReport(broker, device, await postureReport(device))).status).toBe(200); // the broker now caches the device
      const report = await postureReport(device);
      const answers = await Promise.all([0, 1, 2, 3].map(() => postReport(broker, device, report)));
      expect(answers.map((a) => a.status).sort()).toEqual([200, 422, 422, 422]);
      for (const refused of answers.filter((a) => a.status === 422)) expect(((await refused.json()) as { reason: string }).reason).toBe('replayed-seq');
    });

    it('keeps one history entry per change of verdict, not one per report, while the latest verdict follows every report', async () => {
      await fetch(`${broker.url}/admin/policy`, { method: 'PUT', headers: adminHeaders, body: JSON.stringify(BLOCK_FIREWALL_POLICY) });
      const device = await enrolled();
      const sequence = ['pass', 'pass', 'pass', 'fail', 'fail', 'pass'] as const;
      for (const firewall of sequence) expect((await postReport(broker, device, await postureReport(device, { firewall }))).status).toBe(200);
      const history = (await json(await fetch(`${broker.url}/devices/${device.deviceId}/history?limit=50`, { headers: adminHeaders }))).history as Json[];
      expect(history.map((h) => [h.outcome, h.status])).toEqual([
        ['accepted', 'allow'],
        ['accepted', 'deny'],
        ['accepted', 'allow'],
      ]);
      const detail = await json(await fetch(`${broker.url}/devices/${device.deviceId}`, { headers: adminHeaders }));
      expect(detail).toMatchObject({ lastSeq: device.seq, posture: { decision: 'allow', seq: device.seq } });
    });

    it('only warns during a block rule grace period and in report-only mode', async () => {
      const device = await enrolled();
      await fetch(`${broker.url}/admin/policy`, {
        method: 'PUT',
        headers: adminHeaders,
        body: JSON.stringify({ ...BLOCK_FIREWALL_POLICY, rules: [{ ...BLOCK_FIREWALL_POLICY.rules[0], graceSeconds: 3600 }] }),
      });
      const inGrace = await json(await postReport(broker, device, await postureReport(device, { firewall: 'fail' })));
      expect(inGrace).toMatchObject({ decision: 'warn', compliant: true });
      expect((inGrace.results as Json[])[0]).toMatchObject({ inGrace: true });
      await fetch(`${broker.url}/admin/policy`, { method: 'PUT', headers: adminHeaders, body: JSON.stringify({ ...BLOCK_FIREWALL_POLICY, reportOnly: true }) });
      expect(await json(await postReport(broker, device, await postureReport(device, { firewall: 'fail' })))).toMatchObject({ decision: 'warn', compliant: true, reportOnly: true });
    });

    it('refuses an invalid policy with the field at fault', async () => {
      const res = await fetch(`${broker.url}/admin/policy`, { method: 'PUT', headers: adminHeaders, body: JSON.stringify({ schemaVersion: 1, rules: [{ id: 'x', check: 'firewall', severity: 'fatal' }] }) });
      expect(res.status).toBe(400);
      expect(String((await json(res)).message)).toContain('rules.0');
    });
  });

  describe('query API credentials', () => {
    it('needs a bearer credential; a query credential reads devices but cannot administer', async () => {
      expect((await fetch(`${broker.url}/devices`)).status).toBe(401);
      const { token } = broker.admin.createCredential('query', 'pdp');
      const list = await fetch(`${broker.url}/devices`, { headers: { authorization: `Bearer ${token}` } });
      expect(list.status).toBe(200);
      expect(((await json(list)).devices as Json[]).length).toBeGreaterThan(0);
      const admin = await fetch(`${broker.url}/admin/enrollment-tokens`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      expect(admin.status).toBe(403);
    });
  });
});
