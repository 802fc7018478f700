import { join } from 'node:path';
import type { Platform } from '../platform.js';

/**
 * Where Ward keeps its device state (identity record, TPM key records). Injected everywhere as a
 * path; this is only the default. `WARD_STATE_DIR` overrides it (tests, portable installs).
 *  - Linux: `$XDG_STATE_HOME/ward`, else `~/.local/state/ward`
 *  - macOS: `~/Library/Application Support/Ward/state`
 *  - Windows: `%LOCALAPPDATA%\Ward\state`
 */
export function defaultStateDir(platform: Platform, env: (name: string) => string | undefined): string {
  const override = env('WARD_STATE_DIR');
  if (override) return override;
  const home = env('HOME') ?? env('USERPROFILE') ?? '.';
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'Ward', 'state');
  if (platform === 'win32') return join(env('LOCALAPPDATA') ?? join(home, 'AppData', 'Local'), 'Ward', 'state');
  const xdg = env('XDG_STATE_HOME');
  return xdg ? join(xdg, 'ward') : join(home, '.local', 'state', 'ward');
}
