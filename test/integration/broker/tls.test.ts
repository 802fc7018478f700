import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const OPENSSL = '/usr/bin/openssl';

/** A throw-away CA and a server certificate for 127.0.0.1 it signed (P-256, one day). */
function makeCertificates(dir: string): { ca: Buffer; certFile: string; keyFile: string } {
  const run = (...args: string[]) => execFileSync(OPENSSL, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=Ward test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  run('req', ...ec, '-keyout', 'key.pem', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'cert.pem', '-days', '1', '-extfile', 'server.ext');
  return { ca: readFileSync(join(dir, 'ca.pem')), certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') };
}

/** `ward-broker serve` as a real process; resolves with its stdout once it listens, or its exit. */
function serve(args: string[]): { child: ChildProcess; started: Promise<{ url?: string; code?: number | null; stderr: string }> } {
  const child = spawn(process.execPath, ['bin/ward-broker.mjs', 'serve', ...args], { env: { ...process.env, WARD_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const started = new Promise<{ url?: string; code?: number | null; stderr: string }>((resolve) => {
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
      const m = /listening on (\S+)/.exec(stdout);
      if (m) resolve({ url: m[1]!, stderr });
    });
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
  return { child, started };
}

function get(url: string, ca?: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ...(ca ? { ca } : {}) }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

// Each test starts a real `ward-broker` process (tsx start-up takes seconds on a loaded machine).
describe('ward-broker on a non-loopback address', { timeout: 90_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-broker-tls-'));
  let certs: ReturnType<typeof makeCertificates>;
  const children: ChildProcess[] = [];

  beforeAll(() => {
    certs = makeCertificates(dir);
  });
  afterAll(async () => {
    for (const child of children) {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses 0.0.0.0 without TLS, with an error that says what to do', async () => {
    const config = join(dir, 'plain.json');
    writeFileSync(config, '{}\n');
    const { child, started } = serve(['--config', config, '--data', join(dir, 'plain-data'), '--host', '0.0.0.0', '--port', '0']);
    children.push(child);
    const result = await started;
    expect(result.url).toBeUndefined();
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('Refusing to listen on 0.0.0.0 without TLS');
    expect(result.stderr).toMatch(/tls.*certFile.*keyFile/);
  });

  it('listens on 0.0.0.0 over TLS with the configured certificate, trusted through the test CA', async () => {
    const config = join(dir, 'tls.json');
    writeFileSync(config, `${JSON.stringify({ tls: { certFile: certs.certFile, keyFile: certs.keyFile } })}\n`);
    const { child, started } = serve(['--config', config, '--data', join(dir, 'tls-data'), '--host', '0.0.0.0', '--port', '0']);
    children.push(child);
    const result = await started;
    expect(result.url).toMatch(/^https:\/\/0\.0\.0\.0:\d+$/);
    const base = `https://127.0.0.1:${new URL(result.url!).port}`;
    expect(await get(`${base}/healthz`, certs.ca)).toEqual({ status: 200, body: 'ok' });
    const keys = await get(`${base}/broker/keys`, certs.ca);
    expect(keys.status).toBe(200);
    expect((JSON.parse(keys.body) as { keys: { kty: string }[] }).keys[0]?.kty).toBe('EC');
    // Without the test CA the certificate is not trusted: it really is the one we made.
    await expect(get(`${base}/healthz`)).rejects.toThrow(/self[- ]signed|unable to (verify|get local issuer)/i);
    // Plain HTTP to the TLS port gets no HTTP answer.
    await expect(fetch(`http://127.0.0.1:${new URL(result.url!).port}/healthz`)).rejects.toThrow();
  });

  it('names an unreadable certificate file instead of crashing', async () => {
    const config = join(dir, 'missing.json');
    writeFileSync(config, `${JSON.stringify({ tls: { certFile: join(dir, 'nope.pem'), keyFile: certs.keyFile } })}\n`);
    const { child, started } = serve(['--config', config, '--data', join(dir, 'missing-data'), '--host', '0.0.0.0', '--port', '0']);
    children.push(child);
    const result = await started;
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`Cannot read the TLS certificate ${join(dir, 'nope.pem')}`);
  });
});
