import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSet, parsePollRequest, PollResponseSchema, verifySet, type JwsSigner } from '../../../broker/sdk/index.js';
import type { Broker } from '../../../broker/server/broker.js';
import { deviceSetIssuer, deviceSubject } from '../../../main/core/broker/device-set.js';
import { adminHeaders, BLOCK_FIREWALL_POLICY, dpopFetch, dpopProof, enroll, newDevice, postReport, postureReport, startBroker, type TestDevice } from './helpers.js';

/**
 * The reference broker's Shared Signals endpoints for devices: the RFC 8935 push receiver for
 * SETs a device transmits about itself (verified against its pinned key, kept as its claim), and
 * the RFC 8936 poll endpoint (each device gets only its own SETs).
 */
describe('reference broker: device SET push receiver and poll endpoint', () => {
  let broker: Broker;
  let dataDir: string;
  let a: TestDevice;
  let b: TestDevice;

  const signerOf = (device: TestDevice): JwsSigner => ({ kid: device.thumbprint, sign: (data) => device.signer.sign(data) });
  const claimSet = (device: TestDevice, overrides: { jti?: string; issuer?: string; about?: string; audience?: string; current?: 'compliant' | 'not-compliant' } = {}, signer = signerOf(device)) =>
    buildSet(
      {
        type: 'device-compliance-change',
        subject: deviceSubject(overrides.about ?? device.deviceId!),
        event: { previous_status: 'compliant', current_status: overrides.current ?? 'not-compliant', initiating_entity: 'system' },
        issuer: overrides.issuer ?? deviceSetIssuer(device.deviceId!),
        audience: overrides.audience ?? `${broker.url}/ssf/events`,
        ...(overrides.jti ? { jti: overrides.jti } : {}),
      },
      signer,
    );
  const push = (device: TestDevice, set: string, contentType = 'application/secevent+jwt') =>
    dpopFetch(device, `${broker.url}/ssf/events`, { method: 'POST', headers: { 'content-type': contentType }, body: set });
  const poll = async (device: TestDevice, request: Record<string, unknown>) => {
    const res = await dpopFetch(device, `${broker.url}/ssf/poll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) });
    expect(res.status).toBe(200);
    return PollResponseSchema.parse(await res.json());
  };
  const signals = async (device: TestDevice) =>
    (await (await fetch(`${broker.url}/devices/${device.deviceId}/signals`, { headers: adminHeaders })).json()) as {
      brokerVerdict: Record<string, unknown> | null;
      deviceClaims: Array<Record<string, unknown>>;
    };

  beforeAll(async () => {
    ({ broker, dataDir } = await startBroker({ dataDir: mkdtempSync(join(tmpdir(), 'ward-ssf-broker-')) }));
    a = await newDevice();
    b = await newDevice();
    await enroll(broker, a);
    await enroll(broker, b);
  });
  afterAll(async () => {
    await broker?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('accepts a device SET signed by the pinned key, records it as the device claim beside the broker verdict', async () => {
    const set = await claimSet(a, { jti: 'claim-1' });
    expect((await push(a, set)).status).toBe(202);
    expect((await push(a, set)).status).toBe(202); // a redelivery (the outbox retried) is accepted, recorded once
    const view = await signals(a);
    expect(view.brokerVerdict).toBeNull(); // no report yet: a claim is not a verdict
    expect(view.deviceClaims).toEqual([
      expect.objectContaining({ authoritative: false, source: 'device-transmitted SET', jti: 'claim-1', type: 'device-compliance-change', event: expect.objectContaining({ current_status: 'not-compliant' }) }),
    ]);
    // The device's claim did not change what the broker decides.
    expect((broker.admin.deviceDetail(a.deviceId!) as { posture: unknown }).posture).toBeNull();
  });

  it('refuses each bad device SET with its RFC 8935 error', async () => {
    const cases: Array<[string, Promise<Response>, number, string | undefined]> = [
      ['reused jti, other SET', claimSet(a, { jti: 'claim-1', current: 'compliant' }).then((s) => push(a, s)), 400, 'invalid_request'],
      ['signed by another device key', claimSet(a, {}, signerOf(b)).then((s) => push(a, s)), 400, 'invalid_key'],
      ['issued as another device', claimSet(a, { issuer: deviceSetIssuer(b.deviceId!) }).then((s) => push(a, s)), 400, 'invalid_issuer'],
      ['about another device', claimSet(a, { about: b.deviceId! }).then((s) => push(a, s)), 400, 'invalid_request'],
      ['for another receiver', claimSet(a, { audience: 'https://elsewhere.example/ssf/events' }).then((s) => push(a, s)), 400, 'invalid_audience'],
      ['wrong media type', claimSet(a).then((s) => push(a, s, 'application/json')), 400, 'invalid_request'],
      ['no DPoP proof', claimSet(a).then((s) => fetch(`${broker.url}/ssf/events`, { method: 'POST', headers: { 'content-type': 'application/secevent+jwt' }, body: s })), 401, undefined],
    ];
    for (const [what, response, status, err] of cases) {
      const res = await response;
      expect(res.status, what).toBe(status);
      if (err) expect(((await res.json()) as { err: string }).err, what).toBe(err);
      else await res.body?.cancel();
    }
    expect((await signals(a)).deviceClaims).toHaveLength(1);
    expect((await signals(b)).deviceClaims).toHaveLength(0);
  });

  it('answers a poll with the device own SETs only, and forgets them once acknowledged', async () => {
    broker.admin.setPolicy(BLOCK_FIREWALL_POLICY);
    expect((await postReport(broker, a, await postureReport(a, { firewall: 'fail' }))).status).toBe(200);
    let first: Awaited<ReturnType<typeof poll>> = { sets: {} };
    for (let i = 0; i < 50 && Object.keys(first.sets).length === 0; i++) first = await poll(a, { returnImmediately: true });
    const jtis = Object.keys(first.sets);
    expect(jtis).toHaveLength(1);
    const brokerKeys = ((await (await fetch(`${broker.url}/broker/keys`)).json()) as { keys: Array<JWK & { kid: string }> }).keys;
    const verdict = verifySet(first.sets[jtis[0]!], { keys: brokerKeys.map((k) => ({ kid: k.kid, key: k })), audience: 'ward-agent' });
    expect(verdict.ok && verdict.set.type === 'device-compliance-change' && verdict.set.subject).toMatchObject({ device: { id: a.deviceId } });

    expect((await poll(b, { returnImmediately: true })).sets).toEqual({}); // another device sees nothing of it
    expect((await poll(b, { ack: jtis, returnImmediately: true })).sets).toEqual({}); // nor can it acknowledge it away
    expect(Object.keys((await poll(a, { returnImmediately: true })).sets)).toEqual(jtis); // not acknowledged: sent again
    expect((await poll(a, { ack: jtis, returnImmediately: true })).sets).toEqual({});
    expect((await poll(a, { returnImmediately: true })).sets).toEqual({});

    const res = await dpopFetch(a, `${broker.url}/ssf/poll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"maxEvents":-1}' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { err: string }).err).toBe('invalid_request');
  });

  it('keeps what a device has not acknowledged across a broker restart', async () => {
    expect((await postReport(broker, a, await postureReport(a, { firewall: 'pass' }))).status).toBe(200);
    let before: Awaited<ReturnType<typeof poll>> = { sets: {} };
    for (let i = 0; i < 50 && Object.keys(before.sets).length === 0; i++) before = await poll(a, { returnImmediately: true });
    expect(Object.keys(before.sets)).toHaveLength(1); // polled, not acknowledged
    const port = broker.port;
    await broker.close();
    await new Promise((r) => setTimeout(r, 300)); // let the client pool drop the old sockets
    ({ broker } = await startBroker({ dataDir, port }));
    const after = await poll(a, { returnImmediately: true });
    expect(after.sets).toEqual(before.sets);
    const sets = Object.values(after.sets);
    const brokerKeys = ((await (await fetch(`${broker.url}/broker/keys`)).json()) as { keys: Array<JWK & { kid: string }> }).keys;
    const verdict = verifySet(sets[0], { keys: brokerKeys.map((k) => ({ kid: k.kid, key: k })), audience: 'ward-agent' });
    expect(verdict.ok && verdict.set.type === 'device-compliance-change' && verdict.set.event.current_status).toBe('compliant');
    expect((await poll(a, { ack: Object.keys(after.sets), returnImmediately: true })).sets).toEqual({});
  });

  it('never answers 5xx to malformed SETs and poll requests (fast-check)', async () => {
    const jwtLike = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.tuple(fc.jsonValue(), fc.jsonValue()).map(([h, p]) => `${Buffer.from(JSON.stringify(h)).toString('base64url')}.${Buffer.from(JSON.stringify(p)).toString('base64url')}.${'A'.repeat(86)}`),
    );
    const pollBody = fc.oneof(fc.string({ maxLength: 200 }), fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)));
    await fc.assert(
      fc.asyncProperty(fc.boolean(), jwtLike, pollBody, fc.constantFrom('application/secevent+jwt', 'application/json', 'text/plain', ''), async (isPush, set, body, type) => {
        const url = `${broker.url}${isPush ? '/ssf/events' : '/ssf/poll'}`;
        const headers: Record<string, string> = { dpop: await dpopProof(a, 'POST', url), ...(type ? { 'content-type': type } : {}) };
        const held = AbortSignal.timeout(1_000);
        try {
          const res = await fetch(url, { method: 'POST', headers, body: isPush ? set : body, signal: held });
          await res.arrayBuffer();
          expect(res.status).toBeLessThan(500);
        } catch (err) {
          // Only a valid poll request is held open (a long poll waiting for a SET).
          if (!held.aborted) throw err;
          expect(isPush).toBe(false);
          expect(parsePollRequest(body.trim() === '' ? {} : body).ok).toBe(true);
        }
      }),
      { numRuns: 80 },
    );
    expect((await fetch(`${broker.url}/healthz`)).status).toBe(200);
  });
});
