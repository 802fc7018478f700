import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../../../main/core/agent.js';
import { Outbox } from '../../../../main/core/broker/outbox.js';
import { buildPostureReport } from '../../../../main/core/broker/report.js';
import { CONFIG_DEFAULTS } from '../../../../main/core/config/schema.js';
import { LiveHost } from '../../../../main/core/exec/live-host.js';
import { openSigner } from '../../../../main/core/identity/device-signer.js';
import type { DeviceSigner } from '../../../../main/core/identity/key-store.js';
import { MemoryKeyStore } from '../../../../main/core/identity/memory-key-store.js';
import { LocalApiServer, type LocalApiFile } from '../../../../main/core/local-api/local-api-server.js';
import { agentVersion } from '../../../../main/core/posture/checks/agent-version.js';
import { systemClock } from '../../../../main/core/session/clock.js';
import { accessResource } from '../../../../main/core/session/protected-resource.js';
import { MemoryTokenStore } from '../../../../main/core/session/token-store.js';

const ALLOWED = 'https://login.example.com';
let dir: string;
let server: LocalApiServer;
let file: LocalApiFile;
let agent: Agent;
let outbox: Outbox;
let signer: DeviceSigner;

/** Raw HTTP so the test controls Host and Origin exactly (fetch would set them itself). */
function call(path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: file.port, path, method: options.method ?? 'GET', headers: { host: `127.0.0.1:${file.port}`, ...options.headers } },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const json = { 'content-type': 'application/json' };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ward-local-api-'));
  outbox = Outbox.open(join(dir, 'outbox.db'));
  agent = new Agent({
    host: new LiveHost('linux'),
    config: CONFIG_DEFAULTS,
    loadIdentity: () => Promise.resolve(undefined),
    openSigner: () => Promise.reject(new Error('not enrolled')),
    tokenStore: new MemoryTokenStore(),
    outbox,
    checks: [agentVersion],
    watchTargets: [],
    networkPollMs: 0,
  });
  await agent.start();
  const store = new MemoryKeyStore();
  await store.create('k');
  signer = await openSigner(store, 'k');
  const backend = agent.backend({
    'settings.get': async () => ({ values: { launchAtLogin: false, notifications: { stepUp: true, complianceChanges: true } }, isLaunchAtLoginSupported: false }),
    'settings.set': async () => ({ values: { launchAtLogin: false, notifications: { stepUp: true, complianceChanges: true } }, isLaunchAtLoginSupported: false }),
    'app.about': async () => ({ name: 'Ward', version: '0.1.0', platform: 'linux', shell: 'web', update: { state: 'unsupported' } }),
  });
  server = new LocalApiServer({
    agent: {
      backend,
      signedReport: (nonce) => buildPostureReport(agent.snapshot!, signer, { deviceId: 'dev-1', seq: 1, nonce }),
      accessResource: (url) => accessResource(agent, url),
    },
    stateDir: dir,
    allowedOrigins: [ALLOWED],
    originRatePerMinute: 50,
    // Time stands still for the rate limiter: buckets never refill during the test.
    clock: { ...systemClock, now: () => 1_700_000_000_000 },
  });
  file = await server.start();
});

