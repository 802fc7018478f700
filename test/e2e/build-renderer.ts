import { join } from 'node:path';
import { build } from 'vite';

const CONFIG = join(import.meta.dirname, '..', '..', 'renderer', 'vite.config.ts');

/** Build the renderer from the current source into `outDir` (tests never trust a stale renderer/dist). */
export async function buildRenderer(outDir: string): Promise<void> {
  await build({ configFile: CONFIG, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
}
