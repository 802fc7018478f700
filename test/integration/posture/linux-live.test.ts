import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LiveHost } from '../../../main/core/exec/live-host.js';
import type { PostureCheck } from '../../../main/core/posture/check.js';
import { PostureConfigSchema } from '../../../main/core/posture/config.js';
import { runCheck } from '../../../main/core/posture/engine.js';
import { linuxProbes } from '../../../main/core/posture/probes/linux.js';
import { findCheck } from '../../../main/core/posture/registry.js';
import { CheckResultSchema, type CheckResult } from '../../../main/core/posture/snapshot.js';

const run = promisify(execFile);
const live = new LiveHost('linux');
let dir: string;

function check(id: string): PostureCheck {
  const found = findCheck(id);
  if (!found) throw new Error(`no check ${id}`);
  return found;
}

/** Run one real check on this machine through the engine (evidence, budget and all). */
async function collect(id: string, config: Record<string, unknown> = {}): Promise<CheckResult> {
  const result = await runCheck(check(id), {
    host: live,
    platform: 'linux',
    probes: linuxProbes,
    config: PostureConfigSchema.parse(config),
    now: () => new Date(),
    agentVersion: '0.1.0',
  });
  CheckResultSchema.parse(result);
  return result;
}

/** Set environment variables for one test, restoring them afterwards. */
const saved = new Map<string, string | undefined>();
function setEnv(vars: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(vars)) {
    if (!saved.has(k)) saved.set(k, process.env[k]);
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

const children: ChildProcess[] = [];
function stopChildren(): void {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ward-linux-live-'));
});
afterEach(() => {
  for (const [k, v] of saved) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  saved.clear();
  stopChildren();
});
afterAll(async () => {
  stopChildren();
  await rm(dir, { recursive: true, force: true });
});

describe('auto-update reads the real apt-config and dpkg-query (APT_CONFIG points at a temp configuration)', () => {
  async function aptConfig(name: string, unattended: string, installed: boolean): Promise<string> {
    const root = join(dir, name);
    await mkdir(join(root, 'parts'), { recursive: true });
    await mkdir(join(root, 'dpkg'), { recursive: true });
    const status = installed
      ? 'Package: unattended-upgrades\nStatus: install ok installed\nPriority: optional\nSection: admin\nMaintainer: Debian <x@debian.org>\nArchitecture: all\nVersion: 2.9.1+nmu3\nDescription: automatic installation of security upgrades\n\n'
      : '';
    await writeFile(join(root, 'dpkg', 'status'), status);
    await writeFile(
      join(root, 'apt.conf'),
      [
        `Dir::Etc::Parts "${root}/parts";`,
        `Dir::Etc::main "${root}/apt.conf";`,
        `Dir::State::status "${root}/dpkg/status";`,
        `APT::Periodic::Update-Package-Lists "1";`,
        `APT::Periodic::Unattended-Upgrade "${unattended}";`,
        '',
      ].join('\n'),
    );
    return join(root, 'apt.conf');
  }

  it('passes when unattended-upgrades is installed and APT runs it', async () => {
    setEnv({ APT_CONFIG: await aptConfig('apt-on', '1', true) });
    const r = await collect('auto-update');
    expect(r.status).toBe('pass');
    expect(r.observed).toMatchObject({ unattendedUpgradesInstalled: true, unattendedUpgradesVersion: '2.9.1+nmu3', unattendedUpgrade: '1' });
    expect(r.evidence.map((e) => e.source)).toContain('apt-config dump');
  });

  it('fails when APT::Periodic::Unattended-Upgrade is "0"', async () => {
    setEnv({ APT_CONFIG: await aptConfig('apt-off', '0', true) });
    const r = await collect('auto-update');
    expect(r.status).toBe('fail');
    expect(r.reason).toContain('Unattended-Upgrade is "0"');
    expect(r.remediation.length).toBeGreaterThan(0);
  });

  it('fails when the package is not in the dpkg database apt uses', async () => {
    setEnv({ APT_CONFIG: await aptConfig('apt-missing', '1', false) });
    const r = await collect('auto-update');
    expect(r.status).toBe('fail');
    expect(r.reason).toBe('the unattended-upgrades package is not installed');
  });
});

