// The e2e migrations off a self-hosted source: the harness's temporal-server on PostgreSQL with 4
// history shards (`testStack().selfHosted()`), moved to the dev-server target `cloud`. A dev server
// hides what such a cluster does — visibility that lags writes, namespaces that exist only once
// created, several shards — so these are the same journeys as entity.test.ts / entity-rollback.test.ts
// on the kind of cluster users actually move off, plus what only a real server can show: the cluster
// activities' visibility convergence and provisioning, and the source SIGKILLed mid-canary.
import assert from 'node:assert/strict';
import { Client, Connection } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { msToTs } from '@temporalio/common/lib/time';
import { createClusterActivities } from '../../src/activities/cluster';
import type { Phase } from '../../src/domain/migration';
import { testStack, uniqueId } from '../harness';
import { settledOps } from '../harness/server-counters';
import { until } from '../harness/wait';
import { closeShared, driveTo, Rig, type RigOptions } from './entity.fixture';

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('entity workflows: moving off a self-hosted source (temporal-server on PostgreSQL, 4 shards)', function () {
  this.timeout(120_000);
  this.slow(30_000);
  let rig: Rig | undefined;
  let target: Connection | undefined;
  const make = async (opts: RigOptions) => (rig = await new Rig({ source: 'selfhosted', ...opts }).setUp());
  /** Waits until the rig's workload has runs on the target (bounded; visibility is polled). */
  const runsOnTarget = async (r: Rig) => {
    const client = new Client({ connection: target!, namespace: r.input.targetNamespace });
    await until('a run of the workload on the target', async () => (await client.workflow.count(`TaskQueue = "${r.appQueue}"`)).count > 0);
  };

  before(async function () {
    // The first use starts the cluster (a few seconds; minutes if temporal-server must be built first).
    this.timeout(15 * 60_000);
    await testStack().selfHosted();
    target = await Connection.connect({ address: testStack().target.address });
  });
  afterEach(async () => {
    await rig?.tearDown();
    rig = undefined;
  });
  after(async () => {
    await target?.close();
    await closeShared();
  });

  it('moves a tenant with its workload running → completed, reconcile clean, no start lost or duplicated', async () => {
    const r = await make({ kind: 'tenant' });
    r.startWorkload();
    await r.start();
    await r.waitPhase('canary', 60_000);
    const done = await r.waitPhase('completed', 90_000);
    const w = await r.settleWorkload();
    assert.ok(r.accepted.length > 10, `workload too small: ${r.accepted.length}`);
    assert.deepEqual(w.lost, []);
    assert.deepEqual(w.duplicated, []);
    assert.deepEqual(w.open, []);
    assert.ok(w.onSource > 0 && w.onTarget > 0, `the workload ran on both sides during the move (${w.onSource}/${w.onTarget})`);
    assert.equal(done.route.side, 'target');
    assert.equal(done.route.sourceWorkersMayStop, true);
    assert.equal(done.reconcile?.clean, true);
    assert.deepEqual(done.reconcile?.duplicates, []);
    assert.deepEqual(done.reconcile?.stranded, []);
    assert.deepEqual(
      done.history.map((h) => h.phase).filter((p, i, a) => a.indexOf(p) === i),
      ['pending', 'preflight', 'provisioned', 'shadow', 'canary', 'cutover', 'draining', 'reconciling', 'completed'],
    );
    // The drain ended on a converged zero, taken on the self-hosted source.
    const drained = done.history.find((h) => h.phase === 'reconciling');
    assert.match(String(drained?.reason), /drained/);
  });

  it('moves a namespace with drain-and-switch → completed; held starts released, no start lost', async () => {
    const r = await make({ kind: 'namespace', jobMs: 500, input: { strategy: 'drain-and-switch', percentSteps: [] } });
    r.startWorkload(40);
    await r.start();
    const held = await r.waitFor((s) => s.route.hold === true, 'the hold', 60_000);
    assert.equal(held.phase === 'cutover' || held.phase === 'draining', true);
    const done = await r.waitPhase('completed', 90_000);
    const w = await r.settleWorkload();
    assert.deepEqual(r.refused, [], 'no start was refused during the hold');
    assert.deepEqual(w.lost, []);
    assert.deepEqual(w.duplicated, []);
    assert.deepEqual(w.open, []);
    assert.ok(w.onSource > 0 && w.onTarget > 0, `ran on both sides (${w.onSource}/${w.onTarget})`);
    assert.equal(done.route.side, 'target');
    assert.ok(!done.history.some((h) => h.phase === 'canary'), 'drain-and-switch has no canary');
    assert.deepEqual(done.reconcile?.duplicates, []);
    assert.deepEqual(done.reconcile?.stranded, []);
  });

  // Rollback from every phase runs dev → dev in entity-rollback.test.ts: the rollback path is the same
  // planner and activities whatever the source. What a self-hosted source changes is what is read from
  // it (lagging visibility) once work has moved, so the phases here are those where the rollback has
  // runs on both clusters to drain and reconcile: canary (the target drains back onto a source that
  // kept running), draining (the source mid-drain) and reconciling (the source drained to a converged
  // zero, everything new on the target). The earlier phases have nothing on the target to bring back.
  // About 15 s each on 2 cores; all eight would add two minutes to a suite that must stay well under 30.
  for (const phase of ['canary', 'draining', 'reconciling'] as Phase[]) {
    it(`rolls back from ${phase} → rolled-back, route on the source, no stranded or duplicate run`, async () => {
      const r = await make({ kind: 'tenant', input: { advanceMode: 'manual', bakeMs: 600 } });
      r.startWorkload();
      await r.start();
      const at = await driveTo(r, phase, 60_000);
      assert.equal(at.phase, phase);
      await runsOnTarget(r); // something to bring back (in canary, the first starts may not have landed yet)
      await r.command('rollback', { reason: `drill from ${phase}`, actor: 'oncall' });
      const done = await r.waitPhase('rolled-back', 60_000);
      const w = await r.settleWorkload();
      assert.ok(r.accepted.length > 0);
      assert.deepEqual(w.lost, []);
      assert.deepEqual(w.duplicated, []);
      assert.deepEqual(w.open, []);
      assert.ok(w.onTarget > 0, `runs moved to the target before the rollback (${w.onTarget})`);
      assert.equal(done.route.side, 'source');
      assert.equal(done.route.sourceWorkersMayStop, false);
      assert.deepEqual(done.reconcile?.duplicates, []);
      assert.deepEqual(done.reconcile?.stranded, []);
      assert.equal(done.history.find((h) => h.phase === 'rolling-back')?.actor, 'oncall');
      assert.ok(
        done.compensations.every((c) => c.done),
        JSON.stringify(done.compensations),
      );
    });
  }

  it('completes after the source is SIGKILLed mid-canary and restarted; no acknowledged start lost or duplicated', async () => {
    // The canary waits for an advance when its steps are done, so the outage falls inside it however slow
    // the machine (a timed bake alone ran out before the kill on a busy one), with runs open on both clusters.
    const r = await make({ kind: 'tenant', jobMs: 800, input: { bakeMs: 4_000, advanceMode: 'manual' } });
    const source = await testStack().selfHosted();
    r.startWorkload(50);
    await r.start();
    await driveTo(r, 'canary', 60_000); // its first step
    await runsOnTarget(r);
    await source.kill();
    const acceptedBefore = r.accepted.length;
    // Meanwhile the workload keeps starting: a start routed to the source waits for it (an unknown
    // outcome is retried on the same cluster with the same request ID, never re-routed) or is refused.
    await delay(1_500);
    assert.equal((await r.status()).phase, 'canary', 'the source is down in the middle of the canary');
    await source.restart();
    const done = await driveTo(r, 'completed', 90_000);
    const w = await r.settleWorkload(45_000);
    assert.ok(r.accepted.length > acceptedBefore, 'starts were acknowledged after the restart');
    assert.deepEqual(w.lost, [], 'every acknowledged start ran');
    assert.deepEqual(w.duplicated, []);
    assert.deepEqual(w.open, []);
    assert.equal(done.failure, undefined);
    assert.equal(done.route.side, 'target');
    assert.deepEqual(done.reconcile?.duplicates, []);
    assert.deepEqual(done.reconcile?.stranded, []);
    // A refused start may still have been written before the kill (its answer was lost): it must then
    // be on one cluster only, never both.
    const s = testStack();
    const both: string[] = [];
    const src = new Client({
      connection: await Connection.connect({ address: source.endpoint.address }),
      namespace: r.input.sourceNamespace,
    });
    const tgt = new Client({ connection: await Connection.connect({ address: s.target.address }), namespace: r.input.targetNamespace });
    try {
      const exists = async (c: Client, id: string) =>
        c.workflow
          .getHandle(id)
          .describe()
          .then(
            () => true,
            () => false,
          );
      for (const id of r.refused) if ((await exists(src, id)) && (await exists(tgt, id))) both.push(id);
    } finally {
      await src.connection.close();
      await tgt.connection.close();
    }
    assert.deepEqual(both, []);
  });
});

