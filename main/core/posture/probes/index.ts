import type { Platform } from '../../platform.js';
import { darwinProbes } from './darwin.js';
import { linuxProbes } from './linux.js';
import type { PostureProbes } from './probes.js';
import { win32Probes } from './win32.js';

const PROBES: Readonly<Record<Platform, PostureProbes>> = { linux: linuxProbes, darwin: darwinProbes, win32: win32Probes };

/** The probes for a platform, chosen once. */
export function probesFor(platform: Platform): PostureProbes {
  return PROBES[platform];
}
