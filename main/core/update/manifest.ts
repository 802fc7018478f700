import semver from 'semver';
import { z } from 'zod';
import { UpdateRefusedError } from './update-error.js';

/** SHA-512 in base64, as electron-builder writes it (88 characters with padding). */
const sha512Base64 = z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'must be a base64 SHA-512 (88 characters)');

export const UpdateFileSchema = z.object({
  url: z.string().min(1).max(1024),
  sha512: sha512Base64,
  size: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER),
});
export type UpdateFile = z.infer<typeof UpdateFileSchema>;

/** electron-updater's `latest.yml` shape (extra fields such as `blockMapSize` are ignored). */
export const UpdateManifestSchema = z.object({
  version: z.string().max(64).refine((v) => semver.valid(v) !== null, 'must be a semantic version such as 1.4.2'),
  files: z.array(UpdateFileSchema).min(1).max(50),
  releaseDate: z.string().max(64).optional(),
  /** Staged rollout: the share of devices (0–100) that take this update now. */
  stagingPercentage: z.coerce.number().min(0).max(100).optional(),
});
export type UpdateManifest = z.infer<typeof UpdateManifestSchema>;

function scalar(raw: string): string {
  const text = raw.trim();
  if (text.length >= 2 && ((text.startsWith("'") && text.endsWith("'")) || (text.startsWith('"') && text.endsWith('"')))) {
    return text.slice(1, -1);
  }
  return text;
}

/**
 * The YAML subset electron-builder writes for update metadata: top-level `key: value` lines and
 * one `files:` list of maps. Anything else is rejected rather than guessed. (No YAML library is a
 * dependency of Ward; the file is signed, so an unusual layout is the release pipeline's bug.)
 */
function parseLatestYml(text: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let list: Record<string, string>[] | undefined;
  let item: Record<string, string> | undefined;
  for (const [index, line] of text.split(/\r?\n/).entries()) {
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const top = /^([A-Za-z][\w]*):(?:\s+(.*))?$/.exec(line);
    if (top) {
      const [, key = '', value] = top;
      if (value === undefined || value.trim() === '') {
        list = [];
        out[key] = list;
      } else {
        out[key] = scalar(value);
        list = undefined;
      }
      item = undefined;
      continue;
    }
    const entry = /^\s+(-\s+)?([A-Za-z][\w]*):\s+(.*)$/.exec(line);
    if (entry && list) {
      const [, dash, key = '', value = ''] = entry;
      if (dash || !item) {
        item = {};
        list.push(item);
      }
      item[key] = scalar(value);
      continue;
    }
    throw new UpdateRefusedError('manifest-invalid', `the update manifest has a line Ward cannot read (line ${index + 1})`);
  }
  return out;
}

/** Parse and validate signed update metadata (latest.yml, or the same fields as JSON). Throws `UpdateRefusedError('manifest-invalid')`. */
export function parseUpdateManifest(text: string): UpdateManifest {
  let raw: unknown;
  if (text.trimStart().startsWith('{')) {
    try {
      raw = JSON.parse(text);
    } catch {
      throw new UpdateRefusedError('manifest-invalid', 'the update manifest is not valid JSON');
    }
  } else {
    raw = parseLatestYml(text);
  }
  const parsed = UpdateManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UpdateRefusedError('manifest-invalid', `the update manifest is invalid: ${issue?.path.join('.') || '(top level)'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}
