import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { JWK } from 'jose';
import { es256Signer, jwkThumbprint, type JwsSigner } from '../sdk/index.js';
import type { BrokerStorage } from './storage/storage.js';

export interface BrokerKeys {
  /** The OpenID provider's ES256 signing key (private JWK with kid): ID and access tokens. */
  readonly oidcJwk: JWK;
  /** Public half of `oidcJwk`, for verifying our own access tokens at the demo resource. */
  readonly oidcPublicJwk: JWK;
  /** The broker's ES256 key for policy bundles and SETs (agents pin its public half at enrollment). */
  readonly signer: JwsSigner;
  /** `{ keys: [...] }` public JWKS of `signer`: what `/enroll` answers as `brokerKeys`. */
  readonly brokerJwks: { keys: JWK[] };
  readonly cookieKeys: string[];
  readonly csrfKey: string;
}

function newEs256Jwk(prefix: string): JWK {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' }) as JWK;
  return { ...jwk, kid: `${prefix}-${jwkThumbprint(jwk).slice(0, 16)}`, alg: 'ES256', use: 'sig' };
}

function publicPart(jwk: JWK): JWK {
  const { kty, crv, x, y, kid, alg, use } = jwk;
  return { kty, crv, x, y, kid, alg, use };
}

function stored<T>(storage: BrokerStorage, key: string, make: () => T): T {
  const existing = storage.getMeta(key);
  if (existing !== undefined) return JSON.parse(existing) as T;
  const value = make();
  storage.setMeta(key, JSON.stringify(value));
  return value;
}

/** Load the broker's keys and secrets, generating each once on first start (kept in storage). */
export function loadOrCreateKeys(storage: BrokerStorage): BrokerKeys {
  const oidcJwk = stored(storage, 'keys.oidc', () => newEs256Jwk('oidc'));
  const brokerJwk = stored(storage, 'keys.broker', () => newEs256Jwk('broker'));
  const cookieKeys = stored(storage, 'secrets.cookies', () => [randomBytes(32).toString('base64url')]);
  const csrfKey = stored(storage, 'secrets.csrf', () => randomBytes(32).toString('base64url'));
  return {
    oidcJwk,
    oidcPublicJwk: publicPart(oidcJwk),
    signer: es256Signer(brokerJwk, brokerJwk.kid),
    brokerJwks: { keys: [publicPart(brokerJwk)] },
    cookieKeys,
    csrfKey,
  };
}

/** Secrets (enrollment tokens, API credentials) are stored only as their SHA-256. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}

/** A new bearer secret with a readable prefix (`wet_` enrollment, `wba_` admin, `wbq_` query). */
export function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}
