import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type * as Plist from 'plist';

type PlistModule = typeof Plist;

let plist: PlistModule | undefined;

/**
 * `plist.parse`, with the package (and its XML parser, xmldom) loaded on first use: only macOS
 * reads property lists, and loaded up front they stay resident in every agent (~1 MB of source
 * text and code in the idle Linux agent's heap). plist 5 is ESM-only with no `require` export,
 * so its entry is resolved as an import would and loaded with require(esm) (Node >= 20.19),
 * which keeps this function synchronous. Throws what `plist.parse` throws.
 */
export function parsePlistXml(xml: string): unknown {
  plist ??= createRequire(import.meta.url)(fileURLToPath(import.meta.resolve('plist'))) as PlistModule;
  return plist.parse(xml) as unknown;
}
