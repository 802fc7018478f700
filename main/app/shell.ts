import type * as Electron from 'electron';
import type { BrowserWindow as BrowserWindowType, BrowserWindowConstructorOptions, WebContents } from 'electron';
import type { Logger } from '../core/log.js';
import { silentLogger } from '../core/log.js';
import {
  CHANNEL_NAMES,
  dispatch,
  parsePushMessage,
  type AgentBackend,
  type AgentState,
  type Channel,
  type PostureView,
  type PushMessage,
  type RequestOf,
  type ResponseOf,
  type Settings,
} from '../shared/ipc-contract.js';
import { DEFAULT_EXTERNAL_HOSTS, isAllowedExternalUrl } from './external-links.js';
import { PUSH_CHANNEL, ipcChannel } from './ipc-names.js';
import { trayIconPng } from './tray-icons.js';
import { TRAY_LABELS, trayStateFor, type TrayState } from './tray-state.js';
import { TrustedSenders } from './trusted-sender.js';
import type { WardUpdater } from './updater.js';

/** The Electron objects the shell uses, injected (the real module in main.ts, fakes in tests). */
export type ElectronDeps = Pick<
  typeof Electron,
  'app' | 'BrowserWindow' | 'Tray' | 'Menu' | 'ipcMain' | 'shell' | 'powerMonitor' | 'Notification' | 'session' | 'nativeImage'
>;

export interface ShellOptions {
  readonly backend: AgentBackend;
  /** Absolute path of the built renderer's index.html. */
  readonly indexHtml: string;
  /** Absolute path of the bundled preload script. */
  readonly preload: string;
  /** Devtools only in development. */
  readonly isDev?: boolean;
  /** Hosts links may open in the system browser (the broker's, IT's help desk). */
  readonly externalHosts?: readonly string[];
  readonly electronVersion?: string;
  readonly log?: Logger;
  /** Verified auto-update (main/app/updater.ts); its state replaces the agent's in `app.about`. */
  readonly updater?: WardUpdater;
}


const SIGNED_IN_STATES: readonly AgentState[] = ['signed-in', 'compliant', 'non-compliant', 'step-up-required'];

/** Every window Ward opens gets these; nothing in them can reach Node (Electron security checklist). */
export function hardenedWebPreferences(preload: string, isDev: boolean): NonNullable<BrowserWindowConstructorOptions['webPreferences']> {
  return {
    preload,
    sandbox: true,
    contextIsolation: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    experimentalFeatures: false,
    webviewTag: false,
    navigateOnDragDrop: false,
    spellcheck: false,
    safeDialogs: true,
    devTools: isDev,
  };
}

export interface WardShell {
  /** Returns false when another instance holds the lock (this one then quits). */
  start(): Promise<boolean>;
  showStatusWindow(route?: string): void;
  showStepUpWindow(): void;
  trayState(): TrayState;
}

/**
 * The tray app: tray icon and menu, the status and step-up windows, IPC into the agent backend,
 * OS power events, notifications and login-item settings. Every Electron object is injected, so
 * this logic is unit-tested without the Electron binary (test/unit/app/shell.test.ts).
 */
