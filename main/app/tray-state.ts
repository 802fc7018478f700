import type { AgentState, PostureView } from '../shared/ipc-contract.js';

/** What the tray icon shows. */
export const TRAY_STATES = ['compliant', 'attention', 'blocked', 'signed-out', 'offline'] as const;
export type TrayState = (typeof TRAY_STATES)[number];

/**
 * The agent's state decides; local posture only adds "attention" where the agent has not judged
 * yet (signed in, or posture-only while not enrolled), so a failing check is never shown green.
 */
export function trayStateFor(state: AgentState, posture: PostureView | undefined): TrayState {
  const isFailing = posture?.snapshot?.checks.some((c) => c.status === 'fail') ?? false;
  switch (state) {
    case 'offline':
      return 'offline';
    case 'revoked':
    case 'non-compliant':
      return 'blocked';
    case 'step-up-required':
      return 'attention';
    case 'compliant':
      return 'compliant';
    case 'signed-in':
      return isFailing ? 'attention' : 'compliant';
    case 'unenrolled':
    case 'enrolled':
      return isFailing ? 'attention' : 'signed-out';
  }
}

export const TRAY_LABELS: Readonly<Record<TrayState, string>> = {
  compliant: 'Compliant',
  attention: 'Needs attention',
  blocked: 'Access blocked',
  'signed-out': 'Signed out',
  offline: 'Offline',
};
