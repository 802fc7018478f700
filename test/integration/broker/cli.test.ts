import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIO } from '../../../main/cli/io.js';
import { main } from '../../../broker/server/cli.js';
import { loadConfigFile } from '../../../broker/server/config.js';
import { verifyPassword } from '../../../broker/server/passwords.js';
import type { Broker } from '../../../broker/server/broker.js';
import { ADMIN_TOKEN, enroll, newDevice, startBroker } from './helpers.js';

function capture(env: Record<string, string>): CliIO & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { stdout: (t) => (out += t), stderr: (t) => (err += t), isTTY: false, env, out: () => out, err: () => err };
}

describe('ward-broker admin CLI against a running broker', () => {
  let broker: Broker;
  let dataDir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ broker, dataDir, cleanup } = await startBroker());
  });
  afterAll(async () => cleanup());
  const env = () => ({ WARD_BROKER_DATA: dataDir, WARD_BROKER_ADMIN_TOKEN: ADMIN_TOKEN });

  it('creates an enrollment token that enrolls exactly one device, then lists and revokes it', async () => {
    const io = capture(env());
    expect(await main(['token', 'create', '--label', 'cli', '--json'], io)).toBe(0);
    const { token } = JSON.parse(io.out()) as { token: string };
    expect(token).toMatch(/^wet_/);
    const device = await newDevice();
    expect((await enroll(broker, device, token)).status).toBe(201);

    const list = capture(env());
    expect(await main(['devices', '--json'], list)).toBe(0);
    expect(JSON.stringify(JSON.parse(list.out()))).toContain(device.deviceId!);
    // The table shows how the key is held and what the broker verified about it (a software key: nothing).
    const table = capture(env());
    expect(await main(['devices'], table)).toBe(0);
    expect(table.out()).toMatch(/^DEVICE +NAME +ASSURANCE +ATTESTATION +DECISION +AGE +STATE$/m);
    expect(table.out()).toMatch(new RegExp(`^${device.deviceId!} +test-laptop +none +uncertified +- +- +offline$`, 'm'));

    expect(await main(['revoke', 'device', device.deviceId!], capture(env()))).toBe(0);
    const show = capture(env());
    expect(await main(['devices', 'show', device.deviceId!], show)).toBe(0);
    expect((JSON.parse(show.out()) as { revokedAt: string | null }).revokedAt).not.toBeNull();
  });

  it('sets a policy from a file and refuses an invalid one with exit code 3', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ward-cli-policy-'));
    try {
      const good = join(dir, 'good.json');
      const bad = join(dir, 'bad.json');
      writeFileSync(good, JSON.stringify({ schemaVersion: 1, rules: [{ id: 'fw', check: 'firewall', expect: { status: 'pass' }, severity: 'warn' }] }));
      writeFileSync(bad, JSON.stringify({ schemaVersion: 1, rules: [{ id: 'fw' }] }));
      expect(await main(['policy', 'set', good], capture(env()))).toBe(0);
      const failed = capture(env());
      expect(await main(['policy', 'set', bad], failed)).toBe(3);
      expect(failed.err()).toContain('policy is not valid');
      expect(broker.admin.currentPolicy()?.policy.rules[0]?.severity).toBe('warn');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('adds a user with an scrypt hash to the config file (never the password itself)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ward-cli-users-'));
    try {
      const config = join(dir, 'config.json');
      const io = { ...capture({}), prompt: async () => 'a long enough password' };
      expect(await main(['users', 'add', 'carol', '--config', config, '--totp'], io)).toBe(0);
      const text = readFileSync(config, 'utf8');
      expect(text).not.toContain('a long enough password');
      const user = loadConfigFile(config).users.find((u) => u.username === 'carol');
      expect(user?.totpSecret).toMatch(/^[A-Z2-7]{32}$/);
      expect(await verifyPassword('a long enough password', user!.passwordHash)).toBe(true);
      expect(await verifyPassword('another password', user!.passwordHash)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers usage errors with exit code 2', async () => {
    expect(await main(['token', 'frobnicate'], capture(env()))).toBe(2);
    expect(await main(['--no-such-flag'], capture(env()))).toBe(2);
  });
});
