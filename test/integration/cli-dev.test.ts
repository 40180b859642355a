/**
 * `cutover dev up|down`, `worker` and `validate` as child processes, the way an operator runs them.
 * Each test works in its own temporary directory, so its `.cutover/stack` state is its own.
 */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { listDatabases, pgFromEnv } from '../../src/stack/postgres';
import { isAlive } from '../../src/stack/processes';
import { freePort } from '../../src/stack/ports';
import { resolveTemporalCli } from '../../src/stack/temporal-cli';
import { generateKey } from '../../src/security';
import type { DevState } from '../../src/stack/dev';
import { uniqueId } from '../harness';
import { until } from '../harness/wait';

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'cutover.js');

function cutover(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
}

function readState(cwd: string): DevState {
  return JSON.parse(fs.readFileSync(path.join(cwd, '.cutover', 'stack', 'state.json'), 'utf8')) as DevState;
}

async function namespacesOf(address: string): Promise<string[]> {
  const conn = await Connection.connect({ address });
  try {
    const r = await conn.workflowService.listNamespaces({ pageSize: 100 });
    return (r.namespaces ?? [])
      .map((n) => n.namespaceInfo?.name ?? '')
      .filter((n) => n !== 'temporal-system')
      .sort();
  } finally {
    await conn.close();
  }
}

