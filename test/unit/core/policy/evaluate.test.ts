import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareVersions, evaluatePolicy, type PostureView } from '../../../../main/core/policy/evaluate.js';
import { PolicySchema, type PolicyInput } from '../../../../main/core/policy/schema.js';
import { sampleSnapshot } from '../../broker/sdk/helpers.js';

const NOW = new Date('2025-01-02T00:00:00.000Z');
const policy = (input: Omit<PolicyInput, 'schemaVersion'>) => PolicySchema.parse({ schemaVersion: 1, ...input });

describe('evaluatePolicy', () => {
  const snapshot = sampleSnapshot();

  it('reports expected vs actual for every rule kind', () => {
    const result = evaluatePolicy(
      snapshot,
      policy({
        rules: [
          { id: 'disk', check: 'disk-encryption', expect: { status: 'pass' }, severity: 'block' },
          { id: 'fw', check: 'firewall', expect: { status: 'pass' }, severity: 'warn' },
          { id: 'lock', check: 'screen-lock', expect: { field: 'maxScreenLockDelaySeconds', op: 'lte', value: 900 }, severity: 'block' },
          { id: 'lock-strict', check: 'screen-lock', expect: { field: 'maxScreenLockDelaySeconds', op: 'lt', value: 60 }, severity: 'warn', message: 'Lock within a minute.' },
          { id: 'os', check: 'os-version', expect: { field: 'versionId', op: 'atLeast', value: '12.4' }, severity: 'block' },
          { id: 'distro', check: 'os-version', expect: { field: 'id', op: 'in', value: ['debian', 'ubuntu'] }, severity: 'block' },
          { id: 'sb', check: 'secure-boot', expect: { status: ['pass', 'unsupported'] }, severity: 'block' },
        ],
      }),
      { now: NOW },
    );
    const byId = Object.fromEntries(result.results.map((r) => [r.ruleId, r]));
    expect(byId.disk).toMatchObject({ passed: true, expected: 'status = pass', actual: 'pass', remediation: [] });
    expect(byId.fw).toMatchObject({ passed: false, actual: 'fail', severity: 'warn', inGrace: false, remediation: ['Turn the firewall on: sudo ufw enable'] });
    expect(byId.lock).toMatchObject({ passed: true, expected: 'maxScreenLockDelaySeconds <= 900', actual: 300 });
    expect(byId['lock-strict']).toMatchObject({ passed: false, actual: 300, remediation: ['Lock within a minute.'] });
    expect(byId.os).toMatchObject({ passed: true, actual: '12.5' });
    expect(byId.distro).toMatchObject({ passed: true, actual: 'debian' });
    expect(byId.sb).toMatchObject({ passed: true, actual: 'unsupported' });
    expect(result).toMatchObject({ compliant: true, decision: 'warn', wouldDeny: false });
  });

  it('a missing check or field fails with actual null and says why', () => {
    const result = evaluatePolicy(
      snapshot,
      policy({
        rules: [
          { id: 'edr', check: 'edr', expect: { status: 'pass' }, severity: 'warn' },
          { id: 'field', check: 'screen-lock', expect: { field: 'nope.deeper', op: 'equals', value: true }, severity: 'warn' },
          { id: 'proto', check: 'screen-lock', expect: { field: 'constructor', op: 'equals', value: null }, severity: 'warn' },
        ],
      }),
      { now: NOW },
    );
    expect(result.results.map((r) => [r.passed, r.actual])).toEqual([
      [false, null],
      [false, null],
      [false, null],
    ]);
    expect(result.results[0]?.reason).toContain('no "edr" check');
  });

  it('a failing block rule warns during its grace period, then denies', () => {
    const p = policy({ rules: [{ id: 'fw', check: 'firewall', expect: { status: 'pass' }, severity: 'block', graceSeconds: 3600 }] });
    const first = evaluatePolicy(snapshot, p, { now: NOW });
    expect(first).toMatchObject({ compliant: true, decision: 'warn' });
    expect(first.results[0]).toMatchObject({ inGrace: true, firstFailedAt: NOW.toISOString(), graceEndsAt: '2025-01-02T01:00:00.000Z' });
    const firstFailedAt = { fw: first.results[0]?.firstFailedAt ?? '' };
    expect(evaluatePolicy(snapshot, p, { now: new Date(NOW.getTime() + 3599_000), firstFailedAt }).decision).toBe('warn');
    const later = evaluatePolicy(snapshot, p, { now: new Date(NOW.getTime() + 3600_000), firstFailedAt });
    expect(later).toMatchObject({ compliant: false, decision: 'deny', wouldDeny: true });
    expect(later.results[0]).toMatchObject({ inGrace: false, firstFailedAt: NOW.toISOString() });
  });

  it('report-only mode evaluates everything and never denies', () => {
    const p = policy({ reportOnly: true, rules: [{ id: 'fw', check: 'firewall', expect: { status: 'pass' }, severity: 'block' }] });
    expect(evaluatePolicy(snapshot, p, { now: NOW })).toMatchObject({ compliant: true, decision: 'warn', wouldDeny: true, reportOnly: true });
  });

  it('a passing rule reports no failure time', () => {
    const p = policy({ rules: [{ id: 'disk', check: 'disk-encryption', expect: { status: 'pass' }, severity: 'block' }] });
    expect(evaluatePolicy(snapshot, p, { now: NOW, firstFailedAt: { disk: 0 } }).results[0]).toMatchObject({ passed: true, firstFailedAt: null, graceEndsAt: null });
  });
});

