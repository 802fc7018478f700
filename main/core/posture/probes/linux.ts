import { readdir, readFile, readlink } from 'node:fs/promises';
import os from 'node:os';
import si from 'systeminformation';
import { outcome, type CheckContext } from '../check.js';
import { parseOsRelease } from '../parsers/linux/os-release.js';
import type { DeviceFacts } from '../snapshot.js';
import type { PostureProbes, ProcessInfo } from './probes.js';

const notYet = (what: string) => (_ctx: CheckContext) => Promise.resolve(outcome.unsupported(`${what} is not implemented on Linux yet`));

/** Read /proc directly: one recorded call instead of hundreds of file reads. */
async function readProcTable(): Promise<ProcessInfo[]> {
  const pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d));
  const rows = await Promise.all(
    pids.map(async (pid): Promise<ProcessInfo | undefined> => {
      try {
        const name = (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
        const exe = await readlink(`/proc/${pid}/exe`).catch(() => null);
        return { pid: Number(pid), name, exe: exe?.replace(/ \(deleted\)$/, '') ?? null };
      } catch {
        return undefined; // exited while we looked
      }
    }),
  );
  return rows.filter((r): r is ProcessInfo => r !== undefined).sort((a, b) => a.pid - b.pid);
}

export async function linuxOsRelease(ctx: CheckContext): Promise<Record<string, string>> {
  try {
    return parseOsRelease(await ctx.host.readFile('/etc/os-release'));
  } catch {
    return parseOsRelease(await ctx.host.readFile('/usr/lib/os-release'));
  }
}

export const linuxProbes: PostureProbes = {
  osVersion: notYet('the OS version check'),
  osUpdates: notYet('the OS updates check'),
  diskEncryption: notYet('the disk encryption check'),
  firewall: notYet('the firewall check'),
  screenLock: notYet('the screen lock check'),
  antivirus: notYet('the antivirus check'),
  edr: notYet('the EDR check'),
  autoUpdate: notYet('the automatic updates check'),
  secureBoot: notYet('the secure boot check'),
  remoteLogin: notYet('the remote login check'),

  listProcesses: (ctx) => ctx.host.call('linux.processes', readProcTable, { signal: ctx.signal }),

  listCertificates: () => Promise.resolve([]),

  async deviceFacts(ctx): Promise<DeviceFacts> {
    const [release, node, system] = await Promise.all([
      linuxOsRelease(ctx).catch(() => ({}) as Record<string, string>),
      ctx.host.call('node.os', () => Promise.resolve({ release: os.release(), arch: os.arch(), hostname: os.hostname() })),
      ctx.host.call('si.system', () => si.system(), { timeoutMs: 1500 }).catch(() => undefined),
    ]);
    const blank = (v: string | undefined): string | null => (v && v.trim() && v !== '-' ? v.trim() : null);
    return {
      os: {
        platform: 'linux',
        name: release.NAME ?? 'Linux',
        version: release.VERSION_ID ?? release.VERSION ?? 'unknown',
        build: blank(release.BUILD_ID),
        kernel: node.release,
        arch: node.arch,
      },
      hostname: node.hostname,
      hardware: {
        vendor: blank(system?.manufacturer),
        model: blank(system?.model),
        serial: blank(system?.serial),
        uuid: blank(system?.uuid),
        virtual: system ? system.virtual : null,
      },
      agentVersion: ctx.agentVersion,
    };
  },
};
