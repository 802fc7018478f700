import { z } from 'zod';
import { parsePollRequest } from '../sdk/index.js';
import { SSF_POLL_PATH, SSF_PUSH_PATH } from '../../main/core/broker/device-set.js';
import type { BrokerCore } from './broker-core.js';
import type { DeviceClaimReceiver } from './device-claims.js';
import type { DeviceSetQueues } from './device-set-queues.js';
import type { DpopVerifier } from './dpop.js';
import { EkChallengeBody } from './ek-activation.js';
import { BrokerError } from './errors.js';
import { bearerToken, mediaType, parseJson, readBody, readJson, sendJson, sendJsonText, validate } from './http/http-io.js';
import type { RouteContext, Router } from './http/router.js';
import type { EventHub } from './events.js';
import { verdictAnswerText } from './report-stream.js';
import type { CredentialRole } from './storage/storage.js';

/** Posture reports carry every check's observed facts: allow more than the default 16 KiB. */
export const REPORT_LIMIT_BYTES = 512 * 1024;
const POLICY_LIMIT_BYTES = 256 * 1024;
const ENROLL_LIMIT_BYTES = 64 * 1024;
const JWS_CHARS = 256 * 1024;

const EnrollBody = z
  .object({
    /** The enrollment request: a JWS signed by the new device key (`typ: ward-enroll+jwt`, `jwk` header). */
    request: z.string().min(1).max(JWS_CHARS),
    /** The enrollment token, unless it is a claim of the signed request. */
    token: z.string().min(1).max(256).optional(),
    enrollmentToken: z.string().min(1).max(256).optional(),
  })
  .strict();
const PostureBody = z.object({ report: z.string().min(1).max(JWS_CHARS) }).strict();
const TokenCreateBody = z.object({ label: z.string().max(200).optional(), ttlSeconds: z.number().int().min(60).max(30 * 86400).optional() }).strict();
const CredentialBody = z.object({ role: z.enum(['admin', 'query']), label: z.string().max(200).default('') }).strict();
const RevokeSessionsBody = z.object({ username: z.string().min(1).max(64), reason: z.string().max(500).optional() }).strict();
const RevokeDeviceBody = z.object({ reason: z.string().max(500).optional() }).strict();
const ChallengeBody = z.object({ timeoutSeconds: z.number().int().min(1).max(300).optional() }).strict();
const HistoryQuery = z.object({
  device: z.string().max(128).optional(),
  failures: z.enum(['0', '1', 'true', 'false']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});
const DeviceId = z.string().min(1).max(128);
const SignalsQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).optional() });
const SSF_BODY_LIMIT_BYTES = 64 * 1024;

export interface ApiDeps {
  readonly core: BrokerCore;
  readonly dpop: DpopVerifier;
  readonly hub: EventHub;
  readonly issuer: string;
  /** RFC 8936: the SETs each device polls for. */
  readonly deviceSets: DeviceSetQueues;
  /** RFC 8935: SETs devices push about themselves (their claims). */
  readonly deviceClaims: DeviceClaimReceiver;
}

/**
 * The broker's own HTTP API. Device endpoints authenticate with a DPoP proof by the enrolled
 * device key; query and admin endpoints with a bearer credential. Every body is size-capped and
 * validated with zod; every error is a JSON `{ error, message, reason? }`.
 */
