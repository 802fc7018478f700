import type { DeviceSigner } from '../identity/key-store.js';
import { DpopFetch } from './dpop-fetch.js';
import { OidcClient } from './oidc-client.js';
import { OAuthChildRequestSchema, type OAuthChildMessage, type OAuthParentMessage } from './oauth-process-protocol.js';
import { SessionError } from './session-error.js';

/**
 * The short-lived child process of `OAuthProcessClient`: one OAuth call with openid-client
 * (which loads undici, ~18 MB the daemon then never gives back), then exit. The device key stays
 * with the parent: each DPoP proof's signing input goes up the IPC channel and the signature
 * comes back. Nothing here logs; tokens only travel over the IPC channel.
 */
const send = (message: OAuthChildMessage): Promise<void> =>
  new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });

const pendingSignatures = new Map<number, (signature: Uint8Array) => void>();
let nextId = 0;

async function handle(raw: unknown): Promise<void> {
  const request = OAuthChildRequestSchema.parse(raw);
  const signer: DeviceSigner = {
    alias: request.signer.alias,
    publicJwk: request.signer.publicJwk,
    assurance: request.signer.assurance as DeviceSigner['assurance'],
    store: request.signer.store as DeviceSigner['store'],
    sign: (data) =>
      new Promise((resolve) => {
        const id = nextId++;
        pendingSignatures.set(id, resolve);
        void send({ type: 'sign', id, data: Buffer.from(data).toString('base64') });
      }),
  };
  const oidc = await OidcClient.discover({ issuer: new URL(request.issuer), clientId: request.clientId, dpop: new DpopFetch({ signer }), jkt: request.jkt });
  const op = request.op;
  const tokens =
    op.kind === 'refresh'
      ? await oidc.refresh(op.tokens, op.extra)
      : op.kind === 'revoke'
        ? (await oidc.revoke(op.tokens), undefined)
        : op.kind === 'device'
          ? await oidc.signInWithDeviceCode({ ...op.requirements, onPrompt: (prompt) => void send({ type: 'device-prompt', prompt }) })
          : await oidc.signInWithBrowser({
              ...op.requirements,
              ...(op.timeoutMs === undefined ? {} : { timeoutMs: op.timeoutMs }),
              openBrowser: (url) =>
                new Promise<void>((resolve) => {
                  browserOpened = resolve;
                  void send({ type: 'open-browser', url: url.href });
                }),
            });
  await send({ type: 'done', ...(tokens ? { tokens } : {}) });
}

let browserOpened: (() => void) | undefined;

process.on('message', (raw: unknown) => {
  const message = raw as OAuthParentMessage;
  if (message.type === 'request') {
    handle(message.request).then(
      () => process.disconnect(),
      async (err: unknown) => {
        const e = err instanceof SessionError ? err : new SessionError('sign-in-failed', 'the OAuth helper process failed', { cause: err });
        await send({ type: 'error', code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) });
        process.disconnect();
      },
    );
  } else if (message.type === 'signature') {
    pendingSignatures.get(message.id)?.(new Uint8Array(Buffer.from(message.signature, 'base64')));
    pendingSignatures.delete(message.id);
  } else if (message.type === 'browser-opened') {
    browserOpened?.();
  }
});
