import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Outbox, OutboxError } from '../../../../main/core/broker/outbox.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ward-outbox-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('Outbox', () => {
  it('keeps items in order across a restart', () => {
    const path = join(dir, 'q.db');
    const a = Outbox.open(path);
    a.enqueue('set', 'one');
    a.enqueue('posture', 'two', { coalesceKey: 'posture' });
    a.enqueue('set', 'three');
    a.close();
    const b = Outbox.open(path);
    expect(b.pending().map((i) => i.body)).toEqual(['one', 'two', 'three']);
    b.close();
  });

  it('coalesces superseded posture reports but never SETs', () => {
    const o = Outbox.open(join(dir, 'q.db'));
    o.enqueue('posture', 'p1', { coalesceKey: 'posture' });
    o.enqueue('set', 's1', { coalesceKey: 'posture' }); // a key on a SET is ignored
    o.enqueue('posture', 'p2', { coalesceKey: 'posture' });
    o.enqueue('set', 's2');
    expect(o.pending().map((i) => i.body)).toEqual(['s1', 'p2', 's2']);
    expect(o.stats().coalesced).toBe(1);
    o.close();
  });

  it('refuses, with a typed error and a count, what is beyond the bound; keeps what was queued', () => {
    const o = Outbox.open(join(dir, 'q.db'), { maxItems: 3 });
    for (const b of ['a', 'b', 'c']) o.enqueue('set', b);
    expect(() => o.enqueue('set', 'd')).toThrow(OutboxError);
    try {
      o.enqueue('set', 'e');
    } catch (err) {
      expect((err as OutboxError).code).toBe('outbox-full');
    }
    expect(o.pending().map((i) => i.body)).toEqual(['a', 'b', 'c']);
    expect(o.stats()).toMatchObject({ pending: 3, refused: 2 });
    // A newer posture report still replaces an older one when full.
    o.ack(o.peek()!.id);
    o.enqueue('posture', 'p1', { coalesceKey: 'posture' });
    o.enqueue('posture', 'p2', { coalesceKey: 'posture' });
    expect(o.pending().map((i) => i.body)).toEqual(['b', 'c', 'p2']);
    o.close();
  });

  it('moves a refused item to the dead letters with its reason', () => {
    const o = Outbox.open(join(dir, 'q.db'));
    const id = o.enqueue('set', 'bad');
    o.enqueue('set', 'good');
    o.recordAttempt(id);
    o.deadLetter(id, 'HTTP 400');
    expect(o.peek()?.body).toBe('good');
    expect(o.deadLetters()).toMatchObject([{ id, body: 'bad', reason: 'HTTP 400', attempts: 1 }]);
    o.close();
  });

  it('reports a corrupt database file as outbox-corrupt', async () => {
    const path = join(dir, 'bad.db');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path, 'this is not a database'.repeat(100));
    expect(() => Outbox.open(path)).toThrow(expect.objectContaining({ code: 'outbox-corrupt' }));
  });

  it('loses nothing committed and never half-reads when the writer is killed with SIGKILL mid-write', async () => {
    const path = join(dir, 'crash.db');
    const child = spawn(process.execPath, ['bin/run-ts.mjs', 'test/unit/core/broker/support/outbox-writer.ts', path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const committed: number[] = [];
    let buffer = '';
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) if (/^\d+$/.test(line)) committed.push(Number(line));
        // Kill once a good number of commits went through, while the writer is mid-loop.
        if (committed.length >= 150 && !child.killed) {
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    await new Promise((r) => child.once('exit', r));
    const o = Outbox.open(path);
    const items = o.pending();
    const ids = items.map((i) => i.id);
    // Every id the writer saw committed is there…
    for (const id of committed) expect(ids).toContain(id);
    // …in order, with no gaps before the last committed one…
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    // …and every row is whole: its body parses and its hash matches.
    for (const item of items) {
      const parsed = JSON.parse(item.body) as { payload: string; sha: string };
      expect(createHash('sha256').update(parsed.payload).digest('hex')).toBe(parsed.sha);
    }
    o.close();
  });
});
