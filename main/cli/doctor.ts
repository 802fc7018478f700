import { dirname } from 'node:path';
import { z } from 'zod';
import { mergeConfigSources } from '../core/config/resolve.js';
import { defaultConfigLocations, readConfigSources, type ConfigLocations, type ConfigSourceReport } from '../core/config/sources.js';
import { describeError } from '../core/errors.js';
import { allowedPaths, allowedCommands } from '../core/exec/allowlist/index.js';
import type { Host } from '../core/exec/host.js';
import { LiveHost } from '../core/exec/live-host.js';
import { describeTpmSigner } from '../core/identity/native-tpm.js';
import { TpmKeyStore } from '../core/identity/tpm-key-store.js';
import { currentPlatform, type Platform } from '../core/platform.js';
import { AGENT_VERSION } from '../core/version.js';
import { EXIT, type CliIO, parseCommandArgs } from './io.js';

export type DoctorStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface DoctorCheck {
  readonly id: 'config' | 'key-store' | 'broker' | 'clock' | 'update' | 'tools';
  readonly title: string;
  readonly status: DoctorStatus;
  /** One sentence IT can act on. */
  readonly summary: string;
  /** Supporting lines for the ticket. Never a token or key. */
  readonly details: readonly string[];
  readonly data?: Record<string, unknown>;
}

export interface DoctorReport {
  readonly wardVersion: string;
  readonly platform: Platform;
  readonly generatedAt: string;
  readonly checks: readonly DoctorCheck[];
}

export interface KeychainProbeResult {
  readonly available: boolean;
  readonly detail: string;
}

export interface DoctorDeps {
  readonly host: Host;
  readonly locations: ConfigLocations;
  readonly fetch: typeof fetch;
  /** Wall clock in ms (injected: the skew test needs to know what "now" was). */
  readonly now: () => number;
  readonly keychainProbe: () => Promise<KeychainProbeResult>;
  readonly brokerTimeoutMs: number;
  readonly currentVersion: string;
}

/** Clock skew limits: tokens and attestations carry short `exp`/`iat` windows. */
export const SKEW_WARN_MS = 30_000;
export const SKEW_FAIL_MS = 300_000;

function describeSource(s: ConfigSourceReport): string {
  const state = !s.found ? 'not present' : s.problems.length > 0 ? `INVALID (${s.problems.length} problem${s.problems.length > 1 ? 's' : ''})` : 'valid';
  return `${s.kind.padEnd(7)} ${s.location}: ${state}`;
}

function configCheck(sources: readonly ConfigSourceReport[]): DoctorCheck {
  const problems = sources.flatMap((s) => s.problems);
  const merged = mergeConfigSources(sources);
  const managedFound = sources.some((s) => s.kind === 'managed' && s.found);
  const details = [
    ...sources.map(describeSource),
    ...problems.map((p) => `  problem: ${p.source}: ${p.key}: ${p.message}`),
    ...(merged.locked.length > 0 ? [`locked by IT: ${merged.locked.join(', ')}`] : []),
    ...merged.overridden.map((o) => `ignored user setting: ${o.key} (${o.userSource}) — set by ${o.managedSource}`),
  ];
  const c = merged.config;
  const data = {
    sources: sources.map((s) => ({ kind: s.kind, location: s.location, found: s.found, problems: s.problems })),
    locked: merged.locked,
    overridden: merged.overridden,
    effective: { ...c, enrollmentToken: c.enrollmentToken === undefined ? 'not set' : 'set (hidden)' },
  };
  if (problems.length > 0) {
    return { id: 'config', title: 'Configuration', status: 'fail', summary: `${problems.length} invalid setting(s): fix the named key in the named source`, details, data };
  }
  if (!managedFound) {
    return { id: 'config', title: 'Configuration', status: 'warn', summary: 'no managed configuration found; running on user settings and defaults', details, data };
  }
  return { id: 'config', title: 'Configuration', status: 'ok', summary: 'managed configuration found and valid', details, data };
}