afterAll(async () => {
  await server.close();
  await agent.stop();
  outbox.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('LocalApiServer', () => {
  it('writes its secrets to a file only the user can read', () => {
    expect(statSync(server.filePath).mode & 0o777).toBe(0o600);
    expect(file.readToken).not.toBe(file.writeToken);
  });

  it('refuses a forged Host header (DNS rebinding)', async () => {
    const res = await call('/v1/call/session.status', { method: 'POST', headers: { ...json, host: `evil.example:${file.port}`, authorization: `Bearer ${file.writeToken}` } });
    expect(res.status).toBe(421);
  });

  it('needs a bearer secret, and keeps read and write apart', async () => {
    expect((await call('/v1/call/session.status', { method: 'POST', headers: json, body: '{}' })).status).toBe(401);
    const read = await call('/v1/call/session.status', { method: 'POST', headers: { ...json, authorization: `Bearer ${file.readToken}` }, body: '{}' });
    expect(read.status).toBe(200);
    expect(JSON.parse(read.body)).toMatchObject({ ok: true, value: { state: 'unenrolled' } });
    const denied = await call('/v1/call/session.signOut', { method: 'POST', headers: { ...json, authorization: `Bearer ${file.readToken}` }, body: '{}' });
    expect(denied.status).toBe(403);
    const allowed = await call('/v1/call/session.signOut', { method: 'POST', headers: { ...json, authorization: `Bearer ${file.writeToken}` }, body: '{}' });
    expect(allowed.status).toBe(200);
    const power = await call('/v1/power', { method: 'POST', headers: { ...json, authorization: `Bearer ${file.readToken}` }, body: '{"event":"lock-screen"}' });
    expect(power.status).toBe(403);
  });

  it('refuses a browser origin that is not allow-listed, without CORS headers', async () => {
    const res = await call('/v1/posture-report', { method: 'POST', headers: { ...json, origin: 'https://evil.example' }, body: '{"nonce":"abcdefghijklmnopqrstuv"}' });
    expect(res.status).toBe(403);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('lets an allow-listed origin do nothing but ask for a posture report, even with a secret', async () => {
    const res = await call('/v1/call/session.status', { method: 'POST', headers: { ...json, origin: ALLOWED, authorization: `Bearer ${file.writeToken}` }, body: '{}' });
    expect(res.status).toBe(403);
  });

  it('answers the preflight of an allow-listed origin with strict CORS', async () => {
    const res = await call('/v1/posture-report', {
      method: 'OPTIONS',
      headers: { origin: ALLOWED, 'access-control-request-method': 'POST', 'access-control-request-private-network': 'true' },
    });
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(res.headers['access-control-allow-methods']).toBe('POST');
    expect(res.headers['access-control-allow-private-network']).toBe('true');
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('gives an allow-listed page a report signed by the device key and bound to its nonce', async () => {
    const nonce = 'n0nce-from-the-sign-in-page';
    const res = await call('/v1/posture-report', { method: 'POST', headers: { ...json, origin: ALLOWED }, body: JSON.stringify({ nonce }) });
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe(ALLOWED);
    const { report } = JSON.parse(res.body) as { report: string };
    expect(decodeProtectedHeader(report).typ).toBe('ward-posture+jwt');
    const { payload } = await jwtVerify(report, await importJWK(signer.publicJwk, 'ES256'));
    expect(payload.eat_nonce).toBe(nonce);
    expect(decodeJwt(report).device_id).toBe('dev-1');
  });

  it('rate-limits a page that asks too often', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      statuses.push((await call('/v1/posture-report', { method: 'POST', headers: { ...json, origin: ALLOWED }, body: '{"nonce":"abcdefghijklmnopqrstuv"}' })).status);
    }
    expect(statuses).toContain(429);
  });

  it('lets only the write secret ask for a protected resource, never a browser page', async () => {
    const body = JSON.stringify({ url: 'https://login.example.com/demo/resource' });
    expect((await call('/v1/resource', { method: 'POST', headers: { ...json, authorization: `Bearer ${file.readToken}` }, body })).status).toBe(403);
    expect((await call('/v1/resource', { method: 'POST', headers: { ...json, origin: ALLOWED, authorization: `Bearer ${file.writeToken}` }, body })).status).toBe(403);
    const bad = await call('/v1/resource', { method: 'POST', headers: { ...json, authorization: `Bearer ${file.writeToken}` }, body: JSON.stringify({ url: 1, extra: true }) });
    expect(bad.status).toBe(400);
    // The write secret reaches the agent, which refuses: this test agent is not enrolled.
    const res = await call('/v1/resource', { method: 'POST', headers: { ...json, authorization: `Bearer ${file.writeToken}` }, body });
    expect(res.status).toBe(409);
    expect(JSON.parse(res.body)).toMatchObject({ error: 'not-enrolled', hint: expect.stringContaining('ward enroll') });
  });

  it('never fails with a 500 on arbitrary request bodies', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.json()), async (body) => {
        const res = await call('/v1/call/posture.recheck', { method: 'POST', headers: { ...json, authorization: `Bearer ${file.writeToken}` }, body });
        expect(res.status).toBeLessThan(500);
      }),
      { numRuns: 40 },
    );
  });
});
