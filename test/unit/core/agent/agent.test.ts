import { mkdtempSync, rmSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Agent } from '../../../../main/core/agent.js';
import { Outbox } from '../../../../main/core/broker/outbox.js';
import { CONFIG_DEFAULTS } from '../../../../main/core/config/schema.js';
import { LiveHost } from '../../../../main/core/exec/live-host.js';
import { openSigner } from '../../../../main/core/identity/device-signer.js';
import type { IdentityRecord } from '../../../../main/core/identity/identity-record.js';
import { jwkThumbprint, publicPart } from '../../../../main/core/identity/jws.js';
import { MemoryKeyStore } from '../../../../main/core/identity/memory-key-store.js';
import { agentVersion } from '../../../../main/core/posture/checks/agent-version.js';
import { MemoryTokenStore } from '../../../../main/core/session/token-store.js';
// Loaded up front: the agent imports it on first use, which would otherwise happen off the fake clock.
import '../../../../main/core/session/oidc-client.js';
import type { AgentState, PushMessage } from '../../../../main/shared/ipc-contract.js';

let dir: string;
let outbox: Outbox;
const T0 = new Date('2026-03-01T09:00:00Z').getTime();

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ward-agent-unit-'));
  outbox = Outbox.open(join(dir, 'outbox.db'));
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  vi.setSystemTime(T0);
});
afterEach(() => {
  vi.useRealTimers();
  outbox.close();
  rmSync(dir, { recursive: true, force: true });
});

async function enrolledIdentity(store: MemoryKeyStore): Promise<IdentityRecord> {
  const created = await store.create('device');
  const jwk = publicPart(created.publicJwk);
  return {
    version: 1,
    deviceId: 'dev-1',
    keyAlias: 'device',
    keyStore: 'memory',
    assurance: 'none',
    thumbprint: await jwkThumbprint(jwk),
    publicJwk: jwk as IdentityRecord['publicJwk'],
    brokerUrl: 'http://127.0.0.1:9',
    brokerKeys: { keys: [{ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid: 'b' }] },
    enrolledAt: new Date(T0).toISOString(),
  };
}

/** The network is down: every request fails the way fetch fails with no route. */
function downNetwork(log: string[]) {
  return (input: string | URL): Promise<Response> => {
    log.push(new URL(input).pathname);
    return Promise.reject(new TypeError('fetch failed'));
  };
}

async function agentWith(options: { identity?: IdentityRecord; store?: MemoryKeyStore; signedIn?: boolean; lock?: Partial<typeof CONFIG_DEFAULTS.lock>; requests?: string[] }) {
  const tokens = new MemoryTokenStore();
  if (options.signedIn && options.identity) {
    await tokens.save({ issuer: 'http://127.0.0.1:9', accessToken: 'at', refreshToken: 'rt', tokenType: 'DPoP', expiresAt: T0 + 120_000, jkt: options.identity.thumbprint, subject: 'alice' });
  }
  const agent = new Agent({
    host: new LiveHost('linux'),
    config: { ...CONFIG_DEFAULTS, lock: { ...CONFIG_DEFAULTS.lock, ...options.lock } },
    loadIdentity: () => Promise.resolve(options.identity),
    openSigner: (r) => openSigner(options.store!, r.keyAlias),
    tokenStore: tokens,
    outbox,
    checks: [agentVersion],
    watchTargets: [],
    networkPollMs: 0,
    stepUpTimeoutMs: 60_000,
    fetch: downNetwork(options.requests ?? []),
  });
  const states: AgentState[] = [];
  const pushes: PushMessage[] = [];
  agent.on('state', (e) => states.push(e.state));
  agent.on('push', (m) => pushes.push(m));
  return { agent, states, pushes, tokens };
}

