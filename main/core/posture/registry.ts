import type { PostureCheck } from './check.js';
import { agentVersion } from './checks/agent-version.js';
import { antivirus } from './checks/antivirus.js';
import { autoUpdate } from './checks/auto-update.js';
import { certificates } from './checks/certificates.js';
import { diskEncryption } from './checks/disk-encryption.js';
import { edr } from './checks/edr.js';
import { firewall } from './checks/firewall.js';
import { forbiddenProcesses } from './checks/forbidden-processes.js';
import { osUpdates } from './checks/os-updates.js';
import { osVersion } from './checks/os-version.js';
import { remoteLogin } from './checks/remote-login.js';
import { requiredFiles } from './checks/required-files.js';
import { requiredProcesses } from './checks/required-processes.js';
import { screenLock } from './checks/screen-lock.js';
import { secureBoot } from './checks/secure-boot.js';

/** Every check Ward knows, in display order. */
export const ALL_CHECKS: readonly PostureCheck[] = [
  osVersion,
  osUpdates,
  diskEncryption,
  firewall,
  screenLock,
  antivirus,
  edr,
  autoUpdate,
  secureBoot,
  remoteLogin,
  requiredProcesses,
  forbiddenProcesses,
  requiredFiles,
  certificates,
  agentVersion,
];

export function findCheck(id: string): PostureCheck | undefined {
  return ALL_CHECKS.find((c) => c.id === id);
}
