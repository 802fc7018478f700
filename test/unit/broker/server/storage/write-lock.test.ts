import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStorage } from '../../../../../broker/server/storage/sqlite-storage.js';

// Another connection holding SQLite's writer lock, as the WAL checkpointer's thread does while it
// runs a TRUNCATE (the broker idle) or RESTART checkpoint. Every storage write must wait for it
// (busy_timeout) and then succeed. A deferred transaction that reads first was refused at once
// with SQLITE_BUSY: CI saw `POST /enroll` answer 500 that way.

const HOLD_MS = 250;
const betterSqlite = createRequire(import.meta.url).resolve('better-sqlite3');

let dir: string;
let file: string;
let storage: SqliteStorage;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ward-write-lock-'));
  file = join(dir, 'broker.db');
  storage = new SqliteStorage(file);
});
afterEach(() => {
  storage.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A worker thread takes the writer lock on its own connection (`BEGIN IMMEDIATE`), holds it for
 * HOLD_MS and commits. Resolves once the lock is held; `released()` reads a flag the worker sets
 * just before its COMMIT, so a write that returns with it set waited for the lock.
 */
async function holdWriterLock(): Promise<{ released: () => boolean; done: Promise<void> }> {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const Database = require(workerData.betterSqlite);
     const db = new Database(workerData.file);
     db.exec('BEGIN IMMEDIATE');
     parentPort.postMessage('held');
     Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, workerData.holdMs);
     Atomics.store(workerData.flag, 0, 1);
     db.exec('COMMIT');
     db.close();`,
    { eval: true, workerData: { betterSqlite, file, holdMs: HOLD_MS, flag } },
  );
  const done = new Promise<void>((resolve, reject) => {
    worker.once('exit', () => resolve());
    worker.once('error', reject);
  });
  await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return { released: () => Atomics.load(flag, 0) === 1, done };
}

const NOW = 1_800_000_000_000;
const jwk = (x: string) => ({ kty: 'EC', crv: 'P-256', x, y: x });

function enrolledDevice(id: string, jkt: string): void {
  storage.createEnrollmentToken({ id: `t-${id}`, tokenHash: `h-${id}`, label: '', createdAtMs: NOW, expiresAtMs: NOW + 60_000, usedAtMs: null, deviceId: null });
  const result = storage.enrollDevice(`h-${id}`, { id, jkt, publicJwk: jwk(jkt), assurance: 'software', name: null, attributes: {} }, NOW);
  expect(result.ok).toBe(true);
}

describe('storage writes while another connection holds the writer lock (a TRUNCATE or RESTART checkpoint)', () => {
  it('a deferred transaction that reads first is refused at once with SQLITE_BUSY (what the broker did before)', async () => {
    const db = new Database(file);
    db.pragma('busy_timeout = 5000');
    const lock = await holdWriterLock();
    const readThenWrite = db.transaction(() => {
      db.prepare('SELECT COUNT(*) FROM meta').get();
      db.prepare("INSERT INTO meta (key, value) VALUES ('k', 'v')").run();
    });
    expect(() => readThenWrite()).toThrow(expect.objectContaining({ code: 'SQLITE_BUSY' }));
    expect(lock.released()).toBe(false);
    await lock.done;
    db.close();
  });

  const writes: Array<[string, () => void, () => void]> = [
    [
      'enrollDevice (POST /enroll)',
      () => storage.createEnrollmentToken({ id: 't1', tokenHash: 'h1', label: '', createdAtMs: NOW, expiresAtMs: NOW + 60_000, usedAtMs: null, deviceId: null }),
      () => {
        const result = storage.enrollDevice('h1', { id: 'dev-1', jkt: 'jkt-1', publicJwk: jwk('a'), assurance: 'software', name: null, attributes: {} }, NOW);
        expect(result).toMatchObject({ ok: true, device: { id: 'dev-1' } });
      },
    ],
    [
      'rotateDeviceKey (POST /rotate)',
      () => enrolledDevice('dev-2', 'jkt-old'),
      () => {
        expect(storage.rotateDeviceKey('dev-2', 'jkt-old', { jkt: 'jkt-new', publicJwk: jwk('b'), assurance: 'software', attributes: {} }, NOW).ok).toBe(true);
        expect(storage.getDevice('dev-2')?.jkt).toBe('jkt-new');
      },
    ],
    [
      'transaction (ingestion: verdict, seq and history)',
      () => storage.setMeta('counter', '1'),
      () => {
        storage.transaction(() => storage.setMeta('counter', String(Number(storage.getMeta('counter')) + 1)));
        expect(storage.getMeta('counter')).toBe('2');
      },
    ],
    [
      'pushQueue.enqueue (RFC 8935 push)',
      () => undefined,
      () => {
        expect(storage.pushQueue.enqueue('https://receiver.example/events', 'session-revoked', 'a.b.c', NOW, { maxQueued: 10, maxDeadLetters: 10 }).deadLettered).toBe(0);
        expect(storage.pushQueue.size()).toBe(1);
      },
    ],
    [
      'ekChallenges.insert and spend (EK credential activation)',
      () => storage.ekChallenges.insert({ id: 'c1', secretSha256: 's', akName: 'ak', issuer: 'CN=maker', createdAtMs: NOW, expiresAtMs: NOW + 60_000 }, 100),
      () => {
        expect(storage.ekChallenges.spend('c1', NOW)).toMatchObject({ id: 'c1', akName: 'ak' });
        storage.ekChallenges.insert({ id: 'c2', secretSha256: 's', akName: 'ak', issuer: 'CN=maker', createdAtMs: NOW, expiresAtMs: NOW + 60_000 }, 100);
      },
    ],
    [
      'events.trim (the event channel log)',
      () => {
        for (let i = 0; i < 3; i++) storage.events.append('dev-3', 'challenge', `{"i":${i}}`, NOW, null);
      },
      () => {
        storage.events.trim('dev-3', 1);
        expect(storage.events.since('dev-3', 0, NOW)).toHaveLength(1);
      },
    ],
  ];

  it.each(writes)('%s waits for the lock and succeeds', async (_name, before, write) => {
    before();
    const lock = await holdWriterLock();
    write();
    expect(lock.released()).toBe(true);
    await lock.done;
  });
});
