#!/usr/bin/env node
// `ward` from a checkout: runs main/cli.ts through tsx (no build step needed).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../main/cli.ts');
process.exitCode = await main(process.argv.slice(2));
