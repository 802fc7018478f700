import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { BrokerError } from './errors.js';
import { SignInThrottleConfigSchema } from './login-throttle.js';
import { isPasswordHash } from './passwords.js';

export const ACR_PASSWORD = 'urn:ward:acr:pwd';
export const ACR_MFA = 'urn:ward:acr:mfa';
export const ACR_VALUES = [ACR_PASSWORD, ACR_MFA] as const;

export const UserSchema = z.object({
  username: z.string().regex(/^[a-z0-9][a-z0-9._@-]{0,63}$/i, 'letters, digits, . _ @ - (max 64)'),
  passwordHash: z.string().refine(isPasswordHash, 'must be a scrypt hash made by `ward-broker users add`'),
  name: z.string().max(200).optional(),
  email: z.string().email().optional(),
  /** Base32 TOTP secret: when set, the user can reach `urn:ward:acr:mfa`. */
  totpSecret: z.string().regex(/^[A-Z2-7]{16,128}$/).optional(),
});
export type User = z.infer<typeof UserSchema>;

export const BrokerConfigSchema = z
  .object({
    /** Public base URL (the OpenID issuer); defaults to http://HOST:PORT. */
    issuer: z.string().url().optional(),
    listen: z.object({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(8443) }).prefault({}),
    tls: z.object({ certFile: z.string(), keyFile: z.string() }).optional(),
    users: z.array(UserSchema).max(10_000).default([]),
    /** A policy file (JSON) loaded at start when it differs from the stored policy. */
    policyFile: z.string().optional(),
    /** RFC 8935 push receiver for CAEP SETs. */
    pushReceiver: z.object({ url: z.string().url(), authorizationHeader: z.string().optional() }).optional(),
    accessTokenTtlSeconds: z.number().int().min(30).max(3600).default(300),
    refreshTokenTtlSeconds: z.number().int().min(300).max(30 * 86400).default(14 * 86400),
    enrollmentTokenTtlSeconds: z.number().int().min(60).max(30 * 86400).default(86400),
    policyBundleTtlSeconds: z.number().int().min(60).max(30 * 86400).default(86400),
    /** What the demo resource asks for (RFC 9470). */
    demoResource: z
      .object({ acrValues: z.array(z.enum(ACR_VALUES)).min(1).default([ACR_MFA]), maxAgeSeconds: z.number().int().min(1).default(3600) })
      .prefault({}),
    /** Reports older than this are refused. */
    reportMaxAgeSeconds: z.number().int().min(5).max(3600).default(300),
    challengeTimeoutSeconds: z.number().int().min(1).max(300).default(30),
    /**
     * PEM certificates of TPM makers' CAs (roots and intermediates) whose EK certificates this
     * broker trusts. Empty (default): no EK credential activation; TPM keys are at most
     * `tpm-certified` (docs/broker-sdk.md).
     */
    tpmEkCaCertificates: z.array(z.string().min(1).max(20_000)).max(50).default([]),
    /**
     * Failed sign-in throttling (docs/broker-server.md, "Sign-in throttling"): `account` and
     * `address` policies, each replacing the default whole.
     */
    signInThrottle: SignInThrottleConfigSchema.prefault({}),
  })
  .strict();
export type BrokerConfig = z.infer<typeof BrokerConfigSchema>;

/** Parse a config object; problems name the field so an admin can fix the file. */
export function parseConfig(value: unknown, source = 'the broker config'): BrokerConfig {
  const parsed = BrokerConfigSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new BrokerError('config-invalid', `${source} is not valid: ${issues}`);
  }
  return parsed.data;
}

/** Read and parse a JSON config file; relative paths in it are resolved against its folder. */
export function loadConfigFile(file: string): BrokerConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new BrokerError('config-invalid', `Cannot read the broker config ${file}.`, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BrokerError('config-invalid', `The broker config ${file} is not valid JSON.`);
  }
  const config = parseConfig(value, `The broker config ${file}`);
  const base = dirname(resolve(file));
  return {
    ...config,
    ...(config.policyFile ? { policyFile: resolve(base, config.policyFile) } : {}),
    ...(config.tls ? { tls: { certFile: resolve(base, config.tls.certFile), keyFile: resolve(base, config.tls.keyFile) } } : {}),
  };
}

/**
 * The user store: from the config object, or re-read from the config file when it changed
 * (so `ward-broker users add` takes effect without a restart).
 */
export class UserStore {
  #users: Map<string, User>;
  #mtimeMs = -1;

  constructor(
    users: readonly User[],
    private readonly file?: string,
  ) {
    this.#users = new Map(users.map((u) => [u.username, u]));
    if (file) this.#mtimeMs = this.#mtime();
  }

  #mtime(): number {
    try {
      return this.file ? statSync(this.file).mtimeMs : -1;
    } catch {
      return -1;
    }
  }

  find(username: string): User | undefined {
    this.#reloadIfChanged();
    return this.#users.get(username);
  }

  /** Every user, in config order. */
  list(): User[] {
    this.#reloadIfChanged();
    return [...this.#users.values()];
  }

  #reloadIfChanged(): void {
    if (this.file) {
      const mtime = this.#mtime();
      if (mtime !== this.#mtimeMs) {
        this.#mtimeMs = mtime;
        try {
          this.#users = new Map(loadConfigFile(this.file).users.map((u) => [u.username, u]));
        } catch {
          // Keep the last good user list: a half-written file must not lock everyone out.
        }
      }
    }
  }
}
