import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parseUpdateManifest } from '../../../../main/core/update/manifest.js';
import { isInRollout, rolloutBucket } from '../../../../main/core/update/rollout.js';
import { signUpdateManifest } from '../../../../main/core/update/signature.js';
import { UpdateRefusedError } from '../../../../main/core/update/update-error.js';
import { verifyArtifact, verifyUpdate, verifyUpdateManifest, type UpdatePolicy } from '../../../../main/core/update/verify.js';

const dir = mkdtempSync(join(tmpdir(), 'ward-update-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ed = generateKeyPairSync('ed25519');
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const other = generateKeyPairSync('ed25519');
const pem = (k: typeof ed) => ({
  priv: k.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  pub: k.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
});
const ED = pem(ed);
const P256 = pem(p256);
const OTHER = pem(other);

const artifact = Buffer.from('pretend this is Ward-Setup-1.3.0.exe\n'.repeat(1000));
const artifactPath = join(dir, 'Ward-Setup-1.3.0.exe');
writeFileSync(artifactPath, artifact);
const sha512 = createHash('sha512').update(artifact).digest('base64');

function latestYml(version: string, extra = ''): string {
  // The layout electron-builder writes (quoted releaseDate, blockMapSize inside files).
  return `version: ${version}\nfiles:\n  - url: Ward-Setup-${version}.exe\n    sha512: ${sha512}\n    size: ${artifact.length}\n    blockMapSize: 1234\npath: Ward-Setup-${version}.exe\nsha512: ${sha512}\nreleaseDate: '2025-06-01T10:00:00.000Z'\n${extra}`;
}

const policy: UpdatePolicy = { currentVersion: '1.2.0', channel: 'latest', publicKeys: [ED.pub], deviceId: 'device-1' };

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(UpdateRefusedError);
    return (err as UpdateRefusedError).code;
  }
  return 'accepted';
}

describe('verifyUpdate', () => {
  it('accepts a newer, correctly signed manifest and a matching download (Ed25519 and P-256 keys)', async () => {
    const yml = latestYml('1.3.0');
    const sig = await signUpdateManifest(Buffer.from(yml), ED.priv, 'latest');
    expect(sig).toMatch(/^[\w-]+\.\.[\w-]+$/);
    const ok = await verifyUpdate(yml, sig, artifactPath, policy);
    expect(ok.manifest.version).toBe('1.3.0');
    expect(ok.file.size).toBe(artifact.length);
    const sigP256 = await signUpdateManifest(Buffer.from(yml), P256.priv, 'latest');
    expect((await verifyUpdate(yml, sigP256, artifactPath, { ...policy, publicKeys: [OTHER.pub, P256.pub] })).manifest.version).toBe('1.3.0');
  });

  it('refuses an unsigned manifest', async () => {
    expect(await refusal(verifyUpdate(latestYml('1.3.0'), undefined, artifactPath, policy))).toBe('unsigned');
    expect(await refusal(verifyUpdate(latestYml('1.3.0'), '  \n', artifactPath, policy))).toBe('unsigned');
  });

  it('refuses a tampered manifest (one byte changed after signing)', async () => {
    const yml = latestYml('1.3.0');
    const sig = await signUpdateManifest(Buffer.from(yml), ED.priv, 'latest');
    const tampered = yml.replace(`size: ${artifact.length}`, `size: ${artifact.length + 1}`);
    expect(await refusal(verifyUpdate(tampered, sig, artifactPath, policy))).toBe('signature-invalid');
    expect(await refusal(verifyUpdate(yml.replace('1.3.0', '9.3.0'), sig, artifactPath, policy))).toBe('signature-invalid');
  });

  it('refuses a manifest signed with a key that is not pinned, and a non-detached or garbage signature', async () => {
    const yml = latestYml('1.3.0');
    const sig = await signUpdateManifest(Buffer.from(yml), OTHER.priv, 'latest');
    expect(await refusal(verifyUpdate(yml, sig, artifactPath, policy))).toBe('signature-invalid');
    expect(await refusal(verifyUpdate(yml, 'a.b.c', artifactPath, policy))).toBe('signature-invalid');
    expect(await refusal(verifyUpdate(yml, 'not-a-jws', artifactPath, policy))).toBe('signature-invalid');
  });

  it('refuses a manifest signed for another channel', async () => {
    const yml = latestYml('1.3.0');
    const sig = await signUpdateManifest(Buffer.from(yml), ED.priv, 'beta');
    expect(await refusal(verifyUpdate(yml, sig, artifactPath, policy))).toBe('wrong-channel');
    expect((await verifyUpdateManifest(yml, sig, { ...policy, channel: 'beta' })).version).toBe('1.3.0');
  });

  it('refuses downgrades and re-installs of the running version (semver, not string order)', async () => {
    for (const [version, code] of [['1.1.9', 'downgrade'], ['1.2.0', 'not-newer'], ['1.2.0-beta.1', 'downgrade']] as const) {
      const yml = latestYml(version);
      const sig = await signUpdateManifest(Buffer.from(yml), ED.priv, 'latest');
      expect(await refusal(verifyUpdateManifest(yml, sig, policy))).toBe(code);
    }
    const yml = latestYml('1.10.0');
    const sig = await signUpdateManifest(Buffer.from(yml), ED.priv, 'latest');
    expect((await verifyUpdateManifest(yml, sig, { ...policy, currentVersion: '1.9.0' })).version).toBe('1.10.0');
  });

  it('refuses a download whose size or SHA-512 differs from the signed manifest, or that it does not list', async () => {
    const manifest = parseUpdateManifest(latestYml('1.3.0'));
    const wrongHash = join(dir, 'hash', 'Ward-Setup-1.3.0.exe');
    const wrongSize = join(dir, 'size', 'Ward-Setup-1.3.0.exe');
    for (const d of ['hash', 'size']) mkdirSync(join(dir, d), { recursive: true });
    const flipped = Buffer.from(artifact);
    flipped[10] = (flipped[10] ?? 0) ^ 1;
    writeFileSync(wrongHash, flipped);
    writeFileSync(wrongSize, Buffer.concat([artifact, Buffer.from('x')]));
    expect(await refusal(verifyArtifact(manifest, wrongHash))).toBe('hash-mismatch');
    expect(await refusal(verifyArtifact(manifest, wrongSize))).toBe('size-mismatch');
    expect(await refusal(verifyArtifact(manifest, join(dir, 'Other.exe')))).toBe('artifact-unknown');
    expect(await refusal(verifyArtifact(manifest, join(dir, 'missing', 'Ward-Setup-1.3.0.exe')))).toBe('artifact-unreadable');
  });

  it('applies the staged rollout deterministically per device', async () => {
    const yml = latestYml('1.3.0', 'stagingPercentage: 50\n');
    const sig = await signUpdateManifest(Buffer.from(yml), ED.priv, 'latest');
    const devices = Array.from({ length: 400 }, (_, i) => `device-${i}`);
    const results = await Promise.all(devices.map((deviceId) => refusal(verifyUpdateManifest(yml, sig, { ...policy, deviceId }))));
    const included = results.filter((r) => r === 'accepted').length;
    expect(results.every((r) => r === 'accepted' || r === 'not-in-rollout')).toBe(true);
    // Roughly half: a uniform hash puts 400 devices within a few dozen of 200.
    expect(included).toBeGreaterThan(140);
    expect(included).toBeLessThan(260);
    for (const d of devices.slice(0, 20)) expect(isInRollout(d, '1.3.0', 50)).toBe(rolloutBucket(d, '1.3.0') < 50);
  });
});

