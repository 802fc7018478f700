import { spawn } from 'node:child_process';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Broker } from '../../../broker/server/broker.js';
import { buildPostureReport } from '../../../main/core/broker/report.js';
import type { DeviceSigner } from '../../../main/core/identity/key-store.js';
import type { DeviceFacts } from '../../../main/core/posture/snapshot.js';
import { sampleSnapshot } from '../../unit/broker/sdk/helpers.js';
import { dpopProof, type TestDevice } from '../broker/helpers.js';

// What the key-rotation integration tests share: a device, reports and proofs signed by a
// DeviceSigner, `ward` run as a separate process, and a loopback proxy in front of the reference
// broker that can drop or damage a rotation request, or kill the client once the broker accepted it.

export const DEVICE: DeviceFacts = {
  os: { platform: 'linux', name: 'Debian GNU/Linux', version: '12', build: null, kernel: '6.1.0', arch: 'x64' },
  hostname: 'rotating-laptop',
  hardware: { vendor: null, model: null, serial: null, uuid: null, virtual: true },
  agentVersion: '0.1.0',
};

/** The broker helpers' DPoP and event-channel functions only need a signer and its public key. */
export const asProofKey = (signer: DeviceSigner) => ({ signer, publicJwk: signer.publicJwk }) as unknown as TestDevice;

/** A posture report signed by `reportSigner`, POSTed with a DPoP proof by `proofSigner`. */
export async function postReport(
  baseUrl: string,
  reportSigner: DeviceSigner,
  deviceId: string,
  seq: number,
  proofSigner: DeviceSigner = reportSigner,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const jwt = await buildPostureReport(sampleSnapshot(), reportSigner, { deviceId, seq });
  return sendReport(baseUrl, jwt, await dpopProof(asProofKey(proofSigner), 'POST', `${baseUrl}/posture`));
}

export async function sendReport(baseUrl: string, jwt: string, dpop: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${baseUrl}/posture`, { method: 'POST', headers: { 'content-type': 'application/jwt', dpop }, body: jwt });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** `GET /events` with a DPoP proof by `signer`: the status and the broker's refusal, if any. */
export async function openChannelStatus(baseUrl: string, signer: DeviceSigner): Promise<{ status: number; body: unknown }> {
  const url = `${baseUrl}/events`;
  const controller = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', dpop: await dpopProof(asProofKey(signer), 'GET', url) }, signal: controller.signal });
  const body = res.status === 200 ? undefined : await res.json();
  controller.abort();
  return { status: res.status, body };
}

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export interface WardRun {
  readonly pid: number;
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** `node bin/ward.mjs ...` as its own process (another process than the test and its agent). */
export function runWard(args: readonly string[], env: NodeJS.ProcessEnv): WardRun {
  const child = spawn(process.execPath, [join(REPO, 'bin/ward.mjs'), ...args], { cwd: REPO, env: { PATH: '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { pid: child.pid!, done };
}

/**
 * What the proxy does with the next `POST /rotate`:
 *  - `pass`: forward it;
 *  - `down`: drop the connection without forwarding (the broker is unreachable);
 *  - `corrupt`: forward it with one signature byte flipped (the real broker refuses it);
 *  - `kill-client`: forward it, read the broker's whole answer, then SIGKILL process `pid` and
 *    drop the connection: the broker has pinned the new key, the client never hears of it.
 * Every other request is forwarded.
 */
export type RotateMode = { readonly kind: 'pass' | 'down' | 'corrupt' } | { readonly kind: 'kill-client'; readonly pid: number };

export interface RotationProxy {
  readonly url: string;
  /** Set what happens to rotation requests from now on. */
  rotate: RotateMode;
  /** The broker's status for the last rotation request it answered through the proxy. */
  readonly lastRotateStatus: number | undefined;
  close(): Promise<void>;
}

async function readAll(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Flip one character of the JWS signature (the last segment) so it no longer verifies. */
function corruptJws(body: Buffer): Buffer {
  const text = body.toString('utf8').trim();
  const last = text.length - 2;
  return Buffer.from(`${text.slice(0, last)}${text[last] === 'A' ? 'B' : 'A'}${text.slice(last + 1)}`);
}

/** Listen on a free loopback port now; forward to `target()` (the broker starts after, with this URL as issuer). */
export async function startRotationProxy(target: () => string): Promise<RotationProxy> {
  let lastRotateStatus: number | undefined;
  const state: { rotate: RotateMode } = { rotate: { kind: 'pass' } };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const isRotate = req.method === 'POST' && req.url === '/rotate';
      const mode = isRotate ? state.rotate : { kind: 'pass' as const };
      if (mode.kind === 'down') {
        req.socket.destroy();
        return;
      }
      let body = await readAll(req);
      if (mode.kind === 'corrupt') body = corruptJws(body);
      const headers = { ...req.headers, 'content-length': String(body.length) };
      const upstream = request(`${target()}${req.url ?? '/'}`, { method: req.method, headers }, (answer) => {
        if (isRotate) lastRotateStatus = answer.statusCode;
        if (mode.kind === 'kill-client') {
          void readAll(answer).then(() => {
            process.kill(mode.pid, 'SIGKILL');
            req.socket.destroy();
          });
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => req.socket.destroy());
      res.on('close', () => upstream.destroy());
      upstream.end(body);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    get rotate() {
      return state.rotate;
    },
    set rotate(mode: RotateMode) {
      state.rotate = mode;
    },
    get lastRotateStatus() {
      return lastRotateStatus;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A broker handle whose `url` is the proxy's, for the broker helpers that only read `url`. */
export const throughProxy = (proxy: RotationProxy): Broker => ({ url: proxy.url }) as Broker;
