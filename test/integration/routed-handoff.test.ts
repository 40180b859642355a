/**
 * The routed client across a handoff (straggler policy `handoff`), done by hand against the real test
 * stack: run A closes on the source, run B of the same ID starts on the target, and the handoff record in
 * Redis says `moving` in between and `done` after. Signals and updates sent in between are held and reach
 * B; handles bound to A follow B. Each test has its own Redis key prefix, task queue and workflow ID.
 */
import * as assert from 'node:assert/strict';
import { WorkflowNotFoundError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { Redis } from 'ioredis';
import { RoutedClient, ROUTED_CLIENT_DEFAULTS } from '../../src/routing/client';
import type { RoutedClientTuning } from '../../src/routing/client';
import { HandoffHeldTimeoutError, RoutingInputError } from '../../src/routing/errors';
import { RoutingStore } from '../../src/routing/store';
import type { HandoffRecord } from '../../src/routing/store';
import { testStack, uniqueId } from '../harness';
import { add, bump, finish, routedCounter, total } from '../workflows/routing-test-workflows';
import { useRoutingRig } from './routing.fixture';

const NS = 'payments';
const UNIT = `namespace/${NS}`;
const SIDES = ['source', 'target'] as const;
const TTL_MS = 60_000;

/** Settles with 'pending' if `p` has not settled within `ms` (a bounded look, not a wait for something). */
async function stateAfter(p: Promise<unknown>, ms: number): Promise<'resolved' | 'rejected' | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'pending'>((r) => (timer = setTimeout(() => r('pending'), ms)));
  try {
    return await Promise.race([
      p.then(
        () => 'resolved' as const,
        () => 'rejected' as const,
      ),
      bound,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe('routed client across a handoff (real clusters and Redis)', function () {
  this.timeout(120_000);
  const r = useRoutingRig(NS, 'rh');

  /** A tracked unit on the source, workers on both clusters, a routed client, and one workflow ID. */
  async function setup(tuning: RoutedClientTuning = {}) {
    const store = r.freshStore();
    await store.ensure(UNIT, { route: { kind: 'side', side: 'source' }, actor: 'test' });
    const taskQueue = uniqueId('rh');
    for (const side of SIDES) {
      const worker = await Worker.create({
        connection: r.natives[side],
        namespace: NS,
        taskQueue,
        workflowBundle: r.workflowBundle,
      });
      const running = worker.run();
      r.cleanups.push(async () => {
        worker.shutdown();
        await running;
      });
    }
    const client = await routedClient(store, tuning);
    return { store, taskQueue, client, workflowId: `${taskQueue}-wf` };
  }

  async function routedClient(store: RoutingStore, tuning: RoutedClientTuning = {}): Promise<RoutedClient> {
    const c = await RoutedClient.create({ source: r.sdk.source, target: r.sdk.target, store, namespace: NS, ...tuning });
    r.cleanups.push(() => c.close());
    return c;
  }

  const record = (fromRunId: string, state: HandoffRecord['state'], toRunId?: string): HandoffRecord => ({
    from: 'source',
    to: 'target',
    fromRunId,
    toRunId,
    state,
    at: Date.now(),
  });

  /** Ends run A on the source through the plain SDK client (the routed one is what is under test); its count. */
  async function closeOnSource(workflowId: string, runId: string): Promise<number> {
    const a = r.sdk.source.workflow.getHandle<typeof routedCounter>(workflowId, runId);
    await a.signal(finish);
    return await a.result();
  }

  it('signal and updates on a closed run throw WorkflowNotFoundError; with no handoff record the routed call fails as before', async () => {
    const { client, taskQueue, workflowId } = await setup();
    const h = await client.workflow.start(routedCounter, { taskQueue, workflowId, args: [0] });
    await closeOnSource(workflowId, h.firstExecutionRunId as string);

    // The SDK's own behaviour that the hold is keyed on (pinned SDK 1.24, dev server).
    const plain = r.sdk.source.workflow.getHandle<typeof routedCounter>(workflowId);
    await assert.rejects(plain.signal(bump, 1), WorkflowNotFoundError);
    await assert.rejects(plain.executeUpdate(add, { args: [1] }), WorkflowNotFoundError);
    await assert.rejects(plain.startUpdate(add, { args: [1], waitForStage: 'ACCEPTED' }), WorkflowNotFoundError);
    assert.equal(await plain.query(total), 0, 'a query of a closed run still answers, for that run');

    // No record: no hold, the original error.
    await assert.rejects(h.signal(bump, 1), WorkflowNotFoundError);
    await assert.rejects(h.executeUpdate(add, { args: [1] }), WorkflowNotFoundError);
    await assert.rejects(
      client.workflow.getHandle(workflowId).startUpdate(add, { args: [1], waitForStage: 'ACCEPTED' }),
      WorkflowNotFoundError,
    );
  });

  it('holds signals and updates while a handoff is moving, delivers them to the new run once done; old handles follow it', async () => {
    const { store, client, taskQueue, workflowId } = await setup();
    const h = await client.workflow.start(routedCounter, { taskQueue, workflowId, args: [0] });
    const runA = h.firstExecutionRunId as string;
    await h.signal(bump, 2);
    assert.equal(await h.query(total), 2);

    // cutover's order: the record first, then the old run stops at a safe point and returns its state.
    await store.setHandoff(NS, workflowId, record(runA, 'moving'), TTL_MS);
    const state = await closeOnSource(workflowId, runA);
    assert.equal(state, 2);

    const signalled = h.signal(bump, 5);
    const updated = h.executeUpdate(add, { args: [10] });
    // A handle never bound to a run, on a second client: the relocate path finds no running run, so it holds too.
    const other = await routedClient(store);
    const unbound = other.workflow.getHandle<typeof routedCounter>(workflowId).signal(bump, 100);
    assert.equal(await stateAfter(Promise.all([signalled, updated, unbound]), 300), 'pending', 'held while moving');

    const b = await r.sdk.target.workflow.start(routedCounter, { taskQueue, workflowId, args: [state] });
    const runB = b.firstExecutionRunId;
    await store.setHandoff(NS, workflowId, record(runA, 'done', runB), TTL_MS);

    await signalled;
    await unbound;
    const afterUpdate = await updated;
    assert.ok(afterUpdate >= 12, `the update ran on B after its state was carried over (got ${afterUpdate})`);
    assert.equal(await r.sdk.target.workflow.getHandle<typeof routedCounter>(workflowId, runB).query(total), 117, 'B got all three');
    assert.equal(h.firstExecutionRunId, runB, 'the start handle follows the new run');
    assert.equal(h.runId, undefined);
    assert.equal(await h.cluster(), 'target');

    // Every call follows: a query on the old handle, a handle bound to A in this process (no Redis read),
    // and one on a client that never saw the handoff (reads the record after A is not found on the target).
    assert.equal(await h.query(total), 117);
    const boundToA = client.workflow.getHandle<typeof routedCounter>(workflowId, runA);
    assert.equal(await boundToA.query(total), 117);
    assert.equal(boundToA.runId, runB);
    const fresh = await routedClient(store);
    const freshA = fresh.workflow.getHandle<typeof routedCounter>(workflowId, runA);
    assert.equal(await freshA.query(total), 117);
    assert.equal(await freshA.executeUpdate(add, { args: [1] }), 118);

    await h.signal(finish);
    assert.equal(await h.result(), 118, 'result() now waits on B');
    assert.deepEqual(await r.where(workflowId), { source: 'COMPLETED', target: 'COMPLETED' });
  });

  it('fails a signal held past handoffHoldMs with a typed, retryable error and delivers nothing', async () => {
    const { store, client, taskQueue, workflowId } = await setup({ handoffHoldMs: 400 });
    const h = await client.workflow.start(routedCounter, { taskQueue, workflowId, args: [0] });
    const runA = h.firstExecutionRunId as string;
    await store.setHandoff(NS, workflowId, record(runA, 'moving'), TTL_MS);
    await closeOnSource(workflowId, runA);

    await assert.rejects(
      h.signal(bump, 5),
      (e: unknown) =>
        e instanceof HandoffHeldTimeoutError &&
        e.retryable === true &&
        e.workflowId === workflowId &&
        e.waitedMs >= 400 &&
        e.cause instanceof WorkflowNotFoundError,
    );
    await assert.rejects(h.executeUpdate(add, { args: [1] }), HandoffHeldTimeoutError);
    // Not held: a describe still reaches the closed run as before.
    assert.equal((await h.describe()).status.name, 'COMPLETED');
    assert.deepEqual(await r.where(workflowId), { source: 'COMPLETED' });

    // Abandoned (record cleared) while a call is held: the held call fails as it would have without a handoff.
    await store.setHandoff(NS, workflowId, record(runA, 'moving'), TTL_MS);
    const patient = await routedClient(store, { handoffHoldMs: 30_000 });
    const held = patient.workflow.getHandle<typeof routedCounter>(workflowId, runA).signal(bump, 1);
    assert.equal(await stateAfter(held, 100), 'pending');
    await store.clearHandoff(NS, workflowId);
    await assert.rejects(held, WorkflowNotFoundError);
  });

  it('with Redis unreachable, a call to a closed run fails with the original error (no hold)', async () => {
    const { store, taskQueue, workflowId } = await setup();
    const redis = new Redis(testStack().redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
    redis.on('error', () => undefined);
    await redis.connect();
    r.cleanups.push(async () => void redis.disconnect());
    const own = new RoutingStore({ redis, keyPrefix: store.keyPrefix });
    const client = await routedClient(own);
    const h = await client.workflow.start(routedCounter, { taskQueue, workflowId, args: [0] });
    const runA = h.firstExecutionRunId as string;
    await store.setHandoff(NS, workflowId, record(runA, 'moving'), TTL_MS);
    await closeOnSource(workflowId, runA);
    redis.disconnect();
    await assert.rejects(h.signal(bump, 1), WorkflowNotFoundError);
  });

  it('validates handoffHoldMs like the other tunables', async () => {
    assert.equal(ROUTED_CLIENT_DEFAULTS.handoffHoldMs, 60_000);
    const store = r.freshStore();
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await assert.rejects(
        RoutedClient.create({ source: r.sdk.source, target: r.sdk.target, store, namespace: NS, handoffHoldMs: bad }),
        (e: unknown) => e instanceof RoutingInputError && e.field === 'handoffHoldMs',
      );
    }
  });
});
