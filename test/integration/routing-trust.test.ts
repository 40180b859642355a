/**
 * Records and messages are not trusted blindly (the harness's real Redis and dev-server clusters): a
 * forged message on the routes channel changes neither the routes nor the dual workers; an invalid
 * record fails only its own unit closed while the others keep routing; an invalid placement is never
 * followed; the entity workflow's route change carries on from a repaired record; and
 * `cutover route show|repair` run as child processes against a real cutover worker. Every test has its
 * own Redis key prefix, task queue and workflow IDs.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { Redis } from 'ioredis';
import { createRoutingActivities } from '../../src/activities/routing';
import { unitInputFromPlan } from '../../src/campaign/unit-input';
import { openRouteDeps, repairRoute, type RouteInspection, type RouteRepairResult } from '../../src/cockpit/route';
import { resolveTarget } from '../../src/cockpit/target';
import { loadPlan, type Plan } from '../../src/config';
import { parseUnitName, unitWorkflowId } from '../../src/domain/ids';
import type { UnitStatus } from '../../src/domain/migration';
import { unitStartOptions } from '../../src/domain/unit-input';
import { DualWorkers } from '../../src/routing/dual-workers';
import { RoutingRecordInvalidError, RoutingUnavailableError } from '../../src/routing/errors';
import { sideFor } from '../../src/routing/hash';
import { RoutedClient } from '../../src/routing/client';
import type { RoutedClientTuning } from '../../src/routing/client';
import { RoutingStore } from '../../src/routing/store';
import type { Route, Side } from '../../src/routing/types';
import { freePort } from '../../src/stack/ports';
import { createCutoverWorker, type CutoverWorker } from '../../src/worker';
import * as messages from '../../src/workflows/unit-migration.messages';
import { testStack, uniqueId } from '../harness';
import { useRoutingRig } from './routing.fixture';
import { until } from '../harness/wait';
import { routedCounter, routedNoop } from '../workflows/routing-test-workflows';
import { AuditStream } from '../../src/audit/stream';

const NS = 'payments';
const UNIT = `namespace/${NS}`;
const SIDES = ['source', 'target'] as const;
const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'cutover.js');

describe('routing trusts only valid store records (real clusters and Redis)', function () {
  this.timeout(60_000);
  const r = useRoutingRig(NS, 'trust');

  async function routedClient(store: RoutingStore, tuning: RoutedClientTuning & { tenants?: string[] } = {}): Promise<RoutedClient> {
    const { tenants, ...rest } = tuning;
    const c = await RoutedClient.create({
      source: r.sdk.source,
      target: r.sdk.target,
      store,
      namespace: NS,
      ...(tenants ? { tenantSelector: { workflowIdPrefix: '{tenant}-' }, tenants } : {}),
      ...rest,
    });
    r.cleanups.push(() => c.close());
    return c;
  }

  const set = async (store: RoutingStore, unit: string, route: Route, sourceWorkersMayStop?: boolean) => {
    const cur = await store.get(unit);
    const res = await store.compareAndSet(unit, cur?.epoch ?? 0, { route, actor: 'test', sourceWorkersMayStop });
    assert.ok(res.ok, 'test route change lost a CAS');
    return res.record;
  };

  async function where(workflowId: string): Promise<Partial<Record<Side, string>>> {
    const out: Partial<Record<Side, string>> = {};
    for (const side of SIDES) {
      try {
        out[side] = (await r.sdk[side].workflow.getHandle(workflowId).describe()).status.name;
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
    }
    return out;
  }

  it('a forged message with a higher epoch changes neither the routes nor the dual workers, and a flood stays cheap', async () => {
    const store = r.freshStore();
    await store.ensure(UNIT, { route: { kind: 'side', side: 'source' }, actor: 'test' });
    await set(store, UNIT, { kind: 'side', side: 'target' }, false);
    const taskQueue = uniqueId('trust-dual');
    const workers = await DualWorkers.fromParts({
      sourceConnection: r.natives.source,
      targetConnection: r.natives.target,
      sourceNamespace: NS,
      store,
      units: [UNIT],
      taskQueue,
      workflowBundle: r.workflowBundle,
      refreshMs: 200,
    });
    const running = workers.run();
    r.cleanups.push(async () => {
      await workers.shutdown();
      await running;
    });
    // No timer refresh within the test: only messages make this client read.
    const client = await routedClient(store, { refreshMs: 60_000 });
    const seen: number[] = [];
    client.routes.onChange((_u, r) => seen.push(r?.epoch ?? 0));
    await until('both workers running', () => workers.runningSides().length === 2);

    const forged = JSON.stringify({
      unit: UNIT,
      route: { kind: 'side', side: 'source' },
      epoch: 99,
      sourceWorkersMayStop: true,
      changedBy: 'mallory',
      changedAt: new Date().toISOString(),
    });
    const t0 = Date.now();
    const flood = r.redis.pipeline();
    for (let i = 0; i < 2_000; i++) flood.publish(store.channel, forged);
    await flood.exec();
    // A genuine change after the flood: messages arrive in order, so once it is seen every forged one was handled.
    await set(store, UNIT, { kind: 'side', side: 'target' }, false);
    await until('the genuine change after the flood', () => client.routes.lookup(UNIT)?.epoch === 3, 5_000);
    const elapsed = Date.now() - t0;
    assert.deepEqual(seen, [3], 'only the store record was applied');
    assert.deepEqual(client.routes.lookup(UNIT)?.route, { kind: 'side', side: 'target' });
    assert.ok(client.routes.hintReadCount() <= Math.ceil(elapsed / 100) + 2, `${client.routes.hintReadCount()} reads in ${elapsed} ms`);
    // The workers read on the same messages; a negative needs a bounded wait: two of their refresh periods.
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(workers.runningSides(), ['source', 'target'], 'the source worker was not told to stop by a message');
    const id = `${taskQueue}-1`;
    assert.equal(await client.workflow.execute(routedNoop, { taskQueue, workflowId: id, args: ['t'] }), 't');
    assert.deepEqual(await where(id), { target: 'COMPLETED' });
  });

  it('one invalid record fails only its own unit closed, naming the repair, while the other units keep routing', async () => {
    const store = r.freshStore();
    const [a, b] = [uniqueId('a'), uniqueId('b')];
    const [A, B] = [`tenant/${NS}/${a}`, `tenant/${NS}/${b}`];
    await store.ensure(A, { route: { kind: 'side', side: 'target' }, actor: 'test' });
    await store.ensure(B, { route: { kind: 'side', side: 'source' }, actor: 'test' });
    const stalenessMs = 1_500;
    const client = await routedClient(store, { tenants: [a, b], stalenessMs, refreshMs: 200 });
    const taskQueue = uniqueId('trust-q');
    const started: string[] = [];
    r.cleanups.push(async () => {
      for (const w of started)
        for (const side of SIDES)
          await r.sdk[side].workflow
            .getHandle(w)
            .terminate('done')
            .catch(() => undefined);
    });
    const start = async (tenant: string, n: number) => {
      const workflowId = `${tenant}-${n}`;
      const h = await client.workflow.start(routedCounter, { taskQueue, workflowId, args: [0] });
      started.push(workflowId);
      return { workflowId, side: await h.cluster() };
    };
    assert.equal((await start(a, 0)).side, 'target');

    const corruptAt = Date.now();
    await r.redis.set(store.routeKey(A), `{"unit":"${A}","route":{"kind":"side","side":"target"},"epoch":"two"}`);
    // B keeps refreshing: its change is picked up while A's record is invalid.
    await set(store, B, { kind: 'side', side: 'target' });
    await until("B's change", () => client.routes.lookup(B)?.epoch === 2, 5_000);
    const b1 = await start(b, 1);
    assert.deepEqual(await where(b1.workflowId), { target: 'RUNNING' });

    // A fails closed once its route is older than the bound, with a typed error naming the repair; nothing is started.
    let attempt = 10;
    const refused = await until(
      "A's starts to fail closed",
      async () => {
        const n = attempt++;
        try {
          await start(a, n);
          return false;
        } catch (err) {
          if (err instanceof RoutingUnavailableError) return { err, workflowId: `${a}-${n}` };
          throw err;
        }
      },
      { timeoutMs: stalenessMs + 5_000, everyMs: 50 },
    );
    assert.ok(Date.now() - corruptAt >= stalenessMs - 300, 'not before the staleness bound');
    assert.equal(refused.err.reason, 'invalid-record');
    assert.equal(refused.err.retryable, true);
    assert.ok(refused.err.message.includes(`cutover route repair ${A}`), refused.err.message);
    assert.deepEqual(await where(refused.workflowId), {}, 'nothing was started for the refused start');
    assert.equal((await start(b, 3)).side, 'target', 'B still routes');

    // Rewritten (as `cutover route repair` does, above every epoch): A routes again.
    const raw = await r.redis.get(store.routeKey(A));
    const restored = await store.restore(A, raw, 3, { route: { kind: 'side', side: 'target' }, actor: 'test', restoredFrom: 1 });
    assert.ok(restored.ok);
    await until('A to route again', () => start(a, 4).then((r) => r.side === 'target'), 5_000);
  });

  it('an invalid placement is never followed: the start looks for the run and replaces it', async () => {
    const store = r.freshStore();
    const route: Route = { kind: 'percent', basisPoints: 5_000 };
    await store.ensure(UNIT, { route, actor: 'test' });
    const client = await routedClient(store);
    const taskQueue = uniqueId('trust-p');
    let n = 0;
    let id = `${taskQueue}-${n}`;
    while (sideFor(route, id) !== 'source') id = `${taskQueue}-${++n}`;
    r.cleanups.push(() => r.sdk.source.workflow.getHandle(id).terminate('done'));
    // "In flight on the target" for the next ten hours: a client that trusted it would follow it blindly.
    const forged = { side: 'target', epoch: 1, at: Date.now() + 10 * 3_600_000, pending: true };
    await r.redis.set(store.placementKey(NS, id), JSON.stringify(forged), 'PX', 60_000);
    await client.workflow.start(routedCounter, { taskQueue, workflowId: id, args: [0] });
    assert.deepEqual(await where(id), { source: 'RUNNING' });
    const now = await store.readPlacement(NS, id);
    assert.ok(now.state === 'valid' && now.placement.side === 'source', JSON.stringify(now));
  });

  it("the entity workflow's next route change carries on from a repaired record (activity against real Redis)", async () => {
    const store = r.freshStore();
    const acts = createRoutingActivities({ routing: store, audit: new AuditStream({ redis: r.redis, keyPrefix: store.keyPrefix }) });
    await acts.ensureRoute({ unit: UNIT, actor: 'wf', reason: 'provisioned' });
    const raw = await r.redis.get(store.routeKey(UNIT));
    await r.redis.del(store.routeKey(UNIT)); // Redis lost it
    const restored = await store.restore(UNIT, null, 5, { route: { kind: 'side', side: 'source' }, actor: 'op', restoredFrom: 1 });
    assert.ok(restored.ok && raw);
    const change = { unit: UNIT, expectedEpoch: 1, route: { kind: 'percent' as const, percent: 10 }, sourceWorkersMayStop: false };
    const next = await acts.changeRoute({ ...change, actor: 'wf', reason: 'canary 10%' });
    assert.equal(next.epoch, 6);
    assert.equal((await acts.changeRoute({ ...change, actor: 'wf', reason: 'canary 10%' })).epoch, 6, 'a retry is idempotent');
    const after = await store.get(UNIT);
    assert.deepEqual([after?.epoch, after?.route, after?.restoredFrom], [6, { kind: 'percent', basisPoints: 1000 }, 1]);
    await assert.rejects(
      acts.changeRoute({ ...change, route: { kind: 'side', side: 'target' }, actor: 'wf', reason: 'stale' }),
      (e: unknown) => e instanceof ApplicationFailure && e.type === 'RouteConflict' && e.message.includes(`cutover route show ${UNIT}`),
    );
    // An invalid record is named (with the repair) instead of failing inside the Lua script.
    await r.redis.set(store.routeKey(UNIT), 'not json');
    await assert.rejects(
      acts.changeRoute({ ...change, expectedEpoch: 6, actor: 'wf', reason: 'x' }),
      (e: unknown) => e instanceof RoutingRecordInvalidError && e.message.includes(`cutover route repair ${UNIT}`),
    );
  });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('cutover route show|repair against the real stack', function () {
  this.timeout(90_000);
  const tenant = uniqueId('rt');
  const unit = `tenant/${NS}/${tenant}`;
  let dir: string;
  let planFile: string;
  let ghostPlanFile: string;
  let plan: Plan;
  let worker: CutoverWorker;
  let running: Promise<void>;
  let connection: Connection;
  let control: Client;
  let redis: Redis;
  let store: RoutingStore;
  let workflowId: string;

  function cli(args: string[]): Promise<Run> {
    return new Promise((resolve) => {
      const env = { ...process.env };
      delete env.CUTOVER_PLAN;
      execFile(process.execPath, [BIN, ...args], { cwd: dir, env, timeout: 30_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      });
    });
  }

  const status = (): Promise<UnitStatus> => control.workflow.getHandle(workflowId).query(messages.status);

  before(async () => {
    const s = testStack();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'route-cli-'));
    const doc = {
      name: uniqueId('route-cli'),
      clusters: { legacy: { address: s.source.address }, cloud: { address: s.target.address } },
      source: 'legacy',
      target: 'cloud',
      control: { cluster: 'cloud', namespace: 'cutover', taskQueue: uniqueId('route-control') },
      // Checks far apart: the test breaks the record and repairs it by hand before the unit would restore it.
      redis: { url: s.redisUrl, keyPrefix: `${uniqueId('route')}:`, clientStaleness: '1s', routeCheck: '10m' },
      namespaces: {
        [NS]: {
          strategy: 'drain-and-switch',
          taskQueues: [uniqueId('pay')],
          tenants: { selector: { workflowIdPrefix: '{tenant}-' }, ids: [tenant] },
        },
      },
      gates: {},
      defaults: { bake: '1s', onGateFailure: 'hold' },
      rings: [{ name: 'ring0', units: [unit], gates: [] }],
    };
    planFile = path.join(dir, 'plan.json');
    fs.writeFileSync(planFile, JSON.stringify(doc, null, 2));
    // The same plan with its control cluster down (nothing listens on that port).
    ghostPlanFile = path.join(dir, 'ghost.json');
    const ghost = { ...doc, clusters: { ...doc.clusters, ghost: { address: `127.0.0.1:${await freePort()}` } } };
    fs.writeFileSync(ghostPlanFile, JSON.stringify({ ...ghost, control: { ...doc.control, cluster: 'ghost' } }, null, 2));
    plan = loadPlan(planFile);
    redis = new Redis(s.redisUrl, { maxRetriesPerRequest: 1 });
    store = new RoutingStore({ redis, keyPrefix: plan.redis.keyPrefix });
    worker = await createCutoverWorker({ plan });
    running = worker.run();
    connection = await Connection.connect({ address: s.target.address });
    control = new Client({ connection, namespace: 'cutover' });
    const opts = unitStartOptions(
      unitInputFromPlan(plan, parseUnitName(unit)!, { actor: 'test', advanceMode: 'manual' }),
      plan.control.taskQueue,
    );
    workflowId = opts.workflowId;
    assert.equal(workflowId, unitWorkflowId(parseUnitName(unit)!));
    await control.workflow.start('tenantMigration', opts);
    await control.workflow
      .getHandle(workflowId)
      .signal(messages.advance, { actor: 'test', commandId: uniqueId('c'), until: 'provisioned' });
    await until('the unit to create its record (provisioned, epoch 1) and read it back once', async () => {
      const st = await status();
      return st.phase === 'provisioned' && st.route.epoch === 1 && st.routeCheck?.checkedAt !== undefined;
    });
  });

  after(async () => {
    await control?.workflow
      .getHandle(workflowId)
      .terminate('test teardown')
      .catch(() => undefined);
    worker?.shutdown();
    await running;
    await connection?.close();
    const keys = (await redis?.keys(`${plan.redis.keyPrefix}*`)) ?? [];
    if (keys.length > 0) await redis.del(...keys);
    redis?.disconnect();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('repair restores a deleted record at a higher epoch; show names the fix of an invalid one; the workflow carries on', async () => {
    await redis.del(store.routeKey(unit));
    const shown = await cli(['route', 'show', unit, '--plan', planFile, '--json']);
    assert.equal(shown.code, 0, shown.stderr);
    const missing = JSON.parse(shown.stdout) as RouteInspection;
    assert.deepEqual(
      [missing.verdict, missing.stored.raw, missing.workflow.route?.epoch, missing.fix],
      ['missing', null, 1, `cutover route repair ${unit}`],
    );

    const repaired = await cli(['route', 'repair', unit, '--plan', planFile, '--reason', 'lost in a test', '--actor', 'op', '--json']);
    assert.equal(repaired.code, 0, repaired.stderr);
    const r = JSON.parse(repaired.stdout) as RouteRepairResult;
    assert.deepEqual([r.repaired, r.after?.epoch, r.after?.restoredFrom, r.after?.changedBy], [true, 2, 1, 'op']);
    const rec = await store.get(unit);
    assert.deepEqual([rec?.epoch, rec?.route, rec?.restoredFrom], [2, { kind: 'side', side: 'source' }, 1]);

    // An invalid record: show names what is wrong and the command that repairs it (exit 0: it only reads).
    const broken = '{"unit":"oops","epoch":7}';
    await redis.set(store.routeKey(unit), broken);
    const [invalid, badInput, ghost] = await Promise.all([
      cli(['route', 'show', unit, '--plan', planFile]),
      cli(['route', 'repair', plan.name, '--plan', planFile]),
      cli(['route', 'repair', unit, '--plan', ghostPlanFile]),
    ]);
    assert.equal(invalid.code, 0, invalid.stderr);
    assert.ok(invalid.stdout.includes('INVALID — route: Required'), invalid.stdout);
    assert.ok(invalid.stdout.includes(`fix:       cutover route repair ${unit}`), invalid.stdout);
    assert.equal(badInput.code, 2, badInput.stderr);
    assert.ok(badInput.stderr.includes('<unit>'), badInput.stderr);
    // The control cluster down: refused, naming the break-glass fix; nothing written.
    assert.equal(ghost.code, 1, ghost.stderr);
    assert.ok(ghost.stderr.includes(`cutover route ${unit} source --force`), ghost.stderr);
    assert.equal(await redis.get(store.routeKey(unit)), broken);

    // Repaired through the library (what the CLI calls), above the 7 the broken value still shows.
    const deps = await openRouteDeps(plan);
    try {
      const target = resolveTarget(plan, unit);
      assert.equal(target.kind, 'unit');
      const again = await repairRoute(deps, { target: target as Extract<typeof target, { kind: 'unit' }>, actor: 'op' });
      assert.deepEqual([again.repaired, again.before.verdict, again.after?.epoch], [true, 'invalid', 8]);
    } finally {
      await deps.close();
    }

    // The workflow, still at epoch 1, changes the route next (cutover: hold) and carries on from epoch 8.
    await control.workflow.getHandle(workflowId).signal(messages.advance, { actor: 'test', commandId: uniqueId('c'), until: 'cutover' });
    const st = await until('the workflow to change the route after the repair', async () => {
      const s = await status();
      return s.phase === 'failed' || s.route.epoch > 8 ? s : undefined;
    });
    assert.notEqual(st.phase, 'failed', JSON.stringify(st.failure));
    const now = await store.get(unit);
    assert.ok(now && now.epoch >= st.route.epoch && now.epoch > 8, JSON.stringify(now));
  });
});
