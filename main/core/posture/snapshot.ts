import { z } from 'zod';
import { PLATFORMS } from '../platform.js';

/** Bump when a field changes meaning; brokers refuse versions they do not know. */
export const POSTURE_SCHEMA_VERSION = 1;

export const CHECK_STATUSES = ['pass', 'fail', 'unknown', 'unsupported', 'error'] as const;
export const CheckStatusSchema = z.enum(CHECK_STATUSES);
export type CheckStatus = z.infer<typeof CheckStatusSchema>;

/** What a check ran or read to reach its verdict, recorded automatically by the engine. */
export const EvidenceSchema = z.object({
  kind: z.enum(['exec', 'file', 'dir', 'link', 'hash', 'env', 'call', 'config']),
  /** The command line, path, variable or library call. */
  source: z.string().max(4096),
  exitCode: z.number().int().optional(),
  /** Truncated output or content; absent for secrets-free facts that need none. */
  excerpt: z.string().max(8192).optional(),
  /** The error code when the request failed (`not-found`, `timeout`, …). */
  error: z.string().max(64).optional(),
});
export type Evidence = z.infer<typeof EvidenceSchema>;

const JsonValue: z.ZodType<unknown> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(JsonValue), z.record(z.string(), JsonValue)]),
);

export const CheckResultSchema = z
  .object({
    id: z.string().regex(/^[a-z][a-z0-9-]{1,63}$/),
    title: z.string().min(1).max(200),
    status: CheckStatusSchema,
    /** The facts observed, as JSON; what policy rules compare against. */
    observed: z.record(z.string(), JsonValue),
    evidence: z.array(EvidenceSchema).max(200),
    /** One sentence: why this status. */
    reason: z.string().max(2000),
    durationMs: z.number().nonnegative(),
    /** Fix steps for this OS; empty unless the status is `fail`. */
    remediation: z.array(z.string().max(1000)).max(20),
  })
  .refine((r) => r.status !== 'pass' || r.evidence.length > 0, {
    message: 'a pass must carry its evidence',
    path: ['evidence'],
  });
export type CheckResult = z.infer<typeof CheckResultSchema>;

export const DeviceFactsSchema = z.object({
  os: z.object({
    platform: z.enum(PLATFORMS),
    name: z.string(),
    version: z.string(),
    build: z.string().nullable(),
    kernel: z.string().nullable(),
    arch: z.string(),
  }),
  hostname: z.string(),
  hardware: z.object({
    vendor: z.string().nullable(),
    model: z.string().nullable(),
    serial: z.string().nullable(),
    uuid: z.string().nullable(),
    virtual: z.boolean().nullable(),
  }),
  agentVersion: z.string(),
});
export type DeviceFacts = z.infer<typeof DeviceFactsSchema>;

export const PostureSnapshotSchema = z.object({
  schemaVersion: z.literal(POSTURE_SCHEMA_VERSION),
  snapshotId: z.string().uuid(),
  takenAt: z.iso.datetime(),
  durationMs: z.number().nonnegative(),
  source: z.object({ mode: z.enum(['live', 'replay']), bundle: z.string().optional() }),
  device: DeviceFactsSchema,
  checks: z.array(CheckResultSchema),
});
export type PostureSnapshot = z.infer<typeof PostureSnapshotSchema>;
