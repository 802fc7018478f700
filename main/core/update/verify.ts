import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import semver from 'semver';
import type { UpdateChannel } from '../config/schema.js';
import { parseUpdateManifest, type UpdateFile, type UpdateManifest } from './manifest.js';
import { isInRollout } from './rollout.js';
import { verifyManifestSignature, type PinnedKey } from './signature.js';
import { UpdateRefusedError } from './update-error.js';

export interface UpdatePolicy {
  /** The running version. */
  readonly currentVersion: string;
  /** The channel this device follows (from managed config). */
  readonly channel: UpdateChannel;
  /** The pinned update-signing public key(s); more than one during a key rotation. */
  readonly publicKeys: readonly PinnedKey[];
  /** Stable device id (staged-rollout bucket). */
  readonly deviceId: string;
}

/**
 * Everything that can be checked before a download: signature with a pinned key, channel,
 * manifest shape, no downgrade, staged rollout. Returns the manifest to download from.
 */
export async function verifyUpdateManifest(manifestText: string, signature: string | undefined, policy: UpdatePolicy): Promise<UpdateManifest> {
  await verifyManifestSignature(Buffer.from(manifestText, 'utf8'), signature, policy.publicKeys, policy.channel);
  const manifest = parseUpdateManifest(manifestText);
  const current = semver.valid(policy.currentVersion);
  if (current === null) throw new UpdateRefusedError('manifest-invalid', `the running version "${policy.currentVersion}" is not a semantic version`);
  if (semver.lt(manifest.version, current)) {
    throw new UpdateRefusedError('downgrade', `the update offers ${manifest.version}, older than the running ${current}; downgrades are refused`);
  }
  if (semver.eq(manifest.version, current)) throw new UpdateRefusedError('not-newer', `${manifest.version} is already running`);
  if (!isInRollout(policy.deviceId, manifest.version, manifest.stagingPercentage)) {
    throw new UpdateRefusedError('not-in-rollout', `${manifest.version} is rolling out to ${manifest.stagingPercentage ?? 100}% of devices; this device is not included yet`);
  }
  return manifest;
}

async function sha512Base64(path: string): Promise<string> {
  const hash = createHash('sha512');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('base64');
}

/** Check a downloaded file against the (already verified) manifest: listed, right size, right SHA-512. */
export async function verifyArtifact(manifest: UpdateManifest, artifactPath: string): Promise<UpdateFile> {
  const name = basename(artifactPath);
  const file = manifest.files.find((f) => basename(decodeURIComponent(f.url.split(/[?#]/)[0] ?? '')) === name);
  if (!file) throw new UpdateRefusedError('artifact-unknown', `${name} is not one of the files the signed manifest lists`);
  let size: number;
  let digest: string;
  try {
    size = (await stat(artifactPath)).size;
    digest = size === file.size ? await sha512Base64(artifactPath) : '';
  } catch (err) {
    throw new UpdateRefusedError('artifact-unreadable', `the downloaded update ${name} could not be read: ${(err as Error).message}`, { cause: err });
  }
  if (size !== file.size) throw new UpdateRefusedError('size-mismatch', `${name} is ${size} bytes; the signed manifest says ${file.size}`);
  if (digest !== file.sha512) throw new UpdateRefusedError('hash-mismatch', `${name}'s SHA-512 does not match the signed manifest; the download was altered or corrupted`);
  return file;
}

/**
 * The one call the updater wiring makes before applying anything: verifies the signed manifest
 * (pinned key, channel, no downgrade, rollout) and then the downloaded file (size, SHA-512).
 * Resolves with what may be installed, or throws `UpdateRefusedError` with a reason code.
 *
 * @example
 * const ok = await verifyUpdate(ymlText, sigText, '/tmp/Ward-Setup-1.3.0.exe',
 *   { currentVersion: '1.2.0', channel: 'latest', publicKeys: [PINNED_PEM], deviceId });
 */
export async function verifyUpdate(
  manifestText: string,
  signature: string | undefined,
  artifactPath: string,
  policy: UpdatePolicy,
): Promise<{ manifest: UpdateManifest; file: UpdateFile }> {
  const manifest = await verifyUpdateManifest(manifestText, signature, policy);
  const file = await verifyArtifact(manifest, artifactPath);
  return { manifest, file };
}