async function keyStoreCheck(deps: DoctorDeps, hardwareKey: 'required' | 'preferred' | 'any'): Promise<DoctorCheck> {
  const tcti = deps.host.env('TPM2TOOLS_TCTI');
  let devices: string[] = [];
  if (deps.host.platform === 'linux') {
    try {
      devices = (await deps.host.readDir('/dev')).filter((n) => /^tpm(rm)?\d+$/.test(n));
    } catch {
      devices = [];
    }
  }
  const [tpm, keychain] = await Promise.all([TpmKeyStore.probe(deps.host, tcti), deps.keychainProbe()]);
  const tpmSigner = deps.host.platform === 'linux' ? describeTpmSigner() : undefined;
  const details = [
    `TPM: ${tpm.available ? `available${tpm.manufacturer ? ` (manufacturer ${tpm.manufacturer})` : ''}` : `not usable: ${tpm.reason}`}`,
    ...(tpmSigner ? [`TPM signer: ${tpmSigner.detail}`] : []),
    `TPM devices: ${devices.length > 0 ? devices.map((d) => `/dev/${d}`).join(', ') : 'none'}; TPM2TOOLS_TCTI ${tcti ? `= ${tcti}` : 'not set'}`,
    `OS keychain: ${keychain.available ? 'available' : 'not usable'}: ${keychain.detail}`,
    `policy hardwareKey = ${hardwareKey}`,
  ];
  const data = { tpm, tpmDevices: devices, keychain, hardwareKey, ...(tpmSigner ? { tpmSigner: tpmSigner.signer } : {}) };
  if (hardwareKey === 'required' && !tpm.available) {
    return { id: 'key-store', title: 'Key store', status: 'fail', summary: 'policy requires a hardware key but no TPM is usable', details, data };
  }
  if (!tpm.available && !keychain.available) {
    return { id: 'key-store', title: 'Key store', status: 'fail', summary: 'neither a TPM nor the OS keychain is usable: the device key cannot be stored', details, data };
  }
  if (!tpm.available && hardwareKey === 'preferred') {
    return { id: 'key-store', title: 'Key store', status: 'warn', summary: 'no TPM: the device key will be a software key in the OS keychain (lower assurance)', details, data };
  }
  return { id: 'key-store', title: 'Key store', status: 'ok', summary: tpm.available ? 'TPM available for a hardware-backed key' : 'OS keychain available', details, data };
}

const DiscoverySchema = z.object({ issuer: z.string().min(1) }).loose();

