import assert from 'node:assert/strict';
import { bakeDecision, goalOf, nextMove, reached, touchedRingUnits, type UnitGoal, type UnitView } from '../../src/campaign/driver';
import type { CampaignStep, GateSpec } from '../../src/campaign/types';
import type { MeasurementResult, TimedMeasurement } from '../../src/gates/types';

const v = (over: Partial<UnitView> = {}): UnitView => ({
  unit: 'tenant/d/acme',
  workflowId: 'wf',
  phase: 'pending',
  paused: false,
  route: { side: 'source', epoch: 1 },
  historyLength: 1,
  ...over,
});

describe('campaign driver: moving a unit towards a step goal', () => {
  const cases: { name: string; goal: UnitGoal; view: UnitView; want: string }[] = [
    { name: 'a missing entity is started', goal: { kind: 'prepared' }, view: v({ missing: true }), want: 'start' },
    { name: 'a missing entity needs no rollback', goal: { kind: 'rolled-back' }, view: v({ missing: true }), want: 'reached' },
    { name: 'a working entity is waited for', goal: { kind: 'prepared' }, view: v({ phase: 'preflight' }), want: 'wait' },
    {
      name: 'a finished phase waiting for advance is advanced',
      goal: { kind: 'prepared' },
      view: v({ phase: 'preflight', waitingFor: 'x' }),
      want: 'advance',
    },
    { name: 'shadow done is prepared', goal: { kind: 'prepared' }, view: v({ phase: 'shadow', waitingFor: 'x' }), want: 'reached' },
    { name: 'shadow still probing is not prepared', goal: { kind: 'prepared' }, view: v({ phase: 'shadow' }), want: 'wait' },
    {
      name: 'shadow done is advanced towards a canary',
      goal: { kind: 'percent', percent: 10 },
      view: v({ phase: 'shadow', waitingFor: 'x' }),
      want: 'advance',
    },
    {
      name: 'baking at the percent reaches it',
      goal: { kind: 'percent', percent: 10 },
      view: v({ phase: 'canary', route: { percent: 10, epoch: 2 }, waitingFor: 'bake' }),
      want: 'reached',
    },
    {
      name: 'a lower percent is advanced',
      goal: { kind: 'percent', percent: 50 },
      view: v({ phase: 'canary', route: { percent: 10, epoch: 2 }, waitingFor: 'bake' }),
      want: 'advance',
    },
    {
      name: 'routing in progress is waited for',
      goal: { kind: 'percent', percent: 50 },
      view: v({ phase: 'canary', route: { percent: 10, epoch: 2 } }),
      want: 'wait',
    },
    {
      name: 'a unit past the goal has reached it',
      goal: { kind: 'percent', percent: 50 },
      view: v({ phase: 'draining' }),
      want: 'reached',
    },
    { name: 'cutover waiting reaches cutover', goal: { kind: 'cutover' }, view: v({ phase: 'cutover', waitingFor: 'x' }), want: 'reached' },
    {
      name: 'a paused unit is not advanced',
      goal: { kind: 'cutover' },
      view: v({ phase: 'canary', paused: true, waitingFor: 'resume' }),
      want: 'wait',
    },
    {
      name: 'a failed unit fails the step',
      goal: { kind: 'cutover' },
      view: v({ phase: 'failed', waitingFor: 'operator' }),
      want: 'failed',
    },
    {
      name: 'a unit rolled back on its own fails the step',
      goal: { kind: 'completed' },
      view: v({ phase: 'rolled-back' }),
      want: 'failed',
    },
    { name: 'completed reaches completed', goal: { kind: 'completed' }, view: v({ phase: 'completed' }), want: 'reached' },
    { name: 'rollback is sent to a moving unit', goal: { kind: 'rolled-back' }, view: v({ phase: 'canary' }), want: 'rollback' },
    { name: 'a rolling-back unit is waited for', goal: { kind: 'rolled-back' }, view: v({ phase: 'rolling-back' }), want: 'wait' },
    {
      name: 'a completed unit cannot be rolled back by the campaign',
      goal: { kind: 'rolled-back' },
      view: v({ phase: 'completed' }),
      want: 'failed',
    },
    { name: 'rolled-back reaches rolled-back', goal: { kind: 'rolled-back' }, view: v({ phase: 'rolled-back' }), want: 'reached' },
  ];
  for (const c of cases) it(c.name, () => assert.equal(nextMove(c.goal, c.view, 'k').kind, c.want));

  it('an advance command ID changes only when the unit moved (a resend is a no-op in the entity)', () => {
    const id = (view: UnitView, key = 'k') => {
      const m = nextMove({ kind: 'cutover' }, view, key);
      assert.equal(m.kind, 'advance');
      return m.kind === 'advance' ? m.commandId : '';
    };
    const a = id(v({ phase: 'preflight', waitingFor: 'x', historyLength: 3 }));
    // The same position of the unit, seen again with other details (a resend after a lost answer): the same ID.
    assert.equal(id(v({ phase: 'preflight', waitingFor: 'still x', route: { side: 'source', epoch: 2 }, historyLength: 3 })), a);
    // The unit moved: in history, or to another phase; and another unit: a new ID each.
    const moved = [
      id(v({ phase: 'preflight', waitingFor: 'x', historyLength: 4 })),
      id(v({ phase: 'provisioned', waitingFor: 'x', historyLength: 3 })),
      id(v({ unit: 'tenant/d/globex', phase: 'preflight', waitingFor: 'x', historyLength: 3 })),
    ];
    assert.equal(new Set([a, ...moved]).size, 4, JSON.stringify([a, ...moved]));
    // Scoped by the caller's key (one campaign run's commands never collide with another's).
    assert.notEqual(id(v({ phase: 'preflight', waitingFor: 'x', historyLength: 3 }), 'k2'), a);
  });

  it('an advance carries the phase the step wants (one command per step); a canary percentage carries none', () => {
    const waiting = (phase: string) => v({ phase, waitingFor: 'x', historyLength: 3 });
    const until = (goal: UnitGoal, view: UnitView) => {
      const m = nextMove(goal, view, 'k');
      assert.equal(m.kind, 'advance');
      return m.kind === 'advance' ? m.until : 'not an advance';
    };
    assert.equal(until({ kind: 'prepared' }, waiting('preflight')), 'shadow');
    assert.equal(until({ kind: 'cutover' }, waiting('shadow')), 'cutover');
    assert.equal(until({ kind: 'completed' }, waiting('cutover')), 'completed');
    assert.equal(until({ kind: 'percent', percent: 50 }, waiting('shadow')), undefined);
  });

  it('sends no second advance to a unit advancing to the goal on a timer; one held for an operator gets it (a retry)', () => {
    const onTimer = v({
      phase: 'draining',
      waitingFor: 'stale clients',
      waitingOn: 'timer',
      advanceUntil: 'completed',
      historyLength: 9,
    });
    assert.equal(nextMove({ kind: 'completed' }, onTimer, 'k').kind, 'wait');
    const held = v({
      phase: 'reconciling',
      waitingFor: 'reconcile found 1 stranded',
      waitingOn: 'operator',
      advanceUntil: 'completed',
      historyLength: 9,
    });
    assert.equal(nextMove({ kind: 'completed' }, held, 'k').kind, 'advance');
    const otherGoal = v({ phase: 'shadow', waitingFor: 'x', waitingOn: 'timer', advanceUntil: 'shadow', historyLength: 9 });
    assert.equal(nextMove({ kind: 'cutover' }, otherGoal, 'k').kind, 'advance');
  });

  it('waits on a unit whose status could not be read this round, whatever the goal', () => {
    for (const goal of [{ kind: 'prepared' }, { kind: 'completed' }, { kind: 'rolled-back' }] as UnitGoal[]) {
      assert.equal(nextMove(goal, v({ unknown: true }), 'k').kind, 'wait');
    }
  });

  it('starts again a unit rolled back before the campaign began (a drill), never one rolled back during it', () => {
    const began = '2026-11-28T10:00:00.000Z';
    const drill = v({ phase: 'rolled-back', startedAt: '2026-11-28T09:00:00.000Z' });
    const during = v({ phase: 'rolled-back', startedAt: '2026-11-28T10:05:00.000Z' });
    assert.equal(nextMove({ kind: 'prepared' }, drill, 'k', began).kind, 'start');
    assert.equal(nextMove({ kind: 'prepared' }, during, 'k', began).kind, 'failed');
    // Without the campaign's start time (an old state) nothing is restarted.
    assert.equal(nextMove({ kind: 'prepared' }, drill, 'k').kind, 'failed');
    // A rollback goal is already reached.
    assert.equal(nextMove({ kind: 'rolled-back' }, drill, 'k', began).kind, 'reached');
  });

  it('reached() for a percent needs the route at that percent', () => {
    assert.equal(
      reached({ kind: 'percent', percent: 50 }, v({ phase: 'canary', route: { percent: 10, epoch: 1 }, waitingFor: 'x' })),
      false,
    );
  });
});

