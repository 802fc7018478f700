import { readFileSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../../main/core/log.js';
import { BrokerCore } from './broker-core.js';
import { parseConfig, UserStore, type BrokerConfig } from './config.js';
import { DemoResource } from './demo-resource.js';
import { DeviceClaimReceiver } from './device-claims.js';
import { DeviceSetQueues } from './device-set-queues.js';
import { DpopVerifier } from './dpop.js';
import { BrokerError } from './errors.js';
import { EventHub } from './events.js';
import { REPORT_LIMIT_BYTES, registerApi } from './http-api.js';
import { sendError } from './http/http-io.js';
import { closeIdleSockets } from './http/idle-sockets.js';
import { Router } from './http/router.js';
import { ReportStreams, refuseUpgrade } from './report-stream.js';
import { REPORT_STREAM_PATH } from '../sdk/report-stream.js';
import { loadOrCreateKeys } from './keys.js';
import { LoginThrottle } from './login-throttle.js';
import { registerInteractions } from './oidc/interactions.js';
import { gateRefresh } from './refresh-gate.js';
import { createOidcProvider } from './oidc/provider.js';
import { registerPushAdminApi } from './push-admin-api.js';
import { SignalEmitter } from './signals.js';
import { SqliteStorage } from './storage/sqlite-storage.js';
import { registerUserAdminApi } from './user-admin-api.js';

export interface BrokerOptions {
  /** Where the database (and the bootstrap admin credential) live. Created if missing. */
  readonly dataDir: string;
  /** The parsed config, or a raw object to validate. Default: an empty config. */
  readonly config?: BrokerConfig | Record<string, unknown>;
  /** The config file the users came from: re-read on login when it changes. */
  readonly configFile?: string;
  /** Listen address; default `config.listen` (127.0.0.1:8443). Port 0 picks a free port. */
  readonly host?: string;
  readonly port?: number;
  /** Public base URL; default `http(s)://HOST:PORT`. */
  readonly issuer?: string;
  /** An admin bearer secret to accept (in-process use and tests). */
  readonly adminToken?: string;
  readonly logger?: Logger;
  /** Injected clock (epoch ms). */
  readonly now?: () => number;
  /** How long a report stream lives before the agent must reopen it (default 10 min; tests). */
  readonly reportStreamLifetimeMs?: number;
  /** How often the broker pings each report stream, cutting one that answered nothing since the last ping (default 30 s; tests). */
  readonly reportStreamHeartbeatMs?: number;
}

/** The in-process admin API (what `ward-broker` does over HTTP). */
export type BrokerAdmin = Pick<
  BrokerCore,
  | 'createEnrollmentToken'
  | 'listEnrollmentTokens'
  | 'listDevices'
  | 'deviceDetail'
  | 'revokeDevice'
  | 'revokeSessions'
  | 'setPolicy'
  | 'currentPolicy'
  | 'history'
  | 'createCredential'
  | 'challenge'
>;

export interface Broker {
  /** Base URL (no trailing slash), e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** The OpenID issuer (same as `url` unless configured). */
  readonly issuer: string;
  readonly port: number;
  /** The resource indicator of the demo resource (`GET /demo/resource`). */
  readonly demoResource: string;
  readonly admin: BrokerAdmin;
  /** Set when this start created the first admin credential (also written to `DATA/admin-token`). */
  readonly bootstrapAdminToken: string | undefined;
  /** How many report streams (WebSockets) a device holds open now. */
  reportStreamCount(deviceId: string): number;
  close(): Promise<void>;
}

/**
 * A DPoP proof stays acceptable for up to 120 s after it was accepted (`iat` within ±60 s) and the
 * replay cache lives in memory. So the broker records, every 5 s, until when proofs it accepted
 * could still pass (now + 130 s: the heartbeat period and slack included); after a restart within
 * that time it requires its new DPoP-Nonce until then, which no earlier proof can carry.
 */
const DPOP_LIVE_UNTIL = 'dpop.proofsLiveUntil';
/** How long a keep-alive connection may sit idle between requests (node's own default). */
const KEEP_ALIVE_IDLE_MS = 5_000;
const DPOP_HEARTBEAT_MS = 5_000;
const DPOP_LIVE_MARGIN_MS = 130_000;

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.test(host);
}

