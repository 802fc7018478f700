// The compiled headless agent and reference broker, and the V8 flags `ward daemon` runs with.
// Plain JavaScript: the launchers (bin/ward.mjs, bin/ward-broker.mjs) read it before any
// TypeScript loader is registered.
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** `npm run build:agent` writes the daemon here: `cli.js`, its chunks and `inputs.json` (written last). */
export const AGENT_DIST = join(ROOT, 'dist', 'agent');
export const AGENT_ENTRY = join(AGENT_DIST, 'cli.js');
/** `npm run build:broker` writes `ward-broker` here, the same way. */
export const BROKER_DIST = join(ROOT, 'dist', 'broker');

/**
 * What each bundle compiles: `cli` is the command's entry; the agent's `oauth-child` is the
 * daemon's short-lived OAuth helper process (main/core/session/oauth-process-client.ts).
 */
const BUNDLES = {
  agent: { dir: AGENT_DIST, entryPoints: { cli: join(ROOT, 'main', 'cli', 'bin.ts'), 'oauth-child': join(ROOT, 'main', 'core', 'session', 'oauth-process-child.ts') } },
  broker: { dir: BROKER_DIST, entryPoints: { cli: join(ROOT, 'broker', 'server', 'bin.ts') } },
};
/** Pure-JavaScript packages compiled into the bundle (minified, only what Ward uses): ~1 MB less heap than loading them from node_modules. */
const INLINED = ['zod', 'pino', 'jose', 'semver', 'oauth4webapi', 'openid-client'];

/**
 * V8 flags for the long-running, mostly idle daemon (measured in docs/continuous-access.md):
 *  - a 1 MB young generation instead of up to 16 MB: the idle agent allocates little, and a
 *    large nursery is resident memory between scavenges;
 *  - no optimizing or baseline compiler (TurboFan, Sparkplug): the agent wakes a few times a
 *    minute, the interpreter is fast enough, and the compilers' code and output never page in;
 *  - GC on the main thread only: no helper threads with their own stacks and malloc arenas;
 *  - V8's optimize-for-size mode: the heap grows in smaller steps and keeps less free space.
 * They are command-line flags because V8 reads them when the heap is set up (setting them with
 * `v8.setFlagsFromString` at run time crashes the GC).
 */
export const DAEMON_NODE_FLAGS = ['--max-semi-space-size=1', '--no-opt', '--no-sparkplug', '--single-threaded-gc', '--optimize-for-size'];

/**
 * The compiled agent's entry when it was built from the sources now in the tree (every input
 * file unchanged since the build), else undefined: a checkout then runs the TypeScript itself.
 */
export function freshAgentBundle(dir = AGENT_DIST) {
  return freshBundle(dir);
}

/** {@link freshAgentBundle} for the reference broker (`npm run build:broker`). */
export function freshBrokerBundle(dir = BROKER_DIST) {
  return freshBundle(dir);
}

function freshBundle(dir) {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'inputs.json'), 'utf8'));
    for (const input of manifest.inputs) if (statSync(join(ROOT, input)).mtimeMs > manifest.builtAtMs) return undefined;
  } catch {
    return undefined; // not built, or an input was removed since
  }
  return join(dir, 'cli.js');
}

/**
 * Rewrite `import.meta.url` / `import.meta.dirname` to the source file's own location, so code
 * that finds files relative to itself (the native TPM addon, the renderer build) finds the same
 * files from the bundle as from the source tree.
 */
const sourceLocation = (outdir) => ({
  name: 'source-location',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('import.meta.')) return undefined;
      const rel = relative(outdir, args.path).split(sep).join('/');
      const url = `new URL(${JSON.stringify(rel)}, import.meta.url).href`;
      const dir = `__wardFileURLToPath(new URL(${JSON.stringify(`${dirname(rel)}/`)}, import.meta.url)).slice(0, -1)`;
      const contents = `import { fileURLToPath as __wardFileURLToPath } from 'node:url';\n${text.replaceAll('import.meta.url', url).replaceAll('import.meta.dirname', dir)}`;
      return { contents, loader: 'ts' };
    });
  },
});

/**
 * Bundle `ward` (main/cli/bin.ts) into dist/agent: minified, one chunk per command (the daemon
 * never loads the others), the pure-JavaScript packages in INLINED compiled in; the others stay
 * in node_modules (native addons among them). Written to a temporary directory and moved
 * into place, with the input list last, so a launcher never runs a half-written bundle.
 */
export function buildAgentBundle(dir = AGENT_DIST) {
  return buildBundle(BUNDLES.agent.entryPoints, dir);
}

/**
 * Bundle `ward-broker` (broker/server/bin.ts) into dist/broker, as {@link buildAgentBundle} does
 * the agent: the broker then runs without tsx's loader thread and transpiler state in its heap
 * (docs/broker-server.md, "Performance").
 */
export function buildBrokerBundle(dir = BROKER_DIST) {
  return buildBundle(BUNDLES.broker.entryPoints, dir);
}

async function buildBundle(entryPoints, dir) {
  const { build } = await import('esbuild');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const external = [...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies)]
    .filter((name) => !INLINED.includes(name))
    .flatMap((name) => [name, `${name}/*`]);
  const startedAtMs = Date.now();
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints,
    outdir: tmp,
    bundle: true,
    splitting: true,
    minify: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external,
    metafile: true,
    // CommonJS packages inlined into ESM still call require() for Node's built-ins.
    banner: { js: "import { createRequire as __wardCreateRequire } from 'node:module'; const require = __wardCreateRequire(import.meta.url);" },
    logLevel: 'warning',
    plugins: [sourceLocation(dir)],
  });
  rmSync(join(dir, 'inputs.json'), { force: true });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  const inputs = Object.keys(result.metafile.inputs).filter((p) => !p.startsWith('<'));
  writeFileSync(join(dir, 'inputs.json'), `${JSON.stringify({ builtAtMs: startedAtMs, inputs }, null, 1)}\n`);
  return join(dir, 'cli.js');
}

// `node bin/agent-bundle.mjs [agent|broker ...]` (npm run build:agent, npm run build:broker): the agent by default.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const names = process.argv.length > 2 ? process.argv.slice(2) : ['agent'];
  for (const name of names) {
    const bundle = BUNDLES[name];
    if (!bundle) {
      process.stderr.write(`agent-bundle: unknown bundle "${name}" (agent or broker)\n`);
      process.exit(2);
    }
    const entry = await buildBundle(bundle.entryPoints, bundle.dir);
    process.stdout.write(`built ${relative(ROOT, entry)}\n`);
  }
}
