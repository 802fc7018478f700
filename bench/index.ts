/**
 * `npm run bench -- <name> [--json]`. Each benchmark prints its figures and the baseline it
 * measured in the same run; with --json its last line is one JSON object.
 */
const BENCHES: Record<string, () => Promise<{ run: (args: string[]) => Promise<void> }>> = {
  posture: () => import('./posture.js'),
  identity: () => import('./identity.js'),
  broker: () => import('./broker.js'),
  reauth: () => import('./reauth.js'),
  'oauth-isolation': () => import('./oauth-isolation.js'),
  'shared-signals': () => import('./shared-signals.js'),
  ui: () => import('./ui.js'),
};

const [name, ...rest] = process.argv.slice(2);
if (!name || !Object.hasOwn(BENCHES, name)) {
  console.error(`usage: npm run bench -- <${Object.keys(BENCHES).join('|')}> [--json]`);
  process.exit(2);
}
const load = BENCHES[name];
if (load) await (await load()).run(rest);
