import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSet, es256Signer, PollRequestSchema, PollResponseSchema, type PollRequest } from '../../../broker/sdk/index.js';
import { Agent } from '../../../main/core/agent.js';
import type { SignalTransport } from '../../../main/core/broker/poll-fallback.js';
import { Outbox } from '../../../main/core/broker/outbox.js';
import { CONFIG_DEFAULTS } from '../../../main/core/config/schema.js';
import { LiveHost } from '../../../main/core/exec/live-host.js';
import { openSigner } from '../../../main/core/identity/device-signer.js';
import { enroll } from '../../../main/core/identity/enrollment.js';
import { IdentityFile, type IdentityRecord } from '../../../main/core/identity/identity-record.js';
import { MemoryKeyStore } from '../../../main/core/identity/memory-key-store.js';
import { agentVersion } from '../../../main/core/posture/checks/agent-version.js';
import { requiredFiles } from '../../../main/core/posture/checks/required-files.js';
import { PostureConfigSchema } from '../../../main/core/posture/config.js';
import { takeSnapshot } from '../../../main/core/posture/engine.js';
import { MemoryTokenStore } from '../../../main/core/session/token-store.js';
import type { AgentState } from '../../../main/shared/ipc-contract.js';
import { ADMIN_TOKEN, ALICE, CookieJar, signInInBrowser, startBroker } from '../broker/helpers.js';

/**
 * Shared Signals between the agent and the reference broker (real oidc-provider, SQLite, HTTP):
 * the RFC 8936 poll fallback when the event channel is blocked (a proxy that buffers server-sent
 * events, simulated in the agent's network layer), and the agent's own RFC 8935 SETs pushed
 * through the durable outbox across a broker outage.
 */
