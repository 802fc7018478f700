import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'out/', 'coverage/', 'test-results/', 'renderer/dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': ['error', { allow: ['error', 'warn'] }],
    },
  },
  {
    // main/core never imports electron; renderer/ never imports main/ (except the type-only IPC contract).
    files: ['main/core/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [{ name: 'electron', message: 'main/core must not import electron (only main/app may).' }] }] },
  },
  {
    files: ['bin/**/*.mjs', 'scripts/**/*.mjs', 'bench/**/*.ts', 'broker/server/cli.ts', 'main/cli.ts', 'main/cli/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
);
