import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBundle } from '../../../../main/core/exec/bundle.js';
import { ReplayHost } from '../../../../main/core/exec/replay-host.js';
import { PostureBackend } from '../../../../main/core/ui-server/posture-backend.js';
import { startUiServer, type UiServer } from '../../../../main/core/ui-server/ui-server.js';

const bundle = parseBundle(readFileSync(join(import.meta.dirname, '..', '..', '..', 'fixtures', 'bundles', 'win32-noncompliant.json'), 'utf8'));

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Raw HTTP, so tests can send any Host and Origin (fetch would not let them). */
function send(port: number, options: { method?: string; path?: string; headers?: Record<string, string>; body?: string }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path ?? '/', headers: { host: `127.0.0.1:${port}`, ...options.headers } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('local web UI server', () => {
  let dir: string;
  let server: UiServer;
  let backend: PostureBackend;
  let cookie: string;
  let origin: string;

  const api = (channel: string, body: string, headers: Record<string, string> = {}) =>
    send(server.port, { method: 'POST', path: `/api/${channel}`, body, headers: { cookie, origin, 'content-type': 'application/json', ...headers } });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ward-ui-server-'));
    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><div id="root"></div>');
    await writeFile(join(dir, 'assets', 'app.js'), 'console.log(1)');
    await writeFile(join(tmpdir(), 'ward-secret-outside.txt'), 'outside');
    backend = new PostureBackend({ host: new ReplayHost('win32', bundle.records) });
    server = await startUiServer({ backend, staticDir: dir });
    origin = server.origin;
    const login = await send(server.port, { path: new URL(server.url).pathname + new URL(server.url).search });
    expect(login.status).toBe(303);
    cookie = String(login.headers['set-cookie']).split(';')[0] ?? '';
  });

  afterAll(async () => {
    await server.close();
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('binds to loopback and trades the token for an HttpOnly SameSite=Strict cookie, once', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{43}$/);
    expect(cookie).toMatch(/^ward_ui=[\w-]{43}$/);
    const fresh = server.newLoginUrl();
    const path = new URL(fresh).pathname + new URL(fresh).search;
    const first = await send(server.port, { path });
    expect(String(first.headers['set-cookie'])).toMatch(/HttpOnly; SameSite=Strict; Path=\//);
    expect((await send(server.port, { path })).status).toBe(403);
    expect((await send(server.port, { path: '/?token=guess' })).status).toBe(403);
  });

  it('serves the UI only with the session cookie, with a strict CSP', async () => {
    expect((await send(server.port, {})).status).toBe(401);
    const page = await send(server.port, { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(page.body).toContain('id="root"');
    expect(page.headers['content-security-policy']).toMatch(/default-src 'none'; script-src 'self'/);
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    const asset = await send(server.port, { path: '/assets/app.js', headers: { cookie } });
    expect(asset.headers['content-type']).toMatch(/^text\/javascript/);
  });

  it('refuses a foreign Host (DNS rebinding) and a foreign Origin', async () => {
    expect((await send(server.port, { headers: { cookie, host: `evil.example:${server.port}` } })).status).toBe(403);
    expect((await api('app.about', '{}', { origin: 'http://evil.example' })).status).toBe(403);
    expect((await api('app.about', '{}', { origin: 'null' })).status).toBe(403);
  });

  it('refuses API calls without a session, without an Origin, or not in JSON', async () => {
    expect((await api('app.about', '{}', { cookie: 'ward_ui=forged' })).status).toBe(403);
    const noOrigin = await send(server.port, { method: 'POST', path: '/api/app.about', body: '{}', headers: { cookie, 'content-type': 'application/json' } });
    expect(noOrigin.status).toBe(403);
    expect((await api('app.about', '{}', { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await send(server.port, { path: '/api/app.about', headers: { cookie } })).status).toBe(405);
  });

  it('validates requests with the contract: 400 for bad payloads, 404 for unknown channels', async () => {
    const bad = await api('settings.set', '{"launchAtLogin":"yes"}');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({ ok: false, error: { code: 'invalid-request' } });
    expect((await api('settings.set', 'not json')).status).toBe(400);
    expect((await api('settings.set', 'x'.repeat(70_000))).status).toBe(400);
    expect((await api('shell.exec', '{}')).status).toBe(404);
    expect((await api('__proto__', '{}')).status).toBe(404);
  });

  it('answers the contract from the backend', async () => {
    const view = await api('posture.snapshot', '{}');
    expect(view.status).toBe(200);
    const parsed = JSON.parse(view.body) as { value: { snapshot: { device: { os: { platform: string } } } } };
    expect(parsed.value.snapshot.device.os.platform).toBe('win32');
    const refused = await api('session.signIn', '{}');
    expect(refused.status).toBe(409);
    expect(JSON.parse(refused.body)).toMatchObject({ ok: false, error: { code: 'no-broker' } });
  });

  it('never serves files outside the build', async () => {
    for (const path of ['/../ward-secret-outside.txt', '/%2e%2e/ward-secret-outside.txt', '/assets/../../ward-secret-outside.txt']) {
      const reply = await send(server.port, { path, headers: { cookie } });
      expect(reply.body).not.toContain('outside');
    }
  });

  it('streams push events over server-sent events', async () => {
    const { contentType, body, stepUpId } = await new Promise<{ contentType: string | undefined; body: string; stepUpId: string }>((resolve, reject) => {
      let stepUpId = '';
      const req = request({ host: '127.0.0.1', port: server.port, path: '/api/events', headers: { host: `127.0.0.1:${server.port}`, cookie } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => {
          // The stream is open once its preamble arrives: only then push an event.
          if (body === '') stepUpId = backend.requestStepUp({ reason: 'sse test', ttlSeconds: 30 }).id;
          body += d.toString();
          if (body.includes('event: stepUp.requested')) {
            res.destroy();
            resolve({ contentType: res.headers['content-type'], body, stepUpId });
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
    expect(contentType).toBe('text/event-stream');
    expect(body).toContain('event: agent.state');
    expect(body).toContain('"reason":"sse test"');
    await backend.handle('session.stepUp', { id: stepUpId, decision: 'decline' });
  });

  it('answers arbitrary bodies without crashing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('settings.set', 'session.stepUp', 'posture.recheck'), fc.string({ maxLength: 200 }), async (channel, body) => {
        const reply = await api(channel, body);
        expect([200, 400, 409]).toContain(reply.status);
      }),
      { numRuns: 40 },
    );
  });
});
