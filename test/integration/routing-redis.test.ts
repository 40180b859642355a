/**
 * The routed client while Redis dies and comes back (real Redis of the harness, real clusters):
 * last known routes for the staleness bound, never a split, typed retryable errors after it, and
 * recovery when Redis returns.
 */
import * as assert from 'node:assert/strict';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { Redis } from 'ioredis';
import { testStack, uniqueId } from '../harness';
import { until } from '../harness/wait';
import { RoutedClient } from '../../src/routing/client';
import { RoutingUnavailableError } from '../../src/routing/errors';
import { sideFor } from '../../src/routing/hash';
import { RoutingStore } from '../../src/routing/store';
import type { Route, Side } from '../../src/routing/types';
import { routedCounter } from '../workflows/routing-test-workflows';

const NS = 'payments';
const UNIT = `namespace/${NS}`;
const SIDES = ['source', 'target'] as const;

describe('routing while Redis is down (real clusters and Redis)', function () {
  this.timeout(120_000);
  let conns: Record<Side, Connection>;
  let sdk: Record<Side, Client>;

  before(async () => {
    const s = testStack();
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
    await Promise.all(SIDES.map((side) => conns?.[side]?.close()));
  });

  it('keeps the last routes for the staleness bound, then fails closed with a typed error, and recovers', async function () {
    this.timeout(90_000);
    const s = testStack();
    const redis = new Redis(s.redisUrl, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    redis.on('error', () => undefined);
    const store = new RoutingStore({ redis, keyPrefix: `${uniqueId('rt-redis')}:` });
    const route: Route = { kind: 'percent', basisPoints: 5_000 };
    await store.ensure(UNIT, { route, actor: 'test' });
    const stalenessMs = 1_500;
    const refreshMs = 200;
    const client = await RoutedClient.create({ source: sdk.source, target: sdk.target, store, namespace: NS, stalenessMs, refreshMs });
    const taskQueue = uniqueId('rt-redis-tq');
    const acked = new Map<string, Side>();
    const unavailable: RoutingUnavailableError[] = [];
    const other: unknown[] = [];
    let n = 0;
    let redisDown = false;
    let killedAt = 0;
    let firstUnavailableAt: number | undefined;
    let restored = false;
    let restoredAt = 0;
    let firstOkAfterRestoreAt: number | undefined;
    let okAfterRecovery = 0;
    const lateUnavailable: number[] = [];
    const stream = async () => {
      while (okAfterRecovery < 20) {
        const w = `${taskQueue}-${n++}`;
        const startedAt = Date.now();
        try {
          const h = await client.workflow.start(routedCounter, { taskQueue, workflowId: w, args: [0] });
          acked.set(w, await h.cluster());
          if (restored) {
            firstOkAfterRestoreAt ??= Date.now();
            okAfterRecovery++;
          }
        } catch (err) {
          if (err instanceof RoutingUnavailableError) {
            // Once a start has gone through on refreshed routes, none may fail closed again.
            if (firstOkAfterRestoreAt !== undefined && startedAt > firstOkAfterRestoreAt)
              lateUnavailable.push(startedAt - firstOkAfterRestoreAt);
            firstUnavailableAt ??= Date.now();
            unavailable.push(err);
          } else other.push(err);
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    };
    let running: Promise<unknown> | undefined;
    try {
      running = Promise.all([stream(), stream(), stream(), stream()]);
      await new Promise((r) => setTimeout(r, 500));
      await s.killRedis();
      redisDown = true;
      killedAt = Date.now();
      // Wait until the client fails closed (bounded), then some more.
      await until('starts to fail closed once the routes are stale', () => unavailable.length >= 10, {
        timeoutMs: stalenessMs + 10_000,
        everyMs: 50,
      });
      const startedWhileDown = [...acked.keys()].length;
      assert.ok(unavailable.length >= 10, 'starts fail closed once the routes are stale');
      // The bound runs from the last successful refresh (each error says how long ago it was): no start
      // failed closed on a route younger than the bound. That refresh came about one refresh period before
      // the kill, later under load (a timer that fires late), so the time since the kill only shows that the
      // client did not fail closed at the first Redis error.
      const early = unavailable.filter((e) => !(e.staleForMs > stalenessMs)).map((e) => Math.round(e.staleForMs));
      assert.deepEqual(early, [], 'no typed error on a route confirmed within the staleness bound');
      assert.ok(
        firstUnavailableAt! - killedAt >= stalenessMs / 2,
        `no typed error at the first Redis error (first ${firstUnavailableAt! - killedAt} ms after the kill)`,
      );
      await s.restartRedis();
      // The harness's Redis keeps no data across a restart: the control plane writes the route again.
      await store.ensure(UNIT, { route, actor: 'test-restore' });
      redisDown = false;
      restoredAt = Date.now();
      restored = true;
      await running;
      assert.ok(acked.size > startedWhileDown, 'starts resume after Redis returns');
    } finally {
      // Whatever failed above, later suites need the harness's Redis back.
      if (redisDown) {
        await s.restartRedis();
        redisDown = false;
        restored = true;
        okAfterRecovery = 20;
        await running?.catch(() => undefined);
      }
      await client.close();
      redis.disconnect();
    }

    assert.deepEqual(other, [], 'no other kind of failure');
    assert.deepEqual(lateUnavailable, [], 'no typed error once a start went through on the refreshed routes');
    // Recovery needs Redis's reconnect and the next timer refresh; the bound is generous for a loaded CI machine.
    assert.ok(
      firstOkAfterRestoreAt !== undefined && firstOkAfterRestoreAt - restoredAt < 10_000,
      `starts resume within 10 s of Redis returning (${firstOkAfterRestoreAt! - restoredAt} ms)`,
    );
    for (const e of unavailable) assert.equal(e.retryable, true);
    // No split: every acknowledged start is on the side the (unchanged) route gives it, and only there.
    const misplaced: string[] = [];
    for (const [w, side] of acked) {
      if (side !== sideFor(route, w)) misplaced.push(w);
      const found: Side[] = [];
      for (const sd of SIDES) {
        try {
          await sdk[sd].workflow.getHandle(w).describe();
          found.push(sd);
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }
      }
      assert.deepEqual(found, [side], w);
      await sdk[side].workflow.getHandle(w).terminate('done');
    }
    assert.deepEqual(misplaced, []);
    // Nothing was started for the refused attempts.
    for (let i = 0; i < n; i++) {
      const w = `${taskQueue}-${i}`;
      if (acked.has(w)) continue;
      for (const sd of SIDES) await assert.rejects(sdk[sd].workflow.getHandle(w).describe(), WorkflowNotFoundError);
    }
  });
});