describe('cluster activities against a self-hosted cluster: visibility lag and namespaces that must be created', function () {
  this.timeout(60_000);
  let conns: { selfHosted: Connection; dev: Connection } | undefined;
  let metricsUrls: { selfHosted: string; dev: string } | undefined;

  before(async function () {
    this.timeout(15 * 60_000);
    const s = testStack();
    const sh = await s.selfHosted();
    conns = {
      selfHosted: await Connection.connect({ address: sh.endpoint.address }),
      dev: await Connection.connect({ address: s.target.address }),
    };
    metricsUrls = { selfHosted: sh.endpoint.metricsUrl, dev: s.target.metricsUrl };
  });
  after(async () => {
    await conns?.selfHosted.close();
    await conns?.dev.close();
  });

  it('never reports 0 open or a clean reconcile from a visibility read that has not caught up with acknowledged starts', async () => {
    const c = conns!;
    const acts = createClusterActivities({
      source: { name: 'selfhosted', connection: c.selfHosted, kind: 'self-hosted' },
      target: { name: 'cloud', connection: c.dev, kind: 'dev' },
    });
    const taskQueue = uniqueId('lag');
    const scope = { taskQueues: [taskQueue] };
    const client = new Client({ connection: c.selfHosted, namespace: 'detections' });
    const ids = [`${taskQueue}-a`, `${taskQueue}-b`];
    // No worker polls this queue, so the runs stay open. Each read comes right after a start was
    // acknowledged, before visibility shows it (tens of ms here, seconds under load).
    const start = (id: string) => client.workflow.start('entityAppJob', { taskQueue, workflowId: id, args: [60_000] });
    try {
      await start(ids[0]!);
      const counted = await acts.countOpen({ ...scope, side: 'source', namespace: 'detections' });
      assert.equal(counted.open, 1, 'the acknowledged run is counted');
      await start(ids[1]!);
      const rec = await acts.reconcile({ ...scope, sourceNamespace: 'detections', targetNamespace: 'detections', drainedSide: 'source' });
      assert.equal(rec.clean, false);
      assert.deepEqual(rec.stranded.map((x) => x.workflowId).sort(), ids);
      // Closed now, though visibility may still show them open: describe decides, so none is reported.
      for (const id of ids) await client.workflow.getHandle(id).terminate('test');
      const after = await acts.reconcile({ ...scope, sourceNamespace: 'detections', targetNamespace: 'detections', drainedSide: 'source' });
      assert.deepEqual(after.stranded, []);
      assert.equal(after.clean, true);
      assert.equal((await acts.countOpen({ ...scope, side: 'source', namespace: 'detections' })).open, 0);
    } finally {
      for (const id of ids)
        await client.workflow
          .getHandle(id)
          .terminate('test')
          .catch(() => undefined);
    }
  });

  it('preflight accepts a missing target namespace; provision creates it with the search attributes, usable at once', async () => {
    const c = conns!;
    // The self-hosted cluster as the target this time: it has only the namespaces someone created.
    const acts = createClusterActivities({
      source: { name: 'cloud', connection: c.dev, kind: 'dev' },
      target: { name: 'selfhosted', connection: c.selfHosted, kind: 'self-hosted' },
    });
    const targetNamespace = uniqueId('new-ns');
    const pre = await acts.preflight({ sourceNamespace: 'detections', targetNamespace, taskQueues: ['q'], requirePollers: false });
    assert.equal(pre.ok, true, JSON.stringify(pre.problems));
    assert.equal(pre.targetNamespaceExists, false);
    assert.ok(pre.missingSearchAttributes.includes('TenantId'), JSON.stringify(pre.missingSearchAttributes));
    const strict = await acts.preflight({ sourceNamespace: 'detections', targetNamespace, taskQueues: ['q'], requirePollers: true });
    assert.equal(strict.ok, false);
    assert.deepEqual(
      strict.problems.map((p) => p.field),
      ['taskQueues.q'],
    );
    assert.match(strict.problems[0]!.hint, /does not exist yet/);

    const prov = await acts.provision({ sourceNamespace: 'detections', targetNamespace });
    assert.equal(prov.namespaceCreated, true);
    assert.ok(prov.searchAttributesAdded.includes('TenantId'));
    // Usable the moment provision returns: a start carrying the copied attribute, and a query naming it.
    const client = new Client({ connection: c.selfHosted, namespace: targetNamespace });
    const id = uniqueId('usable');
    await client.workflow.start('entityAppJob', {
      taskQueue: 'nobody',
      workflowId: id,
      args: [1],
      typedSearchAttributes: [{ key: defineSearchAttributeKey('TenantId', SearchAttributeType.KEYWORD), value: 'acme' }],
    });
    await client.workflow.count('TenantId = "acme"');
    await client.workflow.getHandle(id).terminate('test');
    const again = await acts.provision({ sourceNamespace: 'detections', targetNamespace });
    assert.equal(again.namespaceCreated, false, 'idempotent');
    assert.deepEqual(again.searchAttributesAdded, []);
  });

  // On SQL visibility each ListSearchAttributes leaves the server an open connection to itself
  // (SEARCH_ATTRIBUTE_TTL_MS in src/activities/cluster.ts): a campaign of 10,000 tenants listed per unit
  // and ran both dev servers out of file descriptors. Counted by the servers' own request counters.
  it("lists a namespace's search attributes once per cluster for many units, not once per unit", async () => {
    const c = conns!;
    // Both servers label the operator service's operations with an `Operator` prefix.
    const listings = (url: string) => settledOps(url, 'detections', ['OperatorListSearchAttributes']);
    const acts = createClusterActivities({
      source: { name: 'selfhosted', connection: c.selfHosted, kind: 'self-hosted' },
      target: { name: 'cloud', connection: c.dev, kind: 'dev' },
    });
    const args = { sourceNamespace: 'detections', targetNamespace: 'detections', taskQueues: ['q'], requirePollers: false };
    const before = { sh: await listings(metricsUrls!.selfHosted), dev: await listings(metricsUrls!.dev) };
    const results = await Promise.all(Array.from({ length: 10 }, () => acts.preflight(args)));
    for (let i = 0; i < 10; i++) results.push(await acts.preflight(args));
    for (const r of results) {
      assert.equal(r.ok, true, JSON.stringify(r.problems));
      assert.deepEqual(r.missingSearchAttributes, []);
    }
    const after = { sh: await listings(metricsUrls!.selfHosted), dev: await listings(metricsUrls!.dev) };
    assert.equal(after.sh - before.sh, 1, '20 preflights (10 at once) list the source namespace once');
    assert.equal(after.dev - before.dev, 1, '… and the target namespace once');
  });

  it('re-lists before reporting a search attribute missing: one added on the target since the cached listing is not reported', async () => {
    const c = conns!;
    const acts = createClusterActivities({
      source: { name: 'cloud', connection: c.dev, kind: 'dev' },
      target: { name: 'selfhosted', connection: c.selfHosted, kind: 'self-hosted' },
    });
    const targetNamespace = uniqueId('bare-ns');
    await c.selfHosted.workflowService.registerNamespace({
      namespace: targetNamespace,
      workflowExecutionRetentionPeriod: msToTs(86_400_000),
    });
    const target = new Client({ connection: c.selfHosted, namespace: targetNamespace });
    await until(
      'the new namespace is served',
      () =>
        target.workflow.count('').then(
          () => true,
          () => undefined,
        ),
      60_000,
    );
    const args = { sourceNamespace: 'detections', targetNamespace, taskQueues: ['q'], requirePollers: false };
    const first = await acts.preflight(args);
    assert.ok(first.missingSearchAttributes.includes('TenantId'), JSON.stringify(first.missingSearchAttributes));
    // An operator adds them outside cutover, then preflight runs again within the cache's lifetime.
    const { customAttributes } = await c.dev.operatorService.listSearchAttributes({ namespace: 'detections' });
    await c.selfHosted.operatorService.addSearchAttributes({ namespace: targetNamespace, searchAttributes: { ...customAttributes } });
    const second = await acts.preflight(args);
    assert.deepEqual(second.missingSearchAttributes, []);
  });
});
