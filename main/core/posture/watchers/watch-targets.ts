import type { Platform } from '../../platform.js';
import { darwinWatchTargets } from './targets/darwin.js';
import { linuxWatchTargets } from './targets/linux.js';
import { win32WatchTargets } from './targets/win32.js';
import type { WatchTarget, WatchTargetContext } from './watch-target.js';

const BY_PLATFORM: Readonly<Record<Platform, (ctx: WatchTargetContext) => WatchTarget[]>> = {
  linux: linuxWatchTargets,
  darwin: darwinWatchTargets,
  win32: win32WatchTargets,
};

export function watchTargetsFor(platform: Platform, ctx: WatchTargetContext): WatchTarget[] {
  return BY_PLATFORM[platform](ctx);
}