describe('screen-lock runs the real gsettings (keyfile backend in a temp HOME)', () => {
  async function gnome(name: string, settings: [string, string, string][]): Promise<void> {
    const home = join(dir, name);
    await mkdir(join(home, '.config'), { recursive: true });
    setEnv({ HOME: home, XDG_CONFIG_HOME: join(home, '.config'), GSETTINGS_BACKEND: 'keyfile', XDG_CURRENT_DESKTOP: 'ubuntu:GNOME' });
    for (const [schema, key, value] of settings) await run('/usr/bin/gsettings', ['set', schema, key, value], { env: process.env });
  }

  it('passes with lock on and a 5-minute idle delay, and records both gsettings reads', async () => {
    await gnome('gnome-ok', [
      ['org.gnome.desktop.screensaver', 'lock-enabled', 'true'],
      ['org.gnome.desktop.session', 'idle-delay', '300'],
    ]);
    const r = await collect('screen-lock');
    expect(r.status).toBe('pass');
    expect(r.observed).toMatchObject({ lockEnabled: true, idleDelaySeconds: 300, effectiveLockSeconds: 300, backend: 'keyfile' });
    expect(r.evidence.map((e) => e.source)).toContain('gsettings get org.gnome.desktop.session idle-delay');
  });

  it('fails when the user turned automatic lock off', async () => {
    await gnome('gnome-off', [['org.gnome.desktop.screensaver', 'lock-enabled', 'false']]);
    const r = await collect('screen-lock');
    expect(r.status).toBe('fail');
    expect(r.observed).toMatchObject({ lockEnabled: false });
  });

  it('fails when idle delay plus lock delay exceed the configured maximum', async () => {
    await gnome('gnome-slow', [
      ['org.gnome.desktop.session', 'idle-delay', '600'],
      ['org.gnome.desktop.screensaver', 'lock-delay', '120'],
    ]);
    const r = await collect('screen-lock', { maxScreenLockDelaySeconds: 700 });
    expect(r.status).toBe('fail');
    expect(r.reason).toContain('720 s');
  });

  it('is unknown, not GNOME’s defaults, when gsettings has only its memory backend', async () => {
    await gnome('gnome-memory', []);
    setEnv({ GSETTINGS_BACKEND: 'memory' });
    const r = await collect('screen-lock');
    expect(r.status).toBe('unknown');
    expect(r.reason).toContain('schema defaults');
  });

  it('is unknown without a graphical session', async () => {
    setEnv({ XDG_CURRENT_DESKTOP: undefined, DISPLAY: undefined, WAYLAND_DISPLAY: undefined });
    const r = await collect('screen-lock');
    expect(r.status).toBe('unknown');
    expect(r.reason).toContain('no graphical session');
  });
});

