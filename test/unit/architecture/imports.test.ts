import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..', '..');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    if (name === 'node_modules' || name === 'dist') continue;
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...sourceFiles(full));
    else if (/\.(ts|tsx|mts|js|mjs)$/.test(name)) out.push(full);
  }
  return out;
}

/** Every module specifier a file imports: static, dynamic, re-exports and require(). */
export function importsOf(source: string): { specifier: string; typeOnly: boolean }[] {
  const found: { specifier: string; typeOnly: boolean }[] = [];
  const patterns: [RegExp, boolean][] = [
    [/^\s*import\s+type\s[^;]*?from\s*['"]([^'"]+)['"]/gms, true],
    [/^\s*export\s+type\s[^;]*?from\s*['"]([^'"]+)['"]/gms, true],
    [/^\s*import\s+(?!type\s)[^;]*?from\s*['"]([^'"]+)['"]/gms, false],
    [/^\s*import\s*['"]([^'"]+)['"]/gm, false],
    [/^\s*export\s+(?!type\s)[^;]*?from\s*['"]([^'"]+)['"]/gms, false],
    [/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g, false],
    [/\brequire\(\s*['"]([^'"]+)['"]\s*\)/g, false],
  ];
  for (const [re, typeOnly] of patterns) for (const m of source.matchAll(re)) found.push({ specifier: m[1] ?? '', typeOnly });
  return found;
}

describe('runtime boundaries', () => {
  it('finds the import forms this test relies on (so the rules below can fail)', () => {
    const sample = `import { app } from 'electron';\nimport type { X } from '../main/core/a.js';\nconst m = await import("electron");\nconst r = require('electron');`;
    const specs = importsOf(sample);
    expect(specs.filter((s) => s.specifier === 'electron' && !s.typeOnly)).toHaveLength(3);
    expect(specs).toContainEqual({ specifier: '../main/core/a.js', typeOnly: true });
  });

  it('main/core never imports electron, not even for types', () => {
    const offenders = sourceFiles(join(root, 'main', 'core')).flatMap((file) =>
      importsOf(readFileSync(file, 'utf8'))
        .filter((i) => i.specifier === 'electron' || i.specifier.startsWith('electron/') || i.specifier.startsWith('@electron/'))
        .map((i) => `${relative(root, file)} imports ${i.specifier}`),
    );
    expect(offenders).toEqual([]);
  });

  it('main/core never imports from main/app, renderer/ or react', () => {
    const forbidden = [join(root, 'main', 'app'), join(root, 'renderer')];
    const offenders = sourceFiles(join(root, 'main', 'core')).flatMap((file) =>
      importsOf(readFileSync(file, 'utf8'))
        .filter((i) =>
          i.specifier.startsWith('.')
            ? forbidden.some((dir) => resolve(dirname(file), i.specifier).startsWith(dir))
            : i.specifier === 'react' || i.specifier.startsWith('react-dom'),
        )
        .map((i) => `${relative(root, file)} imports ${i.specifier}`),
    );
    expect(offenders).toEqual([]);
  });

  it('renderer/ imports nothing from main/ except the type-only IPC contract', () => {
    const offenders = sourceFiles(join(root, 'renderer')).flatMap((file) =>
      importsOf(readFileSync(file, 'utf8'))
        .filter((i) => /(^|\/)main\//.test(i.specifier))
        .filter((i) => !(i.typeOnly && /main\/shared\/ipc-contract(\.js|\.ts)?$/.test(i.specifier)))
        .map((i) => `${relative(root, file)} imports ${i.specifier}${i.typeOnly ? ' (type)' : ''}`),
    );
    expect(offenders).toEqual([]);
  });
});
