import { join } from 'node:path';
import { configTargets, type WatchTarget, type WatchTargetContext } from '../watch-target.js';

/** macOS: preference plists the checks read. Not verified on a Mac yet (FSEvents via fs.watch). */
export function darwinWatchTargets(ctx: WatchTargetContext): WatchTarget[] {
  const targets: WatchTarget[] = [
    { path: '/Library/Preferences/com.apple.alf.plist', kind: 'file', checks: ['firewall'] },
    { path: '/Library/Preferences/com.apple.SoftwareUpdate.plist', kind: 'file', checks: ['auto-update', 'os-updates'] },
    { path: '/Library/Managed Preferences', kind: 'dir', checks: ['screen-lock', 'auto-update', 'firewall'] },
    { path: '/Applications', kind: 'dir', checks: ['antivirus', 'edr'] },
  ];
  if (ctx.home) targets.push({ path: join(ctx.home, 'Library/Preferences/ByHost'), kind: 'dir', checks: ['screen-lock'] });
  return [...targets, ...configTargets(ctx.config)];
}
