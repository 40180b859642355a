/**
 * Redis through Sentinel, failed over in the middle of a canary: a master, a replica and three sentinels
 * of the harness's own (real `redis-server` processes, with passwords), real clusters, the cutover worker
 * in this process. A tenant bakes its first canary step while the routed client starts work; the master is
 * SIGKILLed. The sentinels promote the replica, and every connection the plan's `redis.sentinel` opened
 * follows it: the worker's, the applications', and their subscriptions. The next step is then taken and
 * recorded on the new master, the routed client routes again, and the ledger shows every acknowledged
 * start on exactly one cluster, the side its route gave it: nothing lost, duplicated or misrouted.
 *
 * And the failover announced while connections are asking the sentinels for the master: with latency
 * between the clients and the sentinels, ioredis ends most such connections for good (src/routing/
 * connect-redis.ts, keepFollowing); each must be connected again, its subscriptions with it.
 */
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Redis } from 'ioredis';
import { loadPlan } from '../../src/config';
import { connectRedis } from '../../src/routing/connect-redis';
import { parseRecord, RoutingStore, type RouteHint, type RouteSubscription } from '../../src/routing/store';
import type { Side } from '../../src/routing/types';
import { testStack } from '../harness';
import { FaultProxy } from '../harness/fault-proxy';
import type { RedisSentinelSet } from '../harness/redis-sentinel';
import { until } from '../harness/wait';
import { closeShared, driveTo, Rig } from './entity.fixture';

const ENV = 'CUTOVER_TEST_SENTINEL_MASTER_PASSWORD';
const SENTINEL_ENV = 'CUTOVER_TEST_SENTINEL_PASSWORD';

