import { readFile, writeFile } from 'node:fs/promises';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { AGENT_VERSION } from '../version.js';
import { SettingsSchema, type AboutInfo, type ChannelHandlers, type Settings, type SettingsPatch } from '../../shared/ipc-contract.js';

export const DEFAULT_SETTINGS: Settings = { launchAtLogin: false, notifications: { stepUp: true, complianceChanges: true } };

export interface ShellHandlerOptions {
  readonly shell: AboutInfo['shell'];
  readonly platform: string;
  /** Where settings persist (JSON, mode 0600); in memory when absent. */
  readonly settingsFile?: string;
  readonly log?: Logger;
}

/**
 * The contract channels that belong to the client rather than the agent: UI settings and About.
 * Both the posture-only backend and the real agent (`agent.backend(shellHandlers(...))`) use them.
 */
export function shellHandlers(options: ShellHandlerOptions): Pick<ChannelHandlers, 'settings.get' | 'settings.set' | 'app.about'> {
  const log = (options.log ?? silentLogger()).child({ mod: 'settings' });
  let settings: Settings = DEFAULT_SETTINGS;
  let isLoaded = false;

  const load = async (): Promise<Settings> => {
    if (isLoaded || !options.settingsFile) return settings;
    isLoaded = true;
    try {
      const parsed = SettingsSchema.safeParse(JSON.parse(await readFile(options.settingsFile, 'utf8')));
      if (parsed.success) settings = parsed.data;
      else log.warn({ file: options.settingsFile }, 'settings file is invalid; using defaults');
    } catch {
      // No settings file yet: defaults.
    }
    return settings;
  };

  const save = async (patch: SettingsPatch): Promise<Settings> => {
    const current = await load();
    settings = { launchAtLogin: patch.launchAtLogin ?? current.launchAtLogin, notifications: { ...current.notifications, ...patch.notifications } };
    if (options.settingsFile) await writeFile(options.settingsFile, `${JSON.stringify(settings, null, 2)}\n`, { mode: 0o600 });
    return settings;
  };

  return {
    // Only the Electron shell can register a login item; it overrides this flag (main/app/shell.ts).
    'settings.get': async () => ({ values: await load(), isLaunchAtLoginSupported: false }),
    'settings.set': async (patch) => ({ values: await save(patch), isLaunchAtLoginSupported: false }),
    'app.about': async () => ({
      name: 'Ward',
      version: AGENT_VERSION,
      platform: options.platform,
      shell: options.shell,
      update: { state: 'unsupported', message: 'Updates come with the installer; this copy runs from source.' },
    }),
  };
}
