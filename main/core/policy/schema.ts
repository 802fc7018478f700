import { z } from 'zod';
import { CheckStatusSchema } from '../posture/snapshot.js';

/**
 * Bump when a policy field changes meaning; agents and brokers refuse versions they do not know.
 *
 * @example
 * ```ts
 * const policy = { schemaVersion: POLICY_SCHEMA_VERSION, rules: [] };
 * ```
 */
export const POLICY_SCHEMA_VERSION = 1;

const Scalar = z.union([z.string().max(1000), z.number(), z.boolean(), z.null()]);

/**
 * The comparisons a rule can make on one field of a check's `observed` facts.
 *
 * @example
 * ```ts
 * FIELD_OPERATORS.includes('atLeast'); // true
 * ```
 */
export const FIELD_OPERATORS = ['equals', 'notEquals', 'in', 'lt', 'lte', 'gt', 'gte', 'atLeast', 'atMost'] as const;
export type FieldOperator = (typeof FIELD_OPERATORS)[number];

/**
 * What a rule expects of its check:
 *  - `{ status: 'pass' }` or `{ status: ['pass', 'unsupported'] }`: the check's status is one of these;
 *  - `{ field, op, value }`: a field of the check's `observed` facts (dot path, e.g.
 *    `maxScreenLockDelaySeconds`), compared with `equals`/`notEquals`/`in`/`lt`/`lte`/`gt`/`gte`
 *    or, for versions such as `14.4.1` or `10.0.19045`, `atLeast`/`atMost`.
 *
 * @example
 * ```ts
 * ExpectationSchema.parse({ field: 'maxScreenLockDelaySeconds', op: 'lte', value: 900 });
 * ```
 */
export const ExpectationSchema = z.union([
  z.object({ status: z.union([CheckStatusSchema, z.array(CheckStatusSchema).min(1)]) }).strict(),
  z
    .object({
      field: z.string().min(1).max(200).regex(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/),
      op: z.enum(FIELD_OPERATORS),
      value: z.union([Scalar, z.array(Scalar).max(200)]),
    })
    .strict()
    .superRefine((e, ctx) => {
      if (e.op === 'in' && !Array.isArray(e.value)) ctx.addIssue({ code: 'custom', message: '`in` needs an array value', path: ['value'] });
      if (e.op !== 'in' && Array.isArray(e.value)) ctx.addIssue({ code: 'custom', message: `\`${e.op}\` needs a single value`, path: ['value'] });
      if (['lt', 'lte', 'gt', 'gte'].includes(e.op) && typeof e.value !== 'number') {
        ctx.addIssue({ code: 'custom', message: `\`${e.op}\` needs a number`, path: ['value'] });
      }
      if ((e.op === 'atLeast' || e.op === 'atMost') && typeof e.value !== 'string') {
        ctx.addIssue({ code: 'custom', message: `\`${e.op}\` needs a version string`, path: ['value'] });
      }
    }),
]);
export type Expectation = z.infer<typeof ExpectationSchema>;

/**
 * PolicyRuleSchema
 *
 * @example
 * ```ts
 * PolicyRuleSchema.parse({ id: 'disk', check: 'disk-encryption', expect: { status: 'pass' }, severity: 'block', graceSeconds: 86400 });
 * ```
 */
export const PolicyRuleSchema = z
  .object({
    /** Stable id, used in results and in the broker's failure history. */
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
    /** The posture check this rule reads (`disk-encryption`, `screen-lock`, …). */
    check: z.string().regex(/^[a-z][a-z0-9-]{1,63}$/),
    expect: ExpectationSchema,
    /** `warn`: reported, never denies. `block`: denies once its grace period has run out. */
    severity: z.enum(['warn', 'block']),
    /** How long a failing `block` rule only warns before it denies access. */
    graceSeconds: z.number().int().nonnegative().max(365 * 24 * 3600).default(0),
    /** What to tell the user; defaults to the check's own remediation steps. */
    message: z.string().min(1).max(1000).optional(),
  })
  .strict();
export type PolicyRule = z.infer<typeof PolicyRuleSchema>;

/**
 * An admin-written posture policy. In `reportOnly` mode every rule is evaluated and reported
 * but the policy never denies.
 *
 * @example
 * ```ts
 * const policy = PolicySchema.parse(JSON.parse(readFileSync('policy.json', 'utf8')));
 * ```
 */
export const PolicySchema = z
  .object({
    schemaVersion: z.literal(POLICY_SCHEMA_VERSION),
    name: z.string().min(1).max(200).optional(),
    reportOnly: z.boolean().default(false),
    rules: z.array(PolicyRuleSchema).max(500),
  })
  .strict()
  .superRefine((p, ctx) => {
    const seen = new Set<string>();
    p.rules.forEach((r, i) => {
      if (seen.has(r.id)) ctx.addIssue({ code: 'custom', message: `duplicate rule id ${r.id}`, path: ['rules', i, 'id'] });
      seen.add(r.id);
    });
  });
/** A parsed policy (defaults applied). */
export type Policy = z.infer<typeof PolicySchema>;
/** A policy as an admin writes it (defaults optional). */
export type PolicyInput = z.input<typeof PolicySchema>;

/**
 * Validate an admin-written (or bundle-carried) policy. Never throws.
 *
 * @example
 * ```ts
 * const parsed = parsePolicy(JSON.parse(readFileSync('policy.json', 'utf8')));
 * if (!parsed.ok) console.error(parsed.detail);
 * ```
 */
export function parsePolicy(input: unknown): { ok: true; policy: Policy } | { ok: false; reason: 'invalid-policy'; detail: string } {
  const parsed = PolicySchema.safeParse(input);
  if (parsed.success) return { ok: true, policy: parsed.data };
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? issue.path.join('.') : 'policy';
  return { ok: false, reason: 'invalid-policy', detail: `${where}: ${issue?.message ?? 'invalid'}` };
}
