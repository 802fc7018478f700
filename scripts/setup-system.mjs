#!/usr/bin/env node
// Finds the system packages Ward's real-component tests use (keyring, software TPM, Chromium, ...).
// On Debian/Ubuntu as root it installs the missing ones with apt-get; elsewhere it stops and
// prints the exact command to run. No test is ever skipped for a missing package.
// Then it builds the native TPM signer (native/tpm), unless it is already newer than its sources.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { buildNative } from '../native/tpm/build.mjs';

const { packages } = JSON.parse(readFileSync(new URL('./system-packages.json', import.meta.url), 'utf8'));
const present = (probe) => probe.split('|').some((p) => existsSync(p));
const missing = packages.filter((p) => !present(p.probe));
const buildNativeOrExit = () => process.exit(buildNative() ? 0 : 1);

if (missing.length === 0) {
  console.log(`setup: all ${packages.length} system packages for the real-component tests are present.`);
  buildNativeOrExit();
}

const names = [...new Set(missing.map((p) => p.deb))];
const command = `apt-get install -y --no-install-recommends ${names.join(' ')}`;
for (const p of missing) console.log(`setup: missing ${p.deb} (${p.for})`);

const isDebian = existsSync('/etc/debian_version') && existsSync('/usr/bin/apt-get');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (!isDebian || !isRoot) {
  console.error(
    `\nsetup: the tests need these system packages. Install them, then run \`npm test\` again:\n\n` +
      `  ${isDebian ? `sudo apt-get update && sudo ${command}` : `(Debian/Ubuntu package names) ${names.join(' ')}`}\n`,
  );
  process.exit(1);
}

console.log(`setup: installing ${names.join(', ')} with apt-get (this happens once per machine)...`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const run = (args) => spawnSync('apt-get', args, { stdio: 'inherit', env }).status === 0;
if (!run(['update', '-q']) || !run(['install', '-y', '-q', '--no-install-recommends', ...names])) {
  console.error(`\nsetup: apt-get failed. Run it yourself to see why:\n\n  apt-get update && ${command}\n`);
  process.exit(1);
}
const still = missing.filter((p) => !present(p.probe));
if (still.length) {
  console.error(`setup: still missing after install: ${still.map((p) => `${p.deb} (${p.probe})`).join(', ')}`);
  process.exit(1);
}
console.log('setup: done.');
buildNativeOrExit();