const statusArb = fc.constantFrom('pass', 'fail', 'unknown', 'unsupported', 'error') as fc.Arbitrary<'pass' | 'fail' | 'unknown' | 'unsupported' | 'error'>;
const viewArb: fc.Arbitrary<PostureView> = fc.record({
  checks: fc.array(
    fc.record({ id: fc.constantFrom('firewall', 'screen-lock', 'os-version', 'edr'), status: statusArb, observed: fc.dictionary(fc.constantFrom('a', 'b', 'version'), fc.jsonValue()) }),
    { maxLength: 5 },
  ),
});
const ruleArb = fc.record({
  id: fc.stringMatching(/^[a-z]{1,8}$/),
  check: fc.constantFrom('firewall', 'screen-lock', 'os-version', 'edr'),
  expect: fc.oneof(
    fc.record({ status: statusArb }),
    fc.record({ field: fc.constantFrom('a', 'b', 'version', 'a.b'), op: fc.constantFrom('lt' as const, 'gte' as const), value: fc.integer() }),
    fc.record({ field: fc.constantFrom('version'), op: fc.constantFrom('atLeast' as const, 'atMost' as const), value: fc.stringMatching(/^\d{1,3}(\.\d{1,3}){0,3}$/) }),
    fc.record({ field: fc.constantFrom('a', 'b'), op: fc.constantFrom('equals' as const, 'notEquals' as const), value: fc.oneof(fc.integer(), fc.boolean(), fc.string()) }),
  ),
  severity: fc.constantFrom('warn' as const, 'block' as const),
  graceSeconds: fc.integer({ min: 0, max: 100_000 }),
});
const policyArb = fc
  .record({ reportOnly: fc.boolean(), rules: fc.uniqueArray(ruleArb, { selector: (r) => r.id, maxLength: 6 }) })
  .map((p) => PolicySchema.parse({ schemaVersion: 1, ...p }));

describe('evaluatePolicy properties', () => {
  it('report-only is never non-compliant', () => {
    fc.assert(
      fc.property(viewArb, policyArb, (view, p) => {
        expect(evaluatePolicy(view, { ...p, reportOnly: true }, { now: NOW }).compliant).toBe(true);
      }),
    );
  });

  it('grace is monotonic: once a rule denies, a later evaluation with the same failure start still denies', () => {
    fc.assert(
      fc.property(viewArb, policyArb, fc.integer({ min: 0, max: 200_000 }), fc.integer({ min: 0, max: 200_000 }), (view, p, before, step) => {
        const firstFailedAt = Object.fromEntries(p.rules.map((r) => [r.id, NOW.getTime() - before * 1000]));
        const a = evaluatePolicy(view, p, { now: NOW, firstFailedAt });
        const b = evaluatePolicy(view, p, { now: new Date(NOW.getTime() + step * 1000), firstFailedAt });
        if (a.wouldDeny) expect(b.wouldDeny).toBe(true);
        a.results.forEach((r, i) => {
          if (!r.inGrace) expect(b.results[i]?.inGrace).toBe(false);
        });
      }),
    );
  });

  it('only failing block rules past their grace deny; warn rules never do', () => {
    fc.assert(
      fc.property(viewArb, policyArb, (view, p) => {
        const result = evaluatePolicy(view, { ...p, reportOnly: false }, { now: NOW, firstFailedAt: Object.fromEntries(p.rules.map((r) => [r.id, 0])) });
        const denying = result.results.filter((r) => !r.passed && r.severity === 'block' && !r.inGrace);
        expect(result.compliant).toBe(denying.length === 0);
        expect(result.results.filter((r) => r.severity === 'warn').every((r) => !r.inGrace)).toBe(true);
      }),
    );
  });
});

describe('compareVersions', () => {
  it('compares by numeric parts, missing parts as zero', () => {
    expect(compareVersions('10.0.19045', '10.0.19044')).toBe(1);
    expect(compareVersions('14.4', '14.4.0')).toBe(0);
    expect(compareVersions('6.1.0-21-amd64', '6.10')).toBe(-1);
    expect(compareVersions('rolling', '1')).toBeUndefined();
  });

  it('is antisymmetric on arbitrary strings and never throws', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        const ab = compareVersions(a, b);
        const ba = compareVersions(b, a);
        if (ab === undefined) expect(ba).toBeUndefined();
        else expect(ab + (ba ?? Number.NaN)).toBe(0);
      }),
    );
  });
});
