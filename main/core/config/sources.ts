import { parsePlistXml } from '../plist-xml.js';
import { WardError } from '../errors.js';
import { isExecError } from '../exec/exec-error.js';
import type { Host } from '../exec/host.js';
import type { Platform } from '../platform.js';
import { parseRegQuery, registryToObject } from './reg-query.js';
import { BOOLEAN_KEY_PATHS, JSON_KEY_PATHS, WARD_APP_ID, WardConfigSchema, type WardConfigInput } from './schema.js';

export type ConfigSourceKind = 'managed' | 'user';

/** One problem in one source: which key (dotted path) and which file or registry key. */
export interface ConfigProblem {
  readonly source: string;
  readonly key: string;
  readonly message: string;
}

export interface ConfigSourceReport {
  readonly kind: ConfigSourceKind;
  /** File path or registry key. */
  readonly location: string;
  readonly found: boolean;
  readonly problems: readonly ConfigProblem[];
  /** The validated content (undefined when absent or invalid). */
  readonly data: WardConfigInput | undefined;
}

export class ConfigError extends WardError<'config-invalid'> {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    const lines = problems.map((p) => `${p.source}: ${p.key}: ${p.message}`);
    super('config-invalid', `Ward's configuration is invalid:\n  ${lines.join('\n  ')}`, {
      hint: 'Fix the named key in the named file or registry key (see docs/it-admin.md for every key), then run `ward doctor`.',
    });
    this.problems = problems;
  }
}

/** Where each platform keeps Ward's configuration. Tests point these at temp directories. */
export interface ConfigLocations {
  /** Linux: the managed directory holding config.json and config.d/ (default /etc/ward). */
  readonly linuxEtcDir: string;
  /** macOS: the managed-preferences plist a configuration profile installs. */
  readonly darwinManagedPlist: string;
  /** Windows: the group-policy registry key. */
  readonly win32PolicyKey: string;
  /** The user's own config file (lowest precedence after the defaults). */
  readonly userConfigFile: string | undefined;
}

export const LINUX_ETC_DIR = '/etc/ward';
export const DARWIN_MANAGED_PLIST = `/Library/Managed Preferences/${WARD_APP_ID}.plist`;
export const WIN32_POLICY_KEY = 'HKLM\\SOFTWARE\\Policies\\Ward';

export function defaultConfigLocations(platform: Platform, env: (name: string) => string | undefined): ConfigLocations {
  const home = env('HOME');
  let userConfigFile: string | undefined;
  if (platform === 'linux') {
    const base = env('XDG_CONFIG_HOME') || (home ? `${home}/.config` : undefined);
    userConfigFile = base ? `${base}/ward/config.json` : undefined;
  } else if (platform === 'darwin') {
    userConfigFile = home ? `${home}/Library/Application Support/Ward/config.json` : undefined;
  } else {
    const appData = env('APPDATA');
    userConfigFile = appData ? `${appData}\\Ward\\config.json` : undefined;
  }
  return { linuxEtcDir: LINUX_ETC_DIR, darwinManagedPlist: DARWIN_MANAGED_PLIST, win32PolicyKey: WIN32_POLICY_KEY, userConfigFile };
}

const MAX_CONFIG_BYTES = 256 * 1024;

/** Validate raw parsed content against the one schema, naming each bad key. Never throws. */
export function validateConfig(raw: unknown, source: string): { data: WardConfigInput | undefined; problems: ConfigProblem[] } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { data: undefined, problems: [{ source, key: '(top level)', message: 'must be an object of configuration keys' }] };
  }
  const parsed = WardConfigSchema.safeParse(raw);
  if (parsed.success) return { data: parsed.data, problems: [] };
  const problems = parsed.error.issues.flatMap((issue): ConfigProblem[] => {
    const at = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => ({ source, key: [...at, k].join('.'), message: 'unknown key (not a Ward setting; check the spelling)' }));
    }
    return [{ source, key: at.join('.') || '(top level)', message: issue.message }];
  });
  return { data: undefined, problems };
}

function report(kind: ConfigSourceKind, location: string, raw: unknown, extra: ConfigProblem[] = []): ConfigSourceReport {
  if (extra.length > 0) return { kind, location, found: true, problems: extra, data: undefined };
  const { data, problems } = validateConfig(raw, location);
  return { kind, location, found: true, problems, data };
}

function unreadable(kind: ConfigSourceKind, location: string, err: unknown): ConfigSourceReport {
  if (isExecError(err, 'not-found')) return { kind, location, found: false, problems: [], data: undefined };
  const message = err instanceof Error ? err.message : String(err);
  return { kind, location, found: true, problems: [{ source: location, key: '(file)', message: `could not be read: ${message}` }], data: undefined };
}

async function readJsonSource(host: Host, kind: ConfigSourceKind, path: string): Promise<ConfigSourceReport> {
  let text: string;
  try {
    text = await host.readFile(path, { maxBytes: MAX_CONFIG_BYTES });
  } catch (err) {
    return unreadable(kind, path, err);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return report(kind, path, undefined, [{ source: path, key: '(file)', message: `is not valid JSON: ${(err as Error).message}` }]);
  }
  return report(kind, path, raw);
}

