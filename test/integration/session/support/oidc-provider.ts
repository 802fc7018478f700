import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JWK } from 'jose';
import Provider, { type KoaContextWithOIDC } from 'oidc-provider';

/**
 * The real `oidc-provider` (8.8) on 127.0.0.1 with a free port, configured as Ward's broker
 * configures it: ES256 keys, DPoP required and bound (`cnf.jkt`), server-issued DPoP nonces,
 * PKCE, device flow, refresh rotation, `acr_values`. Used until the reference broker's server
 * is the peer of these tests.
 *
 * The user is a robot: its interaction endpoint signs "alice" in at once with the first
 * requested `acr` (or `urn:ward:acr:pwd`), or declines when `user.decline` is set. Everything
 * else (codes, tokens, proofs, nonces, refresh) is oidc-provider's own.
 */
export interface TestProvider {
  readonly issuer: string;
  readonly clientId: string;
  readonly provider: Provider;
  /** What the robot user does at the next interaction. */
  readonly user: { decline: boolean; acr?: string };
  /** Decide refreshes: return reasons to refuse as non-compliant (the broker's posture gate). */
  postureGate: (report: string | undefined) => string[] | undefined;
  /** Count of token requests that carried a posture report. */
  readonly seen: { postureReports: string[]; tokenRequests: number };
  /** Make the next N token requests fail with a 503 (outage simulation). */
  failNextTokenRequests: number;
  /** Shift the provider's clock (seconds) to simulate skew between agent and broker. */
  skewSeconds: number;
  /** Answer the next token response with this body instead (malformed responses). */
  malformedTokenResponse: string | undefined;
  close(): Promise<void>;
}

const CLIENT_ID = 'ward-agent';
/** The real clock, whatever an earlier provider of this process did to Date.now. */
const ORIGINAL_NOW = Date.now.bind(Date);

