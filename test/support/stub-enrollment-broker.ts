import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, compactVerify, EmbeddedJWK, importJWK, type JWK } from 'jose';

/**
 * A minimal peer for the enrollment wire format in main/core/identity/enrollment.ts, on
 * 127.0.0.1: it verifies each request with jose exactly as the format says (embedded `jwk`,
 * `typ`, `aud`, token, old-key proof) and answers `{ deviceId, brokerKeys }`. The reference
 * broker (broker/server) is the real implementation; this stands in for it in identity tests.
 */
export interface StubEnrollmentBroker {
  readonly url: string;
  /** Verified request payloads, in arrival order. */
  readonly requests: { path: string; header: Record<string, unknown>; payload: Record<string, unknown> }[];
  /** Force the next answers (status and body) instead of the protocol answer. */
  answerNext(status: number, body: unknown): void;
  close(): Promise<void>;
}

const BROKER_KEY: JWK = { kty: 'EC', crv: 'P-256', kid: 'broker-1', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' };

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startStubEnrollmentBroker(options: { validTokens?: readonly string[] } = {}): Promise<StubEnrollmentBroker> {
  const tokens = new Set(options.validTokens ?? ['enroll-token-0123456789']);
  const devices = new Map<string, JWK>();
  const forced: { status: number; body: unknown }[] = [];
  const requests: StubEnrollmentBroker['requests'] = [];
  let url = '';
  let next = 1;

  const server = createServer((req, res) => {
    void (async () => {
      const path = req.url ?? '/';
      const body = await readBody(req);
      const force = forced.shift();
      if (force) return send(res, force.status, force.body);
      if (req.method !== 'POST' || req.headers['content-type'] !== 'application/jose') return send(res, 400, { error: 'invalid_request' });
      try {
        const { payload: raw, protectedHeader } = await compactVerify(body, EmbeddedJWK);
        const payload = JSON.parse(new TextDecoder().decode(raw)) as Record<string, unknown>;
        const jwk = protectedHeader.jwk as JWK;
        if (payload.aud !== `${url}${path}`) return send(res, 400, { error: 'invalid_request', error_description: 'wrong aud' });
        if (payload.jkt !== (await calculateJwkThumbprint(jwk))) return send(res, 400, { error: 'invalid_request', error_description: 'jkt mismatch' });
        if (path === '/enroll') {
          if (protectedHeader.typ !== 'ward-enroll+jwt') return send(res, 400, { error: 'invalid_request', error_description: 'typ' });
          if (!tokens.delete(String(payload.enrollment_token))) return send(res, 401, { error: 'invalid_token', error_description: 'enrollment token unknown or used' });
          const deviceId = `dev-${next++}`;
          devices.set(deviceId, jwk);
          requests.push({ path, header: protectedHeader as Record<string, unknown>, payload });
          return send(res, 201, { deviceId, brokerKeys: { keys: [BROKER_KEY] }, extra: 'ignored' });
        }
        if (path === '/rotate') {
          const deviceId = String(payload.device_id);
          const pinned = devices.get(deviceId);
          if (protectedHeader.typ !== 'ward-rotate+jwt' || !pinned) return send(res, 400, { error: 'invalid_request' });
          const inner = await compactVerify(String(payload.old_key_proof), await importJWK(pinned, 'ES256'));
          const innerPayload = JSON.parse(new TextDecoder().decode(inner.payload)) as Record<string, unknown>;
          if (inner.protectedHeader.typ !== 'ward-rotate-old+jwt' || innerPayload.new_jkt !== payload.jkt || innerPayload.jti !== payload.jti) {
            return send(res, 400, { error: 'invalid_request', error_description: 'old key proof' });
          }
          devices.set(deviceId, jwk);
          requests.push({ path, header: protectedHeader as Record<string, unknown>, payload });
          return send(res, 200, { deviceId, brokerKeys: { keys: [BROKER_KEY] } });
        }
        return send(res, 404, { error: 'not_found' });
      } catch {
        return send(res, 400, { error: 'invalid_request', error_description: 'bad signature' });
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    answerNext(status, body) {
      forced.push({ status, body });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
