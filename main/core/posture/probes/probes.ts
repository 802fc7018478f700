import type { CheckContext, CheckOutcome } from '../check.js';
import type { DeviceFacts } from '../snapshot.js';

export interface ProcessInfo {
  readonly pid: number;
  readonly name: string;
  /** Absolute path of the executable, or null where the OS would not say. */
  readonly exe: string | null;
}

export interface CertificateInfo {
  readonly subject: string;
  /** Lower-case hex, no separators. */
  readonly sha1: string | null;
  readonly sha256: string | null;
  /** Where it was found (store name or file). */
  readonly location: string;
  readonly notAfter: string | null;
}

/** A probe: reads one aspect of the machine through `ctx.host` and concludes. */
export type Probe = (ctx: CheckContext) => Promise<CheckOutcome>;

/**
 * One implementation per OS (`linux.ts`, `darwin.ts`, `win32.ts`), chosen once from the platform.
 * Where an OS cannot answer, its probe returns `unsupported` with the reason; it never guesses.
 */
export interface PostureProbes {
  readonly osVersion: Probe;
  readonly osUpdates: Probe;
  readonly diskEncryption: Probe;
  readonly firewall: Probe;
  readonly screenLock: Probe;
  readonly antivirus: Probe;
  readonly edr: Probe;
  readonly autoUpdate: Probe;
  readonly secureBoot: Probe;
  readonly remoteLogin: Probe;
  /** Running processes with their executables, for required/forbidden process rules. */
  listProcesses(ctx: CheckContext): Promise<ProcessInfo[]>;
  /** Certificates in the machine's trust/personal stores, for certificate rules. */
  listCertificates(ctx: CheckContext): Promise<CertificateInfo[]>;
  /** OS and hardware facts for the snapshot header. */
  deviceFacts(ctx: CheckContext): Promise<DeviceFacts>;
}
