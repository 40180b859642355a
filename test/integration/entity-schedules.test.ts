/**
 * The entity workflows move a unit's schedules (exactly once) on the real test stack: a
 * tenant with a schedule firing every second is moved end to end, and rolled back after its
 * schedules switched. Every fire is counted on both clusters by its nominal time: none may run on
 * both, none may be lost (the switch gaps are backfilled).
 */
import assert from 'node:assert/strict';
import type { UnitStatus } from '../../src/domain/migration';
import { listScheduledRuns } from '../../src/schedules';
import { until } from '../harness/wait';
import { firesOn, pausedOnSides, settledFiresOn } from '../workflows/schedule-test-kit';
import { closeShared, driveTo, Rig, type RigOptions } from './entity.fixture';

/** The schedule's fires on both clusters of the rig over (sinceMs, untilMs]. */
const firesOf = (r: Rig, scheduleId: string, sinceMs: number, untilMs: number) => firesOn(r.scheduleSides(), scheduleId, sinceMs, untilMs);
const settledFires = (r: Rig, scheduleId: string, sinceMs: number, untilMs: number) =>
  settledFiresOn(r.scheduleSides(), scheduleId, sinceMs, untilMs);

const wholeSecondAfter = (ms: number) => Math.ceil(ms / 1000) * 1000;

describe('entity workflows: schedules move with the unit', function () {
  this.timeout(60_000);
  let rig: Rig | undefined;
  const make = async (opts: RigOptions) => (rig = await new Rig(opts).setUp());
  afterEach(async () => {
    await rig?.tearDown();
    rig = undefined;
  });
  after(closeShared);

  it('moves a tenant with a schedule firing every second → completed; active only on the target, no fire lost or doubled', async () => {
    const r = await make({ kind: 'tenant', schedules: 1, input: { percentSteps: [50] } });
    const id = r.scheduleIds[0]!;
    const since = wholeSecondAfter(Date.now());
    // A fire on the source before the unit starts: a unit can reach its switch within the schedule's first
    // second, and the handover below is judged between fires on both sides.
    await until('a fire on the source before the move', async () =>
      (await listScheduledRuns(r.scheduleSides().source, id)).some((x) => x.nominalMs > since),
    );
    await r.start();
    const done = await r.waitPhase('completed', 45_000);
    const upTo = Date.now() - 1000;

    assert.deepEqual(await pausedOnSides(r.scheduleSides(), id), { source: true, target: false });
    assert.equal(done.schedules?.copy?.created, 1);
    assert.equal(done.schedules?.forward?.done?.switched, 1);
    assert.equal(done.reconcile?.clean, true);
    assert.equal(done.reconcile?.schedules?.doubleActive, 0);
    assert.equal(done.reconcile?.schedules?.clean, true, JSON.stringify(done.reconcile?.schedules));
    assert.equal(done.counts.schedulesDoubleActive, 0);
    assert.ok(
      done.history.some((h) => h.phase === 'cutover' && /switched 1 schedule\(s\) to the target/.test(h.reason ?? '')),
      "the switch is in the unit's story",
    );

    const f = await settledFires(r, id, since, upTo);
    assert.deepEqual(f.duplicates, [], 'no nominal time ran on both clusters');
    assert.deepEqual(
      f.lost,
      [],
      `every fire ran somewhere (${f.expected.length} expected, ${f.source.length} on the source, ${f.target.length} on the target)`,
    );
    assert.ok(
      f.source.length > 0 && f.target.length > 0,
      `fired on the source before the switch and on the target after (${f.source.length}/${f.target.length})`,
    );
    // A clean handover: every fire on the target (backfilled gap included) comes after the source's last.
    assert.ok(Math.min(...f.target.map((x) => x.nominalMs)) > Math.max(...f.source.map((x) => x.nominalMs)));
  });

  it('rolls back from draining → the schedule is active only on the source again, no fire lost or doubled', async () => {
    const r = await make({ kind: 'tenant', schedules: 1, input: { advanceMode: 'manual', percentSteps: [50] } });
    const id = r.scheduleIds[0]!;
    const since = wholeSecondAfter(Date.now());
    await r.start();
    const draining = await driveTo(r, 'draining');
    assert.equal(draining.schedules?.forward?.done?.switched, 1, 'switched in cutover, before draining');
    assert.deepEqual(await pausedOnSides(r.scheduleSides(), id), { source: true, target: false });
    // Let the target take a fire or two of its own before going back.
    await until('a fire on the target', async () => (await firesOf(r, id, since, Date.now())).target.length > 0);

    await r.command('rollback', { reason: 'drill: schedules back' });
    const back: UnitStatus = await r.waitPhase('rolled-back', 40_000);
    const rolledBackAt = Date.now();

    assert.deepEqual(await pausedOnSides(r.scheduleSides(), id), { source: false, target: true });
    assert.equal(back.schedules?.back?.done?.switched, 1);
    assert.deepEqual(
      back.compensations.find((c) => c.name.startsWith('switch schedules back')),
      { name: 'switch schedules back to the source', done: true },
    );
    // The route went back first (the clients at once), then the schedules.
    const names = back.compensations.map((c) => c.name);
    assert.ok(names.indexOf('route back to the source') < names.indexOf('switch schedules back to the source'), names.join(' | '));
    assert.equal(back.reconcile?.schedules?.expected, 'source');
    assert.equal(back.reconcile?.schedules?.doubleActive, 0);
    assert.equal(back.reconcile?.clean, true, JSON.stringify(back.reconcile));

    // The source fires again on its own after the rollback.
    await until('a fire on the source after the rollback', async () => (await firesOf(r, id, rolledBackAt, Date.now())).source.length > 0);
    const f = await settledFires(r, id, since, Date.now() - 1000);
    assert.deepEqual(f.duplicates, [], 'no nominal time ran on both clusters');
    assert.deepEqual(
      f.lost,
      [],
      `every fire ran somewhere (${f.expected.length} expected, ${f.source.length} on the source, ${f.target.length} on the target)`,
    );
  });
});
