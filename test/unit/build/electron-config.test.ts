import { execFileSync } from 'node:child_process';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parsePlist } from 'plist';
import { describe, expect, it } from 'vitest';
import config from '../../../electron.config.js';
import { validateConfig } from '../../../main/core/config/sources.js';
import { LockBehaviourSchema, WardConfigSchema } from '../../../main/core/config/schema.js';

const root = join(import.meta.dirname, '..', '..', '..');
const file = (p: string) => join(root, p);
const text = (p: string) => readFileSync(file(p), 'utf8');

type TargetList = readonly (string | { target: string })[];
const targetNames = (t: unknown): string[] => ((Array.isArray(t) ? t : [t]) as TargetList).map((x) => (typeof x === 'string' ? x : x.target));

describe('electron.config.ts', () => {
  it('sets every Electron fuse explicitly to its secure value', () => {
    expect(config.electronFuses).toEqual({
      runAsNode: false,
      enableCookieEncryption: true,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
      loadBrowserProcessSpecificV8Snapshot: false,
      grantFileProtocolExtraPrivileges: false,
    });
    // Every fuse electron-builder knows (from its own type declarations) is set: a new fuse in an
    // electron-builder upgrade makes this fail until someone decides its value.
    const declared = readFileSync(join(root, 'node_modules/app-builder-lib/out/configuration.d.ts'), 'utf8');
    const body = /export interface FuseOptionsV1 \{([\s\S]*?)\n\}/.exec(declared)?.[1] ?? '';
    const known = [...body.matchAll(/^\s{4}(\w+)\?:/gm)].map((m) => m[1]).filter((k) => k !== 'resetAdHocDarwinSignature');
    expect(known.length).toBeGreaterThanOrEqual(8);
    expect(Object.keys(config.electronFuses ?? {}).sort()).toEqual(known.sort());
  });

  it('names the app, packs ASAR and publishes to a generic self-hosted feed', () => {
    expect(config.appId).toBe('dev.ward.agent');
    expect(config.productName).toBe('Ward');
    expect(config.asar).toBe(true);
    expect(config.publish).toEqual([expect.objectContaining({ provider: 'generic', url: expect.stringMatching(/^https:\/\//) })]);
    // The standalone reference broker's bundle (dist/broker) is a server, not part of the app.
    expect(config.files).toEqual(expect.arrayContaining(['dist/**/*', '!dist/broker/**/*']));
  });

  it('builds NSIS + MSI per machine, pkg + dmg with hardened runtime and notarization, deb + rpm + AppImage', () => {
    expect(targetNames(config.win?.target)).toEqual(['nsis', 'msi']);
    expect(config.nsis).toMatchObject({ perMachine: true, oneClick: false, include: 'build/installer.nsh' });
    expect(config.msi).toMatchObject({ perMachine: true });
    expect(targetNames(config.mac?.target)).toEqual(['pkg', 'dmg']);
    expect(config.mac).toMatchObject({ hardenedRuntime: true, entitlements: 'build/entitlements.mac.plist' });
    expect(typeof config.mac?.notarize).toBe('boolean');
    expect(targetNames(config.linux?.target)).toEqual(['deb', 'rpm', 'AppImage']);
  });

  it('contains no signing secret: credentials come only from the environment', () => {
    const serialized = JSON.stringify(config);
    for (const forbidden of [/cscLink/i, /KeyPassword/i, /password/i, /BEGIN [A-Z ]*PRIVATE KEY/, /\.p12|\.pfx/i, /appleId/i]) {
      expect(serialized).not.toMatch(forbidden);
    }
    expect(text('electron.config.ts')).toMatch(/CSC_LINK/);
  });

  it('references installer scripts that exist, parse as bash and are executable', () => {
    const scripts = [config.deb?.afterInstall, config.deb?.afterRemove, config.rpm?.afterInstall, config.rpm?.afterRemove, 'build/pkg-scripts/postinstall', 'build/macos/uninstall.sh'];
    for (const s of scripts) {
      expect(typeof s).toBe('string');
      const path = file(s as string);
      execFileSync('/bin/bash', ['-n', path]);
      accessSync(path, constants.X_OK);
      // electron-builder substitutes ${name} macros and fails on unknown ones.
      const macros = [...text(s as string).matchAll(/\$\{([a-zA-Z]+)\}/g)].map((m) => m[1]);
      expect(macros.every((m) => ['executable', 'sanitizedProductName', 'productFilename'].includes(m ?? ''))).toBe(true);
    }
    expect(statSync(file('build/installer.nsh')).isFile()).toBe(true);
    expect(text('build/installer.nsh')).toMatch(/!macro customInstall[\s\S]*CurrentVersion\\Run[\s\S]*!macro customUnInstall[\s\S]*\/PURGE/);
    expect(text('build/linux/after-remove.sh')).toMatch(/purge/);
  });

  it('ships valid plists: entitlements (JIT only) and the LaunchAgent that starts Ward at login', () => {
    expect(parsePlist(text('build/entitlements.mac.plist'))).toEqual({ 'com.apple.security.cs.allow-jit': true });
    expect(parsePlist(text('build/pkg-scripts/dev.ward.agent.plist'))).toMatchObject({ Label: 'dev.ward.agent', RunAtLoad: true, LimitLoadToSessionType: 'Aqua' });
  });
});

describe('managed-config templates', () => {
  it('the .mobileconfig payload holds only valid Ward keys', () => {
    const profile = parsePlist(text('build/managed-config/ward.mobileconfig')) as { PayloadContent: Record<string, unknown>[] };
    const payload = profile.PayloadContent[0] ?? {};
    expect(payload.PayloadType).toBe('dev.ward.agent');
    const keys = Object.fromEntries(Object.entries(payload).filter(([k]) => !k.startsWith('Payload')));
    expect(validateConfig(keys, 'ward.mobileconfig').problems).toEqual([]);
  });

  it('the Linux example config is valid', () => {
    expect(validateConfig(JSON.parse(text('build/managed-config/linux/config.json')), 'config.json').problems).toEqual([]);
  });

  it('every ADMX policy writes a Ward key under Software\\Policies\\Ward, and every string it shows is defined', () => {
    const admx = text('build/managed-config/windows/Ward.admx');
    const adml = text('build/managed-config/windows/en-US/Ward.adml');
    const paths: string[] = [];
    for (const [, attrs = '', body = ''] of admx.matchAll(/<policy ([^>]*)>([\s\S]*?)<\/policy>/g)) {
      const base = (/key="Software\\Policies\\Ward((?:\\\w+)*)"/.exec(attrs)?.[1] ?? '').split('\\').filter(Boolean);
      const policyValue = /valueName="(\w+)"/.exec(attrs)?.[1];
      if (policyValue) paths.push([...base, policyValue].join('.'));
      for (const m of body.matchAll(/valueName="(\w+)"/g)) paths.push([...base, m[1]].join('.'));
      for (const m of body.matchAll(/<list id="\w+" key="Software\\Policies\\Ward\\(\w+)"/g)) paths.push(m[1] ?? '');
    }
    expect(paths.length).toBe(12);
    for (const path of paths) {
      const [top = '', sub] = path.split('.');
      expect(Object.keys(WardConfigSchema.shape)).toContain(top);
      if (sub) expect(Object.keys(LockBehaviourSchema.shape)).toContain(sub);
    }
    // Every schema key is covered by a policy.
    expect([...new Set(paths.map((p) => p.split('.')[0]))].sort()).toEqual(Object.keys(WardConfigSchema.shape).sort());
    for (const ref of admx.matchAll(/\$\(string\.(\w+)\)/g)) expect(adml).toContain(`<string id="${ref[1]}">`);
    for (const ref of admx.matchAll(/\$\(presentation\.(\w+)\)/g)) expect(adml).toContain(`<presentation id="${ref[1]}">`);
  });
});
