import '@testing-library/jest-dom/vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { render } from '@testing-library/react';
import type { ReactElement } from 'react';
import { parseBundle } from '../../../main/core/exec/bundle.js';
import { ReplayHost } from '../../../main/core/exec/replay-host.js';
import type { Platform } from '../../../main/core/platform.js';
import { PostureBackend, type PostureBackendOptions } from '../../../main/core/ui-server/posture-backend.js';
import { bindWardApi, dispatch, type WardApi } from '../../../main/shared/ipc-contract.js';
import { ApiProvider } from '../../../renderer/src/api-context.js';

/**
 * The renderer's `WardApi`, served by Ward's real posture-only backend answering from a captured
 * bundle, through the contract's own dispatch (validation included): no hand-written fake answers.
 */
export function replayApi(bundleName: `${Platform}-${string}`, options: Partial<PostureBackendOptions> = {}): { api: WardApi; backend: PostureBackend } {
  const bundle = parseBundle(readFileSync(join(import.meta.dirname, '..', '..', 'fixtures', 'bundles', `${bundleName}.json`), 'utf8'));
  const backend = new PostureBackend({ host: new ReplayHost(bundle.platform, bundle.records), ...options });
  const api = bindWardApi(
    (channel, request) => dispatch(backend, channel, request),
    (event, listener) => backend.subscribe((m) => (m.event === event ? listener(m.payload) : undefined)),
  );
  return { api, backend };
}

export function renderWith(api: WardApi, ui: ReactElement) {
  return render(<ApiProvider api={api}>{ui}</ApiProvider>);
}
