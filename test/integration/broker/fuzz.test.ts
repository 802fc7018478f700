import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../../broker/server/broker.js';
import { adminHeaders, dpopProof, enroll, newDevice, postReport, postureReport, startBroker, type TestDevice } from './helpers.js';

const ENDPOINTS: readonly { method: string; path: string; device?: boolean; admin?: boolean }[] = [
  { method: 'POST', path: '/enroll' },
  { method: 'POST', path: '/enroll/ek-challenge' },
  { method: 'POST', path: '/rotate' },
  { method: 'POST', path: '/posture', device: true },
  { method: 'GET', path: '/events', device: true },
  { method: 'GET', path: '/policy', device: true },
  { method: 'POST', path: '/admin/enrollment-tokens', admin: true },
  { method: 'PUT', path: '/admin/policy', admin: true },
  { method: 'POST', path: '/admin/sessions/revoke', admin: true },
  { method: 'POST', path: '/admin/push/dead-letters/resend', admin: true },
  { method: 'POST', path: '/devices/x/challenge', admin: true },
  { method: 'GET', path: '/demo/resource' },
  { method: 'POST', path: '/interaction/abc/login' },
  { method: 'POST', path: '/token' },
];

const jwtLike = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.tuple(fc.base64String({ maxLength: 80 }), fc.base64String({ maxLength: 200 }), fc.base64String({ maxLength: 90 })).map((p) => p.join('.').replace(/=/g, '')),
  fc.jsonValue().map((v) => `${Buffer.from(JSON.stringify(v)).toString('base64url')}.${Buffer.from(JSON.stringify(v)).toString('base64url')}.${'A'.repeat(86)}`),
);
const body = fc.oneof(fc.string({ maxLength: 500 }), fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)), jwtLike, fc.constant('{"report":'), fc.constant('null'));
const contentType = fc.constantFrom('application/json', 'application/jwt', 'application/jose', 'application/x-www-form-urlencoded', 'text/plain', '');

describe('reference broker under malformed input (fast-check)', () => {
  let broker: Broker;
  let cleanup: () => Promise<void>;
  let device: TestDevice;

  beforeAll(async () => {
    ({ broker, cleanup } = await startBroker());
    device = await newDevice();
    await enroll(broker, device);
  });
  afterAll(async () => cleanup());

  it('never answers 5xx nor crashes on malformed JSON, JWTs, DPoP proofs and headers', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENDPOINTS), body, contentType, fc.option(jwtLike), fc.boolean(), async (endpoint, payload, type, dpop, validProof) => {
        const url = `${broker.url}${endpoint.path}`;
        const headers: Record<string, string> = { ...(type ? { 'content-type': type } : {}) };
        if (endpoint.admin) headers.authorization = adminHeaders.authorization;
        if (endpoint.device) headers.dpop = validProof ? await dpopProof(device, endpoint.method, url) : (dpop ?? '');
        else if (dpop !== null) headers.dpop = dpop;
        // Any Last-Event-ID the agent (or anyone) sends: replay or reset, never a 5xx.
        if (endpoint.path === '/events' && dpop !== null) headers['last-event-id'] = dpop.replace(/[^\x21-\x7e]/g, '').slice(0, 200);
        if (endpoint.path === '/demo/resource' && dpop !== null) headers.authorization = `DPoP ${dpop.replace(/[^A-Za-z0-9._~+/-]/g, '') || 'x'}`;
        const controller = new AbortController();
        const res = await fetch(url, { method: endpoint.method, headers, signal: controller.signal, ...(endpoint.method === 'GET' ? {} : { body: payload }) });
        // The event stream stays open by design: a 200 there is a success, close it.
        if (endpoint.path === '/events' && res.status === 200) controller.abort();
        else await res.arrayBuffer();
        expect(res.status, `${endpoint.method} ${endpoint.path}`).toBeLessThan(500);
      }),
      { numRuns: 300 },
    );
    // Still up and still correct afterwards.
    expect((await postReport(broker, device, await postureReport(device))).status).toBe(200);
  });

  it('answers 413 to oversized bodies on every endpoint that takes one', async () => {
    const big = 'x'.repeat(600 * 1024);
    for (const endpoint of ENDPOINTS.filter((e) => e.method !== 'GET' && e.path !== '/token')) {
      const url = `${broker.url}${endpoint.path}`;
      const headers: Record<string, string> = { 'content-type': endpoint.path === '/posture' ? 'application/jwt' : endpoint.path.startsWith('/interaction') ? 'application/x-www-form-urlencoded' : 'application/json' };
      if (endpoint.admin) headers.authorization = adminHeaders.authorization;
      if (endpoint.device) headers.dpop = await dpopProof(device, endpoint.method, url);
      const res = await fetch(url, { method: endpoint.method, headers, body: big });
      expect(res.status, endpoint.path).toBe(413);
      expect(((await res.json()) as { error: string }).error).toBe('payload-too-large');
    }
    expect((await fetch(`${broker.url}/healthz`)).status).toBe(200);
  });
});
