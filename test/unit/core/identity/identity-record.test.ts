import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { renderIdentity } from '../../../../main/cli/identity.js';
import { IdentityError } from '../../../../main/core/identity/errors.js';
import { IdentityFile, parseIdentityRecord, type IdentityRecord } from '../../../../main/core/identity/identity-record.js';
import { jwkThumbprint } from '../../../../main/core/identity/jws.js';
import { describeKeyAttestation } from '../../../../main/core/identity/key-attestation.js';
import { MemoryKeyStore } from '../../../../main/core/identity/memory-key-store.js';
import { defaultStateDir } from '../../../../main/core/identity/state-dir.js';

async function sampleRecord(): Promise<IdentityRecord> {
  const store = new MemoryKeyStore();
  const { publicJwk } = await store.create('ward-device-1');
  const jwk = { kty: 'EC' as const, crv: 'P-256' as const, x: String(publicJwk.x), y: String(publicJwk.y) };
  return {
    version: 1,
    deviceId: 'dev-42',
    keyAlias: 'ward-device-1',
    keyStore: 'os-keychain',
    assurance: 'os-keychain',
    thumbprint: await jwkThumbprint(jwk),
    publicJwk: jwk,
    brokerUrl: 'https://broker.example.com',
    brokerKeys: { keys: [{ kty: 'EC', crv: 'P-256', kid: 'b1', x: jwk.x, y: jwk.y }] },
    enrolledAt: '2026-01-02T03:04:05.000Z',
  };
}

const tempDir = (): Promise<string> => mkdtemp(join(tmpdir(), 'ward-identity-test-'));

describe('IdentityFile', () => {
  it('writes the record with mode 0600 and reads back the same record', async () => {
    const file = new IdentityFile(join(await tempDir(), 'nested'));
    const record = await sampleRecord();
    await file.write(record);
    expect((await stat(file.path)).mode & 0o777).toBe(0o600);
    expect(await file.read()).toEqual(record);
  });

  it('reports a device without a file as not enrolled', async () => {
    const file = new IdentityFile(await tempDir());
    expect(await file.read()).toBeUndefined();
    await expect(file.require()).rejects.toMatchObject({ code: 'not-enrolled' });
  });

  it('reports a truncated file as corrupt, and recovers once a good record is written', async () => {
    const file = new IdentityFile(await tempDir());
    await file.write(await sampleRecord());
    const text = await readFile(file.path, 'utf8');
    await writeFile(file.path, text.slice(0, text.length / 2));
    await expect(file.read()).rejects.toMatchObject({ code: 'identity-corrupt', message: expect.stringMatching(/truncated/) });
    await file.write(await sampleRecord());
    expect((await file.read())?.deviceId).toBe('dev-42');
  });

  it('reports a record whose thumbprint does not match its key as corrupt', async () => {
    const record = { ...(await sampleRecord()), thumbprint: 'A'.repeat(43) };
    await expect(parseIdentityRecord(JSON.stringify(record))).rejects.toMatchObject({ code: 'identity-corrupt', message: expect.stringMatching(/thumbprint/) });
  });

  it('refuses a pinned broker key with a private member', async () => {
    const record = await sampleRecord();
    const bad = { ...record, brokerKeys: { keys: [{ ...record.brokerKeys.keys[0], d: 'private' }] } };
    await expect(parseIdentityRecord(JSON.stringify(bad))).rejects.toMatchObject({ code: 'identity-corrupt' });
  });

  it('leaves no temp files behind and replaces the record atomically', async () => {
    const dir = await tempDir();
    const file = new IdentityFile(dir);
    await file.write(await sampleRecord());
    await file.write({ ...(await file.require()), deviceId: 'dev-43' });
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(dir)).toEqual(['identity.json']);
    expect((await file.require()).deviceId).toBe('dev-43');
  });
});

