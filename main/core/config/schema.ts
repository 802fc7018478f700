import { z } from 'zod';
import { PostureConfigSchema } from '../posture/config.js';
import { findCheck } from '../posture/registry.js';

/** The app id shared by the installer, macOS managed preferences and the update feed. */
export const WARD_APP_ID = 'dev.ward.agent';

/** Update channels, named as electron-updater names its metadata files (`latest.yml`, `beta.yml`, ...). */
export const UPDATE_CHANNELS = ['latest', 'beta', 'alpha'] as const;
export type UpdateChannel = (typeof UPDATE_CHANNELS)[number];

const httpsUrl = z
  .string()
  .max(2048)
  .refine((value) => {
    try {
      const url = new URL(value);
      // Loopback http is allowed for the embedded reference broker and tests; anything else must be https.
      return url.protocol === 'https:' || (url.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname));
    } catch {
      return false;
    }
  }, 'must be an https:// URL (http:// only for 127.0.0.1)');

const origin = z
  .string()
  .max(512)
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value;
    } catch {
      return false;
    }
  }, 'must be an origin such as https://login.example.com (scheme, host and optional port, no path)');

const checkId = z
  .string()
  .max(64)
  .refine((id) => findCheck(id) !== undefined, { error: (issue) => `"${String(issue.input)}" is not a Ward posture check (see \`ward checks\`)` });

/** Lock and wake behaviour: when the agent asks for a fresh sign-in. */
export const LockBehaviourSchema = z
  .object({
    /** After the OS session is unlocked, require a step-up before tokens are used again. */
    stepUpAfterUnlock: z.boolean().optional(),
    /** After the machine wakes from sleep, require a step-up. */
    stepUpAfterWake: z.boolean().optional(),
    /** A lock shorter than this does not trigger a step-up. */
    unlockGraceSeconds: z.number().int().min(0).max(86_400).optional(),
  })
  .strict();

/**
 * Every configuration key Ward reads, from any source (managed or user). All keys are optional in
 * a source; `resolveConfig` fills the defaults. `.strict()` makes an unknown key an error, so a
 * typo in a policy never silently does nothing.
 */
export const WardConfigSchema = z
  .object({
    /** The access broker, e.g. `https://broker.example.com`. */
    brokerUrl: httpsUrl.optional(),
    /** One-time enrollment token from IT. Used for the first enrollment only, then ignored. Never logged. */
    enrollmentToken: z.string().min(16).max(4096).optional(),
    /** Browser origins allowed to call the agent's loopback API (sign-in pages). */
    allowedBrowserOrigins: z.array(origin).max(100).optional(),
    /** Whether the device key must be hardware-backed (TPM / Secure Enclave). */
    hardwareKey: z.enum(['required', 'preferred', 'any']).optional(),
    /** Update channel (electron-updater channel name). */
    updateChannel: z.enum(UPDATE_CHANNELS).optional(),
    /** Base URL of the self-hosted update feed (generic provider). */
    updateFeedUrl: httpsUrl.optional(),
    /** Turn automatic updates off (IT ships updates itself). */
    autoUpdate: z.boolean().optional(),
    lock: LockBehaviourSchema.optional(),
    /** Checks that must pass for the device to count as compliant. */
    requiredChecks: z.array(checkId).max(50).optional(),
    /** What the configurable posture checks look for. */
    posture: PostureConfigSchema.optional(),
  })
  .strict();
export type WardConfigInput = z.infer<typeof WardConfigSchema>;

/** The configuration after merging every source and filling defaults. */
export interface WardConfig {
  readonly brokerUrl: string | undefined;
  readonly enrollmentToken: string | undefined;
  readonly allowedBrowserOrigins: readonly string[];
  readonly hardwareKey: 'required' | 'preferred' | 'any';
  readonly updateChannel: UpdateChannel;
  readonly updateFeedUrl: string | undefined;
  readonly autoUpdate: boolean;
  readonly lock: { readonly stepUpAfterUnlock: boolean; readonly stepUpAfterWake: boolean; readonly unlockGraceSeconds: number };
  readonly requiredChecks: readonly string[];
  readonly posture: z.infer<typeof PostureConfigSchema>;
}

export const CONFIG_DEFAULTS: WardConfig = {
  brokerUrl: undefined,
  enrollmentToken: undefined,
  allowedBrowserOrigins: [],
  hardwareKey: 'preferred',
  updateChannel: 'latest',
  updateFeedUrl: undefined,
  autoUpdate: true,
  lock: { stepUpAfterUnlock: false, stepUpAfterWake: false, unlockGraceSeconds: 60 },
  requiredChecks: [],
  posture: PostureConfigSchema.parse({}),
};

/**
 * Keys whose value is a boolean. The Windows registry has no boolean type: group policy writes
 * REG_DWORD 0/1, which the registry source turns into booleans at these paths.
 */
export const BOOLEAN_KEY_PATHS: readonly string[] = ['autoUpdate', 'lock.stepUpAfterUnlock', 'lock.stepUpAfterWake'];

/**
 * Keys whose value is structured JSON in a registry REG_SZ (ADMX cannot express lists of objects).
 */
export const JSON_KEY_PATHS: readonly string[] = ['posture'];
