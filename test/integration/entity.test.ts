import assert from 'node:assert/strict';
import { until } from '../harness/wait';
import { closeShared, Rig, type RigOptions } from './entity.fixture';

describe('entity workflows: a unit moved end to end', function () {
  this.timeout(120_000);
  let rig: Rig | undefined;
  const make = async (opts: RigOptions) => (rig = await new Rig(opts).setUp());
  afterEach(async () => {
    await rig?.tearDown();
    rig = undefined;
  });
  after(closeShared);

  it('moves a tenant with its workload running → completed, reconcile clean, no start lost or duplicated', async () => {
    const r = await make({ kind: 'tenant' });
    r.startWorkload();
    await r.start();
    // Reached or passed: a busy machine can answer no status query for the few seconds the canary lasts.
    await r.waitFor((s) => s.history.some((h) => h.phase === 'canary'), 'the unit to reach canary');
    const done = await r.waitPhase('completed', 60_000);
    const w = await r.settleWorkload();
    assert.ok(r.accepted.length > 10, `workload too small: ${r.accepted.length}`);
    assert.deepEqual(w.lost, []);
    assert.deepEqual(w.duplicated, []);
    assert.deepEqual(w.open, []);
    assert.ok(w.onSource > 0 && w.onTarget > 0, `the workload ran on both sides during the move (${w.onSource}/${w.onTarget})`);
    assert.equal(done.route.side, 'target');
    assert.equal(done.route.sourceWorkersMayStop, true);
    assert.deepEqual(done.reconcile?.duplicates, []);
    assert.deepEqual(done.reconcile?.stranded, []);
    assert.deepEqual(
      done.history.map((h) => h.phase).filter((p, i, a) => a.indexOf(p) === i),
      ['pending', 'preflight', 'provisioned', 'shadow', 'canary', 'cutover', 'draining', 'reconciling', 'completed'],
    );
    assert.ok(done.gates.some((g) => g.name === 'probe' && g.result === 'successful'));
    const d = await r.handle().describe();
    assert.equal(d.status.name, 'COMPLETED');
    assert.equal(d.typedSearchAttributes.get({ name: 'CutoverPhase', type: 'KEYWORD' } as never), 'completed');

    // What the Temporal UI shows. A static summary naming the move; current details a person can read
    // (phase, why, what next); an activity summary on each step of the history; findable by its search
    // attributes (visibility lags writes: poll, bounded).
    assert.match((await d.staticSummary()) ?? '', new RegExp(`^Move ${done.unit} from legacy to cloud`));
    const meta = (await r.handle().query('__temporal_workflow_metadata')) as { currentDetails?: string };
    assert.match(meta.currentDetails ?? '', /\*\*phase\*\* completed/);
    assert.match(meta.currentDetails ?? '', /\*\*why\*\* /);
    assert.match(meta.currentDetails ?? '', /\*\*next\*\* nothing: completed is final/);
    const history = await r.historyOf();
    const summaries = (history.events ?? [])
      .filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => {
        const data = e.userMetadata?.summary?.data;
        return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as string) : '';
      });
    assert.ok(summaries.length > 0 && summaries.every((x) => x.length > 0), `every step has a summary: ${JSON.stringify(summaries)}`);
    for (const step of [
      /^preflight /,
      /^provision /,
      /^route .*: \d+% to the target/,
      /^route .*: all to the target/,
      /^count open runs/,
      /^reconcile /,
    ]) {
      assert.ok(
        summaries.some((x) => step.test(x)),
        `${step} in ${JSON.stringify(summaries)}`,
      );
    }
    const query = `CutoverUnit = "${done.unit}" AND CutoverPhase = "completed" AND CutoverKind = "tenant"`;
    const found = await until(
      `the unit findable with ${query}`,
      async () => {
        let n = 0;
        for await (const w of r.controlClient().workflow.list({ query })) if (w.workflowId === d.workflowId) n++;
        return n > 0 && n;
      },
      { timeoutMs: 10_000, everyMs: 250 },
    );
    assert.equal(found, 1, `findable once with ${query}`);
  });

  it('sweeps placements once per moving route: the marker names the epoch, starts stay on one cluster', async () => {
    // Bakes longer than the sweep's due time (staleness 1.5 s + 5 s settle), jobs long enough to be open when listed.
    const r = await make({ kind: 'tenant', jobMs: 4_000, input: { placementSweepTtlMs: 3_600_000, bakeMs: 8_000 } });
    r.startWorkload(100);
    await r.start();
    const done = await r.waitPhase('completed', 90_000);
    const w = await r.settleWorkload();
    assert.deepEqual(w.lost, []);
    assert.deepEqual(w.duplicated, []);
    assert.deepEqual(done.reconcile?.duplicates, []);
    assert.ok(w.onSource > 0 && w.onTarget > 0, `the workload ran on both sides (${w.onSource}/${w.onTarget})`);
    // Each sweep, from the unit's history (a status poll can miss a route's few seconds under load): the route
    // epoch its summary names, whether it marked the unit, and what it listed.
    const events = (await r.historyOf()).events ?? [];
    const sweepEpochs = new Map<string, number>();
    for (const e of events) {
      const summary = e.activityTaskScheduledEventAttributes && e.userMetadata?.summary?.data;
      const m =
        summary &&
        /open runs on both clusters in Redis \(route epoch (\d+)\)/.exec(JSON.parse(Buffer.from(summary).toString('utf8')) as string);
      if (m) sweepEpochs.set(String(e.eventId), Number(m[1]));
    }
    type Swept = { epoch: number; marked: boolean; listed: { source: number; target: number } };
    const swept = events.flatMap((e): Swept[] => {
      const c = e.activityTaskCompletedEventAttributes;
      const epoch = c ? sweepEpochs.get(String(c.scheduledEventId)) : undefined;
      if (!c || epoch === undefined) return [];
      const result = JSON.parse(Buffer.from(c.result?.payloads?.[0]?.data ?? []).toString('utf8')) as Omit<Swept, 'epoch'>;
      return [{ epoch, marked: result.marked, listed: result.listed }];
    });
    const all = JSON.stringify(swept);
    // The two percent routes (20 %, 50 %) each swept once, in order, each marking the unit.
    assert.ok(swept.length >= 2, `a sweep per moving route: ${all}`);
    assert.ok(
      swept.every((x, i) => i === 0 || x.epoch > swept[i - 1]!.epoch),
      `once per route, in order: ${all}`,
    );
    assert.ok(
      swept.every((x) => x.marked),
      `each marked the unit: ${all}`,
    );
    assert.ok(swept[0]!.listed.source > 0, `the workload's open runs were listed: ${all}`);
    assert.equal((await r.routingStore().getSweep(done.unit))?.epoch, swept.at(-1)!.epoch, 'the marker names the last swept route');
  });

  it('moves a namespace with drain-and-switch → completed; held starts released, no start lost', async () => {
    const r = await make({ kind: 'namespace', jobMs: 500, input: { strategy: 'drain-and-switch', percentSteps: [] } });
    r.startWorkload(40);
    await r.start();
    const held = await r.waitFor((s) => s.route.hold === true, 'the hold', 60_000);
    assert.equal(held.phase === 'cutover' || held.phase === 'draining', true);
    const done = await r.waitPhase('completed', 60_000);
    const w = await r.settleWorkload();
    assert.deepEqual(r.refused, [], 'no start was refused during the hold');
    assert.deepEqual(w.lost, []);
    assert.deepEqual(w.duplicated, []);
    assert.deepEqual(w.open, []);
    assert.ok(w.onSource > 0 && w.onTarget > 0, `ran on both sides (${w.onSource}/${w.onTarget})`);
    assert.equal(done.route.side, 'target');
    assert.ok(!done.history.some((h) => h.phase === 'canary'), 'drain-and-switch has no canary');
    assert.deepEqual(done.reconcile?.stranded, []);
  });
});
