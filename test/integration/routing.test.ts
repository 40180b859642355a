/**
 * The routing library against the real test stack: two dev servers (source `legacy`, target `cloud`)
 * and a real Redis. Each test has its own Redis key prefix, task queue and workflow IDs.
 */
import * as assert from 'node:assert/strict';
import { Client, WorkflowExecutionAlreadyStartedError, WorkflowIdConflictPolicy } from '@temporalio/client';
import { loadPlan } from '../../src/config';
import { diffSchedules } from '../../src/schedules/diff';
import { dataConverterFor, EncryptionCodec, generateKey, isEncrypted, parseKeyMaterial } from '../../src/security';
import { testStack, uniqueId } from '../harness';
import { useRoutingRig } from './routing.fixture';
import { until } from '../harness/wait';
import { DualWorkers } from '../../src/routing/dual-workers';
import { RouteHeldTimeoutError, RoutingInputError } from '../../src/routing/errors';
import { sideFor } from '../../src/routing/hash';
import { RoutedClient } from '../../src/routing/client';
import type { RoutedClientParts, RoutedClientTuning } from '../../src/routing/client';
import { RoutingStore } from '../../src/routing/store';
import type { RouteHint } from '../../src/routing/store';
import type { Route, Side } from '../../src/routing/types';
import { add, bump, finish, routedCounter, routedNoop, total } from '../workflows/routing-test-workflows';

const NS = 'payments';
const UNIT = `namespace/${NS}`;
const SIDES = ['source', 'target'] as const;

/** Runs `fn` over `items` with at most `n` in flight. */
async function pool<T>(items: readonly T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i] as T, i);
      }
    }),
  );
}