describe('Redis Sentinel: the master fails over in the middle of a canary', function () {
  this.timeout(90_000);
  let set: RedisSentinelSet | undefined;
  let rig: Rig | undefined;
  let sub: RouteSubscription | undefined;
  const conns: Redis[] = [];

  after(async () => {
    await rig?.tearDown();
    await sub?.close();
    for (const c of conns) c.disconnect();
    await set?.stop();
    delete process.env[ENV];
    delete process.env[SENTINEL_ENV];
    await closeShared();
  });

  it('keeps the unit moving and the routed client routing; the ledger shows nothing lost, duplicated or misrouted', async () => {
    const s = testStack();
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const sentinelPassword = `spw-${randomBytes(8).toString('hex')}`;
    set = await s.redisSentinel({ password, sentinelPassword });
    process.env[ENV] = password;
    process.env[SENTINEL_ENV] = sentinelPassword;

    // The plan's redis section, validated as a plan file is; every connection below is opened from it.
    const plan = loadPlan({
      name: 'sentinel-failover',
      clusters: { legacy: { address: s.source.address }, cloud: { address: s.target.address } },
      source: 'legacy',
      target: 'cloud',
      redis: { sentinel: set.config({ passwordEnv: SENTINEL_ENV }), passwordEnv: ENV },
      namespaces: { detections: { strategy: 'dual-workers', taskQueues: ['detections'] } },
      rings: [{ name: 'r', units: ['namespace/detections'] }],
    });
    assert.equal(plan.redis.url, undefined);
    // As the worker and the applications open it (src/worker.ts, RoutedClient.connect, DualWorkers.create).
    const cutoverRedis = await connectRedis(plan.redis);
    const appsRedis = await connectRedis(plan.redis, { maxRetriesPerRequest: 1 });
    for (const c of [cutoverRedis, appsRedis]) {
      conns.push(c);
      c.on('error', () => undefined); // a lost master shows up as staleness and retried activities
    }

    const r = (rig = await new Rig({
      kind: 'tenant',
      redis: { cutover: cutoverRedis, apps: appsRedis },
      jobMs: 300,
      // Manual, with a long bake: the unit stays on its first canary step until the test advances it.
      input: { advanceMode: 'manual', bakeMs: 300_000 },
    }).setUp());
    // A subscription of the test's own, beside the routed client's and the dual workers'.
    const events: RouteHint[] = [];
    sub = await new RoutingStore({ redis: appsRedis, keyPrefix: r.keyPrefix }).subscribe((e) => events.push(e));
    const routeKey = `${r.keyPrefix}route:${r.unit}`;
    const channel = `${r.keyPrefix}routes`;
    const numsub = async (port: number) =>
      Number(((await set!.onNode(port, (c) => c.call('PUBSUB', 'NUMSUB', channel))) as [string, number])[1]);

    r.startWorkload(50);
    await r.start();
    const canary = await driveTo(r, 'canary');
    assert.equal(canary.route.percent, 20);
    const epoch = canary.route.epoch;
    const atCanary = r.accepted.length;
    await until('starts under the 20% route', () => r.accepted.length >= atCanary + 10, { timeoutMs: 15_000 });

    const oldPort = (await set.masterPort())!;
    // Replication is asynchronous: once the replica acknowledged every write, what the failover is
    // tested for is following the master, not losing its last writes (README, "Running Redis for cutover").
    const synced = await set.onNode(oldPort, (c) => c.call('WAIT', '1', '5000'));
    assert.equal(synced, 1, 'the replica has every write before the master is killed');
    const subscribers = await numsub(oldPort);
    assert.equal(subscribers, 3, "the routed client's, the dual workers' and the test's subscriptions");

    const killedAt = Date.now();
    await set.killMaster();
    const newPort = await set.failedOverFrom(oldPort);
    const failoverMs = Date.now() - killedAt;
    const afterFailover = r.accepted.length;

    // The record is on the new master, as it was.
    const kept = parseRecord(routeKey, (await set.onNode(newPort, (c) => c.get(routeKey)))!);
    assert.equal(kept.epoch, epoch);
    assert.deepEqual(kept.route, { kind: 'percent', basisPoints: 2_000 });

    // The applications route again, and every subscription is on the new master.
    await until('the routed client to start work again after the failover', () => r.accepted.length >= afterFailover + 5, {
      timeoutMs: 20_000,
    });
    const resumedMs = Date.now() - killedAt;
    await until('every subscription to follow the master', async () => (await numsub(newPort)) === subscribers, { timeoutMs: 10_000 });

    // The next step: taken, recorded in the unit's history and on the new master, announced on the channel.
    const hintsBefore = events.length;
    const commandId = await r.command('advance', { reason: 'next canary step after the failover' });
    const step = await r.waitFor((st) => st.route.percent === 50, 'the 50% canary step', 30_000);
    assert.equal(step.phase, 'canary');
    assert.equal(step.route.epoch, epoch + 1);
    assert.equal(step.failure, undefined);
    assert.ok(
      step.history.some((h) => h.evidence?.commandId === commandId),
      `the advance is in the unit's history: ${JSON.stringify(step.history.slice(-3))}`,
    );
    const next = parseRecord(routeKey, (await set.onNode(newPort, (c) => c.get(routeKey)))!);
    assert.equal(next.epoch, epoch + 1);
    assert.deepEqual(next.route, { kind: 'percent', basisPoints: 5_000 });
    await until('the 50% step to reach the subscription through the new master', () =>
      events.slice(hintsBefore).some((e) => e.unit === r.unit),
    );

    // The routed client takes the new step too, and starts under it.
    const someId = r.accepted[0]!;
    await until('the routed client on the 50% route', () => r.routeOf(someId).epoch === epoch + 1, { timeoutMs: 10_000 });
    const atNextStep = r.accepted.length;
    await until('starts under the 50% route', () => r.accepted.length >= atNextStep + 10, { timeoutMs: 15_000 });

    // The ledger: every acknowledged start on exactly one cluster, where the routed client sent it, which
    // is the side its route gave the ID; no refused start anywhere.
    const w = await r.settleWorkload();
    assert.deepEqual(w.lost, []);
    assert.deepEqual(w.duplicated, []);
    assert.deepEqual(w.open, []);
    const misrouted = r.accepted.filter((id) => {
      const d = r.decisions.get(id);
      const found = w.foundOn[id] ?? [];
      return !d || found.length !== 1 || found[0] !== d.placed || !d.routeSaid.includes(d.placed);
    });
    assert.deepEqual(misrouted, [], 'no start on another side than its route gave it');
    assert.ok(w.onSource > 0 && w.onTarget > 0, `the canary split the work (${w.onSource} source / ${w.onTarget} target)`);
    const clients = r.scheduleSides();
    const startedAnyway: string[] = [];
    for (const id of r.refused) {
      for (const side of ['source', 'target'] as Side[]) {
        try {
          await clients[side].client.workflow.getHandle(id).describe();
          startedAnyway.push(`${id}@${side}`);
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }
      }
    }
    assert.deepEqual(startedAnyway, [], 'a start the client refused ran nowhere');
    console.log(
      `      failover ${failoverMs} ms; starts again ${resumedMs} ms after the kill; ` +
        `${r.accepted.length} acknowledged, ${r.refused.length} refused (failed closed) meanwhile`,
    );
  });
});

