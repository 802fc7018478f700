import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { OidcStore } from '../storage/storage.js';

/**
 * oidc-provider's persistence (sessions, grants, codes, refresh tokens, device codes,
 * interactions, replay-detection entries) kept in the broker's storage so nothing is lost on a
 * restart. `expiresIn` is seconds from now; expired rows are invisible and purged periodically.
 */
export function oidcAdapterFactory(store: OidcStore, now: () => number): (model: string) => Adapter {
  return (model: string): Adapter => ({
    async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
      store.upsert(model, id, payload as Record<string, unknown>, expiresIn ? now() + expiresIn * 1000 : null);
    },
    async find(id: string) {
      return store.find(model, id, now()) as AdapterPayload | undefined;
    },
    async findByUserCode(userCode: string) {
      return store.findBy(model, 'userCode', userCode, now()) as AdapterPayload | undefined;
    },
    async findByUid(uid: string) {
      return store.findBy(model, 'uid', uid, now()) as AdapterPayload | undefined;
    },
    async consume(id: string) {
      store.consume(model, id, now());
    },
    async destroy(id: string) {
      store.destroy(model, id);
    },
    async revokeByGrantId(grantId: string) {
      store.revokeByGrantId(grantId);
    },
  });
}
