/**
 * The packed package as an application uses it: `npm pack`, the tarball installed into an empty project
 * outside the repository, and plain `node` (no tsx, no --require) running an ES module and a CommonJS
 * file that route workflows through `RoutedClient` and run them with `DualWorkers` against the test stack.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { Redis } from 'ioredis';
import { sideFor } from '../../src/routing/hash';
import { RoutingStore } from '../../src/routing/store';
import type { Route } from '../../src/routing/types';
import { testStack, uniqueId, type Side } from '../harness';

const ROOT = path.join(__dirname, '..', '..');
const NS = 'payments';
const UNIT = `namespace/${NS}`;
const SIDES = ['source', 'target'] as const;
// Half the IDs on each side: a client that ignored the route would put at least one of each pair on the wrong cluster.
const HALF: Route = { kind: 'percent', basisPoints: 5000 };

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; never rejects (the exit code is the result). */
function run(file: string, args: string[], cwd: string, timeoutMs: number): Promise<Run> {
  // NODE_OPTIONS could carry a loader into the children: the application's node starts bare.
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what} exited ${r.code}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`);
  return r;
}

/** The last stdout line of an application script: its JSON report. */
function report<T>(r: Run): T {
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? '') as T;
}

/** Workflow IDs with a fresh prefix, one routed to each side by `route`. */
function onePerSide(prefix: string, route: Route): Record<Side, string> {
  const found: Partial<Record<Side, string>> = {};
  for (let i = 0; !found.source || !found.target; i++) {
    const id = `${prefix}-${i}`;
    const side = sideFor(route, id);
    if (side !== 'hold') found[side] ??= id;
  }
  return found as Record<Side, string>;
}

// Starts each ID on the task queue through RoutedClient; also checks that a typed error arrives as its class.
const ESM_APP = `import { RoutedClient, RoutingError, RoutingInputError } from 'cutover';

const [plan, namespace, taskQueue, ...ids] = process.argv.slice(2);
let typedError = 'none';
try {
  await RoutedClient.connect({ plan, namespace: 'not-in-the-plan' });
} catch (err) {
  if (err instanceof RoutingInputError && err instanceof RoutingError) typedError = err.constructor.name;
}
const client = await RoutedClient.connect({ plan, namespace });
const started = [];
for (const workflowId of ids) {
  const handle = await client.workflow.start('greet', { workflowId, taskQueue, args: [workflowId] });
  started.push(handle.workflowId);
}
await client.close();
console.log(JSON.stringify({ typedError, started }));
`;

// Runs the application's workflows on both clusters with DualWorkers and each ID to its result.
const CJS_APP = `const path = require('node:path');
const { DualWorkers, RoutedClient } = require('cutover');

