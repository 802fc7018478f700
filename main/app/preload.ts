// Sandboxed preload: bundled to one CommonJS file (main/app/vite.preload.config.ts); only `electron`
// stays external, as a sandboxed preload can require nothing else.
import { contextBridge, ipcRenderer } from 'electron';
import { exposeWardApi } from './preload-api.js';

exposeWardApi(contextBridge, ipcRenderer);
