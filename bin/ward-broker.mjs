#!/usr/bin/env node
// `ward-broker` from a checkout: the reference access broker (broker/server). Runs the compiled
// bundle (`npm run build:broker`) when it was built from the sources now in the tree, as a
// deployment does: no tsx loader thread or transpiler state in a long-running server's heap
// (docs/broker-server.md, "Performance"); otherwise the TypeScript itself through tsx.
import { pathToFileURL } from 'node:url';
import { freshBrokerBundle } from './agent-bundle.mjs';

const bundle = process.env.WARD_BROKER_FROM_SOURCE === '1' ? undefined : freshBrokerBundle();
if (bundle) {
  await import(pathToFileURL(bundle).href); // runs `ward-broker` (broker/server/bin.ts)
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../broker/server/cli.ts');
  process.exitCode = await main(process.argv.slice(2));
}
