#!/usr/bin/env node
// Builds native/tpm (the tss2-esys signer for the TPM key store) with the node-gyp that ships
// inside npm, against the Node headers npm is configured with. Linux only: elsewhere there is
// nothing to build and the TPM key store is not offered. Skips the build when the .node file is
// newer than every source. `--force` rebuilds anyway.
//
//   npm run build:native            (also run by `npm test`'s setup step)
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const ADDON = join(here, 'build', 'Release', 'ward_tpm.node');
const SOURCES = [join(here, 'binding.gyp'), ...readdirSync(join(here, 'src')).map((f) => join(here, 'src', f))];

function upToDate() {
  if (!existsSync(ADDON)) return false;
  const built = statSync(ADDON).mtimeMs;
  return SOURCES.every((f) => statSync(f).mtimeMs <= built);
}

function nodeGyp() {
  const candidates = [];
  // Under `npm run`, npm_execpath is npm's own CLI script; node-gyp sits next to it.
  if (process.env.npm_execpath) candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const root = spawnSync('npm', ['root', '-g'], { encoding: 'utf8' });
  if (root.status === 0) candidates.push(join(root.stdout.trim(), 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((c) => existsSync(c));
}

/**
 * Node's own headers: npm's configured nodedir, else the prefix this node runs from (a Debian
 * or distro Node has /usr/include/node). Never lets node-gyp download headers.
 */
function nodeHeaders() {
  const candidates = [process.env.npm_config_nodedir, join(dirname(process.execPath), '..')].filter(Boolean);
  return candidates.find((dir) => existsSync(join(dir, 'include', 'node', 'node_api.h')));
}

export function buildNative({ force = false, log = (line) => process.stdout.write(`${line}\n`) } = {}) {
  if (process.platform !== 'linux') {
    log(`native/tpm: nothing to build on ${process.platform} (the TPM key store is Linux-only).`);
    return true;
  }
  if (!force && upToDate()) {
    log('native/tpm: ward_tpm.node is up to date.');
    return true;
  }
  const gyp = nodeGyp();
  if (!gyp) {
    console.error('native/tpm: node-gyp not found (it ships with npm: is npm installed?)');
    return false;
  }
  const nodedir = nodeHeaders();
  if (!nodedir) {
    console.error(`native/tpm: no Node headers (node_api.h) under ${process.env.npm_config_nodedir ?? join(process.execPath, '..', '..')}; set npm's nodedir to a Node with headers`);
    return false;
  }
  log('native/tpm: building ward_tpm.node (tss2-esys signer)...');
  const result = spawnSync(process.execPath, [gyp, 'rebuild', '--loglevel=warn', '--directory', here, `--nodedir=${nodedir}`], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0 || !existsSync(ADDON)) {
    console.error('native/tpm: the build failed. It needs libtss2-dev (apt-get install libtss2-dev), a C compiler, make and python3.');
    return false;
  }
  log(`native/tpm: built ${ADDON}`);
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exit(buildNative({ force: process.argv.includes('--force') }) ? 0 : 1);
}