function es256Jwks(): { keys: JWK[] } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { keys: [{ ...(privateKey.export({ format: 'jwk' }) as JWK), kid: 'test-es256', alg: 'ES256', use: 'sig' }] };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startTestProvider(options: { nonces?: boolean; accessTokenTtlSeconds?: number } = {}): Promise<TestProvider> {
  let port = 0;
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;
  type Entities = { RefreshToken?: { acr?: string; authTime?: number }; AuthorizationCode?: { acr?: string; authTime?: number }; DeviceCode?: { acr?: string; authTime?: number } };
  const provider = new Provider(issuer, {
    jwks: es256Jwks(),
    clients: [
      {
        client_id: CLIENT_ID,
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
        response_types: ['code'],
        id_token_signed_response_alg: 'ES256',
        dpop_bound_access_tokens: true,
      } as never,
    ],
    clientDefaults: { id_token_signed_response_alg: 'ES256' } as never,
    pkce: { required: () => true },
    acrValues: ['urn:ward:acr:pwd', 'urn:ward:acr:mfa'],
    claims: { openid: ['sub'], acr: null, auth_time: null } as never,
    features: {
      devInteractions: { enabled: false },
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
      dPoP: { enabled: true, ...(options.nonces === false ? {} : { nonceSecret: randomBytes(32) }) },
    },
    issueRefreshToken: () => true,
    rotateRefreshToken: true,
    ttl: {
      AccessToken: options.accessTokenTtlSeconds ?? 60,
      IdToken: 3600,
      RefreshToken: 86_400,
      Interaction: 600,
      Session: 86_400,
      Grant: 86_400,
      DeviceCode: 600,
      AuthorizationCode: 60,
    },
    extraTokenClaims: (ctx: KoaContextWithOIDC) => {
      const e = ctx.oidc.entities as Entities;
      const src = e.RefreshToken ?? e.AuthorizationCode ?? e.DeviceCode;
      return { ...(src?.acr ? { acr: src.acr } : {}), ...(src?.authTime ? { auth_time: src.authTime } : {}) };
    },
    findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
    cookies: { keys: [randomBytes(16).toString('hex')] },
  } as never);
  provider.proxy = false;

  const state: TestProvider = {
    issuer,
    clientId: CLIENT_ID,
    provider,
    user: { decline: false },
    postureGate: () => undefined,
    seen: { postureReports: [], tokenRequests: 0 },
    failNextTokenRequests: 0,
    skewSeconds: 0,
    malformedTokenResponse: undefined,
    close: () =>
      new Promise<void>((resolve) => {
        Date.now = ORIGINAL_NOW;
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const callback = provider.callback();
  const realNow = ORIGINAL_NOW;

  async function interaction(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    if (state.user.decline) {
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the user declined' }, { mergeWithLastSubmission: false });
      return;
    }
    const params = details.params as Record<string, string | undefined>;
    if (details.prompt.name === 'login') {
      const acr = state.user.acr ?? params.acr_values?.split(' ')[0] ?? 'urn:ward:acr:pwd';
      await provider.interactionFinished(req, res, { login: { accountId: 'alice', acr } }, { mergeWithLastSubmission: false });
      return;
    }
    const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId: details.session?.accountId ?? 'alice', clientId: CLIENT_ID });
    grant!.addOIDCScope(params.scope ?? 'openid offline_access');
    const grantId = await grant!.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      // Simulated skew: the provider judges proofs and stamps tokens by its own (shifted) clock.
      Date.now = () => realNow() + state.skewSeconds * 1000;
      // …and says so in its Date header, as a server with a wrong clock would.
      res.setHeader('date', new Date(Date.now()).toUTCString());
      try {
        const url = new URL(req.url ?? '/', issuer);
        if (url.pathname.startsWith('/interaction/')) {
          await interaction(req, res);
          return;
        }
        if (url.pathname === '/token' && req.method === 'POST') {
          state.seen.tokenRequests++;
          const body = await readBody(req);
          if (state.failNextTokenRequests > 0) {
            state.failNextTokenRequests--;
            res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"temporarily_unavailable"}');
            return;
          }
          if (state.malformedTokenResponse !== undefined) {
            const malformed = state.malformedTokenResponse;
            state.malformedTokenResponse = undefined;
            res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(malformed);
            return;
          }
          const params = new URLSearchParams(body);
          const report = params.get('posture_report') ?? undefined;
          if (report) state.seen.postureReports.push(report);
          if (params.get('grant_type') === 'refresh_token') {
            const reasons = state.postureGate(report);
            if (reasons) {
              res
                .writeHead(400, { 'content-type': 'application/json', 'cache-control': 'no-store' })
                .end(JSON.stringify({ error: 'invalid_grant', error_description: 'device not compliant', compliant: false, reasons }));
              return;
            }
          }
          (req as IncomingMessage & { body?: string }).body = body;
        }
        await callback(req, res);
      } catch (err) {
        if (!res.headersSent) res.writeHead(500).end(String(err));
      }
    })();
  });
  return state;
}

/**
 * A robot browser: follows redirects with a cookie jar and submits oidc-provider's device-flow
 * forms, the way a person's browser would. Returns the final URL it was sent to.
 */
export async function robotBrowse(start: URL | string, options: { userCode?: string; stopAtOrigin?: string } = {}): Promise<URL> {
  const cookies = new Map<string, string>();
  let url = new URL(start);
  let method = 'GET';
  let body: string | undefined;
  for (let hop = 0; hop < 30; hop++) {
    const headers: Record<string, string> = { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
    if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(url, { method, headers, redirect: 'manual', ...(body === undefined ? {} : { body }) });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    const location = res.headers.get('location');
    if (location) {
      url = new URL(location, url);
      method = 'GET';
      body = undefined;
      if (options.stopAtOrigin && url.origin === options.stopAtOrigin) {
        // The loopback redirect: deliver it like a browser would, then stop.
        await fetch(url).then((r) => r.text());
        return url;
      }
      continue;
    }
    const html = await res.text();
    const form = /<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
    if (!form) return url;
    const fields = new URLSearchParams();
    for (const [input] of form[2]!.matchAll(/<input[^>]*>/gi)) {
      const name = /name="([^"]+)"/.exec(input)?.[1];
      if (name) fields.set(name, /value="([^"]*)"/.exec(input)?.[1] ?? '');
    }
    if (fields.has('user_code') && !fields.get('user_code')) fields.set('user_code', options.userCode ?? '');
    url = new URL(form[1]!, url);
    method = 'POST';
    body = fields.toString();
  }
  throw new Error('robot browser: too many hops');
}
