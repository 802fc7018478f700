import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { defineConfig } from 'vite';

const root = join(import.meta.dirname, '..', '..');
const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

/**
 * Bundles the Electron side into dist/app: `main.js` (ESM; Node modules and dependencies stay
 * external, installed with the app) and `preload.cjs` (one CommonJS file: a sandboxed preload can
 * require nothing but `electron`). `--mode preload` selects the preload build.
 */
export default defineConfig(({ mode }) => {
  const isPreload = mode === 'preload';
  return {
    root,
    build: {
      outDir: join(root, 'dist', 'app'),
      emptyOutDir: false,
      target: 'node22',
      minify: false,
      sourcemap: false,
      ssr: join(import.meta.dirname, isPreload ? 'preload.ts' : 'main.ts'),
      rollupOptions: {
        external: isPreload ? ['electron'] : (id: string) => id === 'electron' || nodeBuiltins.includes(id) || !/^[./]|^[A-Za-z]:[\\/]/.test(id),
        output: isPreload ? { format: 'cjs' as const, entryFileNames: 'preload.cjs' } : { format: 'es' as const, entryFileNames: 'main.js' },
      },
    },
    ssr: isPreload ? { noExternal: true, external: ['electron'] } : {},
  };
});
