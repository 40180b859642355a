// Lint that fences the workflow sandbox, keeps the layers' import directions, and keeps promises and imports honest.
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';

const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);

// What each folder of src/ may import from the rest of src/ (docs/design.md, "Layers"). The domain kernel
// imports nothing of the project; infrastructure never imports the workflows, the activities or the CLI;
// workflows see activities as types only (below). Folders not listed (cockpit, demo, cli, stack, metrics,
// runbook) sit on top and may import any layer, but nothing imports them except from the top.
const LAYERS = {
  domain: [],
  config: ['domain'],
  security: ['domain', 'config'],
  approvals: ['domain'],
  clusters: ['domain', 'config'],
  routing: ['domain', 'config', 'clusters', 'security'],
  schedules: ['domain', 'config', 'clusters', 'routing', 'security'],
  gates: ['domain', 'config', 'clusters'],
  campaign: ['domain', 'config', 'clusters', 'gates', 'approvals'],
  activities: ['domain', 'config', 'clusters', 'security', 'routing', 'schedules', 'gates', 'approvals', 'campaign', 'workflows'],
  workflows: ['domain', 'approvals', 'campaign', 'gates', 'activities'],
};
const SRC_FOLDERS = [...Object.keys(LAYERS), 'cockpit', 'demo', 'cli', 'stack', 'metrics', 'runbook'];
const TOP = ['cockpit', 'demo', 'cli', 'runbook'];
const layerZones = [
  ...Object.entries(LAYERS).map(([layer, allowed]) => ({
    target: `./src/${layer}`,
    from: SRC_FOLDERS.filter((f) => f !== layer && !allowed.includes(f)).map((f) => `./src/${f}`),
    message: allowed.length
      ? `src/${layer} may import only ${allowed.map((a) => `src/${a}`).join(', ')}.`
      : `src/${layer} imports nothing of the project.`,
  })),
  // Activities send the entity workflows' signals, so they may import the message definitions, nothing else.
  {
    target: './src/activities',
    from: './src/workflows',
    except: ['./unit-migration.messages.ts', './campaign.messages.ts'],
    message: "Activities import only the workflows' message definitions.",
  },
  {
    target: ['./src/stack', './src/metrics'],
    from: TOP.map((f) => `./src/${f}`),
    message: 'The stack and the metrics sit below the CLI and the demo.',
  },
  {
    target: './src',
    from: ['./examples', './test', './bench', './scripts'],
    message: 'Library code never imports examples, tests, benchmarks or scripts.',
  },
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.cache/**', '.cutover/**', 'bench/results/**', '**/*.js', '**/*.mjs'] },
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
      'import-x/no-restricted-paths': ['error', { zones: layerZones }],
      // Prettier wraps code at 140 columns but not strings or comments: split those by hand.
      'max-len': ['error', { code: 140, ignoreUrls: true }],
    },
  },
  {
    // Workflow code runs in a deterministic sandbox: no I/O, no clients, no config loading, and
    // activities only as types (the worker supplies the implementations).
    // The failure converter is bundled into the sandbox too (it reaches workflows by module path).
    files: ['src/workflows/**/*.ts', 'src/demo/app/workflows.ts', 'src/security/failure-converter.ts'],
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
  {
    // The routing client's ages (staleness, the hold bound) must survive a wall-clock step: every time it
    // reads comes from its injectable clock (src/routing/clock.ts), monotonic for elapsed time.
    files: ['src/routing/**/*.ts'],
    ignores: ['src/routing/clock.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'Read the RoutingClock: monotonicMs() for elapsed time, wallMs() for shared times.' },
      ],
    },
  },
);