describe('identity record versions', () => {
  it('loads a version 1 record written by an older Ward unchanged, and ward identity says the attestation was not recorded', async () => {
    const dir = await tempDir();
    // Exactly what Ward wrote before key attestation was recorded (version 1, no keyAttestation).
    const old = await sampleRecord();
    await writeFile(join(dir, 'identity.json'), `${JSON.stringify(old, null, 2)}\n`, { mode: 0o600 });
    const record = await new IdentityFile(dir).require();
    expect(record).toEqual(old);
    expect(record.keyAttestation).toBeUndefined();
    expect(describeKeyAttestation(record)).toEqual({ status: 'not-recorded', description: expect.stringMatching(/enrolled before Ward kept .* `ward identity rotate` records it/) });
    const shown = renderIdentity({ state: 'enrolled', record, key: 'ok', identityFile: join(dir, 'identity.json') });
    expect(shown).toMatch(/^ {2}attestation {2}not-recorded: this device enrolled before Ward kept what the broker verified about the\n {15}key; `ward identity rotate` records it\.\n {2}thumbprint/m);
  });

  it('round-trips a version 2 record with the broker\'s key attestation; without one, it was not reported', async () => {
    const file = new IdentityFile(await tempDir());
    const record: IdentityRecord = { ...(await sampleRecord()), version: 2, keyAttestation: { status: 'tpm-certified', reason: 'the TPM has no EK certificate', attestationKeyName: `000b${'0f'.repeat(32)}` } };
    await file.write(record);
    expect(await file.read()).toEqual(record);
    expect(describeKeyAttestation(record).status).toBe('tpm-certified');
    const { keyAttestation: _, ...silent } = record;
    expect(describeKeyAttestation(silent)).toEqual({ status: 'not-reported', description: expect.stringMatching(/broker did not say/) });
  });

  it('refuses a version 1 record carrying keyAttestation, an unknown version, and a malformed attestation (identity-corrupt)', async () => {
    const v1 = await sampleRecord();
    const attestation = { status: 'uncertified', reason: 'x' };
    await expect(parseIdentityRecord(JSON.stringify({ ...v1, keyAttestation: attestation }))).rejects.toMatchObject({ code: 'identity-corrupt', message: expect.stringMatching(/keyAttestation/) });
    await expect(parseIdentityRecord(JSON.stringify({ ...v1, version: 3 }))).rejects.toMatchObject({ code: 'identity-corrupt', message: expect.stringMatching(/version/) });
    await expect(parseIdentityRecord(JSON.stringify({ ...v1, version: 2, keyAttestation: { status: 'vouched-for' } }))).rejects.toMatchObject({ code: 'identity-corrupt' });
    await expect(parseIdentityRecord(JSON.stringify({ ...v1, version: 2, keyAttestation: { ...attestation, extra: 1 } }))).rejects.toMatchObject({ code: 'identity-corrupt' });
  });
});

describe('parseIdentityRecord (property)', () => {
  const isTyped = async (text: string): Promise<void> => {
    try {
      await parseIdentityRecord(text);
    } catch (err) {
      expect(err).toBeInstanceOf(IdentityError);
      expect((err as IdentityError).code).toBe('identity-corrupt');
    }
  };

  it('never throws anything but identity-corrupt on arbitrary text or JSON', async () => {
    await fc.assert(fc.asyncProperty(fc.string({ maxLength: 300 }), isTyped));
    await fc.assert(fc.asyncProperty(fc.jsonValue(), (v) => isTyped(JSON.stringify(v))));
  });

  it('rejects every truncation of a valid record; a mutated field is accepted or identity-corrupt, nothing else', async () => {
    const text = JSON.stringify(await sampleRecord());
    await fc.assert(
      fc.asyncProperty(fc.nat(text.length - 1), async (cut) => {
        await expect(parseIdentityRecord(text.slice(0, cut))).rejects.toMatchObject({ code: 'identity-corrupt' });
      }),
    );
    const record = (await sampleRecord()) as unknown as Record<string, unknown>;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...Object.keys(record)), fc.jsonValue(), async (key, value) => {
        await isTyped(JSON.stringify({ ...record, [key]: value }));
      }),
    );
  });
});

describe('defaultStateDir', () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  it('prefers WARD_STATE_DIR, then XDG_STATE_HOME, then ~/.local/state', () => {
    expect(defaultStateDir('linux', env({ WARD_STATE_DIR: '/x', XDG_STATE_HOME: '/s', HOME: '/h' }))).toBe('/x');
    expect(defaultStateDir('linux', env({ XDG_STATE_HOME: '/s', HOME: '/h' }))).toBe('/s/ward');
    expect(defaultStateDir('linux', env({ HOME: '/h' }))).toBe('/h/.local/state/ward');
    expect(defaultStateDir('darwin', env({ HOME: '/Users/a' }))).toBe('/Users/a/Library/Application Support/Ward/state');
  });
});
