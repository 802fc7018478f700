import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BrokerError } from '../../../../../broker/server/errors.js';
import { SqliteStorage } from '../../../../../broker/server/storage/sqlite-storage.js';
import type { VerdictRecord } from '../../../../../broker/server/storage/storage.js';

// Migration 9: a verdict's `submods` and `results` live in verdict_documents, written only when
// they change; the verdict row names them by digest. Real SQLite files, reopened as a restart does.

let dir: string;
let file: string;
let storage: SqliteStorage;
const DEVICE = 'dev-1';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ward-verdict-docs-'));
  file = join(dir, 'broker.db');
  storage = new SqliteStorage(file);
  storage.createEnrollmentToken({ id: 't1', tokenHash: 'h1', label: 'l', createdAtMs: 0, expiresAtMs: 9e15, usedAtMs: null, deviceId: null });
  const enrolled = storage.enrollDevice('h1', { id: DEVICE, jkt: 'jkt-1', publicJwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }, assurance: 'software', name: null, attributes: {} }, 1);
  expect(enrolled.ok).toBe(true);
});
afterEach(() => {
  storage.close();
  rmSync(dir, { recursive: true, force: true });
});

const reopen = (): SqliteStorage => {
  storage.close();
  storage = new SqliteStorage(file);
  return storage;
};

function verdict(seq: number, submods: Record<string, unknown>, results: unknown[]): VerdictRecord {
  return {
    deviceId: DEVICE,
    status: 'allow',
    isCompliant: true,
    seq,
    reportedAtMs: seq * 1000,
    verifiedAtMs: seq * 1000 + 5,
    policyVersion: 1,
    reportOnly: false,
    claims: { iat: seq, exp: seq + 300, seq, device_id: DEVICE, submods, posture: { snapshotId: `s${seq}` } },
    evaluation: { compliant: true, decision: 'allow', reportOnly: false, evaluatedAt: new Date(seq * 1000).toISOString(), results },
    failingSince: {},
    nonce: seq % 2 === 0 ? `nonce-${seq}` : null,
  };
}

/** What a reader gets back: the record minus the write-only `resultsJson`. */
const readable = ({ resultsJson: _ignored, ...v }: VerdictRecord): VerdictRecord => v;

/** Count every insert into and update of verdict_documents from now on (triggers in this test's database). */
function countDocumentWrites(): () => number {
  storage.close();
  const db = new Database(file);
  db.exec(`CREATE TABLE test_document_writes (n INTEGER NOT NULL); INSERT INTO test_document_writes VALUES (0);
    CREATE TRIGGER test_doc_insert AFTER INSERT ON verdict_documents BEGIN UPDATE test_document_writes SET n = n + 1; END;
    CREATE TRIGGER test_doc_update AFTER UPDATE ON verdict_documents BEGIN UPDATE test_document_writes SET n = n + 1; END;`);
  db.close();
  storage = new SqliteStorage(file);
  return () => {
    const side = new Database(file, { readonly: true });
    try {
      return (side.prepare('SELECT n FROM test_document_writes').get() as { n: number }).n;
    } finally {
      side.close();
    }
  };
}