const gate = (name: string, over: Partial<GateSpec['policy']> = {}): GateSpec => ({
  name,
  kind: 'reconcile',
  reconcile: { maxDuplicates: 0, maxStranded: 0 },
  summary: '',
  policy: { interval: 100, count: 1, failureLimit: 0, consecutiveErrorLimit: 1, ...over },
});
const m = (g: string, at: number, result: MeasurementResult): TimedMeasurement => ({ gate: g, at, result, message: result });

describe('campaign driver: a baking step', () => {
  const T = 10_000;
  it('waits for the first measurement one interval after the bake began', () => {
    assert.deepEqual(bakeDecision([gate('a')], [], T, T + 1000, T), { kind: 'wait', until: T + 100 });
  });
  it('measures the gates that are due', () => {
    assert.deepEqual(bakeDecision([gate('a'), gate('b', { interval: 500 })], [], T, T + 1000, T + 150), { kind: 'measure', gates: ['a'] });
  });
  it('keeps measuring every interval through the bake', () => {
    assert.deepEqual(bakeDecision([gate('a')], [m('a', T + 100, 'successful')], T, T + 1000, T + 200), { kind: 'measure', gates: ['a'] });
  });
  it('passes once the bake is over and every gate passed', () => {
    assert.deepEqual(bakeDecision([gate('a')], [m('a', T + 950, 'successful')], T, T + 1000, T + 1000), { kind: 'passed' });
  });
  it("a zero bake still waits for each gate's count", () => {
    assert.equal(bakeDecision([gate('a', { count: 2 })], [m('a', T + 100, 'successful')], T, T, T + 150).kind, 'wait');
    assert.equal(
      bakeDecision([gate('a', { count: 2 })], [m('a', T + 100, 'successful'), m('a', T + 200, 'successful')], T, T, T + 200).kind,
      'passed',
    );
  });
  it('no gates: waits out the bake, then passes', () => {
    assert.deepEqual(bakeDecision([], [], T, T + 1000, T), { kind: 'wait', until: T + 1000 });
    assert.deepEqual(bakeDecision([], [], T, T + 1000, T + 1000), { kind: 'passed' });
  });
  it('a failed gate ends the bake at once', () => {
    assert.equal(bakeDecision([gate('a')], [m('a', T + 100, 'failed')], T, T + 1000, T + 100).kind, 'gate-failed');
  });
  it('an errored gate past its consecutive error limit ends the bake', () => {
    assert.equal(bakeDecision([gate('a')], [m('a', T + 100, 'error'), m('a', T + 200, 'error')], T, T + 1000, T + 200).kind, 'gate-failed');
  });
  it('an inconclusive gate holds for a human', () => {
    assert.equal(bakeDecision([gate('a')], [m('a', T + 100, 'inconclusive')], T, T + 1000, T + 100).kind, 'inconclusive');
  });
  it('an error within the limit is measured again after an interval', () => {
    assert.deepEqual(bakeDecision([gate('a')], [m('a', T + 100, 'error')], T, T, T + 150), { kind: 'wait', until: T + 200 });
  });
});

