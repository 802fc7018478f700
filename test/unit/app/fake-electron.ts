import type { ElectronDeps } from '../../../main/app/shell.js';

/**
 * Stand-ins for the Electron objects the shell uses: the Electron binary cannot run on these
 * machines. Each records what the shell did with it, so tests assert on behaviour.
 */
type Listener = (...args: unknown[]) => unknown;

class Emitter {
  readonly listeners = new Map<string, Listener[]>();
  on(event: string, listener: Listener): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }
  once(event: string, listener: Listener): this {
    return this.on(event, listener);
  }
  emit(event: string, ...args: unknown[]): unknown[] {
    return (this.listeners.get(event) ?? []).map((l) => l(...args));
  }
}

let nextId = 1;

export class FakeWebContents extends Emitter {
  readonly id = nextId++;
  readonly mainFrame = { url: 'about:blank' };
  readonly sent: { channel: string; message: unknown }[] = [];
  windowOpenHandler: ((details: { url: string }) => { action: string }) | undefined;
  setWindowOpenHandler(handler: (details: { url: string }) => { action: string }): void {
    this.windowOpenHandler = handler;
  }
  send(channel: string, message: unknown): void {
    this.sent.push({ channel, message });
  }
}

export function createFakeElectron(options: { hasLock?: boolean } = {}) {
  const windows: FakeBrowserWindow[] = [];
  const notifications: FakeNotification[] = [];
  const opened: string[] = [];
  const handlers = new Map<string, Listener>();
  const loginItem = { openAtLogin: false };
  const permission: { request?: Listener; check?: Listener } = {};
  const created: FakeWebContents[] = [];

  class App extends Emitter {
    isQuit = false;
    requestSingleInstanceLock = () => options.hasLock ?? true;
    whenReady = async () => undefined;
    quit = () => {
      this.isQuit = true;
    };
    setLoginItemSettings = (s: { openAtLogin: boolean }) => {
      loginItem.openAtLogin = s.openAtLogin;
    };
    getLoginItemSettings = () => ({ ...loginItem });
    dock = undefined;
  }
  const app = new App();

  class FakeBrowserWindow extends Emitter {
    readonly webContents = new FakeWebContents();
    isShown = false;
    isDestroyedFlag = false;
    constructor(readonly options: Record<string, unknown>) {
      super();
      windows.push(this);
      created.push(this.webContents);
      // Electron emits web-contents-created for every new WebContents.
      app.emit('web-contents-created', {}, this.webContents);
    }
    async loadFile(file: string, opts: { hash?: string } = {}): Promise<void> {
      this.webContents.mainFrame.url = `file://${file}${opts.hash ? `#${opts.hash}` : ''}`;
      this.emit('ready-to-show');
    }
    show(): void {
      this.isShown = true;
    }
    hide(): void {
      this.isShown = false;
    }
    focus(): void {}
    isDestroyed(): boolean {
      return this.isDestroyedFlag;
    }
  }

  class FakeTray extends Emitter {
    static last: FakeTray | undefined;
    tooltip = '';
    menu: { label?: string; type?: string; click?: () => void; enabled?: boolean }[] = [];
    image: unknown;
    constructor(image: unknown) {
      super();
      this.image = image;
      FakeTray.last = this;
    }
    setImage(image: unknown): void {
      this.image = image;
    }
    setToolTip(text: string): void {
      this.tooltip = text;
    }
    setContextMenu(menu: FakeTray['menu']): void {
      this.menu = menu;
    }
  }

  class FakeNotification extends Emitter {
    static isSupported = () => true;
    isShown = false;
    constructor(readonly options: { title: string; body: string }) {
      super();
      notifications.push(this);
    }
    show(): void {
      this.isShown = true;
    }
  }

  const powerMonitor = new Emitter();
  const deps = {
    app,
    BrowserWindow: FakeBrowserWindow,
    Tray: FakeTray,
    Menu: { buildFromTemplate: (template: unknown) => template },
    ipcMain: { handle: (channel: string, fn: Listener) => void handlers.set(channel, fn) },
    shell: { openExternal: async (url: string) => void opened.push(url) },
    powerMonitor,
    Notification: FakeNotification,
    session: {
      defaultSession: {
        setPermissionRequestHandler: (fn: Listener) => void (permission.request = fn),
        setPermissionCheckHandler: (fn: Listener) => void (permission.check = fn),
      },
    },
    nativeImage: { createFromBuffer: (buffer: Buffer) => ({ png: buffer }) },
  };
  return {
    electron: deps as unknown as ElectronDeps,
    app,
    windows,
    notifications,
    opened,
    handlers,
    loginItem,
    permission,
    powerMonitor,
    tray: () => FakeTray.last,
  };
}
