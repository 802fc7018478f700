import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../../main/core/log.js';
import { verifySet, type SubjectId } from '../../../../broker/sdk/index.js';
import { BrokerError } from '../../../../broker/server/errors.js';
import { EventHub } from '../../../../broker/server/events.js';
import { loadOrCreateKeys } from '../../../../broker/server/keys.js';
import { PUSH_MAX_ATTEMPTS, SignalEmitter, pushBackoffMs, type Schedule } from '../../../../broker/server/signals.js';
import { SqliteStorage } from '../../../../broker/server/storage/sqlite-storage.js';
import { startSetReceiver, type SetReceiver } from '../../../support/set-receiver.js';

const ISSUER = 'https://broker.test';
const RECEIVER_SECRET = 'receiver-secret-5f1d2c';
const SUBJECT: SubjectId = { format: 'complex', device: { format: 'opaque', id: 'dev-1' } };

/**
 * The push delivery against a real RFC 8935 receiver on 127.0.0.1 and a real SQLite database,
 * with the clock and the retry timer injected: every wait the emitter asks for is checked, and
 * nothing is attempted before it is due.
 */
describe('SignalEmitter: push backoff, dead letters, staged SETs', () => {
  let receiver: SetReceiver;
  let dir: string;
  let storage: SqliteStorage;
  let logs: string;
  const clock = { t: 1_700_000_000_000 };
  let timers: { fn: () => void; ms: number }[];
  const schedule: Schedule = (fn, ms) => {
    const entry = { fn, ms };
    timers.push(entry);
    return () => {
      timers = timers.filter((t) => t !== entry);
    };
  };
  const emitters: SignalEmitter[] = [];

  const emitter = (url = receiver.url): SignalEmitter => {
    const log = createLogger({
      level: 'info',
      destination: new Writable({
        write(chunk: Buffer, _enc, done) {
          logs += chunk.toString();
          done();
        },
      }),
    });
    const signals = new SignalEmitter({
      signer: loadOrCreateKeys(storage).signer,
      issuer: ISSUER,
      hub: new EventHub(storage.events, () => clock.t),
      log,
      queue: storage.pushQueue,
      outbox: storage.setOutbox,
      transaction: (fn) => storage.transaction(fn),
      pushReceiver: { url, authorizationHeader: `Bearer ${RECEIVER_SECRET}` },
      now: () => clock.t,
      schedule,
    });
    emitters.push(signals);
    return signals;
  };
  const reopen = async (): Promise<void> => {
    for (const e of emitters.splice(0)) await e.stop();
    storage.close();
    storage = new SqliteStorage(join(dir, 'broker.db'));
  };
  const verify = (set: string, audience: string) => {
    const keys = loadOrCreateKeys(storage).brokerJwks.keys.map((k) => ({ kid: String(k.kid), key: k }));
    const verdict = verifySet(set, { keys, issuer: ISSUER, audience, now: new Date(clock.t) });
    if (!verdict.ok) throw new Error(`SET refused: ${verdict.reason}`);
    return verdict.set;
  };
  const revoke = (signals: SignalEmitter, reason: string) => signals.emit('session-revoked', SUBJECT, { initiating_entity: 'admin', reason_admin: { en: reason } });
  const delivered = () => receiver.attempts.filter((a) => a.status === 202).map((a) => a.body);

  beforeAll(async () => {
    receiver = await startSetReceiver();
  });
  afterAll(() => receiver.close());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ward-signals-'));
    storage = new SqliteStorage(join(dir, 'broker.db'));
    receiver.attempts.length = 0;
    receiver.accepting = false;
    receiver.refusing = undefined;
    timers = [];
    logs = '';
  });
  afterEach(async () => {
    for (const e of emitters.splice(0)) await e.stop();
    storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('retries a refused SET after 0.5 s doubling to 5 min, never early, and keeps it as a dead letter after the last attempt', async () => {
    const signals = emitter();
    await revoke(signals, 'lost laptop');
    await signals.flush();
    const waits: number[] = [];
    for (let attempt = 1; attempt < PUSH_MAX_ATTEMPTS; attempt++) {
      expect(receiver.attempts).toHaveLength(attempt);
      expect(timers).toHaveLength(1);
      const { fn, ms } = timers.pop()!;
      waits.push(ms);
      expect(storage.pushQueue.head(receiver.url)).toMatchObject({ attempts: attempt, nextAttemptAtMs: clock.t + ms });
      // Woken 1 ms early: no attempt, it waits for the rest.
      clock.t += ms - 1;
      fn();
      await signals.flush();
      expect(receiver.attempts).toHaveLength(attempt);
      const rest = timers.pop()!;
      expect(rest.ms).toBe(1);
      clock.t += 1;
      rest.fn();
      await signals.flush();
    }
    expect(waits).toEqual([500, 1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000]);
    expect(waits).toEqual(waits.map((_, i) => pushBackoffMs(i + 1)));

    // The last attempt failed too: out of the queue, into the dead letters, no timer left.
    expect(receiver.attempts).toHaveLength(PUSH_MAX_ATTEMPTS);
    expect(timers).toHaveLength(0);
    expect(storage.pushQueue.size()).toBe(0);
    const dead = signals.deadLetters(10);
    expect(dead.total).toBe(1);
    expect(dead.deadLetters[0]).toMatchObject({
      receiver: receiver.url,
      type: 'session-revoked',
      attempts: PUSH_MAX_ATTEMPTS,
      lastStatus: 503,
      lastError: 'unexpected-response: the receiver answered HTTP 503',
      deadAtMs: clock.t,
      setJwt: receiver.attempts[0]!.body,
    });
    expect(logs).toContain('gave up pushing a SET: kept as a dead letter');
    // The receiver got our credential; neither the dead letter nor the log keeps it.
    expect(receiver.attempts[0]!.authorization).toBe(`Bearer ${RECEIVER_SECRET}`);
    expect(JSON.stringify(dead)).not.toContain(RECEIVER_SECRET);
    expect(logs).not.toContain(RECEIVER_SECRET);
  });

  it('keeps a SET refused for good (400) as a dead letter at once, and delivers the next one', async () => {
    const signals = emitter();
    receiver.refusing = 400;
    await revoke(signals, 'first');
    await signals.flush();
    receiver.refusing = undefined;
    receiver.accepting = true;
    await revoke(signals, 'second');
    await signals.flush();
    expect(receiver.attempts.map((a) => a.status)).toEqual([400, 202]);
    const [dead] = signals.deadLetters(10).deadLetters;
    expect(dead).toMatchObject({ attempts: 1, lastStatus: 400, lastError: 'invalid_audience: not for this receiver (test)' });
    expect(verify(dead!.setJwt, receiver.url).event).toMatchObject({ reason_admin: { en: 'first' } });
    expect(timers).toHaveLength(0);
  });

  it('resends dead letters to their old places (in order, ahead of later SETs) and they survive a reopen', async () => {
    let signals = emitter();
    receiver.refusing = 400;
    await revoke(signals, 'a');
    await revoke(signals, 'b');
    await signals.flush();
    receiver.refusing = undefined;
    await revoke(signals, 'c'); // 503: waits at the head of the queue for its retry
    await signals.flush();
    expect(signals.deadLetters(10).deadLetters.map((d) => verify(d.setJwt, receiver.url).event)).toMatchObject([{ reason_admin: { en: 'a' } }, { reason_admin: { en: 'b' } }]);

    await reopen();
    timers = [];
    signals = emitter();
    await signals.flush();
    const ids = signals.deadLetters(10).deadLetters.map((d) => d.id);
    expect(ids).toHaveLength(2);
    receiver.accepting = true;
    // Asked in reverse: each still goes back to its own place.
    expect(signals.resend([ids[1]!, ids[0]!])).toEqual({ resent: [ids[1], ids[0]], left: 0 });
    await signals.flush();
    expect(delivered().map((s) => (verify(s, receiver.url).event as { reason_admin?: { en: string } }).reason_admin?.en)).toEqual(['a', 'b']);
    // c is still waiting for its retry time.
    expect(timers).toHaveLength(1);
    clock.t += timers[0]!.ms;
    timers.pop()!.fn();
    await signals.flush();
    expect(delivered().map((s) => (verify(s, receiver.url).event as { reason_admin?: { en: string } }).reason_admin?.en)).toEqual(['a', 'b', 'c']);
    expect(signals.deadLetters(10).total).toBe(0);
    expect(() => signals.resend([ids[0]!])).toThrow(expect.objectContaining({ code: 'not-found' }) as Error);
  });

  it('turns SETs queued for a previous receiver URL into dead letters that cannot be resent, only dropped', async () => {
    const old = emitter('http://127.0.0.1:9/old-receiver');
    await revoke(old, 'for the old receiver');
    await old.flush();
    await reopen();
    const signals = emitter();
    const { deadLetters } = signals.deadLetters(10);
    expect(deadLetters).toMatchObject([{ receiver: 'http://127.0.0.1:9/old-receiver', lastStatus: null, lastError: expect.stringMatching(/^receiver-changed/) }]);
    const id = deadLetters[0]!.id;
    expect(() => signals.resend([id])).toThrow(BrokerError);
    expect(() => signals.resend([id])).toThrow(expect.objectContaining({ code: 'conflict' }) as Error);
    expect(signals.resend('all')).toEqual({ resent: [], left: 1 });
    signals.dropDeadLetter(id);
    expect(signals.deadLetters(10).total).toBe(0);
    expect(() => signals.dropDeadLetter(id)).toThrow(expect.objectContaining({ code: 'not-found' }) as Error);
  });

  it('emits a staged SET only if its transaction committed, and one left staged (broker stopped) at the next start', async () => {
    receiver.accepting = true;
    const signals = emitter();
    const event = { previous_status: 'compliant', current_status: 'not-compliant', initiating_entity: 'policy' } as const;
    const stagedAt = clock.t;
    // The broker stops after the commit and before `send`.
    storage.transaction(() => signals.staged('device-compliance-change', SUBJECT, event, { deviceId: 'dev-1' }).stage());
    // A transaction that rolls back takes its staged SET with it.
    expect(() =>
      storage.transaction(() => {
        signals.staged('device-compliance-change', SUBJECT, { ...event, current_status: 'compliant' }, { deviceId: 'dev-1' }).stage();
        throw new Error('rolled back');
      }),
    ).toThrow('rolled back');
    expect(storage.setOutbox.pending()).toHaveLength(1);
    expect(receiver.attempts).toHaveLength(0);

    await reopen();
    clock.t += 60_000;
    const again = emitter();
    expect(await again.resumeStaged()).toBe(1);
    await again.flush();
    expect(storage.setOutbox.pending()).toHaveLength(0);
    const [pushed] = delivered();
    const set = verify(pushed!, receiver.url);
    expect(set).toMatchObject({ type: 'device-compliance-change', event: { current_status: 'not-compliant' }, subject: SUBJECT });
    // Issued when the change happened, not when it was re-emitted.
    expect(set.claims.iat).toBe(Math.floor(stagedAt / 1000));
    // The device's copy went to its event log (and so down its channel on reconnect).
    const logged = storage.events.since('dev-1', 0, clock.t);
    expect(logged.map((e) => e.event)).toEqual(['caep']);
    expect(verify(logged[0]!.data, 'ward-agent').jti).not.toBe(set.jti);
    expect(await again.resumeStaged()).toBe(0);

    // The normal path: staged, committed, sent: emitted once, nothing left behind.
    const change = again.staged('device-compliance-change', SUBJECT, { ...event, previous_status: 'not-compliant', current_status: 'compliant' }, { deviceId: 'dev-1' });
    storage.transaction(() => change.stage());
    change.send();
    await expect.poll(() => delivered().length).toBe(2);
    expect(storage.setOutbox.pending()).toHaveLength(0);
    expect(verify(delivered()[1]!, receiver.url).event).toMatchObject({ current_status: 'compliant' });
  });
});
