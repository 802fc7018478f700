import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import type { z } from 'zod';
import { IdentityError } from './errors.js';

const MAX_STATE_FILE_BYTES = 256 * 1024;

/**
 * Write `text` so that a reader sees either the old file or the whole new one, never a torn
 * write: a temp file in the same directory, fsync, rename over the target, fsync the directory.
 * Mode 0600 from the first byte (the file is created with it, not chmod-ed afterwards).
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  // The rename is durable only once the directory entry is on disk.
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

/**
 * Parse JSON text against `schema`. Anything else (truncated, not JSON, wrong shape) is
 * `IdentityError('identity-corrupt')` naming `what`; the half-read content is never returned.
 */
export function parseStateJson<T>(text: string, schema: z.ZodType<T>, what: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new IdentityError('identity-corrupt', `${what} is damaged (not valid JSON; it may have been truncated)`, {
      hint: 'Run `ward reset` and enroll this device again.',
    });
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : '(top level)';
    throw new IdentityError('identity-corrupt', `${what} is damaged (${where}: ${issue?.message ?? 'invalid'})`, {
      hint: 'Run `ward reset` and enroll this device again.',
    });
  }
  return parsed.data;
}

/** Read and validate a state file; `undefined` when it does not exist. */
export async function readStateFile<T>(path: string, schema: z.ZodType<T>, what: string): Promise<T | undefined> {
  let text: string;
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      if (size > MAX_STATE_FILE_BYTES) {
        throw new IdentityError('identity-corrupt', `${what} is damaged (larger than ${MAX_STATE_FILE_BYTES} bytes)`);
      }
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof IdentityError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new IdentityError('identity-corrupt', `${what} could not be read: ${(err as Error).message}`, { cause: err });
  }
  return parseStateJson(text, schema, what);
}

