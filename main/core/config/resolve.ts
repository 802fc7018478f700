import type { Host } from '../exec/host.js';
import { CONFIG_DEFAULTS, JSON_KEY_PATHS, type WardConfig } from './schema.js';
import { ConfigError, readConfigSources, type ConfigLocations, type ConfigSourceReport } from './sources.js';

/** A key the user set that a managed source also sets: the managed value wins and the user's is ignored. */
export interface OverriddenKey {
  readonly key: string;
  readonly userSource: string;
  readonly managedSource: string;
}

export interface ResolvedConfig {
  readonly config: WardConfig;
  /** Keys set by a managed source: the user cannot change them. */
  readonly locked: readonly string[];
  readonly overridden: readonly OverriddenKey[];
  /** For each key that is not a default, the source it came from. */
  readonly origins: Readonly<Record<string, string>>;
  readonly sources: readonly ConfigSourceReport[];
}

/**
 * Dotted leaf paths of a config object. Nested objects (`lock`) are flattened so a managed
 * `lock.stepUpAfterUnlock` does not lock the user's `lock.unlockGraceSeconds`; arrays and the
 * structured `posture` key are one leaf each (they are set as a whole).
 */
function leaves(obj: Record<string, unknown>, prefix = ''): [string, unknown][] {
  return Object.entries(obj).flatMap(([k, v]): [string, unknown][] => {
    const path = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && !JSON_KEY_PATHS.includes(path)) {
      return leaves(v as Record<string, unknown>, path);
    }
    return [[path, v]];
  });
}

function setLeaf(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = obj;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    node[part] = next !== null && typeof next === 'object' && !Array.isArray(next) ? { ...(next as Record<string, unknown>) } : {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1) ?? ''] = value;
}

/**
 * Merge source reports (user first, then managed in increasing precedence) over the defaults.
 * Precedence: defaults < user < managed (and among managed, later wins: /etc/ward/config.json <
 * config.d/*.json in lexical order). Invalid sources are skipped here; `loadConfig` refuses them.
 */
export function mergeConfigSources(sources: readonly ConfigSourceReport[]): ResolvedConfig {
  const values = new Map<string, { value: unknown; source: string; kind: 'managed' | 'user' }>();
  const overridden: OverriddenKey[] = [];
  for (const source of sources) {
    if (!source.data) continue;
    for (const [key, value] of leaves(source.data as Record<string, unknown>)) {
      if (value === undefined) continue;
      const previous = values.get(key);
      if (source.kind === 'managed' && previous?.kind === 'user') {
        overridden.push({ key, userSource: previous.source, managedSource: source.location });
      }
      values.set(key, { value, source: source.location, kind: source.kind });
    }
  }
  const config = structuredClone(CONFIG_DEFAULTS) as unknown as Record<string, unknown>;
  const origins: Record<string, string> = {};
  for (const [key, { value, source }] of values) {
    setLeaf(config, key, value);
    origins[key] = source;
  }
  const locked = [...values].filter(([, v]) => v.kind === 'managed').map(([k]) => k).sort();
  return { config: config as unknown as WardConfig, locked, overridden, origins, sources };
}

/**
 * Read, validate and merge Ward's configuration. Throws `ConfigError` naming every invalid or
 * unknown key and its file or registry key: a broken policy is never half-applied.
 */
export async function loadConfig(host: Host, locations: ConfigLocations): Promise<ResolvedConfig> {
  const sources = await readConfigSources(host, locations);
  const problems = sources.flatMap((s) => s.problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return mergeConfigSources(sources);
}
