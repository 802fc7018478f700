// The compiled `ward-broker` (`npm run build:broker` bundles from here): what bin/ward-broker.mjs runs through tsx.
import { main } from './cli.js';

process.exitCode = await main(process.argv.slice(2));
