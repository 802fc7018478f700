import type { DeviceKeyStore, DeviceSigner } from './key-store.js';
import { publicPart } from './jws.js';

/** Bind a store and an alias into the `DeviceSigner` DPoP, enrollment and posture reports use. */
export async function openSigner(store: DeviceKeyStore, alias: string): Promise<DeviceSigner> {
  const publicJwk = publicPart(await store.publicJwk(alias));
  return {
    alias,
    publicJwk,
    assurance: store.assurance,
    store: store.kind,
    sign: (data) => store.sign(alias, data),
  };
}