export function createShell(electron: ElectronDeps, options: ShellOptions): WardShell {
  const { app, BrowserWindow, Tray, Menu, ipcMain, shell, powerMonitor, Notification, session, nativeImage } = electron;
  const log = (options.log ?? silentLogger()).child({ mod: 'shell' });
  const isDev = options.isDev ?? false;
  const externalHosts = [...DEFAULT_EXTERNAL_HOSTS, ...(options.externalHosts ?? [])];
  const rendererUrl = new URL(`file://${options.indexHtml.startsWith('/') ? '' : '/'}${options.indexHtml.replaceAll('\\', '/')}`).href;
  const trusted = new TrustedSenders(rendererUrl);

  let isQuitting = false;
  let agentState: AgentState = 'unenrolled';
  let posture: PostureView | undefined;
  let settings: Settings | undefined;
  let tray: InstanceType<typeof Tray> | undefined;
  let statusWindow: BrowserWindowType | undefined;
  let stepUpWindow: BrowserWindowType | undefined;
  let lastFailing: boolean | undefined;

  /** The agent's backend, plus what only the desktop shell can do (login item, Electron version). */
  const backend: AgentBackend = {
    subscribe: (l) => options.backend.subscribe(l),
    power: (e) => options.backend.power(e),
    close: () => options.backend.close(),
    async handle<C extends Channel>(channel: C, request: RequestOf<C>): Promise<ResponseOf<C>> {
      const answer = await options.backend.handle(channel, request);
      if (channel === 'settings.get' || channel === 'settings.set') {
        const view = answer as ResponseOf<'settings.get'>;
        const patch = request as RequestOf<'settings.set'>;
        if (channel === 'settings.set' && patch.launchAtLogin !== undefined) app.setLoginItemSettings({ openAtLogin: patch.launchAtLogin });
        settings = { ...view.values, launchAtLogin: app.getLoginItemSettings().openAtLogin };
        return { values: settings, isLaunchAtLoginSupported: true } as ResponseOf<C>;
      }
      if (channel === 'app.about') {
        const about = answer as ResponseOf<'app.about'>;
        return {
          ...about,
          shell: 'electron',
          ...(options.electronVersion ? { electronVersion: options.electronVersion } : {}),
          ...(options.updater ? { update: options.updater.status() } : {}),
        } as ResponseOf<C>;
      }
      return answer;
    },
  };

  const call = async <C extends Channel>(channel: C, request: RequestOf<C>): Promise<ResponseOf<C> | undefined> => {
    const result = await dispatch(backend, channel, request);
    if (result.ok) return result.value as ResponseOf<C>;
    log.warn({ channel, code: result.error.code }, 'agent refused a tray request');
    return undefined;
  };

  const openExternal = (url: string): void => {
    if (isAllowedExternalUrl(url, externalHosts)) void shell.openExternal(url);
    else log.warn({ url: url.slice(0, 200) }, 'refused to open a link that is not allow-listed');
  };

  function hardenContents(contents: WebContents): void {
    contents.on('will-navigate', (event, url) => {
      if (trusted.isOurPage(url)) return;
      event.preventDefault();
      openExternal(url);
    });
    contents.on('will-redirect', (event, url) => {
      if (!trusted.isOurPage(url)) event.preventDefault();
    });
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(({ url }) => {
      openExternal(url);
      return { action: 'deny' };
    });
  }

  function createWindow(route: string, size: { width: number; height: number }, extra: BrowserWindowConstructorOptions = {}): BrowserWindowType {
    const win = new BrowserWindow({
      ...size,
      minWidth: 380,
      minHeight: 420,
      show: false,
      title: 'Ward',
      autoHideMenuBar: true,
      ...extra,
      webPreferences: hardenedWebPreferences(options.preload, isDev),
    });
    const id = win.webContents.id;
    trusted.add(id);
    win.once('ready-to-show', () => win.show());
    win.on('closed', () => trusted.remove(id));
    void win.loadFile(options.indexHtml, { hash: `/${route}` });
    return win;
  }

  function showStatusWindow(route = 'status'): void {
    if (statusWindow && !statusWindow.isDestroyed()) {
      void statusWindow.loadFile(options.indexHtml, { hash: `/${route}` });
      statusWindow.show();
      statusWindow.focus();
      return;
    }
    const win = createWindow(route, { width: 900, height: 720 });
    // Closing the window keeps Ward in the tray; Quit in the menu ends it.
    win.on('close', (event) => {
      if (isQuitting) return;
      event.preventDefault();
      win.hide();
    });
    win.on('closed', () => {
      statusWindow = undefined;
    });
    statusWindow = win;
  }

  function showStepUpWindow(): void {
    if (stepUpWindow && !stepUpWindow.isDestroyed()) {
      stepUpWindow.show();
      stepUpWindow.focus();
      return;
    }
    const win = createWindow('step-up', { width: 520, height: 560 }, { alwaysOnTop: true, resizable: false, minimizable: false, title: 'Ward — confirm it is you' });
    win.on('closed', () => {
      stepUpWindow = undefined;
    });
    stepUpWindow = win;
  }

  function notify(title: string, body: string, onClick: () => void): void {
    if (!Notification.isSupported()) return;
    const note = new Notification({ title, body });
    note.on('click', onClick);
    note.show();
  }

  function currentTrayState(): TrayState {
    return trayStateFor(agentState, posture);
  }

  function refreshTray(): void {
    if (!tray) return;
    const state = currentTrayState();
    const isSignedIn = SIGNED_IN_STATES.includes(agentState);
    tray.setImage(nativeImage.createFromBuffer(trayIconPng(state)));
    tray.setToolTip(`Ward — ${TRAY_LABELS[state]}`);
    tray.setContextMenu(
      Menu.buildFromTemplate([
        { label: `Ward — ${TRAY_LABELS[state]}`, enabled: false },
        { type: 'separator' },
        { label: 'Open Ward', click: () => showStatusWindow() },
        { label: 'Recheck now', click: () => void call('posture.recheck', {}) },
        isSignedIn
          ? { label: 'Sign out', click: () => void call('session.signOut', {}) }
          : {
              label: 'Sign in…',
              click: () => {
                void call('session.signIn', {}).then((status) => {
                  // A refusal (no broker, …) is explained on the Sign in screen.
                  if (!status) showStatusWindow('sign-in');
                });
              },
            },
        ...updateMenuItems(),
        { type: 'separator' },
        {
          label: 'Quit Ward',
          click: () => {
            isQuitting = true;
            app.quit();
          },
        },
      ]),
    );
  }

  /** "Check for updates…", or the user's consent to install a downloaded, verified update. */
  function updateMenuItems(): Electron.MenuItemConstructorOptions[] {
    const updater = options.updater;
    if (!updater || updater.status().state === 'unsupported') return [];
    const update = updater.status();
    if (update.state === 'downloaded') {
      return [{ label: `Restart to install Ward ${update.availableVersion ?? ''}`.trim(), click: () => void updater.install() }];
    }
    const isBusy = update.state === 'checking' || update.state === 'downloading';
    return [{ label: isBusy ? 'Checking for updates…' : 'Check for updates', enabled: !isBusy, click: () => void updater.check() }];
  }

  function onUpdateStatus(update: ReturnType<WardUpdater['status']>): void {
    if (update.state === 'downloaded') {
      notify('A Ward update is ready', update.message ?? 'Restart Ward to install it.', () => showStatusWindow('about'));
    }
    refreshTray();
  }

  function onPostureView(view: PostureView): void {
    posture = view;
    const checks = view.snapshot?.checks;
    if (!checks || view.isChecking) return;
    const isFailing = checks.some((c) => c.status === 'fail');
    if (lastFailing !== undefined && isFailing !== lastFailing && settings?.notifications.complianceChanges !== false) {
      notify(
        isFailing ? 'Your device needs attention' : 'Your device meets policy again',
        isFailing ? `${checks.filter((c) => c.status === 'fail').length} check(s) failing. Open Ward to see how to fix them.` : 'Every check passes.',
        () => showStatusWindow(),
      );
    }
    lastFailing = isFailing;
  }

  function onPush(raw: PushMessage): void {
    const message = parsePushMessage(raw);
    if (!message) {
      log.warn('dropped an invalid push message from the agent');
      return;
    }
    for (const win of [statusWindow, stepUpWindow]) {
      if (win && !win.isDestroyed()) win.webContents.send(PUSH_CHANNEL, message);
    }
    switch (message.event) {
      case 'agent.state':
        agentState = message.payload.state;
        break;
      case 'posture.changed':
        onPostureView(message.payload);
        break;
      case 'stepUp.requested':
        showStepUpWindow();
        if (settings?.notifications.stepUp !== false) notify('Confirm it is you', message.payload.reason, showStepUpWindow);
        break;
      case 'stepUp.resolved':
      case 'signIn.progress':
        break;
    }
    refreshTray();
  }

  function registerIpc(): void {
    for (const channel of CHANNEL_NAMES) {
      ipcMain.handle(ipcChannel(channel), async (event, request: unknown) => {
        if (!trusted.isTrusted(event)) {
          log.warn({ channel }, 'refused IPC from an untrusted sender');
          return { ok: false, error: { code: 'forbidden-sender', message: 'Only Ward’s own windows may ask the agent.' } };
        }
        return dispatch(backend, channel, request);
      });
    }
  }

  async function start(): Promise<boolean> {
    if (!app.requestSingleInstanceLock()) {
      app.quit();
      return false;
    }
    app.on('second-instance', () => showStatusWindow());
    app.on('before-quit', () => {
      isQuitting = true;
    });
    // A tray app lives on with no window open.
    app.on('window-all-closed', () => undefined);
    app.on('will-quit', () => void options.backend.close());
    app.on('web-contents-created', (_event, contents) => hardenContents(contents));
    await app.whenReady();
    app.dock?.hide();

    const ses = session.defaultSession;
    ses.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
    ses.setPermissionCheckHandler(() => false);

    registerIpc();
    powerMonitor.on('lock-screen', () => options.backend.power('lock-screen'));
    powerMonitor.on('unlock-screen', () => options.backend.power('unlock-screen'));
    powerMonitor.on('suspend', () => options.backend.power('suspend'));
    powerMonitor.on('resume', () => options.backend.power('resume'));

    tray = new Tray(nativeImage.createFromBuffer(trayIconPng(currentTrayState())));
    tray.on('click', () => showStatusWindow());
    options.backend.subscribe(onPush);
    options.updater?.subscribe(onUpdateStatus);
    refreshTray();

    const [status, view] = await Promise.all([call('session.status', {}), call('settings.get', {})]);
    if (status) agentState = status.state;
    if (view?.values) settings = view.values;
    refreshTray();
    void call('posture.snapshot', {}).then((p) => {
      if (p) onPostureView(p);
      refreshTray();
    });
    return true;
  }

  return { start, showStatusWindow, showStepUpWindow, trayState: currentTrayState };
}
