// The compiled `ward` (bin/agent-bundle.mjs bundles from here): what bin/ward.mjs runs through tsx.
import { main } from '../cli.js';

process.exitCode = await main(process.argv.slice(2));
