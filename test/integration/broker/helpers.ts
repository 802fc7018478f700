import { randomUUID, webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oauth from 'oauth4webapi';
import type { JWK } from 'jose';
import { jwkThumbprint, signCompactJws, ueidForThumbprint, type JwsSigner } from '../../../broker/sdk/index.js';
import { createBroker, type Broker, type BrokerOptions } from '../../../broker/server/broker.js';
import { hashPassword } from '../../../broker/server/passwords.js';
import { totpCode } from '../../../broker/server/totp.js';
import { createLogger } from '../../../main/core/log.js';

export const ADMIN_TOKEN = 'wba_test-admin-credential-for-integration-tests';
export const ALICE = { username: 'alice', password: 'correct horse battery', totpSecret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP' };

let aliceHash: Promise<string> | undefined;

/** A temp data dir and a broker on 127.0.0.1:0 with one user (alice, password + TOTP). */
export async function startBroker(overrides: Partial<BrokerOptions> & { dataDir?: string } = {}): Promise<{ broker: Broker; dataDir: string; cleanup: () => Promise<void> }> {
  const dataDir = overrides.dataDir ?? mkdtempSync(join(tmpdir(), 'ward-broker-test-'));
  aliceHash ??= hashPassword(ALICE.password);
  const broker = await createBroker({
    port: 0,
    adminToken: ADMIN_TOKEN,
    // Errors only, on stderr: a 500 in CI then shows its cause (never bodies, headers or tokens).
    logger: createLogger({ level: 'error' }),
    ...overrides,
    config: {
      users: [{ username: ALICE.username, passwordHash: await aliceHash, name: 'Alice', totpSecret: ALICE.totpSecret }],
      challengeTimeoutSeconds: 10,
      ...overrides.config,
    },
    dataDir,
  });
  return {
    broker,
    dataDir,
    cleanup: async () => {
      await broker.close();
      if (!overrides.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export type RunningBroker = Awaited<ReturnType<typeof startBroker>>;

/** Stop a broker and start it again on the same port and data directory (a restart). */
export async function restartBroker(running: RunningBroker, overrides: Partial<BrokerOptions> = {}): Promise<RunningBroker> {
  const port = running.broker.port;
  await running.broker.close();
  // Let this process's fetch pool see the old server's sockets close; otherwise undici reuses a
  // dead keep-alive socket for the first request to the same host:port (a client artefact).
  await new Promise((r) => setTimeout(r, 500));
  return startBroker({ ...overrides, dataDir: running.dataDir, port });
}

/** A device key: a real P-256 WebCrypto key pair (usable by oauth4webapi for DPoP too). */
export interface TestDevice {
  readonly keyPair: webcrypto.CryptoKeyPair;
  readonly publicJwk: JWK;
  readonly thumbprint: string;
  readonly signer: JwsSigner;
  deviceId?: string;
  seq: number;
}

export async function newDevice(): Promise<TestDevice> {
  const keyPair = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const { kty, crv, x, y } = (await webcrypto.subtle.exportKey('jwk', keyPair.publicKey)) as JWK;
  const publicJwk: JWK = { kty, crv, x, y };
  return {
    keyPair,
    publicJwk,
    thumbprint: jwkThumbprint(publicJwk),
    // WebCrypto ECDSA signatures are already r‖s (IEEE P1363), exactly what a JWS needs.
    signer: { sign: async (data) => new Uint8Array(await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, keyPair.privateKey, data)) },
    seq: 0,
  };
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

export async function dpopProof(device: Pick<TestDevice, 'signer' | 'publicJwk'>, method: string, url: string, extra: Record<string, unknown> = {}): Promise<string> {
  return signCompactJws({ typ: 'dpop+jwt', jwk: device.publicJwk }, { jti: randomUUID(), htm: method, htu: url, iat: nowSeconds(), ...extra }, device.signer);
}

/** The enrollment request exactly as docs/identity.md specifies it (main/core/identity/enrollment.ts). */
export async function enrollmentRequest(broker: Broker, device: TestDevice, token: string, claims: Record<string, unknown> = {}): Promise<string> {
  const iat = nowSeconds();
  return signCompactJws(
    { typ: 'ward-enroll+jwt', jwk: device.publicJwk },
    {
      aud: `${broker.url}/enroll`,
      iat,
      exp: iat + 300,
      jti: randomUUID(),
      enrollment_token: token,
      jkt: device.thumbprint,
      assurance: 'none',
      key_store: 'memory',
      device: {
        os: { platform: 'linux', name: 'Debian', version: '12', build: null, kernel: '6.1.0', arch: 'x64' },
        hostname: 'test-laptop',
        hardware: { vendor: null, model: null, serial: null, uuid: null, virtual: true },
        agentVersion: '0.1.0',
      },
      ...claims,
    },
    device.signer,
  );
}

export async function enroll(broker: Broker, device: TestDevice, token?: string, claims: Record<string, unknown> = {}): Promise<Response> {
  const enrollmentToken = token ?? broker.admin.createEnrollmentToken({ label: 'test' }).token;
  const res = await fetch(`${broker.url}/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/jose' },
    body: await enrollmentRequest(broker, device, enrollmentToken, claims),
  });
  if (res.status === 201) {
    const body = (await res.clone().json()) as { deviceId: string };
    device.deviceId = body.deviceId;
  }
  return res;
}

export interface ReportOptions {
  readonly seq?: number;
  readonly nonce?: string;
  readonly iat?: number;
  readonly exp?: number;
  readonly signer?: JwsSigner;
  readonly kid?: string;
  readonly deviceId?: string;
  readonly firewall?: 'pass' | 'fail';
}

/** A posture report as the agent makes it (EAT claims + Ward's), signed by the device key. */
export async function postureReport(device: TestDevice, options: ReportOptions = {}): Promise<string> {
  const iat = options.iat ?? nowSeconds();
  const seq = options.seq ?? ++device.seq;
  const claims = {
    iat,
    exp: options.exp ?? iat + 300,
    ...(options.nonce ? { eat_nonce: options.nonce } : {}),
    ueid: ueidForThumbprint(device.thumbprint),
    swname: 'Ward',
    swversion: '0.1.0',
    submods: {
      firewall: { status: options.firewall ?? 'pass', observed: { enabled: (options.firewall ?? 'pass') === 'pass' } },
      'disk-encryption': { status: 'pass', observed: { encrypted: true } },
    },
    device_id: options.deviceId ?? device.deviceId ?? 'unknown',
    seq,
    assurance: 'none',
    posture: { schemaVersion: 1, snapshotId: randomUUID(), takenAt: new Date(iat * 1000).toISOString(), os: { platform: 'linux', name: 'Debian', version: '12', build: null } },
  };
  return signCompactJws({ typ: 'ward-posture+jwt', kid: options.kid ?? device.thumbprint }, claims, options.signer ?? device.signer);
}

/** DPoP-Nonce per broker origin, learned from `use_dpop_nonce` answers (as the agent's DpopFetch does). */
const dpopNonces = new Map<string, string>();

/**
 * `fetch` with a fresh DPoP proof by `device`; after a `401 use_dpop_nonce` (a broker that
 * restarted recently) it retries once with the nonce, as RFC 9449 §8 clients do.
 */
export async function dpopFetch(device: Pick<TestDevice, 'signer' | 'publicJwk'>, url: string, init: RequestInit = {}): Promise<Response> {
  const origin = new URL(url).origin;
  const send = async () => {
    const nonce = dpopNonces.get(origin);
    const dpop = await dpopProof(device, init.method ?? 'GET', url, nonce ? { nonce } : {});
    return fetch(url, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), dpop } });
  };
  const res = await send();
  const nonce = res.headers.get('dpop-nonce');
  if (res.status !== 401 || !nonce || !/use_dpop_nonce/.test(res.headers.get('www-authenticate') ?? '')) return res;
  await res.body?.cancel();
  dpopNonces.set(origin, nonce);
  return send();
}

export async function postReport(broker: Broker, device: TestDevice, report: string, proofDevice: Pick<TestDevice, 'signer' | 'publicJwk'> = device): Promise<Response> {
  return dpopFetch(proofDevice, `${broker.url}/posture`, { method: 'POST', headers: { 'content-type': 'application/jwt' }, body: report });
}

export const adminHeaders = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

export const BLOCK_FIREWALL_POLICY = {
  schemaVersion: 1,
  name: 'test',
  rules: [{ id: 'fw', check: 'firewall', expect: { status: 'pass' }, severity: 'block', graceSeconds: 0 }],
};

// ---- Server-Sent Events -------------------------------------------------------------------------

export interface SseEvent {
  readonly event: string;
  readonly data: string;
  /** The SSE `id` field, when the event had one. */
  readonly id?: string;
}

/**
 * A device's event channel (`GET /events` with a DPoP proof, and `Last-Event-ID` when given), read
 * as parsed SSE events. `all` holds every event received, in order.
 */
export async function openEvents(
  broker: Broker,
  device: TestDevice,
  options: { lastEventId?: string } = {},
): Promise<{ next: (type: string) => Promise<SseEvent>; close: () => void; status: number; all: SseEvent[] }> {
  const url = `${broker.url}/events`;
  const controller = new AbortController();
  const res = await dpopFetch(device, url, {
    headers: { accept: 'text/event-stream', ...(options.lastEventId === undefined ? {} : { 'last-event-id': options.lastEventId }) },
    signal: controller.signal,
  });
  const all: SseEvent[] = [];
  const queue: SseEvent[] = [];
  const waiting: { type: string; resolve: (e: SseEvent) => void }[] = [];
  const deliver = () => {
    for (let i = 0; i < waiting.length; i++) {
      const w = waiting[i]!;
      const index = queue.findIndex((e) => e.event === w.type);
      if (index >= 0) {
        const [event] = queue.splice(index, 1);
        waiting.splice(i--, 1);
        w.resolve(event!);
      }
    }
  };
  if (res.ok && res.body) {
    void (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const fields = Object.fromEntries(block.split('\n').filter((l) => !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trimStart()]));
            if (fields.event) {
              const event = { event: fields.event, data: fields.data ?? '', ...(fields.id === undefined ? {} : { id: fields.id }) };
              queue.push(event);
              all.push(event);
            }
          }
          deliver();
        }
      } catch {
        // aborted by close()
      }
    })();
  }
  return {
    status: res.status,
    all,
    next: (type) => new Promise<SseEvent>((resolve) => {
      waiting.push({ type, resolve });
      deliver();
    }),
    close: () => controller.abort(),
  };
}

// ---- OAuth sign-in through the real interaction pages ------------------------------------------------

/** The last TOTP time step handed out per secret in this test process. */
const lastTotpStep = new Map<string, number>();

/**
 * A TOTP code no earlier call in this process handed out: the broker accepts each code once
 * (RFC 6238 §5.2), so a second MFA sign-in within 30 s needs the next step's code (still inside
 * the broker's ±1 step window), and a third waits for the clock.
 */
export async function unusedTotp(secret: string): Promise<string> {
  for (;;) {
    const nowMs = Date.now();
    const step = Math.floor(nowMs / 30_000);
    const next = Math.max(step, (lastTotpStep.get(secret) ?? step - 1) + 1);
    if (next <= step + 1) {
      lastTotpStep.set(secret, next);
      return totpCode(secret, next * 30_000);
    }
    await new Promise((resolve) => setTimeout(resolve, (step + 1) * 30_000 - nowMs + 50));
  }
}

export class CookieJar {
  readonly #cookies = new Map<string, string>();
  store(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      this.#cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
  }
  header(): string {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

export const wardClient: oauth.Client = { client_id: 'ward-agent', id_token_signed_response_alg: 'ES256' };
export const insecure = { [oauth.allowInsecureRequests]: true } as const;

export async function discover(broker: Broker): Promise<oauth.AuthorizationServer> {
  const issuer = new URL(broker.issuer);
  return oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
}

function csrfOf(html: string): string {
  const m = /name="csrf" value="([^"]+)"/.exec(html);
  if (!m?.[1]) throw new Error(`no csrf field in page: ${html.slice(0, 200)}`);
  return m[1];
}

/** Follow redirects by hand, keeping cookies, until `stop(url)` or a page (200) is reached. */
export async function follow(jar: CookieJar, start: string, stop: (url: URL) => boolean): Promise<{ url: URL; res: Response }> {
  let url = new URL(start);
  for (let i = 0; i < 10; i++) {
    if (stop(url)) return { url, res: new Response(null) };
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header() } });
    jar.store(res);
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      url = new URL(location, url);
      continue;
    }
    return { url, res };
  }
  throw new Error('too many redirects');
}

/** Submit the login (and, when asked, consent) pages as a user would; returns the callback URL. */
export async function signInInBrowser(
  jar: CookieJar,
  authorizationUrl: string,
  redirectUri: string,
  user: { username: string; password: string; otp?: string },
  isFinalPage: (html: string) => boolean = () => false,
): Promise<URL> {
  const isCallback = (u: URL) => u.href.startsWith(redirectUri);
  let { url, res } = await follow(jar, authorizationUrl, isCallback);
  for (let step = 0; step < 4 && !isCallback(url); step++) {
    const html = await res.text();
    if (isFinalPage(html)) return url;
    const csrf = csrfOf(html);
    const isLogin = html.includes('name="password"');
    const form = isLogin
      ? new URLSearchParams({ csrf, username: user.username, password: user.password, ...(html.includes('name="otp"') && user.otp ? { otp: user.otp } : {}) })
      : new URLSearchParams({ csrf, decision: 'approve' });
    const post = await fetch(new URL(`${url.pathname}/${isLogin ? 'login' : 'consent'}`, url), {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded', origin: url.origin },
      body: form,
    });
    jar.store(post);
    const location = post.headers.get('location');
    if (!location) throw new Error(`sign-in form answered ${post.status}: ${(await post.text()).slice(0, 300)}`);
    ({ url, res } = await follow(jar, new URL(location, url).href, isCallback));
  }
  return url;
}

export interface SignedIn {
  readonly access_token: string;
  readonly refresh_token?: string | undefined;
  readonly token_type: string;
  readonly expires_in?: number | undefined;
  readonly as: oauth.AuthorizationServer;
  readonly dpop: oauth.DPoPHandle;
}

/** The authorization-code + PKCE + DPoP flow of the Ward agent, end to end. */
export async function signIn(
  broker: Broker,
  device: TestDevice,
  user: { username: string; password: string; otp?: string },
  options: { acrValues?: string; jar?: CookieJar; maxAge?: number } = {},
): Promise<SignedIn> {
  const as = await discover(broker);
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const redirectUri = 'http://127.0.0.1:53682/callback';
  const auth = new URL(as.authorization_endpoint!);
  auth.search = new URLSearchParams({
    client_id: wardClient.client_id,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: 'openid',
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...(options.acrValues ? { acr_values: options.acrValues } : {}),
    ...(options.maxAge !== undefined ? { max_age: String(options.maxAge) } : {}),
  }).toString();
  const callback = await signInInBrowser(options.jar ?? new CookieJar(), auth.href, redirectUri, user);
  const params = oauth.validateAuthResponse(as, wardClient, callback, state);
  const dpop = oauth.DPoP(wardClient, device.keyPair as Parameters<typeof oauth.DPoP>[1]);
  const response = await oauth.authorizationCodeGrantRequest(as, wardClient, oauth.None(), params, redirectUri, verifier, { DPoP: dpop, ...insecure });
  const tokens = await oauth.processAuthorizationCodeResponse(as, wardClient, response);
  return { access_token: tokens.access_token, refresh_token: tokens.refresh_token, token_type: tokens.token_type, expires_in: tokens.expires_in, as, dpop };
}

export function decodeJwt(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}
