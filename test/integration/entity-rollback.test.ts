import assert from 'node:assert/strict';
import type { Phase } from '../../src/domain/migration';
import { closeShared, driveTo, Rig } from './entity.fixture';

// Rollback from every phase before `completed`: the unit is walked forward in
// manual mode to the phase with its workload running, rolled back, and must end `rolled-back` with the
// route on the source, a clean reconcile, and every accepted start run exactly once.
const PHASES: Phase[] = ['pending', 'preflight', 'provisioned', 'shadow', 'canary', 'cutover', 'draining', 'reconciling'];

describe('entity workflows: rollback from every phase', function () {
  this.timeout(90_000);
  let rig: Rig | undefined;
  afterEach(async () => {
    await rig?.tearDown();
    rig = undefined;
  });
  after(closeShared);

  for (const phase of PHASES) {
    it(`rolls back from ${phase} → rolled-back, route on the source, no stranded or duplicate run`, async () => {
      const r = (rig = await new Rig({ kind: 'tenant', input: { advanceMode: 'manual', bakeMs: 600 } }).setUp());
      r.startWorkload();
      await r.start();
      const at = await driveTo(r, phase);
      assert.equal(at.phase, phase);
      await r.command('rollback', { reason: `drill from ${phase}`, actor: 'oncall' });
      const done = await r.waitPhase('rolled-back');
      const w = await r.settleWorkload();
      assert.ok(r.accepted.length > 0);
      assert.deepEqual(w.lost, []);
      assert.deepEqual(w.duplicated, []);
      assert.deepEqual(w.open, []);
      if (done.route.epoch > 0) {
        assert.equal(done.route.side, 'source');
        assert.equal(done.route.sourceWorkersMayStop, false);
      }
      assert.deepEqual(done.reconcile?.duplicates, []);
      assert.deepEqual(done.reconcile?.stranded, []);
      const rb = done.history.find((h) => h.phase === 'rolling-back');
      assert.equal(rb?.actor, 'oncall');
      assert.ok(
        done.compensations.every((c) => c.done),
        JSON.stringify(done.compensations),
      );
      assert.equal((await r.handle().describe()).status.name, 'COMPLETED');
    });
  }
});
