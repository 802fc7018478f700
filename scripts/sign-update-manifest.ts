/**
 * Release pipeline: sign electron-builder's update metadata for Ward's updater.
 *
 *   node bin/run-ts.mjs scripts/sign-update-manifest.ts --manifest dist/latest.yml --channel latest
 *     reads the PKCS#8 PEM private key from $WARD_UPDATE_SIGNING_KEY_FILE (or --key FILE),
 *     writes dist/latest.yml.sig (a detached JWS). Upload both next to the installers.
 *
 *   node bin/run-ts.mjs scripts/sign-update-manifest.ts --generate-key DIR
 *     creates DIR/update-signing-key.pem (private, mode 0600: keep it in your CI secret store)
 *     and DIR/update-signing-key.pub.pem (pin it in the app build).
 *
 * The key never appears on stdout, stderr or in an error message.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { UPDATE_CHANNELS, type UpdateChannel } from '../main/core/config/schema.js';
import { parseUpdateManifest } from '../main/core/update/manifest.js';
import { signUpdateManifest } from '../main/core/update/signature.js';

const { values } = parseArgs({
  options: {
    manifest: { type: 'string' },
    channel: { type: 'string', default: 'latest' },
    key: { type: 'string' },
    kid: { type: 'string' },
    out: { type: 'string' },
    'generate-key': { type: 'string' },
  },
  strict: true,
});

if (values['generate-key']) {
  const dir = values['generate-key'];
  mkdirSync(dir, { recursive: true });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(join(dir, 'update-signing-key.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  writeFileSync(join(dir, 'update-signing-key.pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }));
  process.stdout.write(`wrote ${join(dir, 'update-signing-key.pem')} (private) and ${join(dir, 'update-signing-key.pub.pem')} (public)\n`);
  process.exit(0);
}

const manifestPath = values.manifest;
const keyFile = values.key ?? process.env.WARD_UPDATE_SIGNING_KEY_FILE;
const channel = values.channel;
if (!manifestPath || !keyFile || !(UPDATE_CHANNELS as readonly string[]).includes(channel)) {
  console.error(`usage: sign-update-manifest --manifest latest.yml [--channel ${UPDATE_CHANNELS.join('|')}] [--key FILE | $WARD_UPDATE_SIGNING_KEY_FILE] [--out FILE]`);
  process.exit(2);
}
const manifest = readFileSync(manifestPath);
// Refuse to sign something the agent would refuse to read.
parseUpdateManifest(manifest.toString('utf8'));
let pem: string;
try {
  pem = readFileSync(keyFile, 'utf8');
} catch {
  console.error(`could not read the signing key file named by --key / WARD_UPDATE_SIGNING_KEY_FILE`);
  process.exit(3);
}
const signature = await signUpdateManifest(manifest, pem, channel as UpdateChannel, values.kid);
const out = values.out ?? `${manifestPath}.sig`;
writeFileSync(out, `${signature}\n`);
process.stdout.write(`signed ${manifestPath} for channel ${channel} -> ${out}\n`);
