import { createHash } from 'node:crypto';

/**
 * This device's place in a staged rollout of `version`, in [0, 100). Deterministic (the same
 * device gets the same bucket for a version on every check) and different per version, so the
 * same devices are not always the first to take a release.
 */
export function rolloutBucket(deviceId: string, version: string): number {
  const digest = createHash('sha256').update(`${deviceId}\n${version}`, 'utf8').digest();
  return (digest.readUInt32BE(0) / 0x1_0000_0000) * 100;
}

/** Is the device included at `stagingPercentage`? Undefined means everyone (no staging). */
export function isInRollout(deviceId: string, version: string, stagingPercentage: number | undefined): boolean {
  if (stagingPercentage === undefined) return true;
  return rolloutBucket(deviceId, version) < stagingPercentage;
}
