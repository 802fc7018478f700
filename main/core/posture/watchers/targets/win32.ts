import { configTargets, type WatchTarget, type WatchTargetContext } from '../watch-target.js';

/**
 * Windows: most posture lives in the registry and WMI, which fs.watch cannot see; only the
 * configured files are watched and the rest rides on the periodic full re-check. Not verified on
 * Windows yet.
 */
export function win32WatchTargets(ctx: WatchTargetContext): WatchTarget[] {
  return configTargets(ctx.config);
}
