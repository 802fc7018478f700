#!/usr/bin/env node
// `ward-broker` from a checkout: the reference access broker (broker/server).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../broker/server/cli.ts');
process.exitCode = await main(process.argv.slice(2));
