import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../../../main/core/policy/schema.js';

describe('parsePolicy', () => {
  it('applies defaults to a minimal admin-written policy', () => {
    const parsed = parsePolicy({ schemaVersion: 1, rules: [{ id: 'disk', check: 'disk-encryption', expect: { status: 'pass' }, severity: 'block' }] });
    expect(parsed).toMatchObject({ ok: true, policy: { reportOnly: false, rules: [{ graceSeconds: 0 }] } });
  });

  it('refuses each kind of mistake with a path to it', () => {
    const rule = { id: 'r', check: 'screen-lock', severity: 'warn' };
    const bad: [unknown, string][] = [
      [{ schemaVersion: 2, rules: [] }, 'schemaVersion'],
      [{ schemaVersion: 1, rules: [{ ...rule, expect: { field: 'x', op: 'in', value: 3 } }] }, 'rules.0.expect'],
      [{ schemaVersion: 1, rules: [{ ...rule, expect: { field: 'x', op: 'lte', value: '900' } }] }, 'rules.0.expect'],
      [{ schemaVersion: 1, rules: [{ ...rule, expect: { field: 'x', op: 'atLeast', value: 14 } }] }, 'rules.0.expect'],
      [{ schemaVersion: 1, rules: [{ ...rule, expect: { status: 'green' } }] }, 'rules.0.expect'],
      [{ schemaVersion: 1, rules: [{ ...rule, severity: 'deny', expect: { status: 'pass' } }] }, 'rules.0.severity'],
      [{ schemaVersion: 1, rules: [{ ...rule, expect: { status: 'pass' } }, { ...rule, expect: { status: 'pass' } }] }, 'rules.1.id'],
      [{ schemaVersion: 1, rules: [], surprise: true }, 'policy'],
    ];
    for (const [input, where] of bad) {
      const parsed = parsePolicy(input);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.detail.startsWith(where)).toBe(true);
    }
  });

  it('never throws on arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.record({ schemaVersion: fc.constant(1), rules: fc.array(fc.jsonValue(), { maxLength: 3 }) })), (input) => {
        const parsed = parsePolicy(input);
        expect(typeof parsed.ok).toBe('boolean');
      }),
    );
  });
});
