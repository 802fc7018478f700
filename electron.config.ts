/**
 * electron-builder configuration for Ward's signed installers (`npm run dist` on a builder machine
 * with network access: electron-builder downloads Electron, NSIS, WiX and fpm; none of that can
 * be downloaded on the CI machines used to develop Ward, so there the config is validated by
 * test/unit/build/electron-config.test.ts, never built).
 *
 * Code signing comes ONLY from the builder's environment, never from this file:
 *   macOS:   CSC_LINK (base64 or path of the Developer ID .p12), CSC_KEY_PASSWORD,
 *            CSC_INSTALLER_LINK / CSC_INSTALLER_KEY_PASSWORD (Developer ID Installer, for the .pkg);
 *            notarization: APPLE_API_KEY + APPLE_API_KEY_ID + APPLE_API_ISSUER (recommended) or
 *            APPLE_ID + APPLE_APP_SPECIFIC_PASSWORD + APPLE_TEAM_ID.
 *   Windows: WIN_CSC_LINK + WIN_CSC_KEY_PASSWORD (Authenticode .pfx), or an Azure Trusted Signing
 *            setup through electron-builder's azureSignOptions env variables.
 *   Linux:   packages are signed by your repository (apt/dnf) tooling, not here.
 * Update metadata is signed separately with scripts/sign-update-manifest.ts (docs/it-admin.md).
 */
import type { Configuration } from 'electron-builder';

const appId = 'dev.ward.agent';
const notarize = Boolean(process.env.APPLE_API_KEY || process.env.APPLE_ID || process.env.APPLE_KEYCHAIN_PROFILE);

const config: Configuration = {
  appId,
  productName: 'Ward',
  copyright: 'Copyright © Ward contributors',
  directories: { output: 'release', buildResources: 'build' },
  // dist/broker is the standalone reference broker (`npm run build:broker`), a server, not part of the desktop app.
  files: ['dist/**/*', '!dist/broker/**/*', 'renderer/dist/**/*', 'package.json', 'native/tpm/build/Release/ward_tpm.node'],
  // The native TPM signer (Linux; built by `npm run build:native` on the builder): a .node cannot
  // be loaded from inside app.asar, so it ships in app.asar.unpacked, where
  // main/core/identity/native-tpm.ts looks for it. Absent (macOS/Windows builds), nothing is added.
  asarUnpack: ['native/**/*.node'],
  // The pinned update-signing PUBLIC keys, read by main/app/updater.ts (release builds replace the file).
  extraResources: [{ from: 'build/update-public-keys.json', to: 'update-public-keys.json' }],
  asar: true,
  // Every fuse explicitly (https://www.electronjs.org/docs/latest/tutorial/fuses): the shipped
  // binary can only run Ward's own integrity-checked app.asar, never arbitrary code via env or CLI.
  electronFuses: {
    runAsNode: false,
    enableCookieEncryption: true,
    enableNodeOptionsEnvironmentVariable: false,
    enableNodeCliInspectArguments: false,
    enableEmbeddedAsarIntegrityValidation: true,
    onlyLoadAppFromAsar: true,
    loadBrowserProcessSpecificV8Snapshot: false,
    grantFileProtocolExtraPrivileges: false,
  },
  publish: [{ provider: 'generic', url: 'https://updates.example.invalid/ward', channel: 'latest' }],

  win: {
    target: [
      { target: 'nsis', arch: ['x64', 'arm64'] },
      { target: 'msi', arch: ['x64'] },
    ],
    signtoolOptions: { signingHashAlgorithms: ['sha256'], rfc3161TimeStampServer: 'http://timestamp.digicert.com' },
  },
  nsis: {
    // Silent: Ward-Setup-<version>.exe /S  (per-machine, into Program Files)
    oneClick: false,
    perMachine: true,
    allowElevation: true,
    allowToChangeInstallationDirectory: false,
    include: 'build/installer.nsh',
    deleteAppDataOnUninstall: false,
    runAfterFinish: false,
  },
  msi: {
    // Silent: msiexec /i Ward-<version>.msi /qn
    oneClick: true,
    perMachine: true,
    upgradeCode: '6F1B7C2E-94D3-4C1A-9E0B-2A7D5C3F8B61',
    runAfterFinish: false,
  },

  mac: {
    category: 'public.app-category.utilities',
    target: [
      { target: 'pkg', arch: ['universal'] },
      { target: 'dmg', arch: ['universal'] },
    ],
    hardenedRuntime: true,
    gatekeeperAssess: false,
    entitlements: 'build/entitlements.mac.plist',
    entitlementsInherit: 'build/entitlements.mac.plist',
    notarize,
    extendInfo: { LSUIElement: true },
    extraResources: [{ from: 'build/macos/uninstall.sh', to: 'uninstall.sh' }],
  },
  pkg: {
    // Silent: sudo installer -pkg Ward-<version>.pkg -target /
    scripts: 'pkg-scripts',
    installLocation: '/Applications',
    allowAnywhere: false,
    allowCurrentUserHome: false,
    allowRootDirectory: true,
    isRelocatable: false,
    isVersionChecked: true,
    overwriteAction: 'upgrade',
  },
  dmg: { sign: false },

  linux: {
    target: ['deb', 'rpm', 'AppImage'],
    category: 'Network',
    maintainer: 'Ward contributors <ward@example.invalid>',
    executableName: 'ward-desktop',
    synopsis: 'Device posture and zero-trust agent',
  },
  deb: { afterInstall: 'build/linux/after-install.sh', afterRemove: 'build/linux/after-remove.sh', depends: ['libsecret-1-0'] },
  rpm: { afterInstall: 'build/linux/after-install.sh', afterRemove: 'build/linux/after-remove.sh', depends: ['libsecret'] },
};

export default config;