describe('routing (real clusters and Redis)', function () {
  this.timeout(120_000);
  const r = useRoutingRig(NS, 'rt');

  async function routedClient(
    store: RoutingStore,
    tuning: RoutedClientTuning & Pick<RoutedClientParts, 'tenantSelector' | 'tenants'> = {},
  ): Promise<RoutedClient> {
    const c = await RoutedClient.create({ source: r.sdk.source, target: r.sdk.target, store, namespace: NS, ...tuning });
    r.cleanups.push(() => c.close());
    return c;
  }

  async function dualWorkers(store: RoutingStore, taskQueue: string): Promise<DualWorkers> {
    const w = await DualWorkers.fromParts({
      sourceConnection: r.natives.source,
      targetConnection: r.natives.target,
      sourceNamespace: NS,
      store,
      units: [UNIT],
      taskQueue,
      workflowBundle: r.workflowBundle,
      refreshMs: 200,
    });
    const running = w.run();
    r.cleanups.push(async () => {
      await w.shutdown();
      await running;
    });
    return w;
  }

  const where = (workflowId: string) => r.where(workflowId);

  const set = async (store: RoutingStore, route: Route, sourceWorkersMayStop?: boolean) => {
    const cur = await store.get(UNIT);
    const res = await store.compareAndSet(UNIT, cur?.epoch ?? 0, { route, actor: 'test', sourceWorkersMayStop });
    assert.ok(res.ok, 'test route change lost a CAS');
    return res.record;
  };

  describe('routing store', () => {
    it('creates once (ensure is idempotent), fences concurrent writers on the epoch, publishes, lists and deletes', async () => {
      const store = r.freshStore();
      const events: RouteHint[] = [];
      const sub = await store.subscribe((e) => events.push(e));
      r.cleanups.push(() => sub.close());

      assert.equal(await store.get(UNIT), undefined, 'no record yet: routed to the source by design');
      const first = await store.ensure(UNIT, { route: { kind: 'side', side: 'source' }, actor: 'provision' });
      assert.equal(first.epoch, 1);
      const again = await store.ensure(UNIT, { route: { kind: 'side', side: 'target' }, actor: 'other' });
      assert.deepEqual(again, first);

      // 20 writers all holding epoch 1: exactly one wins.
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.compareAndSet(UNIT, 1, { route: { kind: 'percent', basisPoints: 100 * (i + 1) }, actor: `w${i}` }),
        ),
      );
      const winners = results.filter((r) => r.ok);
      assert.equal(winners.length, 1);
      const won = winners[0] as { ok: true; record: { epoch: number; changedBy: string; sourceWorkersMayStop: boolean } };
      assert.equal(won.record.epoch, 2);
      assert.equal(won.record.sourceWorkersMayStop, false);
      for (const r of results) if (!r.ok) assert.equal(r.current?.epoch, 2);

      const third = await store.compareAndSet(UNIT, 2, {
        route: { kind: 'side', side: 'target' },
        actor: 'op',
        reason: 'drained',
        sourceWorkersMayStop: true,
      });
      assert.ok(third.ok);
      const kept = await store.compareAndSet(UNIT, 3, { route: { kind: 'side', side: 'target' }, actor: 'op' });
      assert.ok(kept.ok && kept.record.sourceWorkersMayStop, 'an omitted sourceWorkersMayStop keeps the current value');
      assert.equal((await store.compareAndSet(UNIT, 0, { route: { kind: 'hold' }, actor: 'late' })).ok, false);

      await store.ensure('tenant/payments/acme', { route: { kind: 'side', side: 'source' }, actor: 'p' });
      assert.deepEqual(
        (await store.list()).map((r) => r.unit),
        ['namespace/payments', 'tenant/payments/acme'],
      );

      // Every change is announced (subscribers take a message only as the unit to read again).
      await until('4 published changes', () => events.filter((e) => e.unit === UNIT).length >= 4);
      assert.equal(events.filter((e) => e.unit === UNIT).length, 4);

      assert.equal(await store.delete(UNIT), true);
      assert.equal(await store.get(UNIT), undefined);
      await until('the deletion message', () => events.filter((e) => e.unit === UNIT).length === 5);
      await assert.rejects(
        store.compareAndSet('payments', 0, { route: { kind: 'hold' }, actor: 'x' }),
        (e: unknown) => e instanceof RoutingInputError && e.field === 'unit',
      );
    });
  });

  describe('routed client', () => {
    it('starts every acknowledged workflow on exactly one cluster through 2,000 starts and route flips both ways', async function () {
      this.timeout(180_000);
      const store = r.freshStore();
      await store.ensure(UNIT, { route: { kind: 'side', side: 'source' }, actor: 'test' });
      const client = await routedClient(store, { refreshMs: 250 });
      const taskQueue = uniqueId('rt-flips');
      const prefix = uniqueId('flip');
      const N = 2_000;
      const ids = Array.from({ length: N }, (_, i) => `${prefix}-${i}`);
      const acked = new Map<string, Side>();
      const failed: unknown[] = [];
      let startsDone = false;

      // Flipper: source → 25% → 75% → target → 40% → source → ... until the starts are done.
      const routes: Route[] = [
        { kind: 'percent', basisPoints: 2_500 },
        { kind: 'percent', basisPoints: 7_500 },
        { kind: 'side', side: 'target' },
        { kind: 'percent', basisPoints: 4_000 },
        { kind: 'side', side: 'source' },
      ];
      let flips = 0;
      const flipper = (async () => {
        while (!startsDone) {
          await set(store, routes[flips % routes.length] as Route);
          flips++;
          await new Promise((r) => setTimeout(r, 150));
        }
      })();

      // Every 10th start re-uses an ID started earlier: FAIL must refuse it, USE_EXISTING must return that run.
      const conflicts: { id: string; policy: 'FAIL' | 'USE_EXISTING' }[] = [];
      await pool(ids, 24, async (id, i) => {
        try {
          await client.workflow.start(routedCounter, { taskQueue, workflowId: id, args: [0] });
          acked.set(id, await client.locate(id));
        } catch (err) {
          failed.push(err);
        }
        if (i % 10 === 9) conflicts.push({ id: ids[i - 5] as string, policy: i % 20 === 9 ? 'FAIL' : 'USE_EXISTING' });
      });
      const conflictResults = await Promise.all(
        conflicts.map(async ({ id, policy }) => {
          try {
            const h = await client.workflow.start(routedCounter, {
              taskQueue,
              workflowId: id,
              args: [0],
              workflowIdConflictPolicy: policy === 'FAIL' ? WorkflowIdConflictPolicy.FAIL : WorkflowIdConflictPolicy.USE_EXISTING,
            });
            return { id, policy, outcome: 'started' as const, side: await h.cluster() };
          } catch (err) {
            return {
              id,
              policy,
              outcome: err instanceof WorkflowExecutionAlreadyStartedError ? ('already' as const) : ('error' as const),
              err,
            };
          }
        }),
      );
      startsDone = true;
      await flipper;

      assert.deepEqual(failed, [], 'no start failed');
      assert.equal(acked.size, N);
      assert.ok(flips >= 6, `routes flipped ${flips} times during the starts`);
      for (const r of conflictResults) {
        if (r.policy === 'FAIL') assert.equal(r.outcome, 'already', `FAIL on ${r.id} (running on ${acked.get(r.id)})`);
        else {
          assert.equal(r.outcome, 'started', `USE_EXISTING on ${r.id}`);
          assert.equal(r.side, acked.get(r.id), 'USE_EXISTING returned the run where it lives');
        }
      }

      // Exactly one cluster holds each ID (none on both), the one the client recorded.
      const both: string[] = [];
      const wrong: string[] = [];
      const counts = { source: 0, target: 0 };
      await pool(ids, 32, async (id) => {
        const w = await where(id);
        if (w.source && w.target) both.push(id);
        const side = w.source ? 'source' : 'target';
        counts[side]++;
        if (!w[side] || side !== acked.get(id)) wrong.push(id);
      });
      assert.deepEqual(both, [], 'IDs on both clusters');
      assert.deepEqual(wrong, [], 'IDs not where the client placed them');
      assert.ok(counts.source > 0 && counts.target > 0, `both clusters received starts: ${JSON.stringify(counts)}`);

      // Sticky terminate through a fresh client (no in-process placements): every run is reached.
      const fresh = await routedClient(store);
      await pool(ids, 32, async (id) => {
        await fresh.workflow.getHandle(id).terminate('test cleanup');
      });
      const sample = await where(ids[0] as string);
      assert.equal(Object.values(sample)[0], 'TERMINATED');
    });

    it('delivers signals, queries, updates, cancels and terminates to runs on either cluster after flips', async () => {
      const store = r.freshStore();
      await store.ensure(UNIT, { route: { kind: 'side', side: 'source' }, actor: 'test' });
      const taskQueue = uniqueId('rt-msg');
      await dualWorkers(store, taskQueue);
      const client = await routedClient(store);
      const id = (n: string) => `${taskQueue}-${n}`;

      // Started before any routed client existed, directly on the source.
      await r.sdk.source.workflow.start(routedCounter, { taskQueue, workflowId: id('legacy'), args: [100] });
      await client.workflow.start(routedCounter, { taskQueue, workflowId: id('s'), args: [0] });
      await set(store, { kind: 'percent', basisPoints: 5_000 });
      await until('the client to see 50%', () => client.routes.lookup(UNIT)?.route.kind === 'percent');
      const pctIds = Array.from({ length: 8 }, (_, i) => id(`p${i}`));
      for (const w of pctIds) await client.workflow.start(routedCounter, { taskQueue, workflowId: w, args: [0] });
      await set(store, { kind: 'side', side: 'target' });
      await until('the client to see target', () => client.routes.lookup(UNIT)?.route.kind === 'side');
      await client.workflow.start(routedCounter, { taskQueue, workflowId: id('t'), args: [0] });
      await set(store, { kind: 'side', side: 'source' }); // and back again (rollback)

      const all = [id('legacy'), id('s'), ...pctIds, id('t')];
      const sides = new Set<Side>();
      // A second client instance finds every run (Redis placements, or describing both clusters).
      const other = await routedClient(store);
      for (const [i, w] of all.entries()) {
        const c = i % 2 === 0 ? client : other;
        const h = c.workflow.getHandle<typeof routedCounter>(w);
        sides.add(await h.cluster());
        await h.signal(bump, 1);
        assert.equal(await h.executeUpdate(add, { args: [2] }), (w === id('legacy') ? 100 : 0) + 3);
        assert.equal(await h.query(total), (w === id('legacy') ? 100 : 0) + 3);
      }
      assert.deepEqual([...sides].sort(), ['source', 'target'], 'runs live on both clusters');
      const first = other.workflow.getHandle<typeof routedCounter>(id('s'));
      await first.signal(finish);
      assert.equal(await first.result(), 3);
      await other.workflow.getHandle(id('t')).cancel();
      await until('the cancel', async () => (await where(id('t'))).target === 'CANCELLED');
      for (const w of all.slice(2, -1)) await client.workflow.getHandle(w).terminate('done');
      await other.workflow.getHandle(id('legacy')).terminate('done');
      assert.equal((await where(id('legacy'))).source, 'TERMINATED');
    });

    it('applies the conflict policy across clusters as if they were one', async () => {
      const store = r.freshStore();
      await store.ensure(UNIT, { route: { kind: 'side', side: 'source' }, actor: 'test' });
      const client = await routedClient(store);
      const taskQueue = uniqueId('rt-conflict');
      const w = `${taskQueue}-x`;
      const h = await client.workflow.start(routedCounter, { taskQueue, workflowId: w, args: [0] });
      await set(store, { kind: 'side', side: 'target' });
      await until(
        'the client to see target',
        () => client.routes.lookup(UNIT)?.route.kind === 'side' && client.routes.lookup(UNIT)?.epoch === 2,
      );

      await assert.rejects(
        client.workflow.start(routedCounter, { taskQueue, workflowId: w, args: [0] }),
        WorkflowExecutionAlreadyStartedError,
      );
      const existing = await client.workflow.start(routedCounter, {
        taskQueue,
        workflowId: w,
        args: [0],
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      });
      assert.equal(existing.firstExecutionRunId, h.firstExecutionRunId);
      // A client that never saw the first start (no in-process placement) behaves the same.
      const other = await routedClient(store);
      await assert.rejects(
        other.workflow.start(routedCounter, { taskQueue, workflowId: w, args: [0] }),
        WorkflowExecutionAlreadyStartedError,
      );
      const swsh = await other.workflow.signalWithStart(routedCounter, {
        taskQueue,
        workflowId: w,
        args: [0],
        signal: bump,
        signalArgs: [5],
      });
      assert.equal(await swsh.cluster(), 'source');
      assert.deepEqual(await where(w), { source: 'RUNNING' });
      await h.terminate('done');
      // Closed on the source: a new run of the ID follows the route.
      const again = await other.workflow.start(routedCounter, { taskQueue, workflowId: w, args: [0] });
      assert.equal(await again.cluster(), 'target');
      assert.deepEqual(await where(w), { source: 'TERMINATED', target: 'RUNNING' });
      await again.terminate('done');
    });

    it('holds starts while the route is hold, then runs each exactly once after the switch', async () => {
      const store = r.freshStore();
      await store.ensure(UNIT, { route: { kind: 'side', side: 'source' }, actor: 'test' });
      await set(store, { kind: 'hold' });
      const taskQueue = uniqueId('rt-hold');
      await dualWorkers(store, taskQueue);
      const client = await routedClient(store, { holdTimeoutMs: 30_000 });
      await until('the client to see hold', () => client.routes.lookup(UNIT)?.route.kind === 'hold');
      const ids = Array.from({ length: 20 }, (_, i) => `${taskQueue}-${i}`);
      let settled = 0;
      const results = Promise.all(
        ids.map(async (w) => {
          try {
            return await client.workflow.execute(routedNoop, { taskQueue, workflowId: w, args: [w] });
          } finally {
            settled++;
          }
        }),
      );
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(settled, 0, 'no held start went through');
      for (const w of ids.slice(0, 3)) assert.deepEqual(await where(w), {}, 'nothing started while held');
      await set(store, { kind: 'side', side: 'target' });
      assert.deepEqual(await results, ids);
      for (const w of ids) assert.deepEqual(await where(w), { target: 'COMPLETED' });
    });

    it('fails a held start past the bound with a typed, retryable error and starts nothing', async () => {
      const store = r.freshStore();
      await store.ensure(UNIT, { route: { kind: 'hold' }, actor: 'test' });
      const client = await routedClient(store, { holdTimeoutMs: 300, refreshMs: 100 });
      const w = uniqueId('rt-held');
      await assert.rejects(
        client.workflow.start(routedNoop, { taskQueue: w, workflowId: w }),
        (e: unknown) => e instanceof RouteHeldTimeoutError && e.retryable === true && e.unit === UNIT,
      );
      assert.deepEqual(await where(w), {});
    });

    it('routes tenants on their own (workflow ID prefix selector) and never splits one', async () => {
      const store = r.freshStore();
      const client = await routedClient(store, { tenantSelector: { workflowIdPrefix: '{tenant}-' }, tenants: ['acme', 'globex'] });
      await store.ensure('tenant/payments/acme', { route: { kind: 'side', side: 'target' }, actor: 'test' });
      await store.ensure(UNIT, { route: { kind: 'percent', basisPoints: 5_000 }, actor: 'test' });
      await until(
        'the client to see both',
        () => client.routes.lookup('tenant/payments/acme') !== undefined && client.routes.lookup(UNIT) !== undefined,
      );
      const taskQueue = uniqueId('rt-tenant');
      const started: [string, Side][] = [];
      for (let i = 0; i < 10; i++) {
        for (const t of ['acme', 'globex', `other${taskQueue}`]) {
          const w = `${t}-${taskQueue}-${i}`;
          const h = await client.workflow.start(routedCounter, { taskQueue, workflowId: w, args: [0] });
          started.push([w, await h.cluster()]);
        }
      }
      for (const [w, side] of started) {
        if (w.startsWith('acme-')) assert.equal(side, 'target', w);
        else if (w.startsWith('globex-')) assert.equal(side, 'source', `${w}: no tenant record = source`);
        else assert.equal(side, sideFor({ kind: 'percent', basisPoints: 5_000 }, w), `${w}: namespace route`);
        assert.deepEqual(Object.keys(await where(w)), [side]);
        await client.workflow.getHandle(w).terminate('done');
      }
    });

    it('converges when a change is not published or the subscription is dropped (timer refresh)', async () => {
      const store = r.freshStore();
      await store.ensure(UNIT, { route: { kind: 'side', side: 'source' }, actor: 'test' });
      const client = await routedClient(store, { refreshMs: 300 });
      // A change written without its message (as if pub/sub lost it).
      const silent = {
        unit: UNIT,
        route: { kind: 'side', side: 'target' },
        epoch: 2,
        sourceWorkersMayStop: false,
        changedBy: 'silent',
        changedAt: new Date().toISOString(),
      };
      await r.redis.set(store.routeKey(UNIT), JSON.stringify(silent));
      await until('the refresh to pick up the silent change', () => client.routes.lookup(UNIT)?.epoch === 2, 3_000);
      // Kill the subscriber connections, change the route at once (its message may be lost), converge.
      await r.redis.client('KILL', 'TYPE', 'pubsub');
      await set(store, { kind: 'percent', basisPoints: 1_234 });
      await until('convergence after the dropped subscription', () => client.routes.lookup(UNIT)?.epoch === 3, 3_000);
      // The subscription comes back: a published change arrives without waiting for the timer.
      const quick = await routedClient(store, { refreshMs: 60_000 });
      await set(store, { kind: 'side', side: 'source' });
      await until('the pushed change', () => quick.routes.lookup(UNIT)?.epoch === 4, 3_000);
    });

    it('creates schedules active on the routed side and paused on the other, and updates both', async () => {
      const store = r.freshStore();
      await store.ensure(UNIT, { route: { kind: 'side', side: 'target' }, actor: 'test' });
      const client = await routedClient(store);
      const scheduleId = uniqueId('rt-sched');
      const taskQueue = uniqueId('rt-sched-tq');
      const h = await client.schedule.create({
        scheduleId,
        spec: { intervals: [{ every: '1h' }] },
        action: { type: 'startWorkflow', workflowType: routedNoop, taskQueue, args: ['x'] },
      });
      r.cleanups.push(() => h.delete());
      const [src, dst] = await Promise.all(SIDES.map((side) => r.sdk[side].schedule.getHandle(scheduleId).describe()));
      assert.equal(dst?.state.paused, false, 'active on the routed side');
      assert.equal(src?.state.paused, true, 'paused copy on the other side');
      assert.deepEqual(diffSchedules(src!, dst!), [], 'the standby copy means the same as the active one');
      assert.equal(await h.activeSide(), 'target');
      await h.update((prev) => ({ ...prev, spec: { intervals: [{ every: '2h' }] } }));
      const [src2, dst2] = await Promise.all(SIDES.map((side) => r.sdk[side].schedule.getHandle(scheduleId).describe()));
      assert.equal(dst2?.spec.intervals?.[0]?.every, 7_200_000);
      assert.equal(src2?.spec.intervals?.[0]?.every, 7_200_000);
      assert.equal(dst2?.state.paused, false);
      assert.equal(src2?.state.paused, true, 'the standby copy stays paused through updates');
      assert.deepEqual(diffSchedules(src2!, dst2!), []);
    });

    it("with the application's codec, the standby copy holds the active copy's sealed bytes, through create and update", async () => {
      const key = parseKeyMaterial(generateKey(), 'app-1', 'the test');
      if ('message' in key) throw new Error(key.message);
      const dataConverter = dataConverterFor(new EncryptionCodec({ keys: [{ id: 'app-1', key, source: 'the test' }], current: 'app-1' }));
      const store = r.freshStore();
      await store.ensure(UNIT, { route: { kind: 'side', side: 'source' }, actor: 'test' });
      const client = await RoutedClient.create({
        source: new Client({ connection: r.conns.source, namespace: NS, dataConverter }),
        target: new Client({ connection: r.conns.target, namespace: NS, dataConverter }),
        store,
        namespace: NS,
      });
      r.cleanups.push(() => client.close());
      const scheduleId = uniqueId('rt-sched-codec');
      const h = await client.schedule.create({
        scheduleId,
        spec: { intervals: [{ every: '1h' }] },
        action: { type: 'startWorkflow', workflowType: routedNoop, taskQueue: uniqueId('rt-sched-tq'), args: ['sealed'] },
        memo: { owner: 'sealed too' },
      });
      r.cleanups.push(() => h.delete());
      // Each encoding seals with a fresh IV: copies encoded once per side would differ in every payload.
      const sealedAlike = async () => {
        const [src, dst] = await Promise.all(
          SIDES.map((side) => r.conns[side].workflowService.describeSchedule({ namespace: NS, scheduleId })),
        );
        const input = [src!, dst!].map((d) => d.schedule?.action?.startWorkflow?.input?.payloads?.[0]);
        assert.ok(input[0] && isEncrypted(input[0]), 'the action input is sealed');
        assert.deepEqual(Buffer.from(input[1]!.data!), Buffer.from(input[0].data!));
        assert.deepEqual(Buffer.from(dst!.memo!.fields!.owner!.data!), Buffer.from(src!.memo!.fields!.owner!.data!));
        assert.deepEqual(diffSchedules(src!, dst!), []);
        assert.deepEqual([src!.schedule?.state?.paused, dst!.schedule?.state?.paused], [false, true]);
      };
      await sealedAlike();
      await h.update((prev) => ({ ...prev, spec: { intervals: [{ every: '2h' }] } }));
      await sealedAlike();
      const described = await h.describe();
      assert.equal(
        described.action.type === 'startWorkflow' && described.action.args?.[0],
        'sealed',
        'the routed client opens its own payloads',
      );
    });

    it('runs dual workers and stops the source worker when the record says the source may stop', async () => {
      const store = r.freshStore();
      await store.ensure(UNIT, { route: { kind: 'side', side: 'source' }, actor: 'test' });
      const taskQueue = uniqueId('rt-dual');
      const workers = await dualWorkers(store, taskQueue);
      const client = await routedClient(store);
      await until('both workers running', () => workers.runningSides().length === 2);
      assert.equal(await client.workflow.execute(routedNoop, { taskQueue, workflowId: `${taskQueue}-s`, args: ['s'] }), 's');
      await set(store, { kind: 'side', side: 'target' });
      await until('the client to see target', () => client.routes.lookup(UNIT)?.epoch === 2);
      assert.equal(await client.workflow.execute(routedNoop, { taskQueue, workflowId: `${taskQueue}-t`, args: ['t'] }), 't');
      assert.deepEqual(workers.runningSides(), ['source', 'target'], 'the source keeps running until told');
      await set(store, { kind: 'side', side: 'target' }, true);
      await until('the source worker to stop', () => workers.runningSides().join() === 'target');
      assert.equal(await client.workflow.execute(routedNoop, { taskQueue, workflowId: `${taskQueue}-u`, args: ['u'] }), 'u');
    });

    it('connects from a plan (RoutedClient.connect, DualWorkers.create) and names a namespace the plan lacks', async () => {
      const s = testStack();
      const keyPrefix = `${uniqueId('rt-plan')}:`;
      r.cleanups.push(async () => {
        const keys = await r.redis.keys(`${keyPrefix}*`);
        if (keys.length > 0) await r.redis.del(...keys);
      });
      const plan = loadPlan({
        name: 'rt-plan',
        clusters: { legacy: { address: s.source.address }, cloud: { address: s.target.address } },
        source: 'legacy',
        target: 'cloud',
        redis: { url: s.redisUrl, keyPrefix },
        namespaces: { [NS]: { strategy: 'drain-and-switch' } },
        rings: [{ name: 'r', units: [UNIT] }],
      });
      await assert.rejects(
        RoutedClient.connect({ plan, namespace: 'billing' }),
        (e: unknown) => e instanceof RoutingInputError && e.field === 'namespace' && e.message.includes(NS),
      );
      const store = new RoutingStore({ redis: r.redis, keyPrefix });
      await store.ensure(UNIT, { route: { kind: 'side', side: 'target' }, actor: 'test' });
      const taskQueue = uniqueId('rt-plan-q');
      const workers = await DualWorkers.create({ plan, namespace: NS, taskQueue, workflowBundle: r.workflowBundle, refreshMs: 200 });
      const running = workers.run();
      r.cleanups.push(async () => {
        await workers.shutdown();
        await running;
      });
      const client = await RoutedClient.connect({ plan, namespace: NS });
      r.cleanups.push(() => client.close());
      await until('the client to see the route', () => client.routes.lookup(UNIT)?.epoch === 1);
      const workflowId = `${taskQueue}-1`;
      assert.equal(await client.workflow.execute(routedNoop, { taskQueue, workflowId, args: ['p'] }), 'p');
      assert.deepEqual(await where(workflowId), { target: 'COMPLETED' });
    });
  });
});
