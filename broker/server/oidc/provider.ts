import Provider, { errors, interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { JWK } from 'jose';
import { ACR_MFA, ACR_VALUES, type BrokerConfig, type UserStore } from '../config.js';
import type { BrokerStorage } from '../storage/storage.js';
import { oidcAdapterFactory } from './adapter.js';

/** The public native client the Ward agent signs in as (RFC 8252: any loopback port). */
export const WARD_CLIENT_ID = 'ward-agent';
/** Scope of the demo protected resource. */
export const DEMO_SCOPE = 'demo:read';

export interface ProviderOptions {
  readonly issuer: string;
  readonly config: BrokerConfig;
  readonly storage: BrokerStorage;
  readonly users: UserStore;
  /** The provider's ES256 signing key (private JWK with `kid`), generated once and stored. */
  readonly signingJwk: JWK;
  readonly cookieKeys: string[];
  /** Resource indicator (RFC 8707) of the demo protected resource. */
  readonly demoResource: string;
  readonly now: () => number;
  /** Called when a DPoP-bound token is issued to an account (links devices to users). */
  readonly onTokenIssued: (jkt: string, accountId: string) => void;
}

type Src = { acr?: string; authTime?: number } | undefined;

/**
 * The OpenID provider (panva's certified oidc-provider 8.8) as the broker configures it:
 * ES256 only, DPoP-bound access and refresh tokens for `ward-agent`, PKCE S256 required, device
 * flow, `acr_values` step-up, refresh-token rotation, 5-minute JWT access tokens for the demo
 * resource, and our own interaction pages (`/interaction/:uid`).
 */
export function createOidcProvider(options: ProviderOptions): Provider {
  const { config, users, demoResource } = options;
  const policy = interactionPolicy.base();
  // `acr_values` is voluntary in OIDC core; Ward uses it for step-up (RFC 9470), so a session
  // that only has a password must log in again when MFA is asked for.
  policy.get('login')?.checks.add(
    new interactionPolicy.Check('ward_step_up', 'a stronger authentication is required', (ctx: KoaContextWithOIDC) => {
      const requested = String(ctx.oidc.params?.acr_values ?? '').split(' ');
      const session = ctx.oidc.session as unknown as { acr?: string } | undefined;
      return requested.includes(ACR_MFA) && session?.acr !== ACR_MFA ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }),
  );

  const configuration: Configuration = {
    adapter: oidcAdapterFactory(options.storage.oidc, options.now),
    clients: [
      {
        client_id: WARD_CLIENT_ID,
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://127.0.0.1/callback', 'http://[::1]/callback'],
        grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
        response_types: ['code'],
        dpop_bound_access_tokens: true,
        id_token_signed_response_alg: 'ES256',
      },
    ],
    clientDefaults: { id_token_signed_response_alg: 'ES256', grant_types: ['authorization_code'], response_types: ['code'] },
    jwks: { keys: [options.signingJwk as never] },
    cookies: { keys: options.cookieKeys },
    pkce: { required: () => true, methods: ['S256'] },
    acrValues: [...ACR_VALUES],
    scopes: ['openid', 'offline_access', 'profile', 'email', DEMO_SCOPE],
    claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
    features: {
      devInteractions: { enabled: false },
      dPoP: { enabled: true },
      deviceFlow: {
        enabled: true,
        successSource: async (ctx) => {
          ctx.type = 'html';
          ctx.body = '<!doctype html><meta charset="utf-8"><title>Device signed in</title><h1>Device signed in</h1><p>You can close this window and return to your device.</p>';
        },
      },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => demoResource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          if (resource !== demoResource) throw new errors.InvalidTarget();
          return {
            scope: DEMO_SCOPE,
            audience: demoResource,
            accessTokenTTL: config.accessTokenTtlSeconds,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
    enabledJWA: {
      idTokenSigningAlgValues: ['ES256'],
      userinfoSigningAlgValues: ['ES256'],
      dPoPSigningAlgValues: ['ES256'],
      requestObjectSigningAlgValues: ['ES256'],
    },
    ttl: {
      AccessToken: config.accessTokenTtlSeconds,
      AuthorizationCode: 60,
      DeviceCode: 600,
      IdToken: config.accessTokenTtlSeconds,
      Interaction: 900,
      RefreshToken: config.refreshTokenTtlSeconds,
      Session: config.refreshTokenTtlSeconds,
      Grant: config.refreshTokenTtlSeconds,
    },
    rotateRefreshToken: true,
    // Public native client: refresh tokens are DPoP-bound (RFC 9449 §5), so issue them without
    // demanding `offline_access` consent.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // JWT access tokens carry `acr` and `auth_time` so resource servers can ask for step-up (RFC 9470).
    extraTokenClaims: async (ctx) => {
      const e = ctx.oidc.entities as Record<string, Src>;
      const src = e.AuthorizationCode ?? e.DeviceCode ?? e.RefreshToken;
      if (!src) return undefined;
      return { ...(src.acr ? { acr: src.acr } : {}), ...(src.authTime ? { auth_time: src.authTime } : {}) };
    },
    findAccount: async (_ctx, sub) => {
      const user = users.find(sub);
      if (!user) return undefined;
      return {
        accountId: user.username,
        claims: async () => ({ sub: user.username, ...(user.name ? { name: user.name } : {}), ...(user.email ? { email: user.email } : {}) }),
      };
    },
    interactions: { policy, url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    // Keep refresh/access token lifetimes short and explicit; never reveal internals in errors.
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      const safe = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
      ctx.body = `<!doctype html><meta charset="utf-8"><title>Sign-in error</title><h1>Sign-in error</h1><p>${safe(out.error)}: ${safe(out.error_description)}</p>`;
    },
  };

  const provider = new Provider(options.issuer, configuration);
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const at = ctx.oidc.entities.AccessToken as unknown as { jkt?: string; accountId?: string } | undefined;
    if (at?.jkt && at.accountId) options.onTokenIssued(at.jkt, at.accountId);
  });
  return provider;
}
