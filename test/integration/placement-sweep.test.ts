/**
 * The placement sweep (src/routing/sweep.ts) on the real test stack: runs started outside the routed
 * client (before it existed) are recorded, so starts of a moving unit skip the other-cluster describe
 * and still never put one workflow ID on both clusters; the marker holds only for the route it was
 * made under.
 */
import * as assert from 'node:assert/strict';
import { Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { createSweepActivities } from '../../src/activities/sweep';
import { RoutedClient } from '../../src/routing/client';
import { sideFor } from '../../src/routing/hash';
import type { RoutingStore } from '../../src/routing/store';
import { sweepQuery } from '../../src/routing/sweep';
import type { Route, Side } from '../../src/routing/types';
import { uniqueId } from '../harness';
import { until } from '../harness/wait';
import { routedCounter } from '../workflows/routing-test-workflows';
import { useRoutingRig } from './routing.fixture';

const NS = 'payments';
const UNIT = `namespace/${NS}`;
const SIDES = ['source', 'target'] as const;
const TTL = 3_600_000;
const HALF: Route = { kind: 'percent', basisPoints: 5_000 };

describe('placement sweep (real clusters and Redis)', function () {
  this.timeout(120_000);
  const r = useRoutingRig(NS, 'sw');

  /** A routed client whose describes (on either cluster) are counted. */
  async function countingClient(store: RoutingStore): Promise<{ client: RoutedClient; describes: () => number }> {
    let n = 0;
    const counted = (side: Side) =>
      new Client({
        connection: r.conns[side],
        namespace: NS,
        interceptors: {
          workflow: [
            {
              async describe(input, next) {
                n++;
                return await next(input);
              },
            },
          ],
        },
      });
    const client = await RoutedClient.create({ source: counted('source'), target: counted('target'), store, namespace: NS });
    r.cleanups.push(() => client.close());
    return { client, describes: () => n };
  }

  const set = async (store: RoutingStore, route: Route) => {
    const cur = await store.get(UNIT);
    const res = await store.compareAndSet(UNIT, cur?.epoch ?? 0, { route, actor: 'test' });
    assert.ok(res.ok, 'test route change lost a CAS');
    return res.record;
  };

  const where = (workflowId: string) => r.where(workflowId);

  function sweeper(store: RoutingStore) {
    return createSweepActivities({
      source: { name: 'legacy', connection: r.conns.source },
      target: { name: 'cloud', connection: r.conns.target },
      placements: store,
    }).sweepPlacements;
  }

  it('records runs started outside the client, then starts skip the describe and never land on both clusters', async () => {
    const store = r.freshStore();
    await store.ensure(UNIT, { route: { kind: 'side', side: 'source' }, actor: 'test' });
    const taskQueue = uniqueId('sw-q');
    // Started straight on the clusters, as before any routed client existed: 12 on the source, 3 on the target.
    const pre: { id: string; side: Side }[] = [
      ...Array.from({ length: 12 }, (_, i) => ({ id: `${taskQueue}-src-${i}`, side: 'source' as const })),
      ...Array.from({ length: 3 }, (_, i) => ({ id: `${taskQueue}-dst-${i}`, side: 'target' as const })),
    ];
    for (const p of pre) await r.sdk[p.side].workflow.start(routedCounter, { taskQueue, workflowId: p.id, args: [0] });
    r.cleanups.push(() => Promise.all(pre.map((p) => r.sdk[p.side].workflow.getHandle(p.id).terminate('test done'))));

    const record = await set(store, { kind: 'percent', basisPoints: 5_000 });
    const { client, describes } = await countingClient(store);
    await until('the client to route by the 50% record', () => client.routes.lookup(UNIT)?.epoch === record.epoch);

    // Visibility is written after the start: wait until both clusters list the runs, as the workflow's settle does.
    await until('visibility to list the runs started outside the client', async () => {
      const [s, t] = await Promise.all(
        SIDES.map(async (side) => (await r.sdk[side].workflow.count(`${sweepQuery(undefined)} AND TaskQueue = "${taskQueue}"`)).count),
      );
      return s === 12 && t === 3;
    });
    const result = await sweeper(store)({
      unit: UNIT,
      namespace: NS,
      sourceNamespace: NS,
      targetNamespace: NS,
      epoch: record.epoch,
      ttlMs: TTL,
    });
    assert.equal(result.marked, true, result.reason);
    assert.ok(result.listed.source >= 12 && result.listed.target >= 3, JSON.stringify(result.listed));
    assert.ok(result.seeded >= 15);
    assert.equal((await store.getSweep(UNIT))?.epoch, record.epoch);

    // Every run started outside the client is found where it runs, whichever side its ID hashes to.
    const hashedAway = pre.filter((p) => sideFor(HALF, p.id) !== p.side);
    assert.ok(hashedAway.length > 0, 'some pre-existing IDs hash to the other side (the case the sweep covers)');
    for (const p of pre) {
      await assert.rejects(
        client.workflow.start(routedCounter, { taskQueue, workflowId: p.id, args: [0] }),
        WorkflowExecutionAlreadyStartedError,
      );
      assert.deepEqual(await where(p.id), { [p.side]: 'RUNNING' }, p.id);
    }

    // New IDs: placed by their hash with no describe at all.
    const before = describes();
    const fresh = Array.from({ length: 30 }, (_, i) => `${taskQueue}-new-${i}`);
    for (const id of fresh) {
      const h = await client.workflow.start(routedCounter, { taskQueue, workflowId: id, args: [0] });
      assert.equal(await h.cluster(), sideFor(HALF, id));
    }
    assert.equal(describes() - before, 0, 'starts under a sweep of their route describe nothing');
    for (const id of fresh) assert.deepEqual(Object.keys(await where(id)), [sideFor(HALF, id)]);
    r.cleanups.push(() => Promise.all(fresh.map((id) => client.workflow.getHandle(id).terminate('test done'))));

    // The marker names its epoch: after a route change starts look at the other cluster again.
    const next = await set(store, { kind: 'percent', basisPoints: 6_000 });
    await until('the client to route by the 60% record', () => client.routes.lookup(UNIT)?.epoch === next.epoch);
    const before2 = describes();
    const later = `${taskQueue}-later`;
    await client.workflow.start(routedCounter, { taskQueue, workflowId: later, args: [0] });
    r.cleanups.push(() => client.workflow.getHandle(later).terminate('test done'));
    assert.equal(describes() - before2, 1, 'a start under a route no sweep covers describes the other cluster');
    // And a sweep made under an epoch the record has left is not marked.
    assert.equal(await store.markSwept(UNIT, { epoch: record.epoch, at: Date.now(), validUntil: Date.now() + TTL }), false);
  });

  it('keeps a claim written under a sweep at least until the marker stops vouching, whatever the client TTL', async () => {
    const store = r.freshStore();
    await store.ensure(UNIT, { route: { kind: 'side', side: 'source' }, actor: 'test' });
    const record = await set(store, { kind: 'percent', basisPoints: 10_000 });
    const now = Date.now();
    assert.equal(await store.markSwept(UNIT, { epoch: record.epoch, at: now, validUntil: now + TTL }), true);
    const id = uniqueId('sw-ttl');
    const r1 = await store.claimPlacementSwept(UNIT, NS, id, { side: 'target', epoch: record.epoch, at: now, pending: true }, 1_000);
    assert.equal(r1.claim, undefined);
    assert.equal(r1.sweep?.epoch, record.epoch);
    const pttl = await r.redis.pttl(store.placementKey(NS, id));
    assert.ok(pttl > TTL - 60_000, `claim TTL ${pttl} ms follows the marker, not the client's 1 s`);
    // A sweep seeds only where no placement is: the claim above is newer knowledge.
    assert.equal(await store.seedPlacements(NS, [{ workflowId: id, side: 'source' }], record.epoch, TTL), 0);
    assert.equal((await store.getPlacement(NS, id))?.side, 'target');
  });

  it('does not vouch for tenants selected by a search attribute', () => {
    assert.equal(sweepQuery({ searchAttribute: 'TenantId', value: 'acme' }), undefined);
    assert.match(sweepQuery({ workflowIdPrefix: 'acme-' }) ?? '', /WorkflowId STARTS_WITH "acme-" AND ExecutionStatus = "Running"/);
  });
});
