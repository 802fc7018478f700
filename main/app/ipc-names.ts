import type { Channel } from '../shared/ipc-contract.js';

/** The Electron IPC channel for a contract channel, and the one push channel (main → renderer). */
export const ipcChannel = (channel: Channel): string => `ward:${channel}`;
export const PUSH_CHANNEL = 'ward:event';
