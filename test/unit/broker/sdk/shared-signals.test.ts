import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import type { JWK } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CAEP_EVENT_TYPES,
  MemorySetQueue,
  buildSet,
  es256Signer,
  parsePollRequest,
  parsePollResponse,
  pollSets,
  pushSet,
  receivePushedSet,
  verifySet,
  type SetRejectReason,
  type VerifySetOptions,
} from '../../../../broker/sdk/index.js';
import { signCompactJws } from '../../../../broker/sdk/jws.js';

const NOW = new Date('2025-01-01T00:00:00Z');
const ISS = 'https://broker.example';
const AUD = 'https://pdp.example';
const pair = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicJwk: publicKey.export({ format: 'jwk' }) as JWK };
};
const transmitter = pair();
const signer = es256Signer(transmitter.privateKey, 'set-1');
const verifyOptions: VerifySetOptions = { keys: [{ kid: 'set-1', key: transmitter.publicJwk }], issuer: ISS, audience: AUD, now: NOW, maxAgeSeconds: 300 };
const device = { format: 'complex' as const, device: { format: 'opaque' as const, id: 'dev-1' } };

const complianceSet = (extra: { jti?: string; now?: Date; audience?: string; issuer?: string } = {}) =>
  buildSet(
    {
      type: 'device-compliance-change',
      subject: device,
      event: { previous_status: 'compliant', current_status: 'not-compliant', initiating_entity: 'policy', reason_admin: { en: 'firewall off' } },
      issuer: extra.issuer ?? ISS,
      audience: extra.audience ?? AUD,
      now: extra.now ?? NOW,
      ...(extra.jti ? { jti: extra.jti } : {}),
    },
    signer,
  );

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listen(handler: (req: IncomingMessage, body: string) => Promise<{ status: number; headers?: Record<string, string>; body?: string }>): Promise<string> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void handler(req, Buffer.concat(chunks).toString('utf8')).then((answer) => {
        res.writeHead(answer.status, answer.headers ?? {});
        res.end(answer.body);
      });
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
}

describe('CAEP SETs', () => {
  it('builds each event type and verifies it back, narrowed to its payload', async () => {
    const inputs = [
      { type: 'session-revoked' as const, event: { initiating_entity: 'admin' as const } },
      { type: 'credential-change' as const, event: { credential_type: 'fido2-platform', change_type: 'revoke' as const } },
      { type: 'assurance-level-change' as const, event: { namespace: 'ward-key', current_level: 'os-keychain', previous_level: 'hardware', change_direction: 'decrease' as const } },
    ];
    for (const input of inputs) {
      const jwt = await buildSet({ ...input, subject: device, issuer: ISS, audience: [AUD, 'other'], now: NOW, txn: 'tx-1' }, signer);
      const header = JSON.parse(Buffer.from(jwt.split('.')[0] as string, 'base64url').toString()) as Record<string, unknown>;
      expect(header).toMatchObject({ typ: 'secevent+jwt', alg: 'ES256', kid: 'set-1' });
      const verdict = verifySet(jwt, verifyOptions);
      expect(verdict.ok).toBe(true);
      if (!verdict.ok) continue;
      expect(verdict.set.type).toBe(input.type);
      expect(verdict.set.claims.events).toHaveProperty([CAEP_EVENT_TYPES[input.type]]);
      expect(verdict.set.event).toMatchObject({ ...input.event, event_timestamp: NOW.getTime() / 1000 });
      expect(verdict.set.subject).toEqual(device);
    }
    const compliance = verifySet(await complianceSet(), verifyOptions);
    expect(compliance.ok && compliance.set.type === 'device-compliance-change' && compliance.set.event.current_status).toBe('not-compliant');
  });

  it('refuses each bad SET with its own reason', async () => {
    const iat = NOW.getTime() / 1000;
    const raw = (claims: Record<string, unknown>, header: Record<string, unknown> = { typ: 'secevent+jwt' }) => signCompactJws(header, claims, signer);
    const base = { iss: ISS, iat, jti: 'j1', aud: AUD, sub_id: device };
    const cases: [string, Promise<string> | string, Partial<VerifySetOptions>, SetRejectReason][] = [
      ['garbage', 'x.y.z', {}, 'malformed'],
      ['no sub_id', raw({ ...base, sub_id: undefined, events: { [CAEP_EVENT_TYPES['session-revoked']]: { event_timestamp: iat } } }), {}, 'malformed'],
      ['a plain JWT', raw({ ...base, events: {} }, { typ: 'JWT' }), {}, 'wrong-typ'],
      ['untrusted key', complianceSet(), { keys: [] }, 'unknown-key'],
      ['another key behind the kid', complianceSet(), { keys: [{ kid: 'set-1', key: pair().publicJwk }] }, 'bad-signature'],
      ['another transmitter', complianceSet({ issuer: 'https://evil.example' }), {}, 'wrong-issuer'],
      ['another receiver', complianceSet({ audience: 'https://else.example' }), {}, 'wrong-audience'],
      ['from the future', complianceSet({ now: new Date(NOW.getTime() + 600_000) }), {}, 'not-yet-valid'],
      ['stale', complianceSet({ now: new Date(NOW.getTime() - 3_600_000) }), {}, 'too-old'],
      ['two events', raw({ ...base, events: { [CAEP_EVENT_TYPES['session-revoked']]: { event_timestamp: iat }, [CAEP_EVENT_TYPES['credential-change']]: {} } }), {}, 'unsupported-event'],
      ['unknown event', raw({ ...base, events: { 'https://example.com/other': { event_timestamp: iat } } }), {}, 'unsupported-event'],
      ['bad payload', raw({ ...base, events: { [CAEP_EVENT_TYPES['device-compliance-change']]: { event_timestamp: iat, current_status: 'green' } } }), {}, 'invalid-event'],
    ];
    for (const [name, jwt, extra, reason] of cases) {
      const verdict = verifySet(await jwt, { ...verifyOptions, ...extra });
      expect({ name, reason: verdict.ok ? 'ok' : verdict.reason }).toEqual({ name, reason });
    }
  });

  it('verifySet and the poll parsers never throw on arbitrary input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.jsonValue()), (input) => {
        expect(verifySet(input, verifyOptions).ok).toBe(false);
        expect(typeof parsePollRequest(input).ok).toBe('boolean');
        expect(typeof parsePollResponse(input).ok).toBe('boolean');
      }),
    );
    fc.assert(
      fc.property(fc.option(fc.oneof(fc.string(), fc.constant('application/secevent+jwt'))), fc.oneof(fc.string(), fc.uint8Array()), (contentType, body) => {
        expect(receivePushedSet({ contentType, body }, verifyOptions).status).toBe(400);
      }),
    );
  });
});

