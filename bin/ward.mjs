#!/usr/bin/env node
// `ward` from a checkout: runs main/cli.ts through tsx (no build step needed).
//
// `ward daemon` is the long-running headless agent, so it runs as it ships (docs/continuous-access.md,
// "Memory"): with DAEMON_NODE_FLAGS, and from the compiled bundle (`npm run build:agent`) when that
// was built from the sources now in the tree — tsx's transpiler alone would add ~36 MB.
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { DAEMON_NODE_FLAGS, freshAgentBundle } from './agent-bundle.mjs';

const args = process.argv.slice(2);
const isDaemon = args[0] === 'daemon';
const hasDaemonFlags = DAEMON_NODE_FLAGS.every((flag) => process.execArgv.includes(flag));

if (isDaemon && !hasDaemonFlags) {
  // V8 reads these flags only at start-up: run the daemon in a node started with them.
  const argv = [...process.execArgv, ...DAEMON_NODE_FLAGS, freshAgentBundle() ?? process.argv[1], ...args];
  if (typeof process.execve === 'function') {
    process.execve(process.execPath, [process.execPath, ...argv], process.env); // Node >= 22.15: same process
  }
  const child = spawn(process.execPath, argv, { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.once('exit', (code, signal) => {
    process.exitCode = code ?? 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGHUP' ? 1 : 15);
  });
} else if (isDaemon && freshAgentBundle()) {
  await import(pathToFileURL(freshAgentBundle()).href); // runs `ward` (main/cli/bin.ts)
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../main/cli.ts');
  process.exitCode = await main(process.argv.slice(2));
}