describe('process rules see real processes (a renamed copy of sleep)', () => {
  let exe: string;
  let digest: string;
  const name = `wardp${randomBytes(4).toString('hex')}`; // under 15 characters: /proc/PID/comm's limit

  beforeAll(async () => {
    exe = join(dir, name);
    const sleep = (await run('/usr/bin/env', ['sh', '-c', 'command -v sleep'])).stdout.trim();
    await copyFile(sleep, exe);
    await run('/bin/chmod', ['755', exe]);
    digest = createHash('sha256').update(await readFile(exe)).digest('hex');
  });

  async function startIt(): Promise<ChildProcess> {
    const child = spawn(exe, ['60'], { stdio: 'ignore' });
    children.push(child);
    await new Promise((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    return child;
  }

  it('required passes while it runs with the pinned hash, and fails on a wrong hash and after it stops', async () => {
    const child = await startIt();
    const pass = await collect('required-processes', { requiredProcesses: [{ name, sha256: digest }] });
    expect(pass.status).toBe('pass');
    expect(pass.observed.required).toEqual([expect.objectContaining({ name, running: true, pids: [child.pid] })]);
    expect(pass.evidence.some((e) => e.kind === 'hash' && e.excerpt === digest)).toBe(true);

    const wrong = await collect('required-processes', { requiredProcesses: [{ name, sha256: 'a'.repeat(64) }] });
    expect(wrong.status).toBe('fail');
    expect(wrong.reason).toContain(`its executable hash is ${digest}`);

    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const gone = await collect('required-processes', { requiredProcesses: [{ name }] });
    expect(gone.status).toBe('fail');
  });

  it('forbidden fails while it runs and passes once it is gone', async () => {
    const child = await startIt();
    const running = await collect('forbidden-processes', { forbiddenProcesses: [{ name, sha256: digest }] });
    expect(running.status).toBe('fail');
    expect(running.reason).toContain(name);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect((await collect('forbidden-processes', { forbiddenProcesses: [{ name }] })).status).toBe('pass');
  });

  it('a renamed copy called clamd or wdavdaemon does not count as antivirus or EDR', async () => {
    for (const fake of ['clamd', 'wdavdaemon']) {
      await copyFile(exe, join(dir, fake));
      await run('/bin/chmod', ['755', join(dir, fake)]);
      const child = spawn(join(dir, fake), ['60'], { stdio: 'ignore' });
      children.push(child);
      await new Promise((resolve) => child.once('spawn', resolve));
    }
    const av = await collect('antivirus');
    expect(av.status).toBe('fail');
    expect(av.reason).toContain(`${dir}/clamd`);
    const edr = await collect('edr');
    expect(edr.status).toBe('fail');
    expect(edr.reason).toContain(`${dir}/wdavdaemon`);
  });
});

describe('required files hash real files', () => {
  it('passes with the right hash, fails with a wrong one or a missing file', async () => {
    const file = join(dir, 'required.conf');
    await writeFile(file, 'managed by IT\n');
    const sha256 = createHash('sha256').update('managed by IT\n').digest('hex');
    expect((await collect('required-files', { requiredFiles: [{ path: file, sha256 }] })).status).toBe('pass');
    const wrong = await collect('required-files', { requiredFiles: [{ path: file, sha256: 'b'.repeat(64) }] });
    expect(wrong.status).toBe('fail');
    expect(wrong.reason).toContain('hash differs');
    expect((await collect('required-files', { requiredFiles: [{ path: join(dir, 'nope') }] })).status).toBe('fail');
  });
});

describe('certificates parses a real PEM generated by openssl', () => {
  let pem: string;
  let sha256: string;
  const cn = `Ward Test Device CA ${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    const certDir = join(dir, 'certs');
    await mkdir(certDir, { recursive: true });
    pem = join(certDir, 'device-ca.pem');
    await run('/usr/bin/openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', pem, '-days', '2', '-subj', `/O=Ward Tests/CN=${cn}`]);
    const der = (await run('/usr/bin/openssl', ['x509', '-in', pem, '-outform', 'DER'], { encoding: 'buffer' })).stdout;
    sha256 = createHash('sha256').update(der).digest('hex');
  });

  it('passes by subject and by SHA-256 thumbprint, in a file or a directory', async () => {
    const bySubject = await collect('certificates', { requiredCertificates: [{ subject: `CN=${cn}`, paths: [pem] }] });
    expect(bySubject.status).toBe('pass');
    expect(bySubject.observed.required).toEqual([expect.objectContaining({ present: true, location: pem })]);
    const byThumb = await collect('certificates', { requiredCertificates: [{ thumbprint: sha256.match(/../g)?.join(':') ?? '', paths: [join(dir, 'certs')] }] });
    expect(byThumb.status).toBe('pass');
  });

  it('fails when no certificate matches, and errors when no location can be read', async () => {
    const missing = await collect('certificates', { requiredCertificates: [{ subject: 'CN=Nobody Corp', paths: [pem] }] });
    expect(missing.status).toBe('fail');
    expect(missing.reason).toContain('CN=Nobody Corp');
    const nowhere = await collect('certificates', { requiredCertificates: [{ subject: 'CN=x', paths: [join(dir, 'absent.pem')] }] });
    expect(nowhere.status).toBe('error');
  });
});

describe('remote-login reads the real socket table', () => {
  /** A Node process started through a symlink named sshd: /proc/PID/comm is then "sshd". */
  async function fakeSshd(host: string): Promise<{ child: ChildProcess; port: number }> {
    const link = join(dir, 'sshd');
    await symlink(process.execPath, link).catch(() => undefined);
    const child = spawn(link, ['-e', `const s=require('net').createServer(c=>c.destroy());s.listen(0,'${host}',()=>console.log(s.address().port))`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      child.once('error', reject);
    });
    return { child, port };
  }

  it('fails while a process named sshd listens on all interfaces, passes when it listens on loopback only', async () => {
    const exposed = await fakeSshd('0.0.0.0');
    const fail = await collect('remote-login');
    expect(fail.status).toBe('fail');
    expect(fail.observed.sshListeners).toContainEqual({ address: '0.0.0.0', port: exposed.port, loopbackOnly: false, sshdPid: exposed.child.pid });
    exposed.child.kill('SIGKILL');
    await new Promise((resolve) => exposed.child.once('exit', resolve));

    const loopback = await fakeSshd('127.0.0.1');
    const pass = await collect('remote-login');
    expect(pass.status).toBe('pass');
    expect(pass.reason).toContain(`127.0.0.1:${loopback.port}`);
    expect(pass.evidence.map((e) => e.source)).toEqual(expect.arrayContaining(['/proc/net/tcp', 'linux.sshd-sockets']));
  });
});

describe('checks that read this machine as it is', () => {
  it('every Linux probe returns a valid result with evidence, and never claims pass without it', async () => {
    const ids = ['os-version', 'os-updates', 'disk-encryption', 'firewall', 'screen-lock', 'antivirus', 'edr', 'auto-update', 'secure-boot', 'remote-login'];
    const results = await Promise.all(ids.map((id) => collect(id)));
    for (const r of results) {
      expect(r.status).not.toBe('error');
      expect(r.reason.length).toBeGreaterThan(10);
      if (r.status === 'pass') expect(r.evidence.length).toBeGreaterThan(0);
    }
    // The disk check must name the device the root filesystem is on, as /proc/self/mountinfo says.
    const fields = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((l) => l.split(' ')).find((f) => f[4] === '/') ?? [];
    const source = fields[fields.indexOf('-') + 2] ?? '';
    expect(source).not.toBe('');
    expect(results[2]?.reason).toContain(source.replace(/^\/dev\/(mapper\/)?/, ''));
  }, 60_000);

  it('device facts come from os-release, the kernel and DMI without systeminformation', async () => {
    const facts = await linuxProbes.deviceFacts({
      host: live,
      platform: 'linux',
      probes: linuxProbes,
      config: PostureConfigSchema.parse({}),
      signal: new AbortController().signal,
      now: () => new Date(),
      agentVersion: '0.1.0',
    });
    const release = await readFile('/etc/os-release', 'utf8');
    expect(release).toContain(`VERSION_ID="${facts.os.version}"`);
    expect(facts.os.kernel).toBe((await run('/bin/uname', ['-r'])).stdout.trim());
  });
});
