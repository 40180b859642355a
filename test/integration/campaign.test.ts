/**
 * The campaign workflow on the real stack: two dev-server clusters, Redis, Prometheus. Each test
 * builds its own plan and rig (campaign.fixture.ts) and tears it down.
 */
import assert from 'node:assert/strict';
import { Client } from '@temporalio/client';
import { testStack } from '../harness';
import { until as waitUntil } from '../harness/wait';
import { closeShared } from './entity.fixture';
import { delay, Rig, STARTER } from './campaign.fixture';

const fast = { interval: '400ms', count: 1, consecutiveErrorLimit: 2 };

describe('campaign workflow (real clusters, Redis, Prometheus)', function () {
  this.timeout(240_000);
  let rig: Rig | undefined;

  afterEach(async () => {
    await rig?.tearDown();
    rig = undefined;
  });

  after(closeShared);

  it('three rings over two namespaces and three tenants complete; self-approval refused, two approvers accepted', async () => {
    rig = await new Rig({
      gates: (r) => ({
        probe: { synthetic: { workflows: 2, minSuccess: 1, maxP99: '10s' }, ...fast },
        errors: {
          prometheus: { url: testStack().prometheusUrl, query: `sum(campaign_test_failures_total{test="${r.metrics.test}"})`, max: 0 },
          ...fast,
        },
        clean: { reconcile: { maxDuplicates: 0, maxStranded: 0 }, ...fast },
      }),
      rings: [
        { name: 'ring0', units: ['PAY'], gates: ['probe'] },
        { name: 'ring1', units: ['A'], gates: ['probe', 'errors', 'clean'] },
        { name: 'ring2', units: ['B', 'C'], gates: ['errors', 'clean'], batchSize: 1, approval: 'two-person' },
      ],
    }).setUp();
    rig.startWorkload();
    await rig.start();
    for (const batch of [1, 2]) {
      const s = await rig.waitFor(
        (x) => x.approval !== undefined && x.approval.binding.step === x.step?.n && x.step.batch === batch,
        `ring2 batch ${batch} approval request`,
        150_000,
      );
      const binding = { ring: s.approval!.binding.ring, step: s.approval!.binding.step, epoch: s.approval!.binding.epoch };
      assert.equal(s.phase, 'awaiting-approval');
      assert.equal(s.rings[2]!.status, 'active');
      // Progress: the rings before are done, and the steps measured so far give ring2 an ETA; approvals not
      // measured yet are named apart (both of ring2's at its first, none once one has been measured).
      const p = s.progress!;
      assert.deepEqual([p.units.done, p.units.total, p.ring, p.stalled], [batch + 1, 4, 'ring2', 'awaiting-approval']);
      assert.deepEqual(
        p.rings.map((r) => r.status),
        ['done', 'done', 'active'],
      );
      const eta = p.rings[2]!.eta;
      assert.ok(eta.known && eta.ms > 0, JSON.stringify(eta));
      assert.equal(eta.approvalsAhead, batch === 1 ? 2 : undefined);
      if (batch === 1) {
        const meta = (await rig.control.workflow.getHandle(rig.workflowId).query('__temporal_workflow_metadata')) as {
          currentDetails?: string;
        };
        assert.match(meta.currentDetails ?? '', /\*\*progress\*\* 2\/4 units done · ring 'ring2' 0\/2 batches, ETA ≈ \S+Z \+ 2 approvals/);
      }
      // The requester may not approve their own step.
      await rig.approve(STARTER, binding);
      const refused = await rig.waitFor(
        (x) => x.rejected.some((r) => r.command === 'approve' && r.actor === STARTER && r.code === 'self-approval'),
        'self-approval refused',
      );
      assert.equal(refused.approval!.approvals.length, 0);
      await rig.approve('bob', binding);
      // The same approver twice does not count as two.
      await rig.approve('bob', binding);
      await rig.waitFor((x) => x.rejected.some((r) => r.actor === 'bob' && r.code === 'duplicate-approver'), 'duplicate approver refused');
      await rig.approve('carol', binding);
      await rig.waitFor((x) => x.approvals.length === batch, `approval ${batch} used`);
    }
    const done = await rig.waitFor((x) => x.phase === 'completed', 'campaign completed', 150_000);
    await rig.stopWorkload();
    assert.deepEqual(
      done.rings.map((r) => r.status),
      ['done', 'done', 'done'],
    );
    for (const r of done.rings) for (const u of r.units) assert.equal(u.phase, 'completed', `${u.unit}`);
    assert.deepEqual([done.progress?.units.done, done.progress?.units.remaining, done.progress?.eta.known], [4, 0, true]);
    for (const u of ['PAY', 'A', 'B', 'C']) {
      const st = await rig.unitStatus(u);
      assert.equal(st.phase, 'completed');
      assert.equal(st.route.side, 'target');
    }
    // Every baking step passed its gates: each gate was measured and none failed.
    assert.deepEqual(done.gates.map((g) => g.name).sort(), ['clean', 'errors', 'probe']);
    assert.ok(
      done.gates.every((g) => g.status === 'successful'),
      JSON.stringify(done.gates),
    );
    // Approvals are recorded with the two approvers and the evidence shown at the time.
    assert.equal(done.approvals.length, 2);
    for (const a of done.approvals) {
      assert.deepEqual(
        a.approvals.map((x) => x.actor),
        ['bob', 'carol'],
      );
      assert.ok(a.consumedAt !== undefined);
      assert.ok('gates' in a.approvals[0]!.evidence);
    }
    assert.ok(rig.accepted.length > 0);
  });

  it("a gate failing on the target's failed runs rolls the ring back at once; no later start lands there", async () => {
    rig = await new Rig({
      gates: () => ({ failures: { temporal: { maxFailed: 0 }, interval: '500ms', count: 3, failureLimit: 0, consecutiveErrorLimit: 2 } }),
      rings: [{ name: 'ring0', units: ['A'], gates: ['failures'] }],
      defaults: { bake: '20s' },
    }).setUp();
    rig.startWorkload(40, 150);
    await rig.start();
    await rig.waitFor((x) => x.phase === 'baking', 'canary bake');
    // Fault injection: the tenant's application runs on the target fail (terminated) while the canary bakes.
    const target = new Client({ connection: rig.sh.conn.target, namespace: 'detections' });
    let injecting = true;
    const injector = (async () => {
      while (injecting) {
        for await (const w of target.workflow.list({ query: `TaskQueue = "${rig!.detQueue}" AND ExecutionStatus = "Running"` })) {
          await target.workflow
            .getHandle(w.workflowId)
            .terminate('made to fail by the test')
            .catch(() => undefined);
        }
        await delay(100);
      }
    })();
    try {
      const rolled = await rig.waitFor((x) => x.phase === 'rolled-back', 'ring rolled back', 120_000);
      injecting = false;
      await injector;
      const failed = rolled.history.find((h) => h.event === 'gate failures failed');
      assert.ok(failed, JSON.stringify(rolled.history));
      // The failing measurement was the last one taken: the rollback began without another interval's measurement.
      const ms = (failed.evidence as { measurements: { result: string }[] }).measurements;
      assert.equal(ms[ms.length - 1]!.result, 'failed');
      const a = await rig.unitStatus('A');
      assert.equal(a.phase, 'rolled-back');
      assert.equal(a.route.side, 'source');
      // Afterwards, starts keep coming and none lands on the target.
      const after = new Date().toISOString();
      const before = rig.accepted.length;
      await delay(2500);
      await rig.stopWorkload();
      assert.ok(rig.accepted.length > before);
      await delay(1500); // visibility lags writes by about a second
      assert.equal(await rig.targetStartsSince(after), 0);
    } finally {
      injecting = false;
      await injector;
    }
  });

  it('no data is a failure: with onGateFailure hold the campaign holds on the gate', async () => {
    rig = await new Rig({
      gates: (r) => ({
        nodata: { prometheus: { url: testStack().prometheusUrl, query: `sum(metric_absent_${r.metrics.test})`, max: 1 }, ...fast },
      }),
      rings: [{ name: 'ring0', units: ['A'], gates: ['nodata'] }],
      defaults: { onGateFailure: 'hold' },
    }).setUp();
    await rig.start();
    const held = await rig.waitFor((x) => x.phase === 'held', 'held on the gate');
    assert.equal(held.hold!.gate, 'nodata');
    assert.equal(held.gates.find((g) => g.name === 'nodata')!.status, 'failed');
    assert.equal(held.step!.kind, 'canary');
    // Held means held: the unit stays at its canary step.
    const a = await rig.unitStatus('A');
    assert.equal(a.phase, 'canary');
    await rig.signal('rollback', 'operator', 'no data');
    const rolled = await rig.waitFor((x) => x.phase === 'rolled-back', 'rolled back by the operator');
    assert.equal(rolled.rings[0]!.units[0]!.phase, 'rolled-back');
  });

  it('an inconclusive gate pauses the campaign until resume', async () => {
    rig = await new Rig({
      gates: (r) => ({ ambiguous: { prometheus: { url: testStack().prometheusUrl, query: r.metrics.query, max: 0 }, ...fast } }),
      rings: [{ name: 'ring0', units: ['A'], gates: ['ambiguous'] }],
    }).setUp();
    // Two series: the query cannot be judged as one number.
    rig.metrics.series = { one: 0, two: 0 };
    await rig.start();
    const held = await rig.waitFor((x) => x.phase === 'held', 'held on an inconclusive gate');
    assert.equal(held.gates.find((g) => g.name === 'ambiguous')!.status, 'inconclusive');
    // Nothing moves while held.
    await delay(1500);
    const still = await rig.status();
    assert.equal(still.phase, 'held');
    assert.equal(still.step!.n, held.step!.n);
    // A human fixes the query's input and resumes.
    rig.metrics.series = { one: 0 };
    await delay(2500); // Prometheus scrapes every second; the stale series goes away after its next scrape
    await rig.signal('resume');
    const done = await rig.waitFor((x) => x.phase === 'completed', 'completed after resume', 120_000);
    assert.ok(done.history.some((h) => h.event.startsWith('resume by')));
  });

  it('refuses an expired approval; after resume a fresh request is approved by two others', async () => {
    rig = await new Rig({
      gates: () => ({}),
      rings: [{ name: 'ring0', units: ['A'], gates: [], approval: 'two-person' }],
      approvalTtlMs: 1500,
    }).setUp();
    await rig.start();
    const held = await rig.waitFor((x) => x.phase === 'held' && x.approval !== undefined, 'approval expired');
    const old = held.approval!.binding;
    await rig.approve('bob', { ring: old.ring, step: old.step, epoch: old.epoch });
    await rig.waitFor((x) => x.rejected.some((r) => r.actor === 'bob' && r.code === 'expired'), 'expired approval refused');
    await rig.signal('resume');
    const fresh = await rig.waitFor(
      (x) => x.phase === 'awaiting-approval' && x.approval !== undefined && x.approval.requestedAt > held.approval!.requestedAt,
      'a fresh request',
    );
    // Approve quickly: the fresh request also lives 1.5 s.
    const b = fresh.approval!.binding;
    await rig.approve('bob', b);
    await rig.approve('carol', b);
    const passed = await rig.waitFor((x) => x.approvals.length === 1, 'approval used');
    assert.deepEqual(
      passed.approvals[0]!.approvals.map((a) => a.actor),
      ['bob', 'carol'],
    );
  });

  it("carries on with the bake's remaining time after the cutover worker is killed mid-bake", async () => {
    rig = await new Rig({
      gates: () => ({ clean: { reconcile: { maxDuplicates: 0, maxStranded: 0 }, interval: '1s', count: 1, consecutiveErrorLimit: 5 } }),
      rings: [{ name: 'ring0', units: ['A'], gates: ['clean'] }],
      defaults: { bake: '6s' },
      childWorker: true,
    }).setUp();
    await rig.start();
    await rig.waitFor((x) => x.phase === 'baking' && x.step?.kind === 'canary', 'canary bake');
    // Read the bake only once the task that started it has completed: killing the worker while that
    // task is in flight makes the retried task start the bake, ~10 s (the task timeout) later.
    await waitUntil('the bake recorded in history', async () => ((await rig!.durablePhase()) === 'baking' ? true : undefined));
    const baking = await rig.status();
    assert.equal(baking.step?.kind, 'canary');
    const until = Date.parse(baking.step!.bakeUntil!);
    await rig.killCutoverWorker();
    await delay(1500);
    await rig.startCutoverWorker();
    // Same bake (same end), not a restarted one.
    const resumed = await rig.waitFor(
      (x) => x.step?.n !== baking.step!.n || x.phase !== 'baking' || x.step?.bakeUntil !== undefined,
      'status after restart',
    );
    if (resumed.step?.n === baking.step!.n && resumed.step.bakeUntil) assert.equal(Date.parse(resumed.step.bakeUntil), until);
    const next = await rig.waitFor((x) => x.step !== undefined && x.step.n > baking.step!.n, 'the step after the bake', 60_000);
    const passed = next.history.find((h) => h.step === baking.step!.n && h.event.includes('passed its bake'));
    assert.ok(passed, JSON.stringify(next.history));
    // It passed once the original bake was over (the bake clock never restarted).
    assert.ok(Date.parse(passed.at) >= until);
    assert.ok(!next.history.some((h) => h.event.startsWith('bake restarted')));
    await rig.waitFor((x) => x.phase === 'completed', 'completed', 90_000);
  });

  it('a drill takes each unit to cutover and rolls it back; the real campaign of the same plan then moves them for good', async () => {
    rig = await new Rig({
      gates: () => ({}),
      rings: [
        { name: 'ring0', units: ['A'], gates: [] },
        { name: 'ring1', units: ['B'], gates: [] },
      ],
      defaults: { bake: '500ms' },
      drill: true,
    }).setUp();
    rig.startWorkload(120);
    const first = await rig.start();
    const drill = await rig.waitFor((x) => x.phase === 'completed', 'the drill to complete', 120_000);
    assert.equal(drill.drill, true);
    assert.ok(
      drill.history.some((h) => h.event.includes('cutover')),
      JSON.stringify(drill.history),
    );
    for (const u of ['A', 'B']) {
      const st = await rig.unitStatus(u);
      assert.equal(st.phase, 'rolled-back', u);
      assert.equal(st.route.side, 'source', u);
      // The rehearsal went all the way to cutover before rolling back.
      assert.ok(
        st.history.some((h) => h.phase === 'cutover'),
        `${u}: ${JSON.stringify(st.history.map((h) => h.phase))}`,
      );
    }
    // The real campaign: a new run of the same campaign ID; the units rolled back by the drill start again.
    rig.rebuild(false);
    const real = await rig.start();
    assert.equal(real.started, true);
    assert.notEqual(real.runId, first.runId);
    const done = await rig.waitFor((x) => x.phase === 'completed' && !x.drill, 'the real campaign to complete', 150_000);
    await rig.stopWorkload();
    for (const u of ['A', 'B']) {
      const st = await rig.unitStatus(u);
      assert.equal(st.phase, 'completed', u);
      assert.equal(st.route.side, 'target', u);
    }
    assert.ok(done.rings.every((r) => r.status === 'done'));
    assert.ok(rig.accepted.length > 0);
  });
});