describe('Redis Sentinel: a failover announced while connections ask the sentinels for the master', function () {
  this.timeout(60_000);
  let set: RedisSentinelSet | undefined;
  const proxies: FaultProxy[] = [];
  const conns: Redis[] = [];
  const subs: RouteSubscription[] = [];

  after(async () => {
    for (const s of subs) await s.close();
    for (const c of conns) c.disconnect();
    for (const p of proxies) await p.close();
    await set?.stop();
    delete process.env[ENV];
  });

  it('every connection and subscription the caller did not close follows the new master; a closed one stays closed', async () => {
    const password = `pw-${randomBytes(8).toString('hex')}`;
    set = await testStack().redisSentinel({ password });
    process.env[ENV] = password;
    // The sentinels behind a proxy each: latency there widens the window in which a reconnecting
    // connection is still asking them when they announce the new master (ioredis's failover detector).
    for (const address of set.config().addresses) proxies.push(await FaultProxy.start(address));
    const access = { sentinel: { masterName: set.masterName, addresses: proxies.map((p) => p.address) }, passwordEnv: ENV };
    let ended = 0;
    for (let i = 0; i < 12; i++) {
      const c = await connectRedis(access);
      c.on('error', () => undefined);
      c.on('end', () => ended++);
      conns.push(c);
    }
    const prefix = `sentinel-race-${randomBytes(3).toString('hex')}:`;
    const hints: string[][] = [];
    for (const c of conns.slice(0, 4)) {
      const got: string[] = [];
      hints.push(got);
      subs.push(await new RoutingStore({ redis: c, keyPrefix: prefix }).subscribe((h) => got.push(h.unit)));
    }
    // One the caller closes: it must stay closed.
    const closed = conns.pop()!;
    closed.disconnect();
    await until('the closed connection to end', () => closed.status === 'end');
    ended = 0;
    for (const p of proxies) p.latency(300);

    const oldPort = (await set.killMaster())!;
    const newPort = await set.failedOverFrom(oldPort);
    await until(
      'every open connection to write on the new master',
      async () => {
        const answers = await Promise.all(
          conns.map((c) =>
            c.set(`${prefix}probe`, '1').then(
              () => true,
              () => false,
            ),
          ),
        );
        return answers.every(Boolean);
      },
      { timeoutMs: 30_000, everyMs: 250 },
    );
    const channel = `${prefix}routes`;
    await until(
      'every subscription to be on the new master',
      async () => Number(((await set!.onNode(newPort, (c) => c.call('PUBSUB', 'NUMSUB', channel))) as [string, number])[1]) === subs.length,
      { timeoutMs: 15_000 },
    );
    const store = new RoutingStore({ redis: conns[0]!, keyPrefix: prefix });
    await store.ensure('namespace/after-failover', { route: { kind: 'side', side: 'source' }, actor: 'test' });
    await until('the change to reach every subscription', () => hints.every((h) => h.includes('namespace/after-failover')));
    assert.equal(closed.status, 'end', 'a connection its caller closed is not connected again');
    // ioredis ended them on its own (all of them, with this latency, before the guard): printed, not asserted.
    console.log(`      ${ended} of ${conns.length} connections ended by the failover race were connected again`);
  });
});
