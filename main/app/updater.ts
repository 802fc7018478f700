import { basename } from 'node:path';
import type { UpdateChannel, WardConfig } from '../core/config/schema.js';
import { WardError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { silentLogger } from '../core/log.js';
import type { PinnedKey } from '../core/update/signature.js';
import { UpdateRefusedError } from '../core/update/update-error.js';
import { verifyUpdate, verifyUpdateManifest, type UpdatePolicy } from '../core/update/verify.js';
import type { AboutInfo } from '../shared/ipc-contract.js';

/**
 * The part of electron-updater's `autoUpdater` Ward uses. The real `AppUpdater` satisfies it
 * (main.ts passes it; tsc checks); tests pass a stand-in, since the Electron binary cannot run here.
 */
export interface AutoUpdaterLike {
  autoDownload: boolean;
  autoInstallOnAppQuit: boolean;
  allowDowngrade: boolean;
  channel: string | null;
  setFeedURL(options: { provider: 'generic'; url: string; channel: string }): void;
  checkForUpdates(): Promise<{ updateInfo: { version: string } } | null>;
  downloadUpdate(): Promise<string[]>;
  quitAndInstall(isSilent?: boolean, isForceRunAfter?: boolean): void;
}

/** Problems of the update wiring itself (as opposed to a refused update, `UpdateRefusedError`). */
export type UpdaterErrorCode = 'feed-unreachable' | 'feed-changed' | 'no-artifact' | 'not-verified';
export class UpdaterError extends WardError<UpdaterErrorCode> {}

export type UpdateStatus = AboutInfo['update'];

export interface UpdaterOptions {
  readonly autoUpdater: AutoUpdaterLike;
  /** Managed configuration: `updateFeedUrl`, `updateChannel`, `autoUpdate`. */
  readonly config: Pick<WardConfig, 'updateFeedUrl' | 'updateChannel' | 'autoUpdate'>;
  readonly currentVersion: string;
  /** Pinned update-signing public keys (build/update-public-keys.json), or the reason they could not be loaded. */
  readonly publicKeys: readonly PinnedKey[] | Error;
  /** Stable device id: decides the staged-rollout bucket. */
  readonly deviceId: string;
  readonly platform?: NodeJS.Platform;
  readonly arch?: string;
  readonly fetch?: typeof fetch;
  readonly log?: Logger;
}

export interface WardUpdater {
  status(): UpdateStatus;
  /** Called on every state change (the shell refreshes the tray and notifies). Returns an unsubscribe function. */
  subscribe(listener: (status: UpdateStatus) => void): () => void;
  /** Check, verify the signed manifest, download, verify the artifact. Never installs. Resolves with the final status. */
  check(): Promise<UpdateStatus>;
  /** The user consented: re-verify the downloaded artifact, then quit and install. Returns false if refused. */
  install(): Promise<boolean>;
}

/** The metadata file electron-updater's generic provider reads for `channel` on this platform. */
export function manifestFileName(channel: UpdateChannel, platform: NodeJS.Platform, arch: string): string {
  const suffix = platform === 'darwin' ? '-mac' : platform === 'linux' ? `-linux${arch === 'x64' ? '' : `-${arch}`}` : '';
  return `${channel}${suffix}.yml`;
}

const MAX_MANIFEST_BYTES = 256 * 1024;

/**
 * electron-updater on IT's self-hosted generic feed, with Ward's verification in front of every
 * step: the signed manifest is checked against the pinned keys BEFORE electron-updater is allowed
 * to download, and the downloaded file is checked (`verifyUpdate`: size, SHA-512, channel,
 * downgrade, rollout) before `quitAndInstall`, which runs only on the user's consent.
 */
export function createUpdater(options: UpdaterOptions): WardUpdater {
  const { autoUpdater, config } = options;
  const log = (options.log ?? silentLogger()).child({ mod: 'updater' });
  const fetchFn = options.fetch ?? fetch;
  const feedUrl = config.updateFeedUrl;
  const channel = config.updateChannel;
  const manifestName = manifestFileName(channel, options.platform ?? process.platform, options.arch ?? process.arch);

  let status: UpdateStatus;
  let verified: { manifestText: string; signature: string; artifacts: string[]; policy: UpdatePolicy } | undefined;
  let running: Promise<UpdateStatus> | undefined;
  const listeners = new Set<(status: UpdateStatus) => void>();

  const set = (next: UpdateStatus): UpdateStatus => {
    status = next;
    for (const listener of listeners) listener(next);
    return next;
  };

  if (!config.autoUpdate) status = { state: 'unsupported', message: 'Automatic updates are turned off by your organisation (autoUpdate: false).' };
  else if (!feedUrl) status = { state: 'unsupported', message: 'No update feed is configured (updateFeedUrl).' };
  else if (options.publicKeys instanceof Error) status = { state: 'error', message: `Updates are off: ${options.publicKeys.message}` };
  else {
    status = { state: 'idle' };
    // Nothing is fetched, downloaded or installed behind Ward's back.
    autoUpdater.autoDownload = false;
    autoUpdater.autoInstallOnAppQuit = false;
    autoUpdater.setFeedURL({ provider: 'generic', url: feedUrl, channel });
    autoUpdater.channel = channel;
    // Setting `channel` turns allowDowngrade on in electron-updater; it must stay off.
    autoUpdater.allowDowngrade = false;
  }
  const isEnabled = status.state === 'idle';

  async function fetchText(name: string, isOptional: boolean): Promise<string | undefined> {
    const url = new URL(name, feedUrl?.endsWith('/') ? feedUrl : `${feedUrl}/`).href;
    let response: Response;
    try {
      response = await fetchFn(url, { redirect: 'error', signal: AbortSignal.timeout(30_000) });
    } catch (err) {
      throw new UpdaterError('feed-unreachable', `the update feed could not be reached (${name})`, { cause: err });
    }
    if (isOptional && response.status === 404) return undefined;
    if (!response.ok) throw new UpdaterError('feed-unreachable', `the update feed answered ${response.status} for ${name}`);
    const body = await response.arrayBuffer();
    if (body.byteLength > MAX_MANIFEST_BYTES) throw new UpdaterError('feed-unreachable', `${name} is larger than ${MAX_MANIFEST_BYTES} bytes`);
    return Buffer.from(body).toString('utf8');
  }

  function refused(err: unknown): UpdateStatus {
    verified = undefined;
    if (err instanceof WardError) {
      log.warn({ code: err.code }, 'update refused');
      return set({ state: 'error', message: `Update refused (${err.code}): ${err.message}`.slice(0, 2000) });
    }
    log.error({ err }, 'update check failed');
    return set({ state: 'error', message: `Update check failed: ${(err as Error).message}`.slice(0, 2000) });
  }

  async function run(): Promise<UpdateStatus> {
    set({ state: 'checking' });
    try {
      const manifestText = (await fetchText(manifestName, false)) ?? '';
      const signature = (await fetchText(`${manifestName}.sig`, true)) ?? '';
      const policy: UpdatePolicy = { currentVersion: options.currentVersion, channel, publicKeys: options.publicKeys as readonly PinnedKey[], deviceId: options.deviceId };
      let manifest;
      try {
        // Signature, channel, shape, downgrade, rollout: all before electron-updater may download.
        manifest = await verifyUpdateManifest(manifestText, signature, policy);
      } catch (err) {
        if (err instanceof UpdateRefusedError && err.code === 'not-newer') return set({ state: 'up-to-date' });
        if (err instanceof UpdateRefusedError && err.code === 'not-in-rollout') return set({ state: 'up-to-date', message: err.message });
        throw err;
      }
      const result = await autoUpdater.checkForUpdates();
      if (result?.updateInfo.version !== manifest.version) {
        throw new UpdaterError('feed-changed', `the feed offered ${result?.updateInfo.version ?? 'nothing'} to the updater but ${manifest.version} was signed; not downloading`);
      }
      set({ state: 'downloading', availableVersion: manifest.version });
      const artifacts = await autoUpdater.downloadUpdate();
      if (artifacts.length === 0) throw new UpdaterError('no-artifact', 'the updater downloaded no file');
      for (const artifact of artifacts) await verifyUpdate(manifestText, signature, artifact, policy);
      verified = { manifestText, signature, artifacts, policy };
      log.info({ version: manifest.version, files: artifacts.map((a) => basename(a)) }, 'update downloaded and verified');
      return set({ state: 'downloaded', availableVersion: manifest.version, message: `Ward ${manifest.version} is ready. Restart Ward to install it.` });
    } catch (err) {
      return refused(err);
    }
  }

  return {
    status: () => status,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    check(): Promise<UpdateStatus> {
      if (!isEnabled) return Promise.resolve(status);
      running ??= run().finally(() => {
        running = undefined;
      });
      return running;
    },
    async install(): Promise<boolean> {
      const ready = verified;
      if (!ready || status.state !== 'downloaded') {
        refused(new UpdaterError('not-verified', 'there is no downloaded, verified update to install'));
        return false;
      }
      try {
        // The file could have changed on disk since the download: verify again right before installing.
        for (const artifact of ready.artifacts) await verifyUpdate(ready.manifestText, ready.signature, artifact, ready.policy);
      } catch (err) {
        refused(err);
        return false;
      }
      log.info({ version: status.availableVersion }, 'installing update on the user’s request');
      autoUpdater.quitAndInstall(false, true);
      return true;
    },
  };
}
