import { createPrivateKey, createPublicKey, type KeyObject, type JsonWebKey } from 'node:crypto';
import { CompactSign, compactVerify } from 'jose';
import { UPDATE_CHANNELS, type UpdateChannel } from '../config/schema.js';
import { UpdateRefusedError } from './update-error.js';

/** `typ` of an update-manifest signature, so no other Ward JWS can be replayed as one. */
export const UPDATE_SIGNATURE_TYP = 'ward-update+jws';
const ALGORITHMS = ['EdDSA', 'Ed25519', 'ES256'];

/** A pinned public key: PEM (SPKI) text or a public JWK (Ed25519 or P-256). */
export type PinnedKey = string | JsonWebKey;

function toPublicKey(key: PinnedKey): KeyObject {
  return typeof key === 'string' ? createPublicKey(key) : createPublicKey({ key, format: 'jwk' });
}

function algorithmFor(key: KeyObject): 'EdDSA' | 'ES256' {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new Error('update signing keys must be Ed25519 or ECDSA P-256');
}

/**
 * Sign update metadata for the release pipeline: a detached compact JWS (RFC 7515 Appendix F)
 * over the manifest's exact bytes, with the channel in the protected header.
 */
export async function signUpdateManifest(manifest: Uint8Array, privateKeyPem: string, channel: UpdateChannel, kid?: string): Promise<string> {
  const key = createPrivateKey(privateKeyPem);
  const jws = await new CompactSign(manifest)
    .setProtectedHeader({ alg: algorithmFor(key), typ: UPDATE_SIGNATURE_TYP, channel, ...(kid ? { kid } : {}) })
    .sign(key);
  const [header, , signature] = jws.split('.');
  return `${header}..${signature}`;
}

/**
 * Verify a detached JWS over `manifest` with any of the pinned keys and return the channel it was
 * signed for. Throws `UpdateRefusedError` (`unsigned`, `signature-invalid`, `wrong-channel`).
 */
export async function verifyManifestSignature(
  manifest: Uint8Array,
  signature: string | undefined,
  pinnedKeys: readonly PinnedKey[],
  expectedChannel: UpdateChannel,
): Promise<void> {
  const detached = signature?.trim() ?? '';
  if (detached === '') throw new UpdateRefusedError('unsigned', 'the update manifest is not signed; Ward only installs signed updates');
  const parts = detached.split('.');
  if (parts.length !== 3 || parts[1] !== '') {
    throw new UpdateRefusedError('signature-invalid', 'the update signature is not a detached JWS (header..signature)');
  }
  const compact = `${parts[0]}.${Buffer.from(manifest).toString('base64url')}.${parts[2]}`;
  for (const pinned of pinnedKeys) {
    let key: KeyObject;
    try {
      key = toPublicKey(pinned);
    } catch {
      continue;
    }
    let header: Record<string, unknown>;
    try {
      ({ protectedHeader: header } = await compactVerify(compact, key, { algorithms: ALGORITHMS }));
    } catch {
      continue;
    }
    if (header.typ !== UPDATE_SIGNATURE_TYP) throw new UpdateRefusedError('signature-invalid', 'the signature is not an update-manifest signature');
    const channel = header.channel;
    if (typeof channel !== 'string' || !(UPDATE_CHANNELS as readonly string[]).includes(channel) || channel !== expectedChannel) {
      throw new UpdateRefusedError('wrong-channel', `the update was signed for the "${String(channel)}" channel; this device follows "${expectedChannel}"`);
    }
    return;
  }
  throw new UpdateRefusedError('signature-invalid', 'the update manifest signature does not verify with the pinned update key (tampered, or signed with another key)');
}