/** Parse a managed-preferences plist (XML). Never throws: a bad document is a problem. */
export function parseManagedPlist(xml: string): { value: unknown } | { error: string } {
  // Only XML plists reach here (binary ones went through plutil). Checking the prolog first keeps
  // the XML parser, which reports errors on the console, from seeing text that is not a plist.
  if (!/^\s*(<\?xml[^>]*\?>\s*)?(<!DOCTYPE[^>]*>\s*)?<plist[\s>]/.test(xml)) return { error: 'is not an XML property list' };
  try {
    return { value: parsePlistXml(xml) };
  } catch (err) {
    return { error: `is not a valid property list: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` };
  }
}

async function readPlistSource(host: Host, path: string): Promise<ConfigSourceReport> {
  let text: string;
  try {
    text = await host.readFile(path, { maxBytes: MAX_CONFIG_BYTES });
  } catch (err) {
    return unreadable('managed', path, err);
  }
  // Profiles usually install binary plists; only Apple's plutil reads them, so ask it for XML.
  if (text.startsWith('bplist')) {
    try {
      text = (await host.run('plutil', ['-convert', 'xml1', '-o', '-', path])).stdout;
    } catch (err) {
      return report('managed', path, undefined, [{ source: path, key: '(file)', message: `binary plist could not be converted: ${(err as Error).message}` }]);
    }
  }
  const parsed = parseManagedPlist(text);
  if ('error' in parsed) return report('managed', path, undefined, [{ source: path, key: '(file)', message: parsed.error }]);
  return report('managed', path, parsed.value);
}

function getPath(obj: Record<string, unknown>, path: string): { parent: Record<string, unknown>; leaf: string } | undefined {
  const parts = path.split('.');
  let node: unknown = obj;
  for (const part of parts.slice(0, -1)) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  const leaf = parts.at(-1) ?? '';
  if (typeof node !== 'object' || node === null || !Object.hasOwn(node, leaf)) return undefined;
  return { parent: node as Record<string, unknown>, leaf };
}

/** Registry values are strings and numbers: turn DWORD 0/1 into booleans and JSON strings into objects. */
export function coerceRegistryValues(obj: Record<string, unknown>, source: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const path of BOOLEAN_KEY_PATHS) {
    const at = getPath(obj, path);
    const v = at?.parent[at.leaf];
    if (at && (v === 0 || v === 1)) at.parent[at.leaf] = v === 1;
  }
  for (const path of JSON_KEY_PATHS) {
    const at = getPath(obj, path);
    const v = at?.parent[at.leaf];
    if (at && typeof v === 'string') {
      try {
        at.parent[at.leaf] = JSON.parse(v) as unknown;
      } catch {
        problems.push({ source, key: path, message: 'must be a JSON object (REG_SZ)' });
      }
    }
  }
  return problems;
}

/** Read the policy key's `reg query /s` text into a config object. Pure; never throws. */
export function configFromRegQuery(text: string, key: string): { raw: Record<string, unknown>; problems: ConfigProblem[] } {
  const tree = registryToObject(parseRegQuery(text), key);
  const problems: ConfigProblem[] = tree.problems.map((p) => ({ source: key, key: p.key, message: p.message }));
  problems.push(...coerceRegistryValues(tree.value, key));
  return { raw: tree.value, problems };
}

async function readRegistrySource(host: Host, key: string): Promise<ConfigSourceReport> {
  let stdout: string;
  try {
    // Exit code 1 with "unable to find the specified registry key" means no policy is set.
    const result = await host.run('reg', ['query', key, '/s'], { okExitCodes: [0, 1] });
    if (result.exitCode === 1) return { kind: 'managed', location: key, found: false, problems: [], data: undefined };
    stdout = result.stdout;
  } catch (err) {
    return unreadable('managed', key, err);
  }
  const { raw, problems } = configFromRegQuery(stdout, key);
  return report('managed', key, raw, problems);
}

/** The managed sources of a platform, in increasing precedence. */
async function readManagedSources(host: Host, locations: ConfigLocations): Promise<ConfigSourceReport[]> {
  switch (host.platform) {
    case 'linux': {
      const dir = `${locations.linuxEtcDir}/config.d`;
      const out = [await readJsonSource(host, 'managed', `${locations.linuxEtcDir}/config.json`)];
      let names: string[] = [];
      try {
        names = await host.readDir(dir);
      } catch (err) {
        if (!isExecError(err, 'not-found')) out.push(unreadable('managed', dir, err));
      }
      // Lexical (code-point) order, so 10-site.json comes before 20-team.json whatever the locale.
      for (const name of names.filter((n) => n.endsWith('.json')).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
        out.push(await readJsonSource(host, 'managed', `${dir}/${name}`));
      }
      return out;
    }
    case 'darwin':
      return [await readPlistSource(host, locations.darwinManagedPlist)];
    case 'win32':
      return [await readRegistrySource(host, locations.win32PolicyKey)];
  }
}

/**
 * Read every configuration source of the host's platform: the user's file first, then the
 * managed sources in increasing precedence. Never throws; problems are in each report.
 */
export async function readConfigSources(host: Host, locations: ConfigLocations): Promise<ConfigSourceReport[]> {
  const user = locations.userConfigFile ? [await readJsonSource(host, 'user', locations.userConfigFile)] : [];
  return [...user, ...(await readManagedSources(host, locations))];
}
