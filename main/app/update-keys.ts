import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { WardError } from '../core/errors.js';

/** The pinned update-signing keys could not be loaded: the updater stays off and says why. */
export class UpdateKeysError extends WardError<'update-keys-invalid'> {}

function isPinnableKey(pem: string): boolean {
  try {
    const key = createPublicKey(pem);
    return key.asymmetricKeyType === 'ed25519' || (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1');
  } catch {
    return false;
  }
}

const PublicKeyPem = z
  .string()
  .max(1000)
  // Only the public half may ever be committed or shipped: a private PEM is refused outright.
  .refine((pem) => pem.trimStart().startsWith('-----BEGIN PUBLIC KEY-----') && !pem.includes('PRIVATE'), 'must be an SPKI "BEGIN PUBLIC KEY" PEM (public key only)')
  .refine(isPinnableKey, 'must be an Ed25519 or ECDSA P-256 public key');

/** `build/update-public-keys.json`: the update-signing public keys this build trusts (more than one during a rotation). */
export const UpdatePublicKeysSchema = z
  .object({
    comment: z.string().max(1000).optional(),
    keys: z
      .array(z.object({ kid: z.string().min(1).max(64).optional(), publicKeyPem: PublicKeyPem }).strict())
      .min(1)
      .max(10),
  })
  .strict();

/** Validate the pinned-keys document. Throws `UpdateKeysError` naming the first problem and where it came from. */
export function parseUpdatePublicKeys(text: string, source: string): string[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new UpdateKeysError('update-keys-invalid', `${source} is not valid JSON`);
  }
  const parsed = UpdatePublicKeysSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UpdateKeysError('update-keys-invalid', `${source}: ${issue?.path.join('.') || '(top level)'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data.keys.map((k) => k.publicKeyPem);
}

/** Read and validate the pinned keys file shipped with the app. */
export async function loadUpdatePublicKeys(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UpdateKeysError('update-keys-invalid', `the pinned update keys file ${path} could not be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  return parseUpdatePublicKeys(text, path);
}