async function brokerChecks(deps: DoctorDeps, brokerUrl: string | undefined): Promise<[DoctorCheck, DoctorCheck]> {
  if (!brokerUrl) {
    const skip = (id: 'broker' | 'clock', title: string): DoctorCheck => ({ id, title, status: id === 'broker' ? 'warn' : 'skip', summary: 'no brokerUrl configured', details: [] });
    return [skip('broker', 'Broker'), skip('clock', 'Clock skew')];
  }
  const url = new URL('.well-known/openid-configuration', brokerUrl.endsWith('/') ? brokerUrl : `${brokerUrl}/`).toString();
  const sentAt = deps.now();
  let response: Response;
  try {
    response = await deps.fetch(url, { signal: AbortSignal.timeout(deps.brokerTimeoutMs), redirect: 'error', headers: { accept: 'application/json' } });
  } catch (err) {
    const reason = (err as Error).name === 'TimeoutError' ? `no answer within ${deps.brokerTimeoutMs} ms` : describeError((err as Error).cause ?? err);
    const fail: DoctorCheck = { id: 'broker', title: 'Broker', status: 'fail', summary: `broker unreachable: ${reason}`, details: [`GET ${url}`] };
    return [fail, { id: 'clock', title: 'Clock skew', status: 'skip', summary: 'broker unreachable', details: [] }];
  }
  const receivedAt = deps.now();
  const latencyMs = receivedAt - sentAt;
  const body = await response.text().catch(() => '');
  let broker: DoctorCheck;
  const details = [`GET ${url} → HTTP ${response.status} in ${latencyMs} ms`];
  if (!response.ok) {
    broker = { id: 'broker', title: 'Broker', status: 'fail', summary: `broker answered HTTP ${response.status}`, details, data: { url, status: response.status, latencyMs } };
  } else {
    let parsed: ReturnType<typeof DiscoverySchema.safeParse> | undefined;
    try {
      parsed = DiscoverySchema.safeParse(JSON.parse(body));
    } catch {
      parsed = undefined;
    }
    broker = parsed?.success
      ? { id: 'broker', title: 'Broker', status: 'ok', summary: `broker reachable (issuer ${parsed.data.issuer})`, details, data: { url, status: response.status, latencyMs, issuer: parsed.data.issuer } }
      : { id: 'broker', title: 'Broker', status: 'fail', summary: 'broker answered, but not with OpenID provider metadata', details, data: { url, status: response.status, latencyMs } };
  }
  const dateHeader = response.headers.get('date');
  const serverMs = dateHeader ? Date.parse(dateHeader) : Number.NaN;
  if (Number.isNaN(serverMs)) return [broker, { id: 'clock', title: 'Clock skew', status: 'skip', summary: 'the broker sent no Date header', details: [] }];
  // The Date header has one-second resolution; compare it with the middle of the round trip.
  const skewMs = Math.round(serverMs - (sentAt + receivedAt) / 2);
  const abs = Math.abs(skewMs);
  const status: DoctorStatus = abs > SKEW_FAIL_MS ? 'fail' : abs > SKEW_WARN_MS ? 'warn' : 'ok';
  const direction = skewMs > 0 ? 'behind' : 'ahead of';
  const summary = abs <= 1000 ? 'clock agrees with the broker (within the Date header’s 1 s resolution)' : `this device's clock is ${(abs / 1000).toFixed(0)} s ${direction} the broker`;
  return [broker, { id: 'clock', title: 'Clock skew', status, summary, details: [`broker Date: ${dateHeader}`, `local time: ${new Date(receivedAt).toUTCString()}`], data: { skewMs, brokerDate: dateHeader } }];
}

function updateCheck(deps: DoctorDeps, c: ReturnType<typeof mergeConfigSources>['config']): DoctorCheck {
  const details = [`running version ${deps.currentVersion}`, `channel ${c.updateChannel}`, `feed ${c.updateFeedUrl ?? 'not configured'}`, `automatic updates ${c.autoUpdate ? 'on' : 'off (IT ships updates)'}`];
  const data = { currentVersion: deps.currentVersion, channel: c.updateChannel, feedUrl: c.updateFeedUrl ?? null, autoUpdate: c.autoUpdate };
  if (c.autoUpdate && !c.updateFeedUrl) return { id: 'update', title: 'Updates', status: 'warn', summary: 'automatic updates are on but no updateFeedUrl is configured', details, data };
  return { id: 'update', title: 'Updates', status: 'ok', summary: c.autoUpdate ? `following the ${c.updateChannel} channel` : 'automatic updates are off by policy', details, data };
}

async function toolsCheck(host: Host): Promise<DoctorCheck> {
  const listings = new Map<string, Promise<Set<string>>>();
  const list = (dir: string) => {
    let p = listings.get(dir);
    if (!p) {
      p = host.readDir(dir).then((names) => new Set(names), () => new Set<string>());
      listings.set(dir, p);
    }
    return p;
  };
  const present: string[] = [];
  const missing: string[] = [];
  for (const name of allowedCommands(host.platform)) {
    let found = false;
    for (const candidate of allowedPaths(host.platform, name) ?? []) {
      const base = candidate.split(/[\\/]/).pop() ?? '';
      if ((await list(dirname(candidate))).has(base)) found = true;
    }
    (found ? present : missing).push(name);
  }
  return {
    id: 'tools', title: 'Allow-listed tools', status: 'ok',
    summary: `${present.length} of ${present.length + missing.length} allow-listed tools are installed (checks that need a missing tool report it themselves)`,
    details: [`present: ${present.join(', ') || 'none'}`, `missing: ${missing.join(', ') || 'none'}`],
    data: { present, missing },
  };
}

