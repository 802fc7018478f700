import type { ContextBridge, IpcRenderer } from 'electron';
import { bindWardApi, isPushEvent, type IpcResult, type WardApi } from '../shared/ipc-contract.js';
import { PUSH_CHANNEL, ipcChannel } from './ipc-names.js';

/**
 * Expose `window.ward`: the contract's domain functions (`posture.snapshot()`, `session.stepUp()`,
 * …) and `on(event)` for the contract's push events. Never `ipcRenderer` itself, nor a generic
 * send/invoke a compromised page could aim at any channel.
 */
export function exposeWardApi(contextBridge: Pick<ContextBridge, 'exposeInMainWorld'>, ipcRenderer: Pick<IpcRenderer, 'invoke' | 'on' | 'removeListener'>): WardApi {
  const api = bindWardApi(
    (channel, request) => ipcRenderer.invoke(ipcChannel(channel), request) as Promise<IpcResult<unknown>>,
    (event, listener) => {
      const handler = (_e: unknown, message: unknown): void => {
        const { event: name, payload } = (message ?? {}) as { event?: unknown; payload?: unknown };
        if (isPushEvent(name) && name === event) listener(payload);
      };
      ipcRenderer.on(PUSH_CHANNEL, handler);
      return () => {
        ipcRenderer.removeListener(PUSH_CHANNEL, handler);
      };
    },
  );
  contextBridge.exposeInMainWorld('ward', api);
  return api;
}