describe('Agent state machine (fake clock)', () => {
  it('is unenrolled without an identity and says what to do', async () => {
    const { agent } = await agentWith({});
    await agent.start();
    expect(agent.state).toBe('unenrolled');
    expect(agent.sessionStatus().reason).toContain('ward enroll');
    await expect(agent.signIn()).rejects.toMatchObject({ code: 'not-enrolled' });
    await agent.stop();
  });

  it('is enrolled but not signed in, keeping posture queued while the broker is down', async () => {
    const store = new MemoryKeyStore();
    const { agent } = await agentWith({ identity: await enrolledIdentity(store), store });
    await agent.start();
    await vi.advanceTimersByTimeAsync(1);
    expect(agent.state).toBe('enrolled');
    expect(outbox.stats().pending).toBe(1); // the first snapshot waits for the broker
    await agent.stop();
  });

  it('goes offline when signed in and the broker is unreachable, retrying the refresh with backoff', async () => {
    const store = new MemoryKeyStore();
    const requests: string[] = [];
    const { agent, states } = await agentWith({ identity: await enrolledIdentity(store), store, signedIn: true, requests });
    await agent.start();
    await vi.advanceTimersByTimeAsync(1);
    expect(agent.state).toBe('offline');
    expect(states).toContain('offline');
    // The access token lives 120 s: the refresh is due 30 s before expiry, not earlier.
    const discoveries = (): number => requests.filter((p) => p.includes('openid-configuration')).length;
    await vi.advanceTimersByTimeAsync(89_000);
    expect(discoveries()).toBe(0);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(discoveries()).toBe(1);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(discoveries()).toBeGreaterThanOrEqual(2); // retried with backoff
    expect(agent.sessionStatus().reason).toMatch(/reach/i);
    await agent.stop();
  });

  it('requires a step-up after unlock when policy says so; an unanswered prompt expires and access stays restricted', async () => {
    const store = new MemoryKeyStore();
    const { agent, states, pushes } = await agentWith({ identity: await enrolledIdentity(store), store, signedIn: true, lock: { stepUpAfterUnlock: true, unlockGraceSeconds: 60 } });
    await agent.start();
    agent.power('lock-screen');
    await vi.advanceTimersByTimeAsync(30_000);
    agent.power('unlock-screen'); // within the grace period: nothing asked
    await vi.advanceTimersByTimeAsync(1);
    expect(agent.state).not.toBe('step-up-required');
    agent.power('lock-screen');
    await vi.advanceTimersByTimeAsync(61_000);
    agent.power('unlock-screen');
    await vi.advanceTimersByTimeAsync(1);
    expect(agent.state).toBe('step-up-required');
    const request = pushes.find((p) => p.event === 'stepUp.requested');
    expect(request?.event === 'stepUp.requested' && request.payload.max_age).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(agent.state).not.toBe('step-up-required');
    expect(states).toContain('step-up-required');
    const resolved = pushes.find((p) => p.event === 'stepUp.resolved');
    expect(resolved?.payload).toMatchObject({ outcome: 'expired', message: expect.stringContaining('restricted') });
    await agent.stop();
  });

  it('answers an unknown step-up id without changing state', async () => {
    const { agent } = await agentWith({});
    await agent.start();
    expect(agent.decideStepUp('nope', 'accept').outcome).toBe('unknown-request');
    await agent.stop();
  });
});

describe('Agent and a broker that replays a challenge', () => {
  it('answers a challenge once, however often it arrives', async () => {
    vi.useRealTimers();
    const { createServer } = await import('node:http');
    const { decodeJwt } = await import('jose');
    const nonces: unknown[] = [];
    let events: ServerResponse | undefined;
    const server = createServer((req, res) => {
      if (req.url === '/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        events = res;
        return;
      }
      if (req.method !== 'POST' || req.url !== '/posture') {
        res.writeHead(404).end(); // no report stream here: the agent POSTs its reports
        return;
      }
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        nonces.push(decodeJwt(body).eat_nonce);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ deviceId: 'dev-1', seq: 1, decision: 'allow', compliant: true, results: [] }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const store = new MemoryKeyStore();
    const identity = { ...(await enrolledIdentity(store)), brokerUrl: `http://127.0.0.1:${port}` };
    const agent = new Agent({
      host: new LiveHost('linux'),
      config: CONFIG_DEFAULTS,
      loadIdentity: () => Promise.resolve(identity),
      openSigner: (r) => openSigner(store, r.keyAlias),
      tokenStore: new MemoryTokenStore(),
      outbox,
      checks: [agentVersion],
      watchTargets: [],
      networkPollMs: 0,
    });
    try {
      await agent.start();
      while (!events || nonces.length < 1) await new Promise((r) => setTimeout(r, 5)); // the first, unsolicited report
      const challenge = 'event: challenge\ndata: {"nonce":"replayed-nonce-0123456789"}\n\n';
      events.write(challenge);
      events.write(challenge);
      events.write('event: challenge\ndata: {"nonce":"fresh-nonce-0123456789ab"}\n\n');
      while (nonces.length < 3) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 100)); // room for a wrong second answer to arrive
      expect(nonces.slice(1)).toEqual(['replayed-nonce-0123456789', 'fresh-nonce-0123456789ab']);
    } finally {
      await agent.stop();
      server.closeAllConnections();
      server.close();
    }
  });
});