export function registerApi(router: Router, deps: ApiDeps): void {
  const { core, dpop, hub, issuer, deviceSets, deviceClaims } = deps;
  // The expected `htu` of each device endpoint, computed once (the router only calls `device`
  // from the few routes below, so this holds a handful of entries).
  const htus = new Map<string, string>();
  const htu = (ctx: RouteContext): string => {
    let href = htus.get(ctx.url.pathname);
    if (href === undefined) {
      href = new URL(ctx.url.pathname, issuer).href;
      htus.set(ctx.url.pathname, href);
    }
    return href;
  };
  const device = (ctx: RouteContext) => dpop.verifyFor(ctx.req, htu(ctx), (jkt) => core.deviceForKey(jkt));
  const auth = (ctx: RouteContext, roles: readonly CredentialRole[]) => core.authenticate(bearerToken(ctx.req), roles);
  const QUERY: readonly CredentialRole[] = ['admin', 'query'];
  const ADMIN: readonly CredentialRole[] = ['admin'];
  const optionalJson = async <S extends z.ZodType>(ctx: RouteContext, schema: S): Promise<z.infer<S>> => {
    const body = await readBody(ctx.req, 16 * 1024);
    if (body.length === 0) return validate(schema, {});
    if (mediaType(ctx.req) !== 'application/json') throw new BrokerError('unsupported-media-type', 'Send the body as application/json.');
    return parseJson(body, schema);
  };

  // ---- agents --------------------------------------------------------------------------------

  router.add('POST', '/enroll', async (ctx) => {
    // docs/identity.md: the body is the compact JWS (application/jose), the token a claim in it.
    // `{ "request", "token" }` as JSON is accepted too, for brokers' own scripts.
    let request: string;
    let token = bearerToken(ctx.req);
    const type = mediaType(ctx.req);
    if (type === 'application/jose' || type === 'application/jwt') {
      request = (await readBody(ctx.req, ENROLL_LIMIT_BYTES)).toString('utf8').trim();
    } else if (type === 'application/json') {
      const body = parseJson(await readBody(ctx.req, ENROLL_LIMIT_BYTES), EnrollBody);
      request = body.request;
      token = body.token ?? body.enrollmentToken ?? token;
    } else {
      throw new BrokerError('unsupported-media-type', 'Send the enrollment request as application/jose (the compact JWS).');
    }
    const answer = await core.enroll(request, token);
    sendJson(ctx.res, 201, answer);
  });

  router.add('POST', '/enroll/ek-challenge', async (ctx) => {
    // docs/broker-sdk.md, "EK certificate": a credential for the device's AK, encrypted to the EK
    // its certificate names. Answers 404 when no TPM maker CA is configured.
    if (mediaType(ctx.req) !== 'application/json') throw new BrokerError('unsupported-media-type', 'Send the EK challenge request as application/json.');
    sendJson(ctx.res, 200, core.ekChallenge(parseJson(await readBody(ctx.req, ENROLL_LIMIT_BYTES), EkChallengeBody)));
  });

  router.add('POST', '/rotate', async (ctx) => {
    // docs/identity.md: the body is the compact JWS signed by the new key, carrying a proof signed
    // by the pinned old key. The request authenticates itself: no DPoP proof or credential.
    const body = await readBody(ctx.req, ENROLL_LIMIT_BYTES);
    const type = mediaType(ctx.req);
    if (type !== 'application/jose' && type !== 'application/jwt') {
      throw new BrokerError('unsupported-media-type', 'Send the key rotation request as application/jose (the compact JWS).');
    }
    sendJson(ctx.res, 200, await core.rotateKey(body.toString('utf8').trim()));
  });

  router.add('POST', '/posture', async (ctx) => {
    const dev = device(ctx);
    // The report is either the body itself (application/jwt) or `{ "report": "…" }`.
    const type = mediaType(ctx.req);
    let report: string;
    if (type === 'application/jwt' || type === 'application/ward-posture+jwt') {
      report = (await readBody(ctx.req, REPORT_LIMIT_BYTES)).toString('utf8').trim();
    } else if (type === 'application/json') {
      report = parseJson(await readBody(ctx.req, REPORT_LIMIT_BYTES), PostureBody).report;
    } else {
      throw new BrokerError('unsupported-media-type', 'Send the report as application/jwt, or as application/json {"report": "…"}.');
    }
    sendJsonText(ctx.res, 200, verdictAnswerText(await core.ingest(dev, report)));
  });

  router.add('GET', '/events', async (ctx) => {
    const dev = device(ctx);
    const lastEventId = ctx.req.headers['last-event-id'];
    hub.open(dev.id, ctx.res, typeof lastEventId === 'string' ? lastEventId : undefined);
  });

  // RFC 8936 poll: the device's own SETs only (the queue is chosen by the DPoP-authenticated key).
  router.add('POST', SSF_POLL_PATH, async (ctx) => {
    const dev = device(ctx);
    const text = (await readBody(ctx.req, SSF_BODY_LIMIT_BYTES)).toString('utf8');
    const request = parsePollRequest(text.trim() === '' ? {} : text);
    if (!request.ok) {
      sendJson(ctx.res, 400, { err: 'invalid_request', description: request.detail });
      return;
    }
    const closed = new AbortController();
    ctx.res.on('close', () => closed.abort());
    const response = await deviceSets.poll(dev.id, request.value, closed.signal);
    if (!closed.signal.aborted) sendJson(ctx.res, 200, response);
  });

  // RFC 8935 push receiver: SETs a device transmits about itself, recorded as its claims.
  router.add('POST', SSF_PUSH_PATH, async (ctx) => {
    const dev = device(ctx);
    const receipt = deviceClaims.receive(dev, ctx.req.headers['content-type'], await readBody(ctx.req, SSF_BODY_LIMIT_BYTES));
    if (receipt.status === 202) ctx.res.writeHead(202, { 'cache-control': 'no-store' }).end();
    else sendJson(ctx.res, 400, receipt.body);
  });

  router.add('GET', '/policy', async (ctx) => {
    device(ctx);
    const { version, bundle } = await core.policyBundle();
    sendJson(ctx.res, 200, { version, bundle });
  });

  router.add('GET', '/broker/keys', async (ctx) => {
    sendJson(ctx.res, 200, core.brokerJwks());
  });

  // ---- access brokers and admins (query) -----------------------------------------------------

  router.add('GET', '/devices', async (ctx) => {
    auth(ctx, QUERY);
    sendJson(ctx.res, 200, { devices: core.listDevices() });
  });

  router.add('GET', '/devices/:id', async (ctx) => {
    auth(ctx, QUERY);
    sendJson(ctx.res, 200, core.deviceDetail(validate(DeviceId, ctx.params.id)));
  });

  router.add('POST', '/devices/:id/challenge', async (ctx) => {
    auth(ctx, QUERY);
    const body = await optionalJson(ctx, ChallengeBody);
    const result = await core.challenge(validate(DeviceId, ctx.params.id), body.timeoutSeconds === undefined ? undefined : body.timeoutSeconds * 1000);
    sendJson(ctx.res, 200, { ...core.deviceDetail(result.deviceId), nonce: result.nonce });
  });

  router.add('GET', '/devices/:id/signals', async (ctx) => {
    auth(ctx, QUERY);
    const q = validate(SignalsQuery, Object.fromEntries(ctx.url.searchParams));
    sendJson(ctx.res, 200, deviceClaims.view(core.requireDevice(validate(DeviceId, ctx.params.id)), q.limit ?? 100));
  });

  router.add('GET', '/devices/:id/history', async (ctx) => {
    auth(ctx, QUERY);
    const q = validate(HistoryQuery, Object.fromEntries(ctx.url.searchParams));
    const id = validate(DeviceId, ctx.params.id);
    core.requireDevice(id);
    sendJson(ctx.res, 200, { history: core.history({ deviceId: id, onlyFailures: q.failures === '1' || q.failures === 'true', ...(q.limit ? { limit: q.limit } : {}) }) });
  });

  // ---- admins --------------------------------------------------------------------------------

  router.add('GET', '/admin/history', async (ctx) => {
    auth(ctx, ADMIN);
    const q = validate(HistoryQuery, Object.fromEntries(ctx.url.searchParams));
    sendJson(ctx.res, 200, {
      history: core.history({ ...(q.device ? { deviceId: q.device } : {}), onlyFailures: q.failures === '1' || q.failures === 'true', ...(q.limit ? { limit: q.limit } : {}) }),
    });
  });

  router.add('POST', '/admin/enrollment-tokens', async (ctx) => {
    auth(ctx, ADMIN);
    const body = await optionalJson(ctx, TokenCreateBody);
    sendJson(ctx.res, 201, core.createEnrollmentToken({ ...(body.label ? { label: body.label } : {}), ...(body.ttlSeconds ? { ttlSeconds: body.ttlSeconds } : {}) }));
  });

  router.add('GET', '/admin/enrollment-tokens', async (ctx) => {
    auth(ctx, ADMIN);
    sendJson(ctx.res, 200, { tokens: core.listEnrollmentTokens() });
  });

  router.add('POST', '/admin/devices/:id/revoke', async (ctx) => {
    auth(ctx, ADMIN);
    const body = await optionalJson(ctx, RevokeDeviceBody);
    const dev = await core.revokeDevice(validate(DeviceId, ctx.params.id), body.reason);
    sendJson(ctx.res, 200, { deviceId: dev.id, revokedAt: new Date(dev.revokedAtMs ?? 0).toISOString() });
  });

  router.add('POST', '/admin/sessions/revoke', async (ctx) => {
    auth(ctx, ADMIN);
    const body = await readJson(ctx.req, RevokeSessionsBody);
    sendJson(ctx.res, 200, await core.revokeSessions(body.username, body.reason));
  });

  router.add('PUT', '/admin/policy', async (ctx) => {
    auth(ctx, ADMIN);
    const document = await readJson(ctx.req, z.unknown(), POLICY_LIMIT_BYTES);
    sendJson(ctx.res, 200, core.setPolicy(document));
  });

  router.add('GET', '/admin/policy', async (ctx) => {
    auth(ctx, ADMIN);
    const current = core.currentPolicy();
    if (!current) throw new BrokerError('no-policy', 'No policy is set yet (ward-broker policy set FILE).');
    sendJson(ctx.res, 200, current);
  });

  router.add('POST', '/admin/credentials', async (ctx) => {
    auth(ctx, ADMIN);
    const body = await readJson(ctx.req, CredentialBody);
    sendJson(ctx.res, 201, core.createCredential(body.role, body.label));
  });
}
