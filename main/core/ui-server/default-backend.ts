import { WardError } from '../errors.js';
import { LiveHost } from '../exec/live-host.js';
import type { Logger } from '../log.js';
import { currentPlatform } from '../platform.js';
import type { PostureConfig } from '../posture/config.js';
import type { AboutInfo, BrokerInfo } from '../../shared/ipc-contract.js';
import { PostureBackend } from './posture-backend.js';

export interface DefaultBackendOptions {
  readonly shell: AboutInfo['shell'];
  readonly loadConfig?: () => Promise<PostureConfig | undefined>;
  readonly broker?: BrokerInfo | null;
  readonly settingsFile?: string;
  readonly log?: Logger;
}

/**
 * The backend `ward ui`, `ward start` and the Electron shell serve.
 *
 * THE PLUG-IN POINT for the agent (issue 5): once `main/core/agent.ts` exports an `AgentBackend`,
 * construct it here instead of the posture-only backend. Nothing else in the UI changes: both
 * transports speak `main/shared/ipc-contract.ts`.
 */
export function createDefaultBackend(options: DefaultBackendOptions): PostureBackend {
  const platform = currentPlatform();
  if (!platform) throw new WardError('unsupported-platform', `Ward has no posture probes for ${process.platform}`);
  const backend = new PostureBackend({
    host: new LiveHost(platform),
    shell: options.shell,
    broker: options.broker ?? null,
    ...(options.loadConfig ? { loadConfig: options.loadConfig } : {}),
    ...(options.settingsFile ? { settingsFile: options.settingsFile } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  backend.start();
  return backend;
}