describe('verdict documents', () => {
  it('gives back exactly what was saved, for any sequence of changed and unchanged documents, before and after a reopen', () => {
    const submodsArb = fc.dictionary(fc.constantFrom('firewall', 'disk-encryption', 'os-updates'), fc.record({ status: fc.constantFrom('pass', 'fail'), observed: fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.integer(), fc.string({ maxLength: 8 }))) }));
    const resultsArb = fc.array(fc.record({ ruleId: fc.constantFrom('a', 'b'), passed: fc.boolean() }), { maxLength: 3 });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), submodsArb, resultsArb), { minLength: 1, maxLength: 8 }), (steps) => {
        let previous: VerdictRecord | undefined;
        let seq = (storage.getVerdict(DEVICE)?.seq ?? 0) + 1;
        for (const [repeat, submods, results] of steps) {
          const next = repeat && previous ? verdict(seq, previous.claims.submods as Record<string, unknown>, (previous.evaluation as { results: unknown[] }).results) : verdict(seq, submods, results);
          storage.transaction(() => storage.saveVerdict(next));
          expect(storage.getVerdict(DEVICE)).toEqual(readable(next));
          previous = next;
          seq++;
        }
        expect(reopen().getVerdict(DEVICE)).toEqual(readable(previous!));
      }),
      { numRuns: 40 },
    );
  });

  it('writes an unchanged document once, and the device keeps its last seq without devices.last_seq being written', () => {
    const writes = countDocumentWrites();
    const submods = { firewall: { status: 'pass', observed: { active: true } } };
    for (let seq = 1; seq <= 5; seq++) storage.transaction(() => storage.saveVerdict(verdict(seq, submods, [{ ruleId: 'fw', passed: true }])));
    expect(writes()).toBe(2); // the submods and the results, once each
    storage.transaction(() => storage.saveVerdict(verdict(6, submods, [{ ruleId: 'fw', passed: false }])));
    expect(writes()).toBe(3); // only the results changed
    reopen().transaction(() => storage.saveVerdict(verdict(7, submods, [{ ruleId: 'fw', passed: false }])));
    expect(writes()).toBe(3); // after a restart the stored digests are read, not the documents rewritten
    const db = new Database(file, { readonly: true });
    const row = db.prepare('SELECT last_seq FROM devices WHERE id = ?').get(DEVICE) as { last_seq: number | null };
    db.close();
    expect(row.last_seq).toBeNull();
    expect(reopen().getDevice(DEVICE)?.lastSeq).toBe(7);
    expect(storage.getDeviceByJkt('jkt-1')?.lastSeq).toBe(7);
    expect(storage.listDevices()[0]?.device.lastSeq).toBe(7);
    expect(storage.listDevices()[0]?.verdict?.claims.submods).toEqual(submods);
  });

  it('writes a document again after a transaction that wrote it was rolled back (the remembered digest is dropped)', () => {
    const before = { firewall: { status: 'pass', observed: { active: true } } };
    const after = { firewall: { status: 'fail', observed: { active: false } } };
    storage.transaction(() => storage.saveVerdict(verdict(1, before, [])));
    expect(() =>
      storage.transaction(() => {
        storage.saveVerdict(verdict(2, after, []));
        throw new Error('disk full');
      }),
    ).toThrow('disk full');
    expect(storage.getVerdict(DEVICE)?.claims.submods).toEqual(before);
    storage.transaction(() => storage.saveVerdict(verdict(3, after, [])));
    expect(storage.getVerdict(DEVICE)?.claims.submods).toEqual(after);
  });

  it('reads a verdict written before migration 9 (whole claims and evaluation in the row, no digests)', () => {
    const old = verdict(4, { firewall: { status: 'pass', observed: {} } }, [{ ruleId: 'fw', passed: true }]);
    storage.close();
    const db = new Database(file);
    db.prepare(
      `INSERT INTO verdicts (device_id, status, is_compliant, seq, reported_at, verified_at, policy_version, report_only, claims, evaluation, failing_since, nonce)
       VALUES (?, 'allow', 1, 4, 4000, 4005, 1, 0, ?, ?, '{}', NULL)`,
    ).run(DEVICE, JSON.stringify(old.claims), JSON.stringify(old.evaluation));
    db.prepare('UPDATE devices SET last_seq = 4 WHERE id = ?').run(DEVICE);
    db.close();
    storage = new SqliteStorage(file);
    expect(storage.getVerdict(DEVICE)).toEqual({ ...readable(old), nonce: null });
    expect(storage.getDevice(DEVICE)?.lastSeq).toBe(4);
  });

  it('refuses to hand out a verdict whose stored document is not the one it names', () => {
    storage.transaction(() => storage.saveVerdict(verdict(1, { firewall: { status: 'pass', observed: {} } }, [])));
    storage.close();
    const db = new Database(file);
    db.prepare("UPDATE verdict_documents SET digest = 'other' WHERE kind = 'submods'").run();
    db.close();
    storage = new SqliteStorage(file);
    expect(() => storage.getVerdict(DEVICE)).toThrow(BrokerError);
    expect(() => storage.getVerdict(DEVICE)).toThrow(/do not match its latest verdict/);
  });
});