describe('push delivery (RFC 8935) over loopback HTTP', () => {
  it('a SET pushed to a receiver built on receivePushedSet is accepted with 202; a bad one gets 400 with err', async () => {
    const received: string[] = [];
    const url = await listen(async (req, body) => {
      const receipt = receivePushedSet({ contentType: req.headers['content-type'], body }, verifyOptions);
      if (receipt.status === 202) {
        received.push(receipt.set.jti);
        return { status: 202 };
      }
      return { status: 400, headers: { 'content-type': 'application/json' }, body: JSON.stringify(receipt.body) };
    });
    expect(await pushSet(url, await complianceSet({ jti: 'push-1' }))).toEqual({ ok: true, status: 202 });
    expect(received).toEqual(['push-1']);
    expect(await pushSet(url, await complianceSet({ audience: 'https://else.example' }))).toMatchObject({ ok: false, status: 400, err: 'invalid_audience', retryable: false });
    const wrongType = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(wrongType.status).toBe(400);
    expect(await wrongType.json()).toMatchObject({ err: 'invalid_request' });
  });

  it('reports a 5xx as retryable and an unreachable receiver as a network failure', async () => {
    const url = await listen(async () => ({ status: 503 }));
    expect(await pushSet(url, await complianceSet())).toMatchObject({ ok: false, status: 503, retryable: true });
    const closed = await listen(async () => ({ status: 202 }));
    await new Promise((r) => servers.pop()?.close(r));
    expect(await pushSet(closed, await complianceSet(), { timeoutMs: 2000 })).toMatchObject({ ok: false, status: null, err: 'network', retryable: true });
  });
});

describe('MemorySetQueue bound', () => {
  it('evicts the oldest unacknowledged SET when full, counts it, and keeps a re-queued jti in place', async () => {
    const queue = new MemorySetQueue({ maxPending: 2 });
    queue.enqueue('a', 'set-a');
    queue.enqueue('b', 'set-b');
    queue.enqueue('b', 'set-b'); // the same jti again is not a new SET
    expect(queue.evicted).toBe(0);
    queue.enqueue('c', 'set-c');
    expect(queue.evicted).toBe(1);
    expect(Object.keys((await queue.poll({ returnImmediately: true })).sets)).toEqual(['b', 'c']);
  });
});

describe('poll delivery (RFC 8936) over loopback HTTP', () => {
  it('delivers queued SETs, re-delivers until acknowledged, records setErrs, and long-polls for new ones', async () => {
    const queue = new MemorySetQueue({ longPollMs: 20_000 });
    let longPollArrived: () => void = () => {};
    const arrived = new Promise<void>((resolve) => (longPollArrived = resolve));
    const url = await listen(async (_req, body) => {
      const request = parsePollRequest(body);
      if (!request.ok) return { status: 400, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ err: 'invalid_request', description: request.detail }) };
      if (request.value.returnImmediately === false) longPollArrived();
      return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(await queue.poll(request.value)) };
    });
    queue.enqueue('a', await complianceSet({ jti: 'a' }));
    queue.enqueue('b', await complianceSet({ jti: 'b' }));
    queue.enqueue('c', await complianceSet({ jti: 'c' }));

    const first = await pollSets(url, { maxEvents: 2, returnImmediately: true });
    if (!first.ok) throw new Error(first.description);
    expect(Object.keys(first.response.sets)).toEqual(['a', 'b']);
    expect(first.response.moreAvailable).toBe(true);
    for (const set of Object.values(first.response.sets)) expect(verifySet(set, verifyOptions).ok).toBe(true);

    const second = await pollSets(url, { ack: ['a'], setErrs: { b: { err: 'invalid_key', description: 'unknown key' } }, returnImmediately: true });
    expect(second.ok && Object.keys(second.response.sets)).toEqual(['c']);
    expect(queue.errors.get('b')).toEqual({ err: 'invalid_key', description: 'unknown key' });

    let answered = false;
    const waiting = pollSets(url, { ack: ['c'], returnImmediately: false }).finally(() => (answered = true));
    await arrived;
    expect(queue.size).toBe(0);
    expect(answered).toBe(false);
    queue.enqueue('d', await complianceSet({ jti: 'd' }));
    const third = await waiting;
    expect(third.ok && Object.keys(third.response.sets)).toEqual(['d']);
    expect(queue.size).toBe(1);

    const refused = await fetch(url, { method: 'POST', body: '{"maxEvents":-1}' });
    expect(refused.status).toBe(400);
    const viaClient = await pollSets(url, { maxEvents: -1 } as never);
    expect(viaClient).toMatchObject({ ok: false, status: 400, err: 'invalid_request' });
  });
});