function readTls(tls: { certFile: string; keyFile: string }): { cert: Buffer; key: Buffer } {
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new BrokerError('config-invalid', `Cannot read the TLS ${what} ${file}.`, { cause: err, hint: 'Set tls.certFile and tls.keyFile to PEM files the broker can read.' });
    }
  };
  return { cert: read(tls.certFile, 'certificate'), key: read(tls.keyFile, 'private key') };
}

/**
 * Start the reference broker: OpenID provider, enrollment, posture, policy, query, admin and
 * event-channel endpoints on one HTTP(S) listener, state in `DATA/broker.db`.
 *
 * @example
 * ```ts
 * const broker = await createBroker({ dataDir, port: 0, adminToken });
 * const { token } = broker.admin.createEnrollmentToken({ label: 'alice-laptop' });
 * // … `ward enroll --broker ${broker.url} --token ${token}` …
 * await broker.close();
 * ```
 */
export async function createBroker(options: BrokerOptions): Promise<Broker> {
  const config = parseConfig(options.config ?? {});
  const log = (options.logger ?? silentLogger()).child({ mod: 'broker' });
  const now = options.now ?? Date.now;
  const host = options.host ?? config.listen.host;
  const port = options.port ?? config.listen.port;
  if (!isLoopbackHost(host) && !config.tls) {
    throw new BrokerError('insecure-listen-address', `Refusing to listen on ${host} without TLS: tokens and posture would cross the network in clear.`, {
      hint: 'Listen on 127.0.0.1, or set "tls": { "certFile", "keyFile" } in the config.',
    });
  }

  mkdirSync(options.dataDir, { recursive: true });
  const storage = new SqliteStorage(join(options.dataDir, 'broker.db'));
  /** What a failed start must stop before the database closes (timers that write to it). */
  const onFailedStart: (() => Promise<void> | void)[] = [];
  const checkpointer = storage.checkpointInWorker(log.child({ mod: 'storage' }));
  onFailedStart.push(() => checkpointer.stop());
  try {
    const server: Server = config.tls
      ? createHttpsServer(readTls(config.tls))
      : createHttpServer();
    // Slow or idle clients must not hold sockets forever; SSE channels keep themselves alive.
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    // Idle keep-alive connections close after node's default 5 s, by one sweep a second instead of
    // node's timer per response (idle-sockets.ts: that timer was half of what ingestion promoted).
    server.keepAliveTimeout = 0;
    const stopIdleSockets = closeIdleSockets(server, { idleMs: KEEP_ALIVE_IDLE_MS });
    onFailedStart.push(stopIdleSockets);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    onFailedStart.push(() => {
      server.close();
    });
    const actualPort = (server.address() as AddressInfo).port;
    const hostInUrl = host.includes(':') ? `[${host}]` : host;
    const url = `${config.tls ? 'https' : 'http'}://${hostInUrl}:${actualPort}`;
    const issuer = (options.issuer ?? config.issuer ?? url).replace(/\/$/, '');
    const demoResource = `${issuer}/demo`;

    const keys = loadOrCreateKeys(storage);
    const hub = new EventHub(storage.events, now);
    const users = new UserStore(config.users, options.configFile);
    const deviceSets = new DeviceSetQueues({ store: storage.deviceSetQueue, log, now });
    const signals = new SignalEmitter({
      signer: keys.signer,
      issuer,
      hub,
      log,
      queue: storage.pushQueue,
      outbox: storage.setOutbox,
      transaction: (fn) => storage.transaction(fn),
      pushReceiver: config.pushReceiver,
      now,
      deviceSets,
    });
    onFailedStart.push(() => signals.stop());
    // SETs staged with a change the broker committed but stopped before emitting: first in line.
    await signals.resumeStaged();
    const core = new BrokerCore({ storage, hub, keys, config, issuer, signals, log, now });
    const dpop = new DpopVerifier(now);
    const previousLiveUntil = Number(storage.getMeta(DPOP_LIVE_UNTIL) ?? 0) || 0;
    if (previousLiveUntil > now()) {
      dpop.requireNonceUntil(previousLiveUntil);
      log.info({ until: new Date(previousLiveUntil).toISOString() }, 'restarted while earlier DPoP proofs could still be replayed: DPoP-Nonce required until then');
    }
    const markProofsLive = (marginMs: number) => storage.setMeta(DPOP_LIVE_UNTIL, String(Math.max(previousLiveUntil, now() + marginMs)));
    markProofsLive(DPOP_LIVE_MARGIN_MS);
    const heartbeat = setInterval(() => markProofsLive(DPOP_LIVE_MARGIN_MS), DPOP_HEARTBEAT_MS).unref();
    onFailedStart.push(() => clearInterval(heartbeat));
    const provider = createOidcProvider({
      issuer,
      config,
      storage,
      users,
      signingJwk: keys.oidcJwk,
      cookieKeys: keys.cookieKeys,
      demoResource,
      now,
      onTokenIssued: (jkt, accountId) => storage.linkDeviceAccount(jkt, accountId),
    });
    const demo = new DemoResource({ issuer, audience: demoResource, publicJwk: keys.oidcPublicJwk, config: config.demoResource, dpop, storage, now });

    const router = new Router();
    registerApi(router, { core, dpop, hub, issuer, deviceSets, deviceClaims: new DeviceClaimReceiver({ storage, issuer, log, now }) });
    registerPushAdminApi(router, { core, signals });
    const throttle = new LoginThrottle({ store: storage.loginThrottle, secret: keys.csrfKey, now, log: log.child({ mod: 'sign-in' }), ...config.signInThrottle });
    throttle.purge();
    registerInteractions(router, { provider, users, csrfKey: keys.csrfKey, issuer, now, throttle });
    registerUserAdminApi(router, { core, users, throttle });
    router.add('GET', '/demo/resource', async (ctx) => demo.handle(ctx.req, ctx.res, new URL('/demo/resource', issuer).href));
    router.add('GET', '/healthz', async (ctx) => {
      ctx.res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });

    if (config.policyFile) {
      const { version, changed } = core.loadPolicyIfChanged(JSON.parse(readFileSync(config.policyFile, 'utf8')) as unknown);
      log.info({ version, changed }, 'policy file loaded');
    }
    if (options.adminToken) core.ensureCredential('admin', options.adminToken, 'in-process');
    let bootstrapAdminToken: string | undefined;
    if (storage.countCredentials('admin') === 0) {
      bootstrapAdminToken = core.createCredential('admin', 'bootstrap').token;
      const file = join(options.dataDir, 'admin-token');
      writeFileSync(file, `${bootstrapAdminToken}\n`, { mode: 0o600 });
      chmodSync(file, 0o600);
      log.info({ file }, 'first admin credential written (keep it secret)');
    }
    writeFileSync(join(options.dataDir, 'broker.json'), `${JSON.stringify({ url, issuer, pid: process.pid }, null, 2)}\n`);

    const oidcCallback = provider.callback();
    const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', issuer);
      } catch {
        sendError(res, new BrokerError('bad-request', 'The request URL is not valid.'));
        return;
      }
      try {
        const match = router.match(req.method ?? 'GET', url.pathname);
        if (match === undefined) {
          if (req.method === 'POST' && url.pathname === '/token') {
            // Continuous access: a refresh carrying a non-compliant posture report is refused here.
            const gate = await gateRefresh(req, res, core);
            if (gate === 'handled') return;
            (req as IncomingMessage & { body?: Buffer }).body = gate.body;
          }
          await oidcCallback(req, res);
          return;
        }
        if (match === 'method-not-allowed') throw new BrokerError('method-not-allowed', `${req.method} is not allowed on ${url.pathname}.`);
        await match.handler({ req, res, url, params: match.params });
      } catch (err) {
        if (err instanceof BrokerError) {
          sendError(res, err);
          return;
        }
        // Not a typed error: a bug. Log its message (never request bodies or headers) and answer 500.
        log.error({ err: err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : String(err), path: url.pathname }, 'unexpected error');
        sendError(res, new BrokerError('internal', 'The broker hit an unexpected error; see its log.'));
      }
    };
    server.on('request', (req, res) => void handle(req, res));
    // The report stream (report-stream.ts) is the only WebSocket; any other upgrade is refused.
    const streams = new ReportStreams({
      dpop,
      htu: new URL(REPORT_STREAM_PATH, issuer).href,
      deviceForKey: (jkt) => core.deviceForKey(jkt),
      ingest: (device, jwt) => core.ingest(device, jwt),
      log: log.child({ mod: 'report-stream' }),
      maxReportBytes: REPORT_LIMIT_BYTES,
      ...(options.reportStreamLifetimeMs === undefined ? {} : { lifetimeMs: options.reportStreamLifetimeMs }),
      ...(options.reportStreamHeartbeatMs === undefined ? {} : { heartbeatMs: options.reportStreamHeartbeatMs }),
    });
    core.onChannelsEnd((deviceId, reason) => streams.disconnect(deviceId, reason));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      // A throw here would be uncaught (an event listener): every answer is written, never thrown.
      let path: string | undefined;
      try {
        path = new URL(req.url ?? '/', issuer).pathname;
      } catch {
        path = undefined;
      }
      if (path === REPORT_STREAM_PATH) streams.upgrade(req, socket, head);
      else refuseUpgrade(socket, path === undefined ? new BrokerError('bad-request', 'The request URL is not valid.') : new BrokerError('not-found', `No WebSocket at ${path}.`));
    });

    const purge = setInterval(() => {
      storage.oidc.purgeExpired(now());
      core.purgeExpired();
      hub.purge();
      throttle.purge();
    }, 10 * 60_000).unref();
    log.info({ url, issuer }, 'broker listening');

    let closed = false;
    return {
      url,
      issuer,
      port: actualPort,
      demoResource,
      bootstrapAdminToken,
      reportStreamCount: (deviceId) => streams.openCount(deviceId),
      admin: {
        createEnrollmentToken: (o) => core.createEnrollmentToken(o),
        listEnrollmentTokens: () => core.listEnrollmentTokens(),
        listDevices: () => core.listDevices(),
        deviceDetail: (id) => core.deviceDetail(id),
        revokeDevice: (id, reason) => core.revokeDevice(id, reason),
        revokeSessions: (username, reason) => core.revokeSessions(username, reason),
        setPolicy: (doc) => core.setPolicy(doc),
        currentPolicy: () => core.currentPolicy(),
        history: (q) => core.history(q),
        createCredential: (role, label) => core.createCredential(role, label),
        challenge: (id, timeoutMs) => core.challenge(id, timeoutMs),
      },
      close: async () => {
        if (closed) return;
        closed = true;
        clearInterval(purge);
        clearInterval(heartbeat);
        core.close();
        stopIdleSockets();
        hub.closeAll();
        streams.closeAll();
        await signals.stop();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        // Proofs accepted until now pass the iat window for 120 s more.
        markProofsLive(120_000);
        await checkpointer.stop();
        storage.close();
      },
    };
  } catch (err) {
    for (const stop of onFailedStart) await stop();
    storage.close();
    throw err;
  }
}
