// Lint that fences the workflow sandbox and keeps promises and imports honest.
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';

const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);

export default tseslint.config(
  { ignores: ['node_modules/**', '.cache/**', '.cutover/**', 'bench/results/**', '**/*.js', '**/*.mjs'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json'] })] },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': 'error',
    },
  },
  {
    // Workflow code runs in a deterministic sandbox: no I/O, no clients, no config loading, and
    // activities only as types (the worker supplies the implementations).
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Node built-ins are not allowed in workflow code.' })),
          patterns: [
            {
              group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity', '@temporalio/testing'],
              message: 'Workflow code may only use @temporalio/workflow and @temporalio/common.',
            },
            { group: ['ioredis', 'yaml', 'zod'], message: 'No I/O or config parsing in workflow code: values arrive as workflow input.' },
            {
              group: ['**/config', '**/config/**', '**/stack/**', '**/routing/**', '**/clusters/**'],
              message: 'Workflows never read config or talk to Redis/clusters: use activities.',
            },
            {
              group: ['**/activities', '**/activities/**'],
              allowTypeImports: true,
              message: 'Import activities as types only (import type).',
            },
          ],
        },
      ],
      'no-restricted-globals': ['error', { name: 'process', message: 'No env reads in workflow code.' }],
    },
  },
);