describe('cutover CLI: dev up / dev down / worker / validate', function () {
  this.timeout(180_000);
  let cwd: string;
  beforeEach(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'cutover-cli-'));
  });
  afterEach(() => {
    // Whatever a failed assertion left behind: dev down is idempotent.
    cutover(['dev', 'down'], cwd);
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  it('dev up prints two clusters with UI URLs and a Redis URL; the CLI answers on each; dev down leaves nothing', async function () {
    const up = cutover(['dev', 'up'], cwd);
    assert.equal(up.status, 0, up.stderr);
    const state = readState(cwd);
    assert.deepEqual(
      state.clusters.map((c) => c.name),
      ['legacy', 'cloud'],
    );
    for (const c of state.clusters) {
      assert.match(up.stdout, new RegExp(`${c.name}\\s+${c.address.replace('.', '\\.')}\\s+UI http://127\\.0\\.0\\.1:\\d+`));
      const list = spawnSync(await resolveTemporalCli(), ['workflow', 'list', '--address', c.address], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(list.status, 0, list.stderr);
    }
    assert.match(up.stdout, /redis\s+redis:\/\/127\.0\.0\.1:\d+/);
    // The generated plan points at this stack and validates.
    const valid = cutover(['validate', state.planPath], cwd);
    assert.equal(valid.status, 0, valid.stderr);

    const pids = [...state.clusters.map((c) => c.pid), state.redis.pid!];
    assert.ok(pids.every(isAlive));
    const down = cutover(['dev', 'down'], cwd);
    assert.equal(down.status, 0, down.stderr);
    assert.ok(
      pids.every((p) => !isAlive(p)),
      'every process dev up started is gone',
    );
    assert.ok(!fs.existsSync(path.join(cwd, '.cutover', 'stack')));
  });

  it("dev up --plan brings up the plan's clusters and namespaces; worker --plan polls; Ctrl-C stops it", async function () {
    const [p1, p2, redisPort, metrics] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const plan = {
      name: 'other-ports',
      clusters: { east: { address: `127.0.0.1:${p1}` }, west: { address: `127.0.0.1:${p2}` } },
      source: 'east',
      target: 'west',
      control: { cluster: 'west', namespace: 'ops', taskQueue: 'ops-q' },
      redis: { url: `redis://127.0.0.1:${redisPort}`, keyPrefix: `${uniqueId('cli')}:` },
      namespaces: { orders: { target: 'orders-v2', strategy: 'dual-workers', taskQueues: ['orders'] } },
      gates: {},
      rings: [{ name: 'r0', units: ['namespace/orders'], gates: [] }],
    };
    const planPath = path.join(cwd, 'plan.json');
    fs.writeFileSync(planPath, JSON.stringify(plan));
    const up = cutover(['dev', 'up', '--plan', planPath, '--no-ui'], cwd);
    assert.equal(up.status, 0, up.stderr);
    assert.deepEqual(await namespacesOf(`127.0.0.1:${p1}`), ['default', 'orders']);
    assert.deepEqual(await namespacesOf(`127.0.0.1:${p2}`), ['default', 'ops', 'orders-v2']);
    assert.match(up.stdout, new RegExp(`redis\\s+redis://127\\.0\\.0\\.1:${redisPort}`));

    const worker = spawn(process.execPath, [BIN, 'worker', '--plan', planPath, '--metrics', `127.0.0.1:${metrics}`], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    worker.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));
    try {
      // Bounded wait for the worker to say it polls the control task queue.
      await until('the worker to say it runs (or exit)', () => /cutover worker running/.test(err) || worker.exitCode !== null, {
        timeoutMs: 90_000,
        detail: () => err,
      });
      assert.match(err, /polling west\/ops task queue ops-q/, err);
      // It really polls: the server reports a poller on the control task queue.
      const conn = await Connection.connect({ address: `127.0.0.1:${p2}` });
      try {
        // "running" is printed as the worker starts; its first poll reaches the server a moment later.
        await until('a workflow poller on ops-q', async () => {
          const d = await conn.workflowService.describeTaskQueue({ namespace: 'ops', taskQueue: { name: 'ops-q' }, taskQueueType: 1 });
          return (d.pollers ?? []).length > 0 ? true : undefined;
        });
        const sa = await conn.operatorService.listSearchAttributes({ namespace: 'ops' });
        assert.ok(sa.customAttributes?.CutoverPhase !== undefined);
      } finally {
        await conn.close();
      }
      const metricsText = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
      assert.match(metricsText, /temporal_/);
      worker.kill('SIGINT');
      assert.equal(await exited, 0, err);
    } finally {
      if (worker.exitCode === null) worker.kill('SIGKILL');
    }
    const state = readState(cwd);
    assert.equal(cutover(['dev', 'down'], cwd).status, 0);
    assert.ok([...state.clusters.map((c) => c.pid), state.redis.pid!].every((p) => !isAlive(p)));
  });

  it('dev up --plan runs a postgres cluster as temporal-server on PostgreSQL; dev down drops its databases', async function () {
    this.timeout(600_000); // the first run on a fresh machine builds temporal-server (~1.5 min)
    const [p1, p2] = [await freePort(), await freePort()];
    const plan = {
      name: 'self-hosted',
      clusters: { legacy: { address: `127.0.0.1:${p1}`, local: { server: 'postgres', shards: 4 } }, cloud: { address: `127.0.0.1:${p2}` } },
      source: 'legacy',
      target: 'cloud',
      redis: { url: `redis://127.0.0.1:${await freePort()}` },
      namespaces: { billing: { strategy: 'dual-workers', taskQueues: ['billing'] } },
      rings: [{ name: 'r0', units: ['namespace/billing'], gates: [] }],
    };
    const planPath = path.join(cwd, 'plan.json');
    fs.writeFileSync(planPath, JSON.stringify(plan));
    const up = cutover(['dev', 'up', '--plan', planPath, '--no-ui'], cwd);
    assert.equal(up.status, 0, up.stderr);
    const state = readState(cwd);
    const legacy = state.clusters.find((c) => c.name === 'legacy')!;
    assert.equal(legacy.kind, 'postgres');
    assert.ok(legacy.dbPrefix);
    assert.deepEqual(await namespacesOf(`127.0.0.1:${p1}`), ['billing', 'default']);
    const conn = await Connection.connect({ address: `127.0.0.1:${p1}` });
    try {
      const info = await conn.workflowService.getClusterInfo({});
      assert.equal(info.historyShardCount, 4);
    } finally {
      await conn.close();
    }
    // The stack's own psql helper: it honours PG_URL and names the fix when psql is missing.
    const dbs = () => listDatabases(pgFromEnv(), legacy.dbPrefix!);
    assert.equal((await dbs()).length, 2);
    const down = cutover(['dev', 'down'], cwd);
    assert.equal(down.status, 0, down.stderr);
    assert.ok(state.clusters.every((c) => !isAlive(c.pid)));
    assert.deepEqual(await dbs(), []);
  });

  it('validate exits 0 on the example plan and 2 naming each bad path of a broken one', function () {
    const ok = cutover(['validate', path.join(ROOT, 'examples', 'plan.yaml')], cwd);
    assert.equal(ok.status, 0, ok.stderr);
    const bad = path.join(cwd, 'bad.yaml');
    fs.writeFileSync(
      bad,
      fs
        .readFileSync(path.join(ROOT, 'examples', 'plan.yaml'), 'utf8')
        .replace('target: cloud', 'target: legacy')
        .replace('percentSteps: [10, 50]', 'percentSteps: [50, 10]'),
    );
    const r = cutover(['validate', bad], cwd);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /target/);
    assert.match(r.stderr, /defaults\.percentSteps\[1\]/);
  });

  it('validate names where each codec key comes from and the current key, never the key', function () {
    const cloud = cutover(['validate', '--plan', path.join(ROOT, 'examples', 'cloud-plan.yaml')], cwd);
    assert.equal(cloud.status, 0, cloud.stderr);
    assert.match(cloud.stdout, /^codec: AES-256-GCM, current key k1$/m);
    const keyFile = path.join(ROOT, 'examples', '.cutover-keys', 'k1.key');
    assert.ok(cloud.stdout.split('\n').includes(`  k1  file ${keyFile}  (current)`), cloud.stdout);
    assert.match(cloud.stdout, /^codec server: 127\.0\.0\.1:8888, bearer token from \$CUTOVER_CODEC_TOKEN$/m);

    // A ring in rotation: an old key from a variable that is set, the new one from a file; neither is printed.
    const doc = fs.readFileSync(path.join(ROOT, 'examples', 'plan.yaml'), 'utf8');
    const planPath = path.join(cwd, 'plan.yaml');
    fs.writeFileSync(
      planPath,
      `${doc}\ncodec:\n  keys:\n    - { id: old, env: CUTOVER_TEST_CODEC_OLD }\n    - { id: new, file: keys/new.key }\n  current: new\n`,
    );
    const oldKey = generateKey();
    const r = cutover(['validate', '--plan', planPath], cwd, { CUTOVER_TEST_CODEC_OLD: oldKey });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^codec: AES-256-GCM, current key new$/m);
    assert.ok(r.stdout.split('\n').includes('  old  $CUTOVER_TEST_CODEC_OLD'), r.stdout);
    assert.ok(r.stdout.split('\n').includes(`  new  file ${path.join(cwd, 'keys', 'new.key')}  (current)`), r.stdout);
    assert.ok(!`${r.stdout}${r.stderr}`.includes(oldKey), 'the key is never printed');
  });

  it('bad arguments exit 2 and start nothing', function () {
    assert.equal(cutover(['dev', 'up', '--plan'], cwd).status, 2);
    assert.equal(cutover(['no-such-command'], cwd).status, 2);
    assert.equal(cutover(['worker', '--plan', path.join(cwd, 'missing.yaml')], cwd).status, 2);
    assert.ok(!fs.existsSync(path.join(cwd, '.cutover')));
  });
});