describe('rollout buckets', () => {
  it('are stable, in [0, 100), 0% includes nobody and 100%/unset includes everyone', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (deviceId, version) => {
        const b = rolloutBucket(deviceId, version);
        expect(b).toBe(rolloutBucket(deviceId, version));
        expect(b >= 0 && b < 100).toBe(true);
        expect(isInRollout(deviceId, version, 0)).toBe(false);
        expect(isInRollout(deviceId, version, 100)).toBe(true);
        expect(isInRollout(deviceId, version, undefined)).toBe(true);
      }),
    );
  });
});

describe('parseUpdateManifest', () => {
  it('reads electron-builder latest.yml and the same fields as JSON', () => {
    const m = parseUpdateManifest(latestYml('2.0.0', 'stagingPercentage: 10\n'));
    expect(m).toMatchObject({ version: '2.0.0', stagingPercentage: 10, releaseDate: '2025-06-01T10:00:00.000Z' });
    expect(m.files).toEqual([{ url: 'Ward-Setup-2.0.0.exe', sha512, size: artifact.length }]);
    expect(parseUpdateManifest(JSON.stringify({ version: '2.0.1', files: [{ url: 'a.deb', sha512, size: 5 }] })).files[0]?.size).toBe(5);
  });

  it('refuses a manifest without files, with a bad version or a bad hash, naming the field', () => {
    expect(() => parseUpdateManifest('version: 1.0.0\n')).toThrow(/files/);
    expect(() => parseUpdateManifest(latestYml('one'))).toThrow(/version/);
    expect(() => parseUpdateManifest(latestYml('1.0.0').replaceAll(sha512, 'abc'))).toThrow(/sha512/);
  });

  it('never throws anything but UpdateRefusedError(manifest-invalid) on arbitrary input', () => {
    const ymlish = fc.array(fc.oneof(fc.string(), fc.constantFrom('version: 1.0.0', 'files:', '  - url: a', '    size: 1', '{', '- x')), { maxLength: 12 }).map((l) => l.join('\n'));
    fc.assert(
      fc.property(fc.oneof(fc.string(), ymlish, fc.json()), (text) => {
        try {
          parseUpdateManifest(text);
        } catch (err) {
          expect(err).toBeInstanceOf(UpdateRefusedError);
          expect((err as UpdateRefusedError).code).toBe('manifest-invalid');
        }
      }),
      { numRuns: 500 },
    );
  });

  it('signature verification never throws anything but UpdateRefusedError on arbitrary signatures', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string(), fc.string(), async (manifest, sig) => {
        const code = await refusal(verifyUpdateManifest(manifest, sig, policy));
        expect(['unsigned', 'signature-invalid']).toContain(code);
      }),
      { numRuns: 200 },
    );
  });
});
