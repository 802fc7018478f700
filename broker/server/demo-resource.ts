import { importJWK, jwtVerify, type JWK, type JWTPayload } from 'jose';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BrokerConfig } from './config.js';
import type { DpopVerifier } from './dpop.js';
import { BrokerError } from './errors.js';
import { sendJson } from './http/http-io.js';
import type { BrokerStorage } from './storage/storage.js';

type Key = Awaited<ReturnType<typeof importJWK>>;

function challengeHeader(params: Record<string, string>): string {
  return `DPoP algs="ES256", ${Object.entries(params)
    .map(([k, v]) => `${k}="${v.replace(/["\\]/g, '')}"`)
    .join(', ')}`;
}

/**
 * The demo protected resource (`GET /demo/resource`): a resource server as any broker-protected
 * app would be. It accepts only DPoP-bound JWT access tokens (RFC 9449 §7) minted for it, from a
 * device that is enrolled, not revoked and compliant, and asks for step-up with RFC 9470's
 * `insufficient_user_authentication` when the token's `acr` or `auth_time` is not enough.
 */
export class DemoResource {
  #key: Promise<Key> | undefined;

  constructor(
    private readonly deps: {
      issuer: string;
      audience: string;
      publicJwk: JWK;
      config: BrokerConfig['demoResource'];
      dpop: DpopVerifier;
      storage: BrokerStorage;
      now: () => number;
    },
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse, htu: string): Promise<void> {
    const auth = req.headers.authorization ?? '';
    const match = /^DPoP\s+([A-Za-z0-9\-._~+/]+=*)$/.exec(auth);
    if (!match?.[1]) {
      sendJson(res, 401, { error: 'invalid_token', message: 'Send a DPoP-bound access token: Authorization: DPoP <token> with a DPoP proof.' }, {
        'www-authenticate': challengeHeader({ error: 'invalid_token', error_description: 'DPoP-bound access token required' }),
      });
      return;
    }
    const token = match[1];
    let payload: JWTPayload;
    try {
      this.#key ??= importJWK(this.deps.publicJwk, 'ES256');
      ({ payload } = await jwtVerify(token, await this.#key, {
        issuer: this.deps.issuer,
        audience: this.deps.audience,
        typ: 'at+jwt',
        algorithms: ['ES256'],
        currentDate: new Date(this.deps.now()),
      }));
    } catch {
      sendJson(res, 401, { error: 'invalid_token', message: 'The access token is not valid for this resource (expired, wrong audience or bad signature).' }, {
        'www-authenticate': challengeHeader({ error: 'invalid_token', error_description: 'the access token is not valid' }),
      });
      return;
    }
    const cnf = payload.cnf as { jkt?: unknown } | undefined;
    let jkt: string;
    try {
      ({ jkt } = this.deps.dpop.verify(req, htu, { accessToken: token }));
    } catch (err) {
      const message = err instanceof BrokerError ? err.message : 'The DPoP proof is not valid.';
      if (err instanceof BrokerError && err.reason === 'use-dpop-nonce') {
        sendJson(res, 401, { error: 'use_dpop_nonce', message }, err.headers);
        return;
      }
      sendJson(res, 401, { error: 'invalid_dpop_proof', message }, { 'www-authenticate': challengeHeader({ error: 'invalid_dpop_proof', error_description: 'DPoP proof invalid' }) });
      return;
    }
    if (typeof cnf?.jkt !== 'string' || cnf.jkt !== jkt) {
      sendJson(res, 401, { error: 'invalid_token', message: 'The access token is not bound to the key that signed the DPoP proof.' }, {
        'www-authenticate': challengeHeader({ error: 'invalid_token', error_description: 'token not bound to this proof key' }),
      });
      return;
    }
    const { acrValues, maxAgeSeconds } = this.deps.config;
    const acr = typeof payload.acr === 'string' ? payload.acr : undefined;
    const authTime = typeof payload.auth_time === 'number' ? payload.auth_time : undefined;
    const tooOld = authTime === undefined || Math.floor(this.deps.now() / 1000) - authTime > maxAgeSeconds;
    if (!acr || !acrValues.includes(acr as never) || tooOld) {
      // RFC 9470 §3: tell the client what would be enough; it re-authorizes and retries.
      sendJson(
        res,
        401,
        { error: 'insufficient_user_authentication', message: tooOld ? 'Sign in again: the last sign-in is too old.' : 'A stronger sign-in is required (multi-factor).', acr_values: acrValues, max_age: maxAgeSeconds },
        {
          'www-authenticate': challengeHeader({
            error: 'insufficient_user_authentication',
            error_description: tooOld ? 'more recent authentication is required' : 'a different authentication level is required',
            acr_values: acrValues.join(' '),
            max_age: String(maxAgeSeconds),
          }),
        },
      );
      return;
    }
    const device = this.deps.storage.getDeviceByJkt(jkt);
    if (!device || device.revokedAtMs !== null) {
      sendJson(res, 403, { error: device ? 'device_revoked' : 'device_not_enrolled', message: device ? 'This device was revoked.' : 'Enroll this device first (ward enroll).' });
      return;
    }
    const verdict = this.deps.storage.getVerdict(device.id);
    if (!verdict || !verdict.isCompliant) {
      sendJson(res, 403, {
        error: 'device_not_compliant',
        message: verdict ? 'This device does not meet the posture policy.' : 'This device has not reported its posture yet.',
        deviceId: device.id,
      });
      return;
    }
    sendJson(res, 200, {
      message: 'Hello from the Ward demo resource.',
      sub: payload.sub,
      acr,
      authTime,
      deviceId: device.id,
      decision: verdict.status,
    });
  }
}
