import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderDoctor, runDoctor, type DoctorDeps } from '../../../main/cli/doctor.js';
import { DARWIN_MANAGED_PLIST, WIN32_POLICY_KEY, type ConfigLocations } from '../../../main/core/config/sources.js';
import { LiveHost } from '../../../main/core/exec/live-host.js';

const root = mkdtempSync(join(tmpdir(), 'ward-doctor-'));
let server: Server;
let base = '';
let mode: 'ok' | 'error' | 'hang' = 'ok';

beforeAll(async () => {
  // A stand-in broker on 127.0.0.1: OpenID discovery with the HTTP Date header every server sends.
  server = createServer((req, res) => {
    if (mode === 'hang') return;
    if (mode === 'error' || req.url !== '/.well-known/openid-configuration') {
      res.writeHead(500).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: base, token_endpoint: `${base}/token` }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(root, { recursive: true, force: true });
});

let n = 0;
function locations(managed: unknown, user?: unknown): ConfigLocations {
  const dir = join(root, `c${n++}`);
  mkdirSync(join(dir, 'etc', 'config.d'), { recursive: true });
  writeFileSync(join(dir, 'etc', 'config.json'), JSON.stringify(managed));
  if (user !== undefined) writeFileSync(join(dir, 'user.json'), JSON.stringify(user));
  return { linuxEtcDir: join(dir, 'etc'), darwinManagedPlist: DARWIN_MANAGED_PLIST, win32PolicyKey: WIN32_POLICY_KEY, userConfigFile: join(dir, 'user.json') };
}

function deps(loc: ConfigLocations, over: Partial<DoctorDeps> = {}): DoctorDeps {
  return {
    host: new LiveHost('linux'),
    locations: loc,
    fetch: globalThis.fetch,
    now: Date.now,
    keychainProbe: () => Promise.resolve({ available: true, detail: 'injected for this unit test (the real probe runs in test/integration/cli)' }),
    brokerTimeoutMs: 2000,
    currentVersion: '0.1.0',
    ...over,
  };
}
const check = (r: Awaited<ReturnType<typeof runDoctor>>, id: string) => r.checks.find((c) => c.id === id);

describe('ward doctor on this machine', () => {
  it('finds the managed config, reaches the broker, measures no skew, reports update state and tools', async () => {
    mode = 'ok';
    const report = await runDoctor(deps(locations({ brokerUrl: base, updateFeedUrl: 'https://updates.example.com/ward', enrollmentToken: 'a-secret-token-value-123' }, { hardwareKey: 'any' })));
    expect(check(report, 'config')).toMatchObject({ status: 'ok' });
    expect(check(report, 'broker')).toMatchObject({ status: 'ok', data: { issuer: base, status: 200 } });
    expect(check(report, 'clock')?.status).toBe('ok');
    expect(Math.abs(check(report, 'clock')?.data?.skewMs as number)).toBeLessThan(2000);
    expect(check(report, 'update')).toMatchObject({ status: 'ok', data: { channel: 'latest', feedUrl: 'https://updates.example.com/ward' } });
    expect(check(report, 'key-store')).toMatchObject({ status: 'ok', data: { hardwareKey: 'any' } });
    expect((check(report, 'tools')?.data?.present as string[]).length).toBeGreaterThan(0);
    const text = renderDoctor(report) + JSON.stringify(report);
    expect(text).not.toContain('a-secret-token-value-123');
    expect(text).toContain('set (hidden)');
  });

  it('reports a device clock two minutes slow as skew from the broker Date header', async () => {
    mode = 'ok';
    const report = await runDoctor(deps(locations({ brokerUrl: base }), { now: () => Date.now() - 120_000 }));
    const clock = check(report, 'clock');
    expect(clock?.status).toBe('warn');
    expect(clock?.data?.skewMs as number).toBeGreaterThan(118_000);
    expect(clock?.data?.skewMs as number).toBeLessThan(122_000);
    expect(clock?.summary).toMatch(/1[12]\d s behind the broker/);
  });

  it('fails the broker check on an error status, a closed port and a broker that never answers', async () => {
    mode = 'error';
    expect(check(await runDoctor(deps(locations({ brokerUrl: base }))), 'broker')).toMatchObject({ status: 'fail', summary: 'broker answered HTTP 500' });
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const unreachable = check(await runDoctor(deps(locations({ brokerUrl: `http://127.0.0.1:${port}` }))), 'broker');
    expect(unreachable).toMatchObject({ status: 'fail' });
    expect(unreachable?.summary).toMatch(/unreachable.*ECONNREFUSED/);
    mode = 'hang';
    const hung = check(await runDoctor(deps(locations({ brokerUrl: base }), { brokerTimeoutMs: 300 })), 'broker');
    expect(hung?.summary).toBe('broker unreachable: no answer within 300 ms');
  });

  it('fails on an invalid managed key, naming the key and the file; fails a required hardware key without a TPM', async () => {
    mode = 'ok';
    const loc = locations({ brokerUrl: base, updateChanel: 'beta', hardwareKey: 'required' });
    const report = await runDoctor(deps(loc));
    expect(check(report, 'config')?.status).toBe('fail');
    expect(check(report, 'config')?.details.join('\n')).toContain(`${join(loc.linuxEtcDir, 'config.json')}: updateChanel: unknown key`);
    const required = await runDoctor(deps(locations({ hardwareKey: 'required' })));
    expect(check(required, 'key-store')).toMatchObject({ status: 'fail', summary: 'policy requires a hardware key but no TPM is usable' });
    expect(renderDoctor(required)).toMatch(/\[FAIL\] Key store/);
  });
});