/** Run every doctor check. Never throws for a problem it finds: that is a `fail` line. */
export async function runDoctor(deps: DoctorDeps): Promise<DoctorReport> {
  const sources = await readConfigSources(deps.host, deps.locations);
  const { config } = mergeConfigSources(sources);
  const [keyStore, [broker, clock], tools] = await Promise.all([keyStoreCheck(deps, config.hardwareKey), brokerChecks(deps, config.brokerUrl), toolsCheck(deps.host)]);
  return {
    wardVersion: AGENT_VERSION,
    platform: deps.host.platform,
    generatedAt: new Date(deps.now()).toISOString(),
    checks: [configCheck(sources), keyStore, broker, clock, updateCheck(deps, config), tools],
  };
}

const MARK: Record<DoctorStatus, string> = { ok: 'OK  ', warn: 'WARN', fail: 'FAIL', skip: 'SKIP' };

export function renderDoctor(report: DoctorReport): string {
  const lines = [`Ward doctor — ward ${report.wardVersion} on ${report.platform}, ${report.generatedAt}`, ''];
  for (const c of report.checks) {
    lines.push(`[${MARK[c.status]}] ${c.title}: ${c.summary}`);
    for (const d of c.details) lines.push(`       ${d}`);
  }
  const fails = report.checks.filter((c) => c.status === 'fail').length;
  const warns = report.checks.filter((c) => c.status === 'warn').length;
  lines.push('', fails > 0 ? `${fails} problem(s) need attention (exit code 1).` : warns > 0 ? `No failures; ${warns} warning(s).` : 'Everything checked is fine.');
  return `${lines.join('\n')}\n`;
}

/** A Secret Service / Keychain / Credential Manager round trip with a throw-away entry. */
export async function probeKeychain(): Promise<KeychainProbeResult> {
  try {
    const { AsyncEntry } = await import('@napi-rs/keyring');
    const entry = new AsyncEntry('dev.ward.agent.doctor', `probe-${process.pid}`, { linux: { store: 'secret-service' } });
    await entry.setPassword('probe');
    const back = await entry.getPassword();
    await entry.deletePassword();
    return back === 'probe' ? { available: true, detail: 'a probe entry was written, read back and deleted' } : { available: false, detail: 'a probe entry read back differently' };
  } catch (err) {
    return { available: false, detail: describeError(err) };
  }
}

/**
 * `ward doctor [--json] [--timeout-ms N]`. Exit codes: 0 nothing failed (warnings allowed),
 * 1 at least one check failed, 2 usage error, 3 the doctor itself could not run.
 */
export async function run(args: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandArgs(
    args,
    io,
    { json: { type: 'boolean', default: false }, 'timeout-ms': { type: 'string', default: '5000' } },
    'Usage: ward doctor [--json] [--timeout-ms N]\n\nChecks configuration sources, key store, broker reachability, clock skew, update state and allow-listed tools.\nExit codes: 0 no failures (warnings allowed), 1 a check failed, 2 usage error, 3 doctor could not run.\n',
    { command: 'doctor' },
  );
  if ('exit' in parsed) return parsed.exit;
  const { values } = parsed;
  const timeoutMs = Number(values['timeout-ms']);
  const platform = currentPlatform();
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    io.stderr('ward doctor: --timeout-ms must be a positive integer\n');
    return EXIT.usage;
  }
  if (!platform) {
    io.stderr(`ward doctor: ${process.platform} is not a platform Ward supports\n`);
    return EXIT.failure;
  }
  const host = new LiveHost(platform);
  const report = await runDoctor({
    host,
    locations: defaultConfigLocations(platform, (n) => io.env[n]),
    fetch: globalThis.fetch,
    now: Date.now,
    keychainProbe: probeKeychain,
    brokerTimeoutMs: timeoutMs,
    currentVersion: AGENT_VERSION,
  });
  io.stdout(values.json ? `${JSON.stringify(report, null, 2)}\n` : renderDoctor(report));
  return report.checks.some((c) => c.status === 'fail') ? EXIT.problem : EXIT.ok;
}
