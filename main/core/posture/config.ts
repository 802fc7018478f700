import { z } from 'zod';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/i, 'a SHA-256 is 64 hexadecimal characters').transform((s) => s.toLowerCase());

/** A process named by its name, and optionally pinned to the SHA-256 of its executable. */
export const ProcessRuleSchema = z.object({
  name: z.string().min(1).max(255),
  sha256: sha256.optional(),
});
export type ProcessRule = z.infer<typeof ProcessRuleSchema>;

export const FileRuleSchema = z.object({
  path: z.string().min(1).max(4096),
  sha256: sha256.optional(),
});
export type FileRule = z.infer<typeof FileRuleSchema>;

export const CertificateRuleSchema = z
  .object({
    /** Substring of the subject, e.g. `CN=Example Corp Device CA`. */
    subject: z.string().min(1).max(1024).optional(),
    /** SHA-1 thumbprint (Windows style) or SHA-256 fingerprint, hex, separators ignored. */
    thumbprint: z.string().min(40).max(95).optional(),
    /** Linux: PEM files or directories to look in (defaults to the system trust stores). */
    paths: z.array(z.string().max(4096)).max(50).optional(),
  })
  .refine((c) => c.subject !== undefined || c.thumbprint !== undefined, 'a certificate rule needs a subject or a thumbprint');
export type CertificateRule = z.infer<typeof CertificateRuleSchema>;

/** What the configurable checks look for. Comes from managed config or the broker's policy. */
export const PostureConfigSchema = z
  .object({
    requiredProcesses: z.array(ProcessRuleSchema).max(100).default([]),
    forbiddenProcesses: z.array(ProcessRuleSchema).max(100).default([]),
    requiredFiles: z.array(FileRuleSchema).max(100).default([]),
    requiredCertificates: z.array(CertificateRuleSchema).max(50).default([]),
    /** Minimum Ward version (semver) for the agent-version check. */
    minimumAgentVersion: z.string().regex(/^\d+\.\d+\.\d+/).optional(),
    /** Screen lock: the longest idle delay that still passes. */
    maxScreenLockDelaySeconds: z.number().int().positive().max(86_400).default(900),
  })
  .strict();
export type PostureConfig = z.infer<typeof PostureConfigSchema>;

export const DEFAULT_POSTURE_CONFIG: PostureConfig = PostureConfigSchema.parse({});
