import { outcome, type CheckContext } from '../check.js';
import type { DeviceFacts } from '../snapshot.js';
import type { PostureProbes } from './probes.js';

const notYet = (what: string) => (_ctx: CheckContext) => Promise.resolve(outcome.unsupported(`${what} is not implemented on macOS yet`));

export const darwinProbes: PostureProbes = {
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
  listProcesses: () => Promise.resolve([]),
  listCertificates: () => Promise.resolve([]),
  deviceFacts(ctx): Promise<DeviceFacts> {
    return Promise.resolve({
      os: { platform: 'darwin', name: 'macOS', version: 'unknown', build: null, kernel: null, arch: 'unknown' },
      hostname: 'unknown',
      hardware: { vendor: null, model: null, serial: null, uuid: null, virtual: null },
      agentVersion: ctx.agentVersion,
    });
  },
};
