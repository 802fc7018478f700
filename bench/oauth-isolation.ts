import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DAEMON_NODE_FLAGS } from '../bin/agent-bundle.mjs';
import { percentile, report, round } from './stats.js';

/**
 * Does running the OAuth calls somewhere else keep undici's memory out of the daemon? A `node`
 * with the daemon's V8 flags does `--rounds` token refreshes with openid-client (discovery +
 * refresh_token grant against a local node:http token endpoint; no DPoP) in one of three ways —
 * in its own thread, in a short-lived `worker_threads` Worker, in a short-lived child process —
 * and its RSS is read from /proc after each (GC, then 2 s). The process itself never touches
 * fetch, Response or Headers in the worker and child modes.
 */
const MODES = ['in-process', 'worker', 'child'] as const;
type Mode = (typeof MODES)[number];

const OPENID_CLIENT = pathToFileURL(createRequire(import.meta.url).resolve('openid-client')).href;

const EXCHANGE = `
import * as client from ${JSON.stringify(OPENID_CLIENT)};
export async function exchange(issuer) {
  const config = await client.discovery(new URL(issuer), 'bench', undefined, client.None(), { execute: [client.allowInsecureRequests] });
  const r = await client.refreshTokenGrant(config, 'bench-refresh-token');
  return { access_token: r.access_token, expires_in: r.expires_in };
}
if (process.argv[2] === 'child') {
  process.once('message', async (issuer) => process.send(await exchange(issuer), () => process.disconnect()));
}
`;

const PROBE = (mode: Mode, rounds: number, exchangeUrl: string): string => `
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
const rssMb = () => Number(/VmRSS:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const server = createServer((req, res) => {
  const base = 'http://127.0.0.1:' + server.address().port;
  const body = req.url.startsWith('/.well-known/') ? { issuer: base, token_endpoint: base + '/token' } : { access_token: 'x'.repeat(600), token_type: 'Bearer', expires_in: 300 };
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)));
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const issuer = 'http://127.0.0.1:' + server.address().port;
async function once() {
  ${
    mode === 'in-process'
      ? `const { exchange } = await import(${JSON.stringify(exchangeUrl)}); return exchange(issuer);`
      : mode === 'worker'
        ? `return new Promise((resolve, reject) => {
    const w = new Worker('import { parentPort } from "node:worker_threads"; const { exchange } = await import(' + JSON.stringify(${JSON.stringify(exchangeUrl)}) + '); parentPort.postMessage(await exchange(' + JSON.stringify(issuer) + '));', { eval: true });
    let result; w.once('message', (m) => (result = m)); w.once('error', reject); w.once('exit', () => resolve(result));
  });`
        : `const c = fork(fileURLToPath(${JSON.stringify(exchangeUrl)}), ['child'], { execArgv: ${JSON.stringify(DAEMON_NODE_FLAGS)}, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  c.send(issuer);
  const result = await new Promise((r) => c.once('message', r));
  await new Promise((r) => c.once('exit', r));
  return result;`
  }
}
await sleep(1000);
const rss = [rssMb()];
for (let i = 0; i < ${rounds}; i++) {
  const result = await once();
  if (typeof result?.access_token !== 'string') throw new Error('no token');
  await sleep(500); globalThis.gc(); await sleep(2000);
  rss.push(rssMb());
}
server.close();
process.stdout.write(JSON.stringify(rss) + '\\n');
`;

async function probe(dir: string, mode: Mode, rounds: number, exchangeUrl: string): Promise<number[]> {
  const file = join(dir, `probe-${mode}.mjs`);
  writeFileSync(file, PROBE(mode, rounds, exchangeUrl));
  const proc = spawn(process.execPath, [...DAEMON_NODE_FLAGS, '--expose-gc', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise((r) => proc.once('exit', r));
  if (code !== 0) throw new Error(`${mode} probe exited with ${String(code)}`);
  return JSON.parse(out) as number[];
}

export async function run(args: string[]): Promise<void> {
  const json = args.includes('--json');
  const rounds = Math.max(1, Number(args.find((a) => a.startsWith('--rounds='))?.slice(9) ?? 5));
  const dir = mkdtempSync(join(tmpdir(), 'ward-bench-oauth-isolation-'));
  try {
    const exchangeFile = join(dir, 'exchange.mjs');
    writeFileSync(exchangeFile, EXCHANGE);
    const figures: Record<string, unknown> = { bench: 'oauth-isolation', rounds };
    const lines = [`oauth-isolation: RSS of a node with the daemon flags after ${rounds} openid-client refreshes (GC, 2 s after each); noisy, one run each`];
    for (const mode of MODES) {
      const rss = await probe(dir, mode, rounds, pathToFileURL(exchangeFile).href);
      const before = rss[0]!;
      const after = rss.slice(1);
      const key = mode.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
      figures[`${key}BeforeMb`] = round(before, 1);
      figures[`${key}AfterMedianMb`] = round(percentile(after, 50), 1);
      figures[`${key}AfterMaxMb`] = round(Math.max(...after), 1);
      lines.push(`  ${mode.padEnd(10)} before ${round(before, 1)} MB   after: median ${round(percentile(after, 50), 1)} MB, max ${round(Math.max(...after), 1)} MB   (${after.map((v) => round(v, 1)).join(', ')})`);
    }
    report(json, lines, figures);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