describe('campaign driver: steps', () => {
  const step = (n: number, ringIndex: number, kind: CampaignStep['kind'], units: string[]): CampaignStep => ({
    n,
    ring: `r${ringIndex}`,
    ringIndex,
    batch: 1,
    batches: 1,
    kind,
    units,
    bakeMs: 0,
    gates: [],
    minDurationMs: 0,
  });
  it('the goal of each step kind', () => {
    assert.equal(goalOf(step(1, 0, 'approval', [])), undefined);
    assert.deepEqual(goalOf({ ...step(1, 0, 'canary', []), percent: 10 }), { kind: 'percent', percent: 10 });
    assert.deepEqual(goalOf(step(1, 0, 'rollback', [])), { kind: 'rolled-back' });
  });
  it("rollback scope is the current ring's units touched so far", () => {
    const steps = [
      step(1, 0, 'prepare', ['a']),
      step(2, 1, 'prepare', ['b']),
      step(3, 1, 'complete', ['b']),
      step(4, 1, 'approval', ['c']),
      step(5, 1, 'prepare', ['c']),
      step(6, 1, 'prepare', ['d']),
    ];
    assert.deepEqual(touchedRingUnits(steps, 4), ['b', 'c']);
    assert.deepEqual(touchedRingUnits(steps, 0), ['a']);
  });
});
