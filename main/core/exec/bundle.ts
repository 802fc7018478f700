import { z } from 'zod';
import { WardError } from '../errors.js';
import { PLATFORMS, type Platform } from '../platform.js';
import type { HostRecord } from './host.js';

export const BUNDLE_FORMAT = 'ward-capture';
export const BUNDLE_SCHEMA_VERSION = 1;

const RecordError = z.object({ code: z.string().max(64), message: z.string().max(4096) });
const text = z.string().max(16 * 1024 * 1024);

export const HostRecordSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('exec'),
    command: z.string().min(1).max(256),
    args: z.array(z.string().max(8192)).max(256),
    path: z.string().max(4096).optional(),
    exitCode: z.number().int().optional(),
    stdout: text.optional(),
    stderr: text.optional(),
    durationMs: z.number().nonnegative().optional(),
    error: RecordError.optional(),
  }),
  z.object({ kind: z.literal('file'), path: z.string().max(4096), content: text.optional(), error: RecordError.optional() }),
  z.object({ kind: z.literal('dir'), path: z.string().max(4096), entries: z.array(z.string().max(4096)).max(100_000).optional(), error: RecordError.optional() }),
  z.object({ kind: z.literal('link'), path: z.string().max(4096), target: z.string().max(4096).optional(), error: RecordError.optional() }),
  z.object({ kind: z.literal('hash'), path: z.string().max(4096), sha256: z.string().max(64).optional(), error: RecordError.optional() }),
  z.object({ kind: z.literal('env'), name: z.string().max(256), value: z.string().max(65536).optional() }),
  z.object({ kind: z.literal('call'), key: z.string().max(256), value: z.unknown().optional(), error: RecordError.optional() }),
]);

export const CaptureBundleSchema = z.object({
  format: z.literal(BUNDLE_FORMAT),
  schemaVersion: z.literal(BUNDLE_SCHEMA_VERSION),
  platform: z.enum(PLATFORMS),
  capturedAt: z.iso.datetime(),
  agentVersion: z.string().max(64),
  redacted: z.boolean(),
  /** Where the bundle's records came from, e.g. "captured by ward capture" or a fixture's public source. */
  source: z.string().max(4096).optional(),
  records: z.array(HostRecordSchema).max(100_000),
});
export type CaptureBundle = z.infer<typeof CaptureBundleSchema>;

export class BundleError extends WardError<'bundle-invalid' | 'bundle-unreadable'> {}

/** Validate a bundle read from disk. Throws `BundleError` naming the first problem. */
export function parseBundle(json: string): CaptureBundle {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new BundleError('bundle-invalid', `the bundle is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = CaptureBundleSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || '(top level)';
    throw new BundleError('bundle-invalid', `the bundle is not a Ward capture bundle: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

export function makeBundle(platform: Platform, agentVersion: string, records: readonly HostRecord[], now: Date): CaptureBundle {
  return {
    format: BUNDLE_FORMAT,
    schemaVersion: BUNDLE_SCHEMA_VERSION,
    platform,
    capturedAt: now.toISOString(),
    agentVersion,
    redacted: false,
    // A JSON round trip turns the records' readonly arrays into the plain ones the schema describes.
    records: JSON.parse(JSON.stringify(records)) as CaptureBundle['records'],
  };
}

/**
 * Replace identifying values (serial numbers, hardware UUIDs, host and user names) everywhere in
 * a bundle's records. Values shorter than 3 characters are left alone: replacing them would
 * mangle unrelated text.
 */
export function redactBundle(bundle: CaptureBundle, secrets: ReadonlyMap<string, string>): CaptureBundle {
  const pairs = [...secrets].filter(([value]) => value.length >= 3).sort((a, b) => b[0].length - a[0].length);
  const scrub = (value: unknown): unknown => {
    if (typeof value === 'string') {
      let out = value;
      for (const [secret, label] of pairs) out = out.split(secret).join(label);
      return out;
    }
    if (Array.isArray(value)) return value.map(scrub);
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, scrub(v)]));
    }
    return value;
  };
  return { ...bundle, redacted: true, records: scrub(bundle.records) as CaptureBundle['records'] };
}
