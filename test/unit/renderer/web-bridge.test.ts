import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUiServer, type UiServer } from '../../../main/core/ui-server/ui-server.js';
import { observedRows, verdictOf } from '../../../renderer/src/verdict.js';
import { BridgeError, createWebBridge } from '../../../renderer/src/web-bridge.js';
import { replayApi } from './harness.js';

describe('web bridge against the real UI server', () => {
  let dir: string;
  let server: UiServer;
  const { backend } = replayApi('win32-mostly-compliant');
  let cookie = '';

  /** What the browser adds by itself: the session cookie and the page's Origin. */
  const browserFetch: typeof fetch = (input, init) =>
    fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), cookie, origin: server.origin } });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ward-bridge-'));
    await writeFile(join(dir, 'index.html'), '<!doctype html>');
    server = await startUiServer({ backend, staticDir: dir });
    const login = await fetch(server.url, { redirect: 'manual' });
    cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  });

  afterAll(async () => {
    await server.close();
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  });

  const bridge = () => createWebBridge({ fetch: browserFetch, createEventSource: () => new EventTarget() as EventSource, base: server.origin });

  it('calls each domain function on its channel and returns the validated value', async () => {
    const api = bridge();
    expect(await api.app.about()).toMatchObject({ name: 'Ward', shell: 'web', platform: 'win32' });
    expect((await api.settings.set({ notifications: { stepUp: false } })).values.notifications.stepUp).toBe(false);
    const view = await api.posture.recheck({ checkIds: ['firewall'] });
    expect(view.snapshot?.checks.some((c) => c.id === 'firewall')).toBe(true);
  });

  it('turns refusals into BridgeErrors with the agent’s code, message and hint', async () => {
    const api = bridge();
    await expect(api.settings.set({ launchAtLogin: 'yes' } as never)).rejects.toMatchObject({ code: 'invalid-request' });
    const refused = await api.session.signIn().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BridgeError);
    expect(refused).toMatchObject({ code: 'no-broker', hint: expect.stringContaining('Ask IT') });
  });

  it('reports an unreachable agent in words', async () => {
    const api = createWebBridge({ fetch: () => Promise.reject(new TypeError('fetch failed')), createEventSource: () => new EventTarget() as EventSource });
    await expect(api.identity.info()).rejects.toMatchObject({ code: 'unreachable', message: 'Ward is not answering.' });
  });
});

describe('verdict helpers', () => {
  it('never throw on arbitrary observed facts and keep every line short', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (observed) => {
        for (const [, lines] of observedRows(observed)) for (const line of lines) expect(line.length).toBeLessThanOrEqual(241);
      }),
    );
  });

  it('says "checking" before the first snapshot', () => {
    expect(verdictOf(undefined)).toEqual({ kind: 'checking' });
  });
});
