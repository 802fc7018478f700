import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import type { WardApi } from '../../main/shared/ipc-contract.js';
import { App } from './app.js';
import './styles.css';
import { createWebBridge } from './web-bridge.js';

declare global {
  interface Window {
    /** Set by the Electron preload; absent in a browser, where the web bridge serves the same contract. */
    readonly ward?: WardApi;
  }
}

const api: WardApi =
  window.ward ?? createWebBridge({ fetch: window.fetch.bind(window), createEventSource: (url) => new EventSource(url, { withCredentials: true }) });
const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App api={api} />
    </StrictMode>,
  );
  // The bench measures time to first render from this mark.
  requestAnimationFrame(() => performance.mark('ward:first-render'));
}
