import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeError } from '../errors.js';

/**
 * The native TPM signer (`native/tpm`, C on Node-API over tss2-esys): one ESYS context per TCTI
 * string, kept open, signing in about a millisecond where a tpm2-tools process costs tens. It is
 * built by `npm run build:native` (and `npm test`'s setup step); when it is not built or does not
 * load, the TPM key store signs through tpm2-tools and says so (`TpmKeyStore.signer`).
 */
export type TpmSignerKind = 'native' | 'tpm2-tools';

interface NativeTpmContext {
  sign(handle: number, digest: Uint8Array): Promise<Buffer>;
  /** Drop the TPM connection; the next `sign` reconnects. */
  close(): Promise<void>;
  /** How many connections this context has opened (a reconnect shows as +1). */
  readonly opens: number;
}

interface NativeTpmAddon {
  TpmContext: new (tcti: string | null, timeoutMs: number) => NativeTpmContext;
}

export type NativeTpmStatus = { readonly available: true; readonly path: string } | { readonly available: false; readonly reason: string };

const ADDON_FILE = join('native', 'tpm', 'build', 'Release', 'ward_tpm.node');

/**
 * Where the addon may be: the source tree (this file is main/core/identity/), and in a packaged
 * desktop app the asar-unpacked copy next to app.asar (electron.config.ts `asarUnpack`).
 */
function candidatePaths(): string[] {
  const paths = [join(fileURLToPath(new URL('../../../', import.meta.url)), ADDON_FILE)];
  const resources = (process as { resourcesPath?: string }).resourcesPath;
  if (resources) paths.push(join(resources, 'app.asar.unpacked', ADDON_FILE));
  return paths;
}

let loaded: { status: NativeTpmStatus; addon?: NativeTpmAddon } | undefined;

function load(): { status: NativeTpmStatus; addon?: NativeTpmAddon } {
  if (loaded) return loaded;
  if (process.platform !== 'linux') {
    loaded = { status: { available: false, reason: `the native TPM signer is built for Linux only (this is ${process.platform})` } };
    return loaded;
  }
  const path = candidatePaths().find((p) => existsSync(p));
  if (!path) {
    loaded = { status: { available: false, reason: 'the native TPM signer is not built (run `npm run build:native`; it needs libtss2-dev)' } };
    return loaded;
  }
  try {
    const addon = createRequire(import.meta.url)(path) as NativeTpmAddon;
    if (typeof addon.TpmContext !== 'function') throw new Error('it does not export TpmContext');
    loaded = { status: { available: true, path }, addon };
  } catch (err) {
    // Typically the tss2 shared libraries are missing at run time (libtss2-esys, libtss2-tctildr).
    loaded = { status: { available: false, reason: `the native TPM signer at ${path} did not load: ${describeError(err)}` } };
  }
  return loaded;
}

/** Is the native signer usable in this process, and if not, why. Never throws. */
export function nativeTpmStatus(): NativeTpmStatus {
  return load().status;
}

/**
 * Everything this process says to one TPM (one TCTI string) goes through one `TpmLine`: a queue
 * shared by every TpmKeyStore on that TCTI, and the native context, if any. Without a resource
 * manager a TPM takes one client at a time (`device:/dev/tpm0` is opened exclusively; swtpm
 * serves one connection at a time), so before any tpm2-tools process talks to it the native
 * context lets go (`releaseNative`); the next native signature reconnects. (swtpm's TCTI
 * connects per command, so there it costs only the handle lookup after each tpm2-tools call.)
 */
export class TpmLine {
  private queue: Promise<unknown> = Promise.resolve();
  private context: NativeTpmContext | undefined;

  constructor(
    readonly tcti: string | undefined,
    private readonly timeoutMs: number,
  ) {}

  serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Sign a SHA-256 digest with the persistent key at `handle`; call inside `serial`. Rejects with the addon's coded errors. */
  nativeSign(handle: number, digest: Uint8Array): Promise<Buffer> {
    const { addon, status } = load();
    if (!addon) return Promise.reject(new Error(status.available ? 'unreachable' : status.reason));
    this.context ??= new addon.TpmContext(this.tcti ?? null, this.timeoutMs);
    return this.context.sign(handle, digest);
  }

  /** Connections the native context has opened so far (0 before the first native signature). */
  get nativeOpens(): number {
    return this.context?.opens ?? 0;
  }

  /** Drop the native connection, if one is open (call inside `serial`). */
  async releaseNative(): Promise<void> {
    await this.context?.close();
  }
}

const lines = new Map<string, TpmLine>();

/** The line to the TPM a TCTI string names (`undefined`: the TSS default, /dev/tpmrm0 and friends). */
export function tpmLine(tcti: string | undefined, timeoutMs = 10_000): TpmLine {
  const key = tcti ?? '';
  let line = lines.get(key);
  if (!line) {
    line = new TpmLine(tcti, timeoutMs);
    lines.set(key, line);
  }
  return line;
}

/**
 * Release the native TPM connections of this process (all, or the one for `tcti`): for agent
 * shutdown, and for tests that hand the TPM to another process. Later signatures reconnect.
 */
export async function closeNativeTpm(tcti?: string): Promise<void> {
  const targets = tcti === undefined ? [...lines.values()] : [lines.get(tcti)].filter((l) => l !== undefined);
  await Promise.all(targets.map((line) => line.serial(() => line.releaseNative())));
}

/** Who signs for a TPM key in this process, in words for `ward identity` and `ward doctor`. */
export function describeTpmSigner(): { readonly signer: TpmSignerKind; readonly detail: string } {
  const status = nativeTpmStatus();
  return status.available
    ? { signer: 'native', detail: `native tss2-esys addon, one TPM context kept open (${status.path})` }
    : { signer: 'tpm2-tools', detail: `tpm2-tools, one process per signature: ${status.reason}` };
}
