import assert from 'node:assert/strict';
import { STALE_CLOCK_MESSAGE } from '../../src/workflows/clock-guard';
import type { Phase } from '../../src/domain/migration';
import { closeShared, Rig } from './entity.fixture';

// Durability: killing the cutover worker (SIGKILL) in the middle of any phase never corrupts
// the migration; it carries on when a worker comes back. The unit is walked in manual mode so each
// phase is entered on purpose, and the worker is killed right as the phase's work begins.
const PHASES: Phase[] = ['preflight', 'provisioned', 'shadow', 'canary', 'cutover', 'draining', 'reconciling'];

describe('entity workflows: cutover worker SIGKILLed mid-phase', function () {
  // Seven kills, each followed by a workflow-task timeout (10 s) before the restarted worker takes the
  // run over: 121 s on one 2-core machine, 161–180 s on a slower one (where 180 s timed out in CI).
  this.timeout(300_000);
  let rig: Rig | undefined;
  afterEach(async () => {
    await rig?.tearDown();
    rig = undefined;
  });
  after(closeShared);

  it('completes after a SIGKILL of the cutover worker in every phase, with no start lost or duplicated', async () => {
    const r = (rig = await new Rig({
      kind: 'tenant',
      childWorker: true,
      jobMs: 800,
      input: { advanceMode: 'manual', bakeMs: 1000 },
    }).setUp());
    r.startWorkload(80);
    await r.start();
    const killed: Phase[] = [];
    for (const phase of PHASES) {
      await r.waitFor((s) => s.waitingFor?.includes('send advance') === true, `the phase before ${phase} to finish`, 60_000);
      await r.command('advance');
      await r.waitFor((s) => s.phase === phase, `phase ${phase}`, 60_000);
      await r.killCutoverWorker();
      killed.push(phase);
      await r.startCutoverWorker();
    }
    await r.waitFor((s) => s.waitingFor?.includes('send advance') === true, 'reconcile done', 60_000);
    await r.command('advance');
    const done = await r.waitPhase('completed', 60_000);
    assert.deepEqual(killed, PHASES);
    assert.equal(done.route.side, 'target');
    assert.deepEqual(done.reconcile?.duplicates, []);
    assert.deepEqual(done.reconcile?.stranded, []);
    assert.equal(done.failure, undefined);
    // The only workflow tasks allowed to fail are the ones the clock guard fails (and the SDK replays).
    const failed = await r.workflowTaskFailures();
    console.log(`      workflow tasks failed by the clock guard: ${failed.filter((m) => m.startsWith(STALE_CLOCK_MESSAGE)).length}`);
    assert.deepEqual(
      failed.filter((m) => !m.startsWith(STALE_CLOCK_MESSAGE)),
      [],
    );
    const w = await r.settleWorkload();
    assert.deepEqual(w.lost, []);
    assert.deepEqual(w.duplicated, []);
    assert.deepEqual(w.open, []);
  });
});
