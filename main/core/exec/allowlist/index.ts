import type { Platform } from '../../platform.js';
import { darwinCommands } from './darwin.js';
import { linuxCommands } from './linux.js';
import { tpmCommandGuards, tpmCommands } from './tpm.js';
import { win32Commands } from './win32.js';

const byPlatform: Readonly<Record<Platform, Readonly<Record<string, readonly string[]>>>> = {
  linux: { ...linuxCommands, ...tpmCommands },
  darwin: darwinCommands,
  win32: win32Commands,
};

/** The absolute paths allow-listed for `command` on `platform`, or undefined when it is not allowed. */
export function allowedPaths(platform: Platform, command: string): readonly string[] | undefined {
  const table = byPlatform[platform];
  return Object.hasOwn(table, command) ? table[command] : undefined;
}

/** Every allow-listed command name for a platform (for `ward doctor` and the README). */
export function allowedCommands(platform: Platform): string[] {
  return Object.keys(byPlatform[platform]).sort();
}

/** A check of a command's arguments before it starts: the reason it is refused, or null. */
export type CommandGuard = (args: readonly string[]) => Promise<string | null>;

const guardsByPlatform: Readonly<Record<Platform, Readonly<Record<string, CommandGuard>>>> = {
  linux: tpmCommandGuards,
  darwin: {},
  win32: {},
};

/** The argument check for `command` on `platform`, if it has one. */
export function commandGuard(platform: Platform, command: string): CommandGuard | undefined {
  const table = guardsByPlatform[platform];
  return Object.hasOwn(table, command) ? table[command] : undefined;
}