async function main() {
  const [plan, namespace, taskQueue, ...ids] = process.argv.slice(2);
  const workers = await DualWorkers.create({ plan, namespace, taskQueue, workflowsPath: path.join(__dirname, 'workflows.js') });
  const running = workers.run();
  const client = await RoutedClient.connect({ plan, namespace });
  const results = {};
  try {
    for (const workflowId of ids) {
      const handle = await client.workflow.start('greet', { workflowId, taskQueue, args: [workflowId] });
      results[workflowId] = await handle.result();
    }
  } finally {
    await client.close();
    await workers.shutdown();
    await running;
  }
  console.log(JSON.stringify({ results }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
`;

// The bundle also takes in the workflow-side helper: \`cutover/workflow\` must resolve and load in the sandbox.
const APP_WORKFLOWS = `const { sleep } = require('@temporalio/workflow');
const { handoffable } = require('cutover/workflow');

exports.account = async function account(state) {
  const handoff = handoffable(() => state);
  await sleep(10);
  return handoff.requested ? handoff.handOver() : state;
};

exports.greet = async function greet(name) {
  await sleep(10);
  return 'hello ' + name;
};
`;

// Compiled against the installed declarations: a missing or untyped entry fails under strict.
const TYPES_ESM = `import { DualWorkers, RoutedClient, RouteHeldTimeoutError, type RoutedClientConnectOptions } from 'cutover';
const opts: RoutedClientConnectOptions = { plan: 'plan.json', namespace: 'payments' };
export const connect: () => Promise<RoutedClient> = () => RoutedClient.connect(opts);
export const kinds: string[] = [DualWorkers.name, RouteHeldTimeoutError.name];
import { handoffable, type Handoff } from 'cutover/workflow';
export const helper: <S>(capture: () => S) => Handoff<S> = handoffable;
`;
const TYPES_CJS = `import cutover = require('cutover');
export const create: typeof cutover.DualWorkers.create = cutover.DualWorkers.create;
`;

describe('the packed package in an empty project, from plain node', function () {
  this.timeout(240_000);
  let dir: string;
  let app: string;
  let planFile: string;
  let taskQueue: string;
  let keyPrefix: string;
  let redis: Redis;
  let conns: Record<Side, Connection>;
  let sdk: Record<Side, Client>;
  const started: { side: Side; id: string }[] = [];

  before(async function () {
    // npm pack compiles the package (tsc) and npm install fetches its dependencies: minutes on a busy machine.
    this.timeout(480_000);
    const s = testStack();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cutover-package-'));
    ok(await run('npm', ['pack', '--pack-destination', dir], ROOT, 300_000), 'npm pack');
    const tarballs = fs.readdirSync(dir).filter((f) => f.endsWith('.tgz'));
    assert.equal(tarballs.length, 1, `npm pack wrote ${tarballs.join(', ') || 'no tarball'}`);

    app = path.join(dir, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }, null, 2));
    const tarball = path.join(dir, tarballs[0] as string);
    ok(await run('npm', ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline'], app, 300_000), 'npm install');

    taskQueue = uniqueId('pkg');
    keyPrefix = `${uniqueId('pkg')}:`;
    planFile = path.join(app, 'plan.json');
    const plan = {
      name: uniqueId('package'),
      clusters: { legacy: { address: s.source.address }, cloud: { address: s.target.address } },
      source: 'legacy',
      target: 'cloud',
      control: { cluster: 'cloud', namespace: 'cutover', taskQueue: uniqueId('pkg-control') },
      redis: { url: s.redisUrl, keyPrefix, clientStaleness: '1s' },
      namespaces: { [NS]: { strategy: 'dual-workers', taskQueues: [taskQueue] } },
      gates: {},
      defaults: { bake: '1s', percentSteps: [50] },
      rings: [{ name: 'ring0', units: [UNIT], gates: [] }],
    };
    fs.writeFileSync(planFile, JSON.stringify(plan, null, 2));
    fs.writeFileSync(path.join(app, 'app.mjs'), ESM_APP);
    fs.writeFileSync(path.join(app, 'app.cjs'), CJS_APP);
    fs.writeFileSync(path.join(app, 'workflows.js'), APP_WORKFLOWS);

    redis = new Redis(s.redisUrl, { maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    await new RoutingStore({ redis, keyPrefix }).ensure(UNIT, { route: HALF, actor: 'package test' });
    conns = {
      source: await Connection.connect({ address: s.source.address }),
      target: await Connection.connect({ address: s.target.address }),
    };
    sdk = {
      source: new Client({ connection: conns.source, namespace: NS }),
      target: new Client({ connection: conns.target, namespace: NS }),
    };
  });

  after(async () => {
    for (const { side, id } of started)
      await sdk?.[side].workflow
        .getHandle(id)
        .terminate('test teardown')
        .catch(() => undefined);
    if (redis) {
      const keys = await redis.keys(`${keyPrefix}*`).catch(() => []);
      if (keys.length > 0) await redis.del(...keys).catch(() => undefined);
      redis.disconnect();
    }
    await Promise.all(SIDES.map((side) => conns?.[side]?.close()));
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Each ID's status on each cluster (absent: not there). */
  async function where(id: string): Promise<Partial<Record<Side, string>>> {
    const out: Partial<Record<Side, string>> = {};
    for (const side of SIDES) {
      try {
        out[side] = (await sdk[side].workflow.getHandle(id).describe()).status.name;
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
    }
    return out;
  }

  it('installs compiled code and declarations with the runtime dependencies only', async () => {
    const pkgDir = path.join(app, 'node_modules', 'cutover');
    const manifest = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(manifest.private, undefined);
    const files = [
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/scripts/cli.js',
      'bin/cutover.js',
      'examples/plan.yaml',
      'examples/cloud-plan.yaml',
    ];
    for (const file of [...files, 'src/stack/templates/temporal-server.yaml', 'src/stack/templates/temporal-server-dynamicconfig.yaml'])
      assert.ok(fs.existsSync(path.join(pkgDir, file)), `the package ships ${file}`);
    // The CLI reads the example plan and the server templates from the package root, one folder above dist/.
    const root = ok(
      await run(process.execPath, ['-p', "require('./node_modules/cutover/dist/src/stack/paths.js').PROJECT_ROOT"], app, 30_000),
      'paths',
    );
    assert.equal(root.stdout.trim(), pkgDir);
    assert.ok(!fs.existsSync(path.join(pkgDir, 'scripts', 'cli.ts')), 'the package ships no TypeScript sources');
    for (const dev of ['tsx', 'typescript', 'mocha', 'eslint', 'prettier', '@temporalio/testing'])
      assert.ok(!fs.existsSync(path.join(app, 'node_modules', dev)), `${dev} is not installed with the package`);
  });

  it('an ES module imports RoutedClient and starts each workflow on the cluster its route names', async () => {
    const ids = onePerSide(uniqueId('pkg-esm'), HALF);
    for (const side of SIDES) started.push({ side, id: ids[side] });
    // A task queue no worker polls: the runs stay open where they were started.
    const idle = uniqueId('pkg-idle');
    const r = ok(await run(process.execPath, ['app.mjs', planFile, NS, idle, ids.source, ids.target], app, 120_000), 'app.mjs');
    const out = report<{ typedError: string; started: string[] }>(r);
    assert.equal(out.typedError, 'RoutingInputError', 'a typed error is an instance of its exported class');
    assert.deepEqual(out.started, [ids.source, ids.target]);
    assert.deepEqual(await where(ids.source), { source: 'RUNNING' });
    assert.deepEqual(await where(ids.target), { target: 'RUNNING' });
  });

  it('a CommonJS file requires DualWorkers and RoutedClient and runs each workflow to its result on its cluster', async () => {
    const ids = onePerSide(uniqueId('pkg-cjs'), HALF);
    for (const side of SIDES) started.push({ side, id: ids[side] });
    const r = ok(await run(process.execPath, ['app.cjs', planFile, NS, taskQueue, ids.source, ids.target], app, 180_000), 'app.cjs');
    const out = report<{ results: Record<string, string> }>(r);
    assert.deepEqual(out.results, { [ids.source]: `hello ${ids.source}`, [ids.target]: `hello ${ids.target}` });
    assert.deepEqual(await where(ids.source), { source: 'COMPLETED' });
    assert.deepEqual(await where(ids.target), { target: 'COMPLETED' });
  });

  it("the installed bin runs the compiled CLI, and the declarations type-check the package's entry", async () => {
    const r = ok(await run(path.join(app, 'node_modules', '.bin', 'cutover'), ['validate', planFile], app, 60_000), 'cutover validate');
    // Its control cluster is the target: valid, with the warning about that trade-off on stderr.
    assert.match(r.stdout, /: ok \(1 warning, on stderr\) — plan "package-/);
    assert.match(r.stderr, /control\.cluster/);

    fs.writeFileSync(path.join(app, 'types.mts'), TYPES_ESM);
    fs.writeFileSync(path.join(app, 'types.cts'), TYPES_CJS);
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const compilerOptions = { noEmit: true, strict: true, skipLibCheck: true, module: 'nodenext', moduleResolution: 'nodenext', types: [] };
    fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['types.mts', 'types.cts'] }));
    ok(await run(process.execPath, [tsc, '-p', app], app, 120_000), 'tsc on the installed declarations');
  });
});
