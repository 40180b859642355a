/**
 * Handoff of running workflows (straggler policy `handoff`) on the real clusters and Redis: a counter
 * that uses the `cutover/workflow` helper is moved to the other cluster mid-life with its state while
 * the application keeps signalling it through the routed client. The handoff activity is crashed after
 * each of its steps and retried; a workflow without the helper is refused and left untouched; and an
 * entity workflow hands a straggler off in its drain and back on rollback.
 */
import assert from 'node:assert/strict';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createHandoffActivities, HANDOFF_STEPS, type HandOffArgs, type HandoffStep } from '../../src/activities/handoff';
import type { Side } from '../../src/routing/types';
import { HANDOFF_SIGNAL } from '../../src/domain/handoff';
import { addSignal, counterQuery, goSignal, type CounterState } from '../workflows/entity-app';
import { testStack } from '../harness';
import { closeShared, driveTo, Rig, sharedRig } from './entity.fixture';

const fresh = (): CounterState => ({ count: 0, adds: 0, runs: 0 });

/** The runs of `workflowId` on each cluster that are still open. */
async function openRuns(sdk: Record<Side, Client>, workflowId: string): Promise<Side[]> {
  const open: Side[] = [];
  for (const side of ['source', 'target'] as const) {
    try {
      const d = await sdk[side].workflow.getHandle(workflowId).describe();
      if (d.status.name === 'RUNNING') open.push(side);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
  return open;
}

async function terminateEverywhere(sdk: Record<Side, Client>, ids: string[]): Promise<void> {
  for (const id of ids)
    for (const side of ['source', 'target'] as const)
      await sdk[side].workflow
        .getHandle(id)
        .terminate('test teardown')
        .catch(() => undefined);
}

describe('handoff of running workflows', function () {
  this.timeout(120_000);
  after(closeShared);

  describe('the handoff activity', () => {
    let rig: Rig;
    let sdk: Record<Side, Client>;
    const started: string[] = [];
    let tenant: string;

    before(async () => {
      rig = await new Rig({ kind: 'tenant' }).setUp();
      sdk = rig.sdkClients();
      tenant = (rig.input.unit as { tenant: string }).tenant;
    });
    after(async () => {
      if (sdk) await terminateEverywhere(sdk, started);
      await rig?.tearDown();
    });

    /** The activity over the shared connections, crashing once after `crashAt` for `workflowId`. */
    async function activity(crashAt?: { step: HandoffStep; workflowId: string }) {
      const sh = await sharedRig();
      const s = testStack();
      let crashed = false;
      return createHandoffActivities({
        source: { name: s.source.name, connection: sh.conn.source, kind: 'dev' },
        target: { name: s.target.name, connection: sh.conn.target, kind: 'dev' },
        records: rig.routingStore(),
        afterStep: (step, workflowId) => {
          if (crashAt && !crashed && step === crashAt.step && workflowId === crashAt.workflowId) {
            crashed = true;
            throw new Error(`crash after ${step}`);
          }
        },
      });
    }

    function args(workflowId: string, runId: string): HandOffArgs {
      const ns = rig.input.sourceNamespace;
      return {
        unit: rig.unit,
        keyNamespace: rig.input.unit.namespace,
        from: 'source',
        to: 'target',
        fromNamespace: ns,
        toNamespace: rig.input.targetNamespace,
        runs: [{ workflowId, runId }],
        scope: { taskQueues: [rig.appQueue] },
        epoch: 1,
        stopWaitMs: 20_000,
        recordTtlMs: 120_000,
      };
    }

    /** Starts a counter workflow through the routed client (terminated after the suite); its handle and first run. */
    async function startCounter(workflowId: string, afterGo = false) {
      const routed = rig.routedClient();
      started.push(workflowId);
      const h = await routed.workflow.start('handoffCounter', { taskQueue: rig.appQueue, workflowId, args: [fresh(), afterGo] });
      const runId = h.firstExecutionRunId;
      assert.ok(runId, 'a start reports its run');
      return { routed, h, runId };
    }

    for (const step of HANDOFF_STEPS) {
      it(`crashed after "${step}" and retried: the counter goes on on the target with every signal, once`, async () => {
        const workflowId = `${tenant}-crash-${step}`;
        const { routed, h, runId } = await startCounter(workflowId);
        for (const n of [1, 2, 3]) await h.signal(addSignal, n);
        const acts = await activity({ step, workflowId });
        await assert.rejects(acts.handOffRuns(args(workflowId, runId)), new RegExp(`crash after ${step}`));
        // The application keeps signalling between the crash and the retry: a signal lands on the old run
        // before it stops, or is held by the routed client until the new run exists. None may be lost.
        const inflight = [h.signal(addSignal, 10), routed.workflow.getHandle(workflowId).signal(addSignal, 100)];
        const r = await acts.handOffRuns(args(workflowId, runId));
        const item = r.items[0];
        assert.equal(item?.outcome, 'handed-off', JSON.stringify(r));
        await Promise.all(inflight);
        await h.signal(addSignal, 1000);
        const state = await h.query(counterQuery);
        assert.deepEqual(state, { count: 1116, adds: 6, runs: 2 });
        assert.deepEqual(await openRuns(sdk, workflowId), ['target']);
        const old = await sdk.source.workflow.getHandle(workflowId, runId).describe();
        assert.equal(old.status.name, 'COMPLETED');
        const rec = await rig.routingStore().getHandoff(rig.input.unit.namespace, workflowId);
        assert.equal(rec?.state, 'done');
        assert.equal(rec?.toRunId, item.outcome === 'handed-off' ? item.entry.toRunId : undefined);
        assert.equal((await rig.routingStore().getPlacement(rig.input.unit.namespace, workflowId))?.side, 'target');
        // Once more, after the fact: the pass is idempotent (same new run, nothing started again).
        const again = await acts.handOffRuns(args(workflowId, runId));
        assert.deepEqual(
          again.items.map((i) => (i.outcome === 'handed-off' ? i.entry.toRunId : i.outcome)),
          [rec?.toRunId],
        );
        assert.deepEqual(await openRuns(sdk, workflowId), ['target']);
      });
    }

    type PassResult = Awaited<ReturnType<ReturnType<typeof createHandoffActivities>['handOffRuns']>>;

    /**
     * A run asked by one pass reaches its safe point only after the pass gave up waiting: closed, no listing
     * of open runs shows it. `next` runs the following pass from what the first one left (its result, its
     * heartbeats, and its arguments: a listing of the queue's open runs, not a given list).
     */
    async function laterSafePoint(
      label: string,
      next: (listing: HandOffArgs, first: PassResult, heartbeats: unknown[]) => Promise<PassResult>,
    ): Promise<void> {
      const workflowId = `${tenant}-late-${label}`;
      const { h, runId } = await startCounter(workflowId, true);
      await h.signal(addSignal, 5);
      const heartbeats: unknown[] = [];
      const env = new MockActivityEnvironment();
      env.on('heartbeat', (d: unknown) => heartbeats.push(d));
      // Other tests' runs in the queue are listed too (refused, or asked): only this run's item is checked.
      const listing: HandOffArgs = { ...args(workflowId, runId), runs: undefined, stopWaitMs: 300 };
      const acts = await activity();
      const first = (await env.run(() => acts.handOffRuns(listing))) as PassResult;
      const itemOf = (r: PassResult) =>
        r.items.find((i) => (i.outcome === 'handed-off' ? i.entry.workflowId : i.workflowId) === workflowId);
      assert.equal(itemOf(first)?.outcome, 'waiting', JSON.stringify(first));
      await h.signal(goSignal);
      assert.deepEqual(await sdk.source.workflow.getHandle(workflowId, runId).result(), { count: 5, adds: 1, runs: 1 });
      assert.deepEqual(await openRuns(sdk, workflowId), [], 'stopped, and open nowhere yet');
      const second = await next(listing, first, heartbeats);
      assert.equal(itemOf(second)?.outcome, 'handed-off', JSON.stringify(second));
      assert.deepEqual(await openRuns(sdk, workflowId), ['target']);
      await h.signal(addSignal, 10);
      assert.deepEqual(await h.query(counterQuery), { count: 15, adds: 2, runs: 2 }, 'the state went on, with every signal');
    }

    it('a run at its safe point only after the pass that asked it: handed off by the next pass (given the runs left asked)', async () => {
      await laterSafePoint('pass', async (listing, first) => {
        // What the entity workflow keeps between passes: the runs left waiting.
        const asked = first.items.flatMap((i) => (i.outcome === 'waiting' ? [{ workflowId: i.workflowId, runId: i.runId }] : []));
        return await (await activity()).handOffRuns({ ...listing, asked });
      });
    });

    it('… and by a retry of the pass after a crash (the runs its last heartbeat carried)', async () => {
      await laterSafePoint('retry', async (listing, _first, heartbeats) => {
        const last = heartbeats.at(-1) as { asked?: unknown[] } | undefined;
        assert.ok(last?.asked?.length, `the pass heartbeats the runs it asked: ${JSON.stringify(last)}`);
        // A new attempt of the same activity, given the last heartbeat's details (as the server gives them).
        const retry = new MockActivityEnvironment({ heartbeatDetails: last, attempt: 2 });
        const acts = await activity();
        return (await retry.run(() => acts.handOffRuns(listing))) as PassResult;
      });
    });

    it('refuses a workflow that does not use the helper, and leaves it untouched', async () => {
      const workflowId = `${tenant}-plain`;
      started.push(workflowId);
      const h = await sdk.source.workflow.start('plainLongRunner', { taskQueue: rig.appQueue, workflowId });
      await h.signal(addSignal, 1);
      // The run's worker has taken its tasks (a query answers only then): the history is at rest.
      await assert.rejects(h.query('cutover.handoff'), /unknown queryType|did not register|not registered|handler/i);
      const before = (await h.fetchHistory()).events?.length ?? 0;
      const acts = await activity();
      const r = await acts.handOffRuns(args(workflowId, h.firstExecutionRunId));
      const item = r.items[0];
      assert.equal(item?.outcome, 'refused');
      assert.match(item && 'why' in item ? item.why : '', /does not use the handoff helper/);
      const after = (await h.fetchHistory()).events ?? [];
      assert.equal(after.length, before, 'the refused run got no new event');
      assert.ok(!after.some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === HANDOFF_SIGNAL));
      assert.equal((await h.describe()).status.name, 'RUNNING');
      assert.equal(await rig.routingStore().getHandoff(rig.input.unit.namespace, workflowId), undefined);
      assert.deepEqual(await openRuns(sdk, workflowId), ['source']);
    });
  });

  it('an entity hands its straggler off in the drain, and back on rollback, with every signal on the way', async () => {
    const rig = await new Rig({
      kind: 'tenant',
      input: { advanceMode: 'manual', stragglers: 'handoff', drainDeadlineMs: 1_500, handoffWaitMs: 10_000, bakeMs: 300 },
    }).setUp();
    const sdk = rig.sdkClients();
    const tenant = (rig.input.unit as { tenant: string }).tenant;
    const counterId = `${tenant}-counter`;
    const plainId = `${tenant}-plain`;
    try {
      const routed = rig.routedClient();
      const h = await routed.workflow.start('handoffCounter', { taskQueue: rig.appQueue, workflowId: counterId, args: [fresh()] });
      const plain = await sdk.source.workflow.start('plainLongRunner', { taskQueue: rig.appQueue, workflowId: plainId });
      let sent = { count: 0, adds: 0 };
      const signal = async (n: number) => {
        await routed.workflow.getHandle(counterId).signal(addSignal, n);
        sent = { count: sent.count + n, adds: sent.adds + 1 };
      };
      for (const n of [1, 2, 3]) await signal(n);

      // Signals keep coming through the routed client for the whole move, every 50 ms.
      let stop = false;
      const failures: string[] = [];
      const pump = (async () => {
        for (let i = 1; !stop; i++) {
          await signal(i).catch((err: unknown) => failures.push(`${(err as Error)?.name}: ${(err as Error)?.message}`));
          await new Promise((res) => setTimeout(res, 50));
        }
      })();
      await rig.start();
      const drained = await driveTo(rig, 'reconciling', 90_000);
      assert.equal(drained.handoffs?.length, 1, JSON.stringify(drained.history.slice(-5)));
      assert.equal(drained.handoffs?.[0]?.workflowId, counterId);
      assert.ok(drained.stragglers.includes(plainId), `the plain run is reported: ${JSON.stringify(drained.stragglers)}`);
      assert.deepEqual(await openRuns(sdk, counterId), ['target']);
      assert.deepEqual(failures, [], 'no signal failed while the counter moved');
      // The start's handle, bound to the old run, follows the new one on its next signal.
      await h.signal(addSignal, 7);
      sent = { count: sent.count + 7, adds: sent.adds + 1 };
      assert.equal(await h.cluster(), 'target');
      assert.equal(h.firstExecutionRunId, drained.handoffs?.[0]?.toRunId);

      await rig.command('rollback', { reason: 'handoff drill', actor: 'oncall' });
      const back = await rig.waitPhase('rolled-back', 90_000);
      stop = true;
      await pump;
      assert.deepEqual(failures, [], 'no signal failed while the counter moved back');
      assert.deepEqual(await openRuns(sdk, counterId), ['source']);
      const state = await h.query(counterQuery);
      assert.deepEqual(state, { ...sent, runs: 3 }, 'every signal applied once, across two handoffs');
      assert.equal(back.handoffs?.length, 2);
      assert.deepEqual(
        back.handoffs?.map((x) => `${x.from}>${x.to}`),
        ['source>target', 'target>source'],
      );
      assert.deepEqual(back.reconcile?.duplicates, [], 'a handed-off ID is not a duplicate');
      assert.ok(
        back.compensations.every((c) => c.done),
        JSON.stringify(back.compensations),
      );
      // The run without the helper was never touched: no handoff signal, still open where it began.
      const events = (await plain.fetchHistory()).events ?? [];
      assert.ok(!events.some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === HANDOFF_SIGNAL));
      assert.deepEqual(await openRuns(sdk, plainId), ['source']);
    } finally {
      await terminateEverywhere(sdk, [counterId, plainId]);
      await rig.tearDown();
    }
  });
});
