import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, buildBrokerBundle, freshBrokerBundle } from '../../../bin/agent-bundle.mjs';

/**
 * How `ward-broker` ships: the compiled bundle (`npm run build:broker`), which bin/ward-broker.mjs
 * runs while it is fresh. Built here into a directory of its own inside the checkout (so it
 * resolves the packages it leaves in node_modules), then run as a real broker process.
 */
const bundleDir = join(ROOT, 'node_modules', '.cache', `ward-broker-test-${randomUUID()}`);
const dataDir = mkdtempSync(join(tmpdir(), 'ward-broker-bundle-'));

afterAll(() => {
  rmSync(bundleDir, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the compiled broker bundle', () => {
  it('serves the broker (DPoP-guarded posture endpoint, WAL checkpoints on their worker), stops cleanly, and is used only while fresh', async () => {
    const entry = await buildBrokerBundle(bundleDir);
    expect(freshBrokerBundle(bundleDir)).toBe(entry);

    const child = spawn(process.execPath, [entry, 'serve', '--data', dataDir, '--port', '0'], { cwd: ROOT, env: { ...process.env, WARD_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setInterval(() => {
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m?.[1]) {
          clearInterval(timer);
          resolve(m[1]);
        }
      }, 50);
      void exited.then((code) => {
        clearInterval(timer);
        reject(new Error(`the bundled broker exited with ${code}: ${out}`));
      });
    });
    expect(((await (await fetch(`${url}/broker/keys`)).json()) as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
    const refused = await fetch(`${url}/posture`, { method: 'POST', headers: { 'content-type': 'application/jwt' }, body: 'x.y.z' });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { reason: string }).reason).toBe('missing-dpop-proof');
    // The checkpoint worker is a separate file found through import.meta.url: had the bundle lost
    // it, the broker would say so at once and checkpoint on the main connection instead.
    await new Promise((r) => setTimeout(r, 1500));
    expect(out).not.toContain('WAL checkpoints are back on the main connection');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    const manifestFile = join(bundleDir, 'inputs.json');
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as { builtAtMs: number; inputs: string[] };
    expect(manifest.inputs).toEqual(expect.arrayContaining(['broker/server/broker-core.ts', 'broker/sdk/posture-report.ts']));
    writeFileSync(manifestFile, JSON.stringify({ ...manifest, builtAtMs: 0 })); // as if every source changed since
    expect(freshBrokerBundle(bundleDir)).toBeUndefined();
  }, 120_000);
});
