import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WardError } from '../../../main/core/errors.js';
import {
  API_METHODS,
  CHANNEL_NAMES,
  bindWardApi,
  createHandlerBackend,
  dispatch,
  parsePushMessage,
  toIpcError,
  type ChannelHandlers,
  type PushMessage,
  type SettingsView,
  WardIpcError,
} from '../../../main/shared/ipc-contract.js';

const settings: SettingsView = {
  values: { launchAtLogin: false, notifications: { stepUp: true, complianceChanges: true } },
  isLaunchAtLoginSupported: false,
};

function backendWith(overrides: Partial<ChannelHandlers> = {}) {
  const seen: unknown[] = [];
  const refuse = async () => {
    throw new WardError('not-here', 'not in this test');
  };
  const handlers = Object.fromEntries(CHANNEL_NAMES.map((c) => [c, refuse])) as unknown as ChannelHandlers;
  Object.assign(handlers, {
    'settings.get': async () => settings,
    'settings.set': async (patch: unknown) => {
      seen.push(patch);
      return settings;
    },
    ...overrides,
  });
  return { backend: createHandlerBackend({ handlers, subscribe: () => () => undefined }), seen };
}

describe('ipc contract', () => {
  it('maps every WardApi method to a distinct known channel and covers every channel', () => {
    const mapped = Object.values(API_METHODS).flatMap((g) => Object.values(g));
    expect(new Set(mapped).size).toBe(mapped.length);
    expect([...mapped].sort()).toEqual([...CHANNEL_NAMES].sort());
  });

  it('dispatch refuses unknown channels and invalid requests before the backend sees them', async () => {
    const { backend, seen } = backendWith();
    expect(await dispatch(backend, 'shell.exec', {})).toMatchObject({ ok: false, error: { code: 'unknown-channel' } });
    expect(await dispatch(backend, 'settings.set', { launchAtLogin: 'yes' })).toMatchObject({
      ok: false,
      error: { code: 'invalid-request' },
    });
    expect(await dispatch(backend, 'settings.set', { extra: 1 })).toMatchObject({ ok: false, error: { code: 'invalid-request' } });
    expect(seen).toEqual([]);
    expect(await dispatch(backend, 'settings.set', { launchAtLogin: true })).toEqual({ ok: true, value: settings });
    expect(seen).toEqual([{ launchAtLogin: true }]);
  });

  it('dispatch keeps typed errors, hides untyped ones and rejects invalid responses', async () => {
    const { backend } = backendWith({
      'identity.info': async () => {
        throw new Error('/home/alice/.secret leaked');
      },
      'app.about': async () => ({ name: 'ward' }) as never,
    });
    expect(await dispatch(backend, 'session.status', {})).toEqual({ ok: false, error: { code: 'not-here', message: 'not in this test' } });
    const hidden = await dispatch(backend, 'identity.info', {});
    expect(hidden).toMatchObject({ ok: false, error: { code: 'internal' } });
    expect(JSON.stringify(hidden)).not.toContain('secret');
    expect(await dispatch(backend, 'app.about', {})).toMatchObject({ ok: false, error: { code: 'internal' } });
  });

  it('bindWardApi turns envelopes into values and WardIpcErrors', async () => {
    const { backend } = backendWith();
    const api = bindWardApi((channel, request) => dispatch(backend, channel, request), () => () => undefined);
    expect(await api.settings.get()).toEqual(settings);
    await expect(api.session.status()).rejects.toBeInstanceOf(WardIpcError);
    await expect(api.session.status()).rejects.toMatchObject({ code: 'not-here' });
  });

  it('parsePushMessage accepts valid events and never throws on arbitrary input', () => {
    const message: PushMessage = { event: 'agent.state', payload: { state: 'compliant', previous: null, at: new Date().toISOString() } };
    expect(parsePushMessage(message)).toEqual(message);
    expect(parsePushMessage({ event: 'agent.state', payload: { state: 'hacked', previous: null, at: 'x' } })).toBeUndefined();
    fc.assert(
      fc.property(fc.anything(), (value) => {
        const parsed = parsePushMessage(value);
        expect(parsed === undefined || typeof parsed.event === 'string').toBe(true);
      }),
    );
  });

  it('dispatch and toIpcError never throw on arbitrary input', async () => {
    const { backend } = backendWith();
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constantFrom(...CHANNEL_NAMES), fc.string()), fc.anything(), async (channel, request) => {
        const result = await dispatch(backend, channel, request);
        expect(typeof result.ok).toBe('boolean');
        expect(typeof toIpcError(request).code).toBe('string');
      }),
    );
  });
});