describe('Shared signals: poll fallback and device-transmitted SETs against the reference broker', () => {
  let broker: Awaited<ReturnType<typeof startBroker>>['broker'];
  let dataDir: string;
  let dir: string;
  let agent: Agent;
  let outbox: Outbox;
  let identity: IdentityRecord;
  let required: string;
  const tokenStore = new MemoryTokenStore();
  /** The "proxy": while set, `/events` answers 200 text/event-stream and then never sends a byte. */
  let bufferSse = true;
  /** Poll requests the agent sent and the SETs the broker answered with, in order. */
  const pollRequests: PollRequest[] = [];
  const polledJtis: string[] = [];
  const capturedSets = new Map<string, string>();
  /** An on-path attacker: answers the long poll being held with its own SETs instead of the broker's. */
  let attack: (sets: Record<string, string>) => void = () => {
    throw new Error('no poll is being held');
  };
  const transports: SignalTransport[] = [];

  const network = async (input: string | URL, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input));
    if (url.pathname === '/events' && bufferSse) {
      // A buffering proxy: headers pass, the stream is held back until the agent gives up on it.
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          init?.signal?.addEventListener('abort', () => controller.error(new Error('aborted')), { once: true });
        },
      });
      return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
    }
    if (url.pathname === '/ssf/poll') {
      pollRequests.push(PollRequestSchema.parse(JSON.parse(String(init?.body))));
      const cut = new AbortController();
      const attacked = new Promise<Response>((resolve) => {
        attack = (sets) => {
          cut.abort();
          resolve(Response.json({ sets, moreAvailable: false }));
        };
      });
      const real = fetch(input, { ...init, signal: AbortSignal.any([cut.signal, ...(init?.signal ? [init.signal] : [])]) }).then(async (res) => {
        if (res.status !== 200) return res;
        const answer = PollResponseSchema.parse(await res.json());
        polledJtis.push(...Object.keys(answer.sets));
        for (const [jti, set] of Object.entries(answer.sets)) capturedSets.set(jti, set);
        return Response.json(answer);
      });
      return Promise.race([real, attacked]);
    }
    return fetch(input, init);
  };

  function waitFor<T>(check: () => T | undefined, what: string, timeoutMs = 20_000): Promise<T> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const tick = (): void => {
        const value = check();
        if (value !== undefined && value !== false) resolve(value);
        else if (Date.now() - started > timeoutMs) reject(new Error(`timed out waiting for ${what}`));
        else setTimeout(tick, 20);
      };
      tick();
    });
  }
  const waitForState = (state: AgentState): Promise<true> => waitFor(() => agent.state === state || undefined, `state ${state}`);
  const errsFor = (jti: string) => pollRequests.find((r) => r.setErrs?.[jti])?.setErrs?.[jti];

  async function newAgent(): Promise<Agent> {
    const store = keyStore;
    const a = new Agent({
      host: new LiveHost('linux'),
      config: { ...CONFIG_DEFAULTS, brokerUrl: broker.url, posture: PostureConfigSchema.parse({ requiredFiles: [{ path: required }] }) },
      loadIdentity: () => identityFile.read(),
      openSigner: (record) => openSigner(store, record.keyAlias),
      tokenStore,
      outbox,
      checks: [requiredFiles, agentVersion],
      networkPollMs: 0,
      fetch: network,
      eventChannel: { baseDelayMs: 50, maxDelayMs: 200, idleTimeoutMs: 300 },
      setPoll: { failuresBeforePoll: 2, healthyAfterMs: 300 },
      openBrowser: async (url) => {
        const jar = new CookieJar();
        await fetch(await signInInBrowser(jar, url.href, url.searchParams.get('redirect_uri')!, ALICE));
      },
    });
    a.on('signal-transport', (t) => transports.push(t));
    return a;
  }

  let keyStore: MemoryKeyStore;
  let identityFile: IdentityFile;

  beforeAll(async () => {
    ({ broker, dataDir } = await startBroker({ dataDir: mkdtempSync(join(tmpdir(), 'ward-ssf-broker-')) }));
    dir = mkdtempSync(join(tmpdir(), 'ward-ssf-agent-'));
    mkdirSync(join(dir, 'watched'));
    required = join(dir, 'watched', 'edr.conf');
    writeFileSync(required, 'on');
    broker.admin.setPolicy({ schemaVersion: 1, name: 'ssf', rules: [{ id: 'files', check: 'required-files', expect: { status: 'pass' }, severity: 'block', graceSeconds: 0 }] });
    keyStore = new MemoryKeyStore();
    identityFile = new IdentityFile(join(dir, 'state'));
    const device = (await takeSnapshot({ host: new LiveHost('linux'), agentVersion: '0.1.0', checks: [] })).device;
    const { token } = broker.admin.createEnrollmentToken({ label: 'ssf' });
    await enroll(broker.url, token, { identity: identityFile, device, store: keyStore });
    identity = (await identityFile.read())!;
    outbox = Outbox.open(join(dir, 'state', 'outbox.db'));
    agent = await newAgent();
  });

  afterAll(async () => {
    await agent?.stop();
    outbox?.close();
    await broker?.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('falls back to polling when a proxy buffers the event channel, and gets the broker verdicts by poll', async () => {
    await agent.start();
    const compliant = waitForState('compliant');
    await agent.signIn('browser');
    await waitFor(() => agent.sessionStatus().state !== 'enrolled' || undefined, 'sign-in');
    await waitFor(() => transports.includes('poll') || undefined, 'the poll fallback');
    await compliant;

    // The broker's device-compliance-change reaches the agent only by poll (the stream is held back).
    const before = polledJtis.length;
    const verdicts: string[] = [];
    agent.on('verdict', (v) => verdicts.push(`${v.source}:${v.compliant}`));
    unlinkSync(required);
    await waitFor(() => verdicts.includes('caep:false') || undefined, 'the non-compliant SET by poll');
    expect(polledJtis.length).toBeGreaterThan(before);
    writeFileSync(required, 'on');
    await waitFor(() => verdicts.includes('caep:true') || undefined, 'the compliant SET by poll');
    await waitForState('compliant');
  });

  it('acknowledges what it handled, and the broker does not deliver an acknowledged SET again', async () => {
    const handled = [...polledJtis];
    expect(handled.length).toBeGreaterThanOrEqual(2);
    // The long poll waiting now carries the ack of the last SET; a new SET answers it.
    await waitFor(() => pollRequests.at(-1)?.ack?.includes(handled.at(-1)!) || undefined, 'the ack of the last SET');
    const answered = polledJtis.length;
    unlinkSync(required);
    await waitForState('non-compliant');
    await waitFor(() => polledJtis.length > answered || undefined, 'the next poll answer');
    expect(polledJtis.slice(answered)).toHaveLength(1);
    expect(handled).not.toContain(polledJtis[answered]);
    writeFileSync(required, 'on');
    await waitForState('compliant');
    // Every SET came in exactly one poll answer, and each was acknowledged in a later request.
    await waitFor(() => polledJtis.every((jti) => pollRequests.some((r) => r.ack?.includes(jti))) || undefined, 'the acks');
    for (const jti of polledJtis) expect(polledJtis.filter((j) => j === jti)).toHaveLength(1);
  });

  it('reports a forged SET and a replayed one in setErrs and changes nothing', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const brokerKid = identity.brokerKeys.keys[0]?.kid ?? 'broker-0';
    const forged = await buildSet(
      { type: 'session-revoked', subject: { format: 'complex', device: { format: 'opaque', id: identity.deviceId } }, event: { initiating_entity: 'admin' }, issuer: broker.issuer, audience: 'ward-agent', jti: 'forged-1' },
      es256Signer(privateKey, brokerKid),
    );
    const replayedJti = polledJtis[0]!;
    // The first compliance SET (not-compliant), captured from the broker's own answer, sent again.
    const genuine = await waitFor(() => capturedSets.get(replayedJti), 'a captured SET');
    const held = pollRequests.length;
    await new Promise((r) => setTimeout(r, 200)); // the agent's long poll is held by the broker now
    attack({ 'forged-1': forged, [replayedJti]: genuine });
    await waitFor(() => (errsFor('forged-1') && errsFor(replayedJti)) || undefined, 'setErrs for both');
    expect(errsFor('forged-1')).toMatchObject({ err: 'invalid_key' });
    expect(errsFor(replayedJti)).toMatchObject({ err: 'invalid_request', description: expect.stringMatching(/replayed/) });
    expect(pollRequests.length).toBeGreaterThan(held);
    expect(agent.state).toBe('compliant');
    expect(await tokenStore.load()).toBeDefined();
  });

  it('goes revoked when a session-revoked SET arrives by poll, and wipes the tokens', async () => {
    const revoked = waitForState('revoked');
    await broker.admin.revokeSessions('alice', 'poll fallback test');
    await revoked;
    expect(await tokenStore.load()).toBeUndefined();
  });

  it('switches back to the event channel once it works again', async () => {
    bufferSse = false;
    await waitFor(() => transports.at(-1) === 'event-channel' || undefined, 'the switch back');
    expect(transports).toEqual(['poll', 'event-channel']);
  });

  it('acknowledges on its next poll what it handled over the event channel, so the broker does not send it again', async () => {
    const viaChannel: string[] = [];
    const onCaep = (set: { jti: string }): void => {
      if (transports.at(-1) === 'event-channel') viaChannel.push(set.jti);
    };
    agent.on('caep', onCaep);
    unlinkSync(required);
    await waitFor(() => viaChannel.length > 0 || undefined, 'a SET over the event channel');
    agent.off('caep', onCaep);
    const jti = viaChannel[0]!;
    const requestsBefore = pollRequests.length;
    bufferSse = true; // the proxy holds the stream back again
    await waitFor(() => transports.at(-1) === 'poll' || undefined, 'the poll fallback again');
    await waitFor(() => pollRequests.length > requestsBefore || undefined, 'a poll');
    expect(pollRequests[requestsBefore]?.ack).toContain(jti);
    const polledBefore = polledJtis.length;
    writeFileSync(required, 'on');
    await waitFor(() => polledJtis.length > polledBefore || undefined, 'the compliant SET by poll');
    expect(polledJtis).not.toContain(jti); // the not-compliant SET never came by poll: acknowledged first
    bufferSse = false;
    await waitFor(() => transports.at(-1) === 'event-channel' || undefined, 'the event channel again');
  });

  it('transmits its own device-compliance-change SET, queued through a broker outage, to the broker push receiver', async () => {
    const port = broker.port;
    const signals = async (): Promise<{ brokerVerdict: { authoritative: boolean; compliant: boolean } | null; deviceClaims: Array<Record<string, unknown>> }> =>
      (await fetch(`${broker.url}/devices/${identity.deviceId}/signals`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json() as never;
    // The compliance flips of the first tests were transmitted too, newest first.
    const earlier = (await signals()).deviceClaims;
    expect(earlier.map((c) => (c.event as { current_status: string }).current_status)).toEqual(['compliant', 'not-compliant', 'compliant', 'not-compliant', 'compliant', 'not-compliant']);
    await broker.close();
    await new Promise((r) => setTimeout(r, 300));
    unlinkSync(required); // the device's own reading flips while the broker is down
    await waitFor(() => outbox.pending().some((i) => i.kind === 'set') || undefined, 'the SET in the outbox');
    // The agent stops too: the SET must survive in the outbox and go out from a new agent.
    await agent.stop();
    ({ broker } = await startBroker({ dataDir, port }));
    agent = await newAgent();
    await agent.start();
    let view = await signals();
    for (let i = 0; i < 300 && (view.deviceClaims.length === earlier.length || view.brokerVerdict?.compliant !== false); i++) {
      await new Promise((r) => setTimeout(r, 100));
      view = await signals();
    }
    expect(view.deviceClaims).toHaveLength(earlier.length + 1);
    expect(view.deviceClaims[0]).toMatchObject({
      authoritative: false,
      source: 'device-transmitted SET',
      type: 'device-compliance-change',
      event: { previous_status: 'compliant', current_status: 'not-compliant', initiating_entity: 'system' },
    });
    // The broker's own verdict, from the posture report queued with the SET, stays apart and authoritative.
    expect(view.brokerVerdict).toMatchObject({ authoritative: true, compliant: false });
    expect(outbox.pending()).toHaveLength(0);
    expect(outbox.deadLetters()).toHaveLength(0);
  });
});
