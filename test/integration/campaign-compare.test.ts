/**
 * The compare and schedule-to-start gates inside a real campaign (campaign.fixture.ts): a tenant moved
 * under a routed workload, its bakes judged by comparing the target with the source and by the target's
 * task-queue backlog; and a compare gate that cannot conclude, which holds the campaign with its
 * evidence in the status.
 */
import assert from 'node:assert/strict';
import type { CompareEvidence } from '../../src/gates/compare';
import { closeShared } from './entity.fixture';
import { Rig } from './campaign.fixture';

describe('campaign with compare and schedule-to-start gates (real clusters, Redis)', function () {
  this.timeout(240_000);
  let rig: Rig | undefined;

  afterEach(async () => {
    await rig?.tearDown();
    rig = undefined;
  });

  after(closeShared);

  it("a tenant's canary and cutover bakes pass: the target no worse than the source, its workers keep up", async () => {
    rig = await new Rig({
      gates: () => ({
        // Measured once, at the end of the bake (the first measurement comes one interval after the bake starts),
        // so the window holds the whole bake. The source's window reaches back 60 s: at the cutover step the
        // source runs nothing new, and the runs of the canary and before are its baseline.
        same: {
          compare: { workflowTypes: ['entityAppJob'], minSamples: 3, latencyTolerance: 1, baselineLookback: '60s' },
          interval: '6s',
          count: 1,
          consecutiveErrorLimit: 2,
        },
        keepup: { scheduleToStart: { maxBacklogAge: '5s' }, interval: '1s', count: 1, consecutiveErrorLimit: 2 },
      }),
      rings: [{ name: 'ring0', units: ['A'], gates: ['same', 'keepup'] }],
      defaults: { bake: '6s' },
    }).setUp();
    rig.startWorkload();
    await rig.start();
    const done = await rig.waitFor((x) => x.phase === 'completed' || x.phase === 'held' || x.phase === 'rolled-back', 'the end', 180_000);
    await rig.stopWorkload();
    assert.equal(done.phase, 'completed', JSON.stringify({ hold: done.hold, gates: done.gates }));
    const same = done.gates.find((g) => g.name === 'same')!;
    assert.equal(same.status, 'successful');
    assert.match(same.reason, /entityAppJob successful: failures 0\/\d+ → 0\/\d+ \(z 0, p 1\); median \d+ → \d+ ms \(U /);
    assert.equal(done.gates.find((g) => g.name === 'keepup')!.status, 'successful');
  });

  it('a compare gate without enough runs holds the campaign, its evidence in the status', async () => {
    rig = await new Rig({
      gates: () => ({
        same: {
          compare: { workflowTypes: ['entityAppJob'], minSamples: 5000, maxSamples: 5000 },
          interval: '2s',
          count: 1,
          consecutiveErrorLimit: 2,
        },
      }),
      rings: [{ name: 'ring0', units: ['A'], gates: ['same'] }],
      defaults: { bake: '2s' },
    }).setUp();
    rig.startWorkload();
    await rig.start();
    const held = await rig.waitFor((x) => x.phase === 'held', 'held on the inconclusive compare gate', 120_000);
    await rig.stopWorkload();
    assert.equal(held.hold!.gate, 'same');
    assert.equal(held.gates.find((g) => g.name === 'same')!.status, 'inconclusive');
    const m = held.measurements.filter((x) => x.gate === 'same').at(-1)!;
    assert.equal(m.result, 'inconclusive');
    const e = m.evidence as CompareEvidence;
    assert.equal(e.minSamples, 5000);
    assert.equal(e.types[0]!.workflowType, 'entityAppJob');
    assert.equal(e.types[0]!.failureTest, null);
    assert.equal(e.windows.target.from, held.step!.bakeStartedAt);
    assert.ok(e.types[0]!.source.closed + e.types[0]!.target.closed > 0, 'the routed workload closed runs in the bake');
    await rig.signal('rollback', 'operator', 'too few runs to compare');
    await rig.waitFor((x) => x.phase === 'rolled-back', 'rolled back by the operator');
  });
});
