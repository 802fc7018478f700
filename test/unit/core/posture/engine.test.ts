import { describe, expect, it } from 'vitest';
import { LiveHost } from '../../../../main/core/exec/live-host.js';
import { ReplayHost } from '../../../../main/core/exec/replay-host.js';
import { outcome, type PostureCheck } from '../../../../main/core/posture/check.js';
import { recheck, takeSnapshot } from '../../../../main/core/posture/engine.js';
import { ALL_CHECKS } from '../../../../main/core/posture/registry.js';
import { PostureSnapshotSchema } from '../../../../main/core/posture/snapshot.js';

const host = new LiveHost('linux', { allowList: { sleep: ['/usr/bin/sleep', '/bin/sleep'], sh: ['/bin/sh'] } });

function check(id: string, collect: PostureCheck['collect'], extra: Partial<PostureCheck> = {}): PostureCheck {
  return {
    id,
    title: id,
    description: id,
    platforms: ['linux', 'darwin', 'win32'],
    reads: {},
    remediation: { linux: [`fix ${id}`] },
    collect,
    ...extra,
  };
}

const reads = check('reads', async (ctx) => {
  const r = await ctx.host.run('sh', ['-c', 'echo on']);
  return r.stdout.trim() === 'on' ? outcome.pass('it is on', { value: 'on' }) : outcome.fail('it is off');
});
const hangs = check('hangs', async (ctx) => {
  await ctx.host.run('sleep', ['10'], { timeoutMs: 20_000, signal: ctx.signal });
  return outcome.pass('never');
}, { timeoutMs: 300 });
const throws = check('throws', () => Promise.reject(new TypeError('probe bug: cannot read x of undefined')));
const bluffs = check('bluffs', () => Promise.resolve(outcome.pass('trust me')));
const fails = check('fails', async (ctx) => {
  await ctx.host.run('sh', ['-c', 'exit 0']);
  return outcome.fail('it is off', { value: 'off' });
});
const macOnly = check('mac-only', () => Promise.resolve(outcome.pass('x')), { platforms: ['darwin'] });

describe('posture engine', () => {
  it('returns every result within budget although one check hangs and one throws', async () => {
    const started = Date.now();
    const snap = await takeSnapshot({ host, agentVersion: '1.2.3', checks: [reads, hangs, throws, fails, macOnly] });
    expect(Date.now() - started).toBeLessThan(5_000); // the hanging command alone would take 10 s
    const byId = Object.fromEntries(snap.checks.map((c) => [c.id, c]));
    expect(byId.reads?.status).toBe('pass');
    expect(byId.hangs?.status).toBe('error');
    expect(byId.hangs?.reason).toContain('300 ms');
    expect(byId.throws?.status).toBe('error');
    expect(byId.throws?.reason).toContain('probe bug');
    expect(byId['mac-only']?.status).toBe('unsupported');
    expect(() => PostureSnapshotSchema.parse(snap)).not.toThrow();
  });

  it('records what a check ran as its evidence, and fix steps only for failures', async () => {
    const snap = await takeSnapshot({ host, agentVersion: '1.2.3', checks: [reads, fails] });
    const [r, f] = snap.checks;
    expect(r?.evidence).toEqual([{ kind: 'exec', source: 'sh -c echo on', exitCode: 0, excerpt: 'on\n' }]);
    expect(r?.remediation).toEqual([]);
    expect(f?.remediation).toEqual(['fix fails']);
  });

  it('refuses a pass that carries no evidence', async () => {
    const snap = await takeSnapshot({ host, agentVersion: '1.2.3', checks: [bluffs] });
    expect(snap.checks[0]?.status).toBe('error');
    expect(snap.checks[0]?.reason).toContain('without evidence');
  });

  it('re-collects only the named checks', async () => {
    const first = await takeSnapshot({ host, agentVersion: '1.2.3', checks: [reads, fails] });
    const second = await recheck(first, ['fails'], { host, agentVersion: '1.2.3', checks: [reads, fails] });
    expect(second.checks[0]).toBe(first.checks[0]);
    expect(second.checks[1]).not.toBe(first.checks[1]);
    expect(second.snapshotId).not.toBe(first.snapshotId);
  });

  it('runs the real registry against an empty replay without crashing: nothing passes on no evidence', async () => {
    for (const platform of ['linux', 'darwin', 'win32'] as const) {
      const snap = await takeSnapshot({ host: new ReplayHost(platform, []), agentVersion: '1.2.3' });
      expect(snap.checks).toHaveLength(ALL_CHECKS.length);
      expect(() => PostureSnapshotSchema.parse(snap)).not.toThrow();
      for (const c of snap.checks) if (c.status === 'pass') expect(c.evidence.length).toBeGreaterThan(0);
    }
  });
});
