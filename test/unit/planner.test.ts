import assert from 'node:assert/strict';
import {
  checkCommand,
  decide,
  forecastDrain,
  nextPhase,
  phasesFor,
  SWEEP_SETTLE_MS,
  sweepDueAt,
  type Action,
  type CommandVerdict,
} from '../../src/workflows/planner';
import { applyCommand } from '../../src/workflows/unit-state';
import { unitInput } from './fixtures/unit-input';
import { initialState, type MigrationState, type Observations, type UnitMigrationInput } from '../../src/domain/migration';

const NOW = 1_000_000;

const input = unitInput;

/** Freezes a value and everything it holds. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function state(over: Partial<MigrationState> = {}): MigrationState {
  return { ...initialState(), ...over };
}

const okPreflight: NonNullable<Observations['preflight']> = {
  ok: true,
  problems: [],
  targetNamespaceExists: true,
  missingSearchAttributes: [],
  targetPollers: { detections: 1 },
  sourceOpen: 3,
  at: 'x',
};
const provision: NonNullable<Observations['provision']> = { namespaceCreated: false, searchAttributesAdded: [], at: 'x' };
const probeOk: NonNullable<Observations['probe']> = { result: 'successful', message: '3/3', started: 3, succeeded: 3 };
const probeBad: NonNullable<Observations['probe']> = { result: 'failed', message: '1/3', started: 3, succeeded: 1 };
const clean: NonNullable<Observations['reconcile']> = { clean: true, sourceOpen: 0, targetOpen: 0, duplicates: [], stranded: [], at: 'x' };
const dirty: NonNullable<Observations['reconcile']> = { ...clean, clean: false, duplicates: ['acme-1'] };
const onSource = { kind: 'side' as const, side: 'source' as const, epoch: 1, sourceWorkersMayStop: false };
const onTarget = { kind: 'side' as const, side: 'target' as const, epoch: 5, sourceWorkersMayStop: false };
const advance = { command: 'advance' as const, actor: 'alice', commandId: 'c1' };
const copied: NonNullable<MigrationState['schedules']>['copy'] = {
  selected: 1,
  created: 1,
  unchanged: 0,
  updated: 0,
  vanished: 0,
  at: 'x',
};
const switchedTo = (to: 'source' | 'target') => ({
  to,
  selected: 1,
  switched: 1,
  already: 0,
  leftPaused: [],
  vanished: 0,
  missedFires: 1,
  backfilledFires: 1,
  at: 'x',
});
const schedClean: NonNullable<Observations['schedules']> = {
  expected: 'target',
  schedules: 1,
  doubleActive: 0,
  pausedOnBoth: 0,
  wrongSide: 0,
  missing: 0,
  ownerMismatch: 0,
  specDiffers: 0,
  duplicateFires: 0,
  lostFires: 0,
  runsChecked: true,
  problems: [],
  clean: true,
  at: 'x',
};
const schedDoubleActive: NonNullable<Observations['schedules']> = {
  ...schedClean,
  doubleActive: 1,
  clean: false,
  problems: [{ scheduleId: 'acme-s', problems: ['active on both clusters'] }],
};
const drainAt = (open: number, at = NOW - 100, deadlineAt = NOW + 10_000) => ({
  side: 'source' as const,
  startedAt: NOW - 1000,
  deadlineAt,
  samples: [{ at, open }],
});

interface Case {
  name: string;
  input?: Partial<UnitMigrationInput>;
  state: Partial<MigrationState>;
  obs?: Observations;
  want: Partial<Action> & { type: Action['type'] };
  /** Extra fields of the action to check (deep). */
  check?: (a: Action) => void;
}

/** A rollback from draining begun on the code that sends the route back first. */
const routeFirstRollback = {
  command: 'rollback' as const,
  actor: 'oncall',
  reason: 'r',
  from: 'draining' as const,
  at: 'x',
  routeFirst: true,
};

const cases: Case[] = [
  // Forward path, auto mode.
  { name: 'pending → preflight', state: {}, want: { type: 'transition', to: 'preflight' } as Action },
  {
    name: 'pending waits for advance in manual mode',
    input: { advanceMode: 'manual' },
    state: {},
    want: { type: 'wait', for: 'advance' } as Action,
  },
  {
    name: 'pending moves on advance in manual mode',
    input: { advanceMode: 'manual' },
    state: { advance },
    want: { type: 'transition', to: 'preflight' } as Action,
  },
  { name: 'preflight runs the preflight step', state: { phase: 'preflight' }, want: { type: 'step', step: { kind: 'preflight' } } },
  {
    name: 'failed preflight fails the unit, naming the field',
    state: { phase: 'preflight' },
    obs: {
      preflight: {
        ...okPreflight,
        ok: false,
        problems: [{ field: 'targetPollers.detections', message: 'no pollers', hint: 'start workers' }],
      },
    },
    want: { type: 'fail' },
    check: (a) => assert.match((a as Extract<Action, { type: 'fail' }>).reason, /targetPollers\.detections/),
  },
  {
    name: 'preflight ok → provisioned',
    state: { phase: 'preflight' },
    obs: { preflight: okPreflight },
    want: { type: 'transition', to: 'provisioned' } as Action,
  },
  { name: 'provisioned provisions first', state: { phase: 'provisioned' }, want: { type: 'step', step: { kind: 'provision' } } },
  {
    name: 'provisioned then creates the routing record',
    state: { phase: 'provisioned' },
    obs: { provision },
    want: { type: 'step', step: { kind: 'ensure-route' } },
  },
  {
    name: 'provisioned with record → shadow',
    state: { phase: 'provisioned', route: onSource },
    obs: { provision },
    want: { type: 'transition', to: 'shadow' } as Action,
  },
  { name: 'shadow runs the probe', state: { phase: 'shadow', route: onSource }, want: { type: 'step', step: { kind: 'probe' } } },
  {
    name: 'shadow skips the probe when disabled',
    input: { probe: { workflows: 0, minSuccess: 1 } },
    state: { phase: 'shadow', route: onSource },
    want: { type: 'transition', to: 'canary' } as Action,
  },
  {
    name: 'probe failure rolls back by policy',
    state: { phase: 'shadow', route: onSource },
    obs: { probe: probeBad },
    want: { type: 'roll-back' },
  },
  {
    name: 'probe failure holds by policy',
    input: { onGateFailure: 'hold' },
    state: { phase: 'shadow', route: onSource },
    obs: { probe: probeBad },
    want: { type: 'wait', for: 'operator' } as Action,
  },
  {
    name: 'held probe failure re-runs on advance',
    input: { onGateFailure: 'hold' },
    state: { phase: 'shadow', route: onSource, advance },
    obs: { probe: probeBad },
    want: { type: 'clear', keys: ['probe'] } as Action,
  },
  {
    name: 'probe ok → canary (dual-workers)',
    state: { phase: 'shadow', route: onSource },
    obs: { probe: probeOk },
    want: { type: 'transition', to: 'canary' } as Action,
  },
  {
    name: 'probe ok → cutover (drain-and-switch skips canary)',
    input: { strategy: 'drain-and-switch' },
    state: { phase: 'shadow', route: onSource },
    obs: { probe: probeOk },
    want: { type: 'transition', to: 'cutover' } as Action,
  },
  {
    name: 'canary sets the first step',
    state: { phase: 'canary', route: onSource },
    want: {
      type: 'step',
      step: { kind: 'set-route', route: { kind: 'percent', percent: 10 }, sourceWorkersMayStop: false, reason: 'canary 10%' },
    },
  },
  {
    name: 'canary starts the bake once the step is routed',
    state: { phase: 'canary', route: { kind: 'percent', percent: 10, epoch: 2, sourceWorkersMayStop: false } },
    want: { type: 'start-bake', until: NOW + 1000 },
  },
  {
    name: 'canary waits for the bake',
    state: {
      phase: 'canary',
      route: { kind: 'percent', percent: 10, epoch: 2, sourceWorkersMayStop: false },
      canary: { index: 0, bakeUntil: NOW + 400 },
    },
    want: { type: 'wait', for: 'timer', until: NOW + 400 } as Action,
  },
  {
    name: 'advance skips the bake',
    state: {
      phase: 'canary',
      advance,
      route: { kind: 'percent', percent: 10, epoch: 2, sourceWorkersMayStop: false },
      canary: { index: 0, bakeUntil: NOW + 400 },
    },
    want: { type: 'end-bake', skipped: true },
  },
  {
    name: 'bake over ends the step',
    state: {
      phase: 'canary',
      route: { kind: 'percent', percent: 10, epoch: 2, sourceWorkersMayStop: false },
      canary: { index: 0, bakeUntil: NOW },
    },
    want: { type: 'end-bake', skipped: false },
  },
  {
    name: 'canary moves to the second step',
    state: { phase: 'canary', route: { kind: 'percent', percent: 10, epoch: 2, sourceWorkersMayStop: false }, canary: { index: 1 } },
    want: {
      type: 'step',
      step: { kind: 'set-route', route: { kind: 'percent', percent: 50 }, sourceWorkersMayStop: false, reason: 'canary 50%' },
    },
  },
  {
    name: 'all canary steps baked → cutover',
    state: { phase: 'canary', route: { kind: 'percent', percent: 50, epoch: 3, sourceWorkersMayStop: false }, canary: { index: 2 } },
    want: { type: 'transition', to: 'cutover' } as Action,
  },
  {
    name: 'cutover routes all starts to the target (dual-workers)',
    state: { phase: 'cutover', route: { kind: 'percent', percent: 50, epoch: 3, sourceWorkersMayStop: false } },
    check: (a) =>
      assert.deepEqual(
        (a as Extract<Action, { type: 'step' }>).step.kind === 'set-route' && (a as { step: { route: unknown } }).step.route,
        { kind: 'side', side: 'target' },
      ),
    want: { type: 'step' },
  },
  {
    name: 'cutover holds new starts (drain-and-switch)',
    input: { strategy: 'drain-and-switch' },
    state: { phase: 'cutover', route: onSource },
    check: (a) => assert.deepEqual((a as { step: { route: unknown } }).step.route, { kind: 'hold' }),
    want: { type: 'step' },
  },
  { name: 'cutover done → draining', state: { phase: 'cutover', route: onTarget }, want: { type: 'transition', to: 'draining' } as Action },
  {
    name: 'draining starts the drain clock',
    state: { phase: 'draining', route: onTarget },
    want: { type: 'start-drain', side: 'source', deadlineAt: NOW + 60_000 },
  },
  {
    name: 'draining counts when no sample yet',
    state: { phase: 'draining', route: onTarget, drain: { side: 'source', startedAt: NOW, deadlineAt: NOW + 1000, samples: [] } },
    want: { type: 'step', step: { kind: 'count', side: 'source' } },
  },
  {
    name: 'draining waits for the next sample',
    state: { phase: 'draining', route: onTarget, drain: drainAt(4) },
    want: { type: 'wait', for: 'timer', until: NOW + 400 } as Action,
  },
  {
    name: 'draining samples again after the poll interval',
    state: { phase: 'draining', route: onTarget, drain: drainAt(4, NOW - 500) },
    want: { type: 'step', step: { kind: 'count', side: 'source' } },
  },
  {
    name: 'drained → reconciling (source workers keep running until completed)',
    state: { phase: 'draining', route: onTarget, drain: drainAt(0) },
    want: { type: 'transition', to: 'reconciling' } as Action,
  },
  {
    name:
      'drained, but a client cut off from Redis may still route by the old route: ' +
      'wait out redis.clientStaleness after the route change',
    input: { clientStalenessMs: 30_000 },
    state: { phase: 'draining', route: onTarget, drain: drainAt(0), routeChangedAt: NOW - 10_000 },
    want: { type: 'wait', for: 'timer', until: NOW + 20_000 } as Action,
  },
  {
    name: "drained and the clients' staleness bound passed since the route change → reconciling",
    input: { clientStalenessMs: 30_000 },
    state: { phase: 'draining', route: onTarget, drain: drainAt(0), routeChangedAt: NOW - 30_000 },
    want: { type: 'transition', to: 'reconciling' } as Action,
  },
  {
    name: "rolling back: the target reads empty, but waits the clients' staleness after the route went back",
    input: { clientStalenessMs: 5_000 },
    state: {
      phase: 'rolling-back',
      route: onSource,
      moveStartedAt: 'x',
      routeChangedAt: NOW - 1_000,
      drain: { side: 'target', startedAt: NOW - 1000, deadlineAt: NOW + 10_000, samples: [{ at: NOW - 100, open: 0 }] },
      rollback: { ...advance, command: 'rollback', reason: 'why', from: 'draining', at: 'x' },
    },
    want: { type: 'wait', for: 'timer', until: NOW + 4_000 } as Action,
  },
  {
    name: 'deadline with policy wait keeps polling',
    input: { stragglers: 'wait' },
    state: { phase: 'draining', route: onTarget, drain: drainAt(2, NOW - 600, NOW - 1) },
    want: { type: 'step', step: { kind: 'count', side: 'source' } },
  },
  {
    name: 'deadline with policy report reports',
    state: { phase: 'draining', route: onTarget, drain: drainAt(2, NOW - 100, NOW - 1) },
    want: { type: 'report-stragglers', side: 'source' },
  },
  {
    name: 'reported stragglers → reconciling',
    state: { phase: 'draining', route: onTarget, drain: { ...drainAt(2, NOW - 100, NOW - 1), deadlineReported: true } },
    want: { type: 'transition', to: 'reconciling' } as Action,
  },
  {
    name: 'deadline with policy terminate asks for approval',
    input: { stragglers: 'terminate' },
    state: { phase: 'draining', route: onTarget, drain: drainAt(2, NOW - 100, NOW - 1) },
    want: { type: 'request-approval', count: 2 },
  },
  {
    name: 'terminate waits for the approval',
    input: { stragglers: 'terminate' },
    state: {
      phase: 'draining',
      route: onTarget,
      drain: drainAt(2, NOW - 100, NOW - 1),
      approval: { kind: 'terminate-stragglers', requestedAt: 'x', count: 2 },
    },
    want: { type: 'wait', for: 'approval' } as Action,
  },
  {
    name: 'approved: terminate the stragglers',
    input: { stragglers: 'terminate' },
    state: {
      phase: 'draining',
      route: onTarget,
      drain: drainAt(2, NOW - 100, NOW - 1),
      approval: { kind: 'terminate-stragglers', requestedAt: 'x', count: 2, approvedBy: 'bob' },
    },
    want: { type: 'step', step: { kind: 'terminate-stragglers' } },
  },
  {
    name: "deadline with policy handoff hands the source's open runs off",
    input: { stragglers: 'handoff' },
    state: { phase: 'draining', route: onTarget, drain: drainAt(2, NOW - 100, NOW - 1) },
    want: { type: 'step', step: { kind: 'hand-off', side: 'source', back: false } },
  },
  {
    name: 'handoff: a pass that left runs asked but not stopped is followed by another',
    input: { stragglers: 'handoff' },
    state: { phase: 'draining', route: onTarget, drain: { ...drainAt(2, NOW - 100, NOW - 1), handoffAt: NOW - 50, handoffWaiting: 1 } },
    want: { type: 'step', step: { kind: 'hand-off', side: 'source', back: false } },
  },
  {
    name: 'handoff: after a pass, the source is counted again',
    input: { stragglers: 'handoff', drainPollMs: 10 },
    state: { phase: 'draining', route: onTarget, drain: { ...drainAt(2, NOW - 100, NOW - 1), handoffAt: NOW - 50, handoffWaiting: 0 } },
    want: { type: 'step', step: { kind: 'count', side: 'source' } },
  },
  {
    name: 'handoff: runs still open after the pass (no helper) are reported',
    input: { stragglers: 'handoff' },
    state: { phase: 'draining', route: onTarget, drain: { ...drainAt(1, NOW - 10, NOW - 1), handoffAt: NOW - 50, handoffWaiting: 0 } },
    want: { type: 'report-stragglers', side: 'source' },
  },
  {
    name: 'handoff: everything handed off → reconciling',
    input: { stragglers: 'handoff' },
    state: { phase: 'draining', route: onTarget, drain: { ...drainAt(0, NOW - 10, NOW - 1), handoffAt: NOW - 50, handoffWaiting: 0 } },
    want: { type: 'transition', to: 'reconciling' } as Action,
  },
  {
    name: 'rolling back hands runs back from the target once the route is on the source, before the target drains',
    state: {
      phase: 'rolling-back',
      route: { ...onSource, epoch: 6 },
      moveStartedAt: 'x',
      handoffs: [{ workflowId: 'acme-1', from: 'source', to: 'target', fromRunId: 'a', toRunId: 'b', at: 'x' }],
    },
    want: { type: 'step', step: { kind: 'hand-off', side: 'target', back: true } },
  },
  {
    name: 'rolling back: runs already handed back (or skipped) are not handed again',
    state: {
      phase: 'rolling-back',
      route: { ...onSource, epoch: 6 },
      moveStartedAt: 'x',
      handoffs: [
        { workflowId: 'acme-1', from: 'source', to: 'target', fromRunId: 'a', toRunId: 'b', at: 'x' },
        { workflowId: 'acme-1', from: 'target', to: 'source', fromRunId: 'b', toRunId: 'c', at: 'x' },
        { workflowId: 'acme-2', from: 'source', to: 'target', fromRunId: 'd', toRunId: 'e', at: 'x' },
      ],
      handBackSkipped: ['e'],
    },
    want: { type: 'start-drain', side: 'target' } as Action,
  },
  {
    name: 'drain-and-switch: hold released to the target once drained',
    input: { strategy: 'drain-and-switch' },
    state: { phase: 'draining', route: { kind: 'hold', epoch: 3, sourceWorkersMayStop: false }, drain: drainAt(0) },
    want: {
      type: 'step',
      step: {
        kind: 'set-route',
        route: { kind: 'side', side: 'target' },
        sourceWorkersMayStop: false,
        reason: 'source drained: release held starts to the target',
      },
    },
  },
  {
    name: 'drain-and-switch: hold timeout releases to the target before the drain ends',
    input: { strategy: 'drain-and-switch', holdTimeoutMs: 500 },
    state: { phase: 'draining', route: { kind: 'hold', epoch: 3, sourceWorkersMayStop: false }, drain: drainAt(3) },
    check: (a) => assert.deepEqual((a as { step: { route: unknown } }).step.route, { kind: 'side', side: 'target' }),
    want: { type: 'step' },
  },
  {
    name: 'drain-and-switch: the wait wakes up at the hold timeout',
    input: { strategy: 'drain-and-switch', holdTimeoutMs: 1100, drainPollMs: 5000 },
    state: { phase: 'draining', route: { kind: 'hold', epoch: 3, sourceWorkersMayStop: false }, drain: drainAt(3) },
    want: { type: 'wait', for: 'timer', until: NOW + 100 } as Action,
  },
  {
    name: 'reconciling runs reconcile',
    state: { phase: 'reconciling', route: onTarget },
    want: { type: 'step', step: { kind: 'reconcile' } },
  },
  {
    name: 'reconcile clean: route final, source workers may stop',
    state: { phase: 'reconciling', route: onTarget },
    obs: { reconcile: clean },
    want: {
      type: 'step',
      step: {
        kind: 'set-route',
        route: { kind: 'side', side: 'target' },
        sourceWorkersMayStop: true,
        reason: 'reconcile clean: route final, source workers may stop',
      },
    },
  },
  {
    name: 'reconcile clean and final → completed',
    state: { phase: 'reconciling', route: { ...onTarget, sourceWorkersMayStop: true } },
    obs: { reconcile: clean },
    want: { type: 'transition', to: 'completed' } as Action,
  },
  {
    name: 'reconcile clean, manual: a standing advance until completed moves on',
    input: { advanceMode: 'manual' },
    state: {
      phase: 'reconciling',
      route: { ...onTarget, sourceWorkersMayStop: true },
      advanceUntil: { phase: 'completed', actor: 'c', commandId: 'u1' },
    },
    obs: { reconcile: clean },
    want: { type: 'transition', to: 'completed' } as Action,
  },
  {
    name: 'reconcile clean, manual: a standing advance until an earlier phase does not',
    input: { advanceMode: 'manual' },
    state: {
      phase: 'reconciling',
      route: { ...onTarget, sourceWorkersMayStop: true },
      advanceUntil: { phase: 'draining', actor: 'c', commandId: 'u1' },
    },
    obs: { reconcile: clean },
    want: { type: 'wait', for: 'advance' } as Action,
  },
  {
    name: 'pending, manual: a standing advance until shadow moves on',
    input: { advanceMode: 'manual' },
    state: { advanceUntil: { phase: 'shadow', actor: 'c', commandId: 'u1' } },
    want: { type: 'transition', to: 'preflight' } as Action,
  },
  {
    name: 'reconcile dirty: a standing advance does not reconcile again (only a real advance)',
    state: { phase: 'reconciling', route: onTarget, advanceUntil: { phase: 'completed', actor: 'c', commandId: 'u1' } },
    obs: { reconcile: dirty },
    want: { type: 'wait', for: 'operator' } as Action,
  },
  {
    name: 'reconcile clean waits for advance in manual mode',
    input: { advanceMode: 'manual' },
    state: { phase: 'reconciling', route: onTarget },
    obs: { reconcile: clean },
    want: { type: 'wait', for: 'advance' } as Action,
  },
  {
    name: 'reconcile dirty holds for an operator',
    state: { phase: 'reconciling', route: onTarget },
    obs: { reconcile: dirty },
    want: { type: 'wait', for: 'operator' } as Action,
  },
  {
    name: 'reconcile dirty: advance reconciles again',
    state: { phase: 'reconciling', route: onTarget, advance },
    obs: { reconcile: dirty },
    want: { type: 'clear', keys: ['reconcile', 'schedules'] } as Action,
  },
  { name: 'completed is done', state: { phase: 'completed' }, want: { type: 'done' } },
  { name: 'rolled-back is done', state: { phase: 'rolled-back' }, want: { type: 'done' } },
  // Pause, failure, rollback.
  {
    name: 'paused waits for resume',
    state: { phase: 'canary', paused: { actor: 'a', at: 'x' } },
    want: { type: 'wait', for: 'resume' } as Action,
  },
  {
    name: 'failed waits for an operator',
    state: { phase: 'failed', failure: { phase: 'provisioned', step: 'provision', type: 'T', message: 'm', at: 'x' } },
    want: { type: 'wait', for: 'operator' } as Action,
  },
  {
    name: 'failed retries on advance, clearing the failed step',
    state: { phase: 'failed', advance, failure: { phase: 'provisioned', step: 'provision', type: 'T', message: 'm', at: 'x' } },
    want: { type: 'transition', to: 'provisioned', reason: 'retry provision', clear: ['provision'] },
  },
  {
    name: 'rollback requested → rolling-back (even from failed)',
    state: { phase: 'failed', rollback: { ...advance, command: 'rollback', reason: 'why', from: 'failed', at: 'x' } },
    want: { type: 'transition', to: 'rolling-back' } as Action,
  },
  {
    name: 'rolling back restores the route first',
    state: { phase: 'rolling-back', route: onTarget, moveStartedAt: 'x' },
    check: (a) => assert.deepEqual((a as { step: { route: unknown } }).step.route, { kind: 'side', side: 'source' }),
    want: { type: 'step' },
  },
  {
    name: 'rolling back then drains the target',
    state: { phase: 'rolling-back', route: { ...onSource, epoch: 6 }, moveStartedAt: 'x' },
    want: { type: 'start-drain', side: 'target' } as Action,
  },
  {
    name: 'rolling back reconciles once the target is drained',
    state: { phase: 'rolling-back', route: { ...onSource, epoch: 6 }, moveStartedAt: 'x', drain: { ...drainAt(0), side: 'target' } },
    want: { type: 'step', step: { kind: 'reconcile' } },
  },
  {
    name: 'rolling back before any move skips the drain',
    state: { phase: 'rolling-back', route: onSource },
    want: { type: 'step', step: { kind: 'reconcile' } },
  },
  {
    name: 'rollback clean → rolled-back',
    state: { phase: 'rolling-back', route: onSource },
    obs: { reconcile: clean },
    want: { type: 'transition', to: 'rolled-back' } as Action,
  },
  // Schedules (units that manage them: `state.schedules` set).
  {
    name: 'provisioned copies the schedules once provisioned',
    state: { phase: 'provisioned', schedules: {} },
    obs: { provision },
    want: { type: 'step', step: { kind: 'copy-schedules' } },
  },
  {
    name: 'provisioned copies the schedules before the routing record step',
    state: { phase: 'provisioned', schedules: {} },
    obs: { provision },
    check: (a) => assert.notDeepEqual((a as { step?: unknown }).step, { kind: 'ensure-route' }),
    want: { type: 'step' },
  },
  {
    name: 'schedules copied: the routing record completes the phase',
    state: { phase: 'provisioned', schedules: { copy: copied } },
    obs: { provision },
    want: { type: 'step', step: { kind: 'ensure-route' } },
  },
  {
    name: 'schedules copied and record created → shadow',
    state: { phase: 'provisioned', route: onSource, schedules: { copy: copied } },
    obs: { provision },
    want: { type: 'transition', to: 'shadow' } as Action,
  },
  {
    name: 'cutover switches the route before the schedules',
    state: {
      phase: 'cutover',
      route: { kind: 'percent', percent: 50, epoch: 3, sourceWorkersMayStop: false },
      schedules: { copy: copied },
    },
    check: (a) => assert.equal((a as { step: { kind: string } }).step.kind, 'set-route'),
    want: { type: 'step' },
  },
  {
    name: 'cutover switches the schedules to the target after the route switch',
    state: { phase: 'cutover', route: onTarget, schedules: { copy: copied } },
    want: { type: 'step', step: { kind: 'switch-schedules', to: 'target' } },
  },
  {
    name: 'cutover re-runs a schedule switch that began but did not finish',
    state: { phase: 'cutover', route: onTarget, schedules: { copy: copied, forward: { startedAt: 'x' } } },
    want: { type: 'step', step: { kind: 'switch-schedules', to: 'target' } },
  },
  {
    name: 'drain-and-switch: schedules switch once new starts are held',
    input: { strategy: 'drain-and-switch' },
    state: { phase: 'cutover', route: { kind: 'hold', epoch: 3, sourceWorkersMayStop: false }, schedules: { copy: copied } },
    want: { type: 'step', step: { kind: 'switch-schedules', to: 'target' } },
  },
  {
    name: 'schedules switched → draining (not before)',
    state: { phase: 'cutover', route: onTarget, schedules: { copy: copied, forward: { startedAt: 'x', done: switchedTo('target') } } },
    want: { type: 'transition', to: 'draining' } as Action,
  },
  {
    name: 'reconciling reconciles the schedules after the runs',
    state: { phase: 'reconciling', route: onTarget, schedules: { copy: copied, forward: { startedAt: 'x', done: switchedTo('target') } } },
    obs: { reconcile: clean },
    want: { type: 'step', step: { kind: 'reconcile-schedules' } },
  },
  {
    name: 'a double-active schedule makes reconcile not clean: held for an operator',
    state: { phase: 'reconciling', route: onTarget, schedules: { copy: copied, forward: { startedAt: 'x', done: switchedTo('target') } } },
    obs: { reconcile: clean, schedules: schedDoubleActive },
    want: { type: 'wait', for: 'operator' } as Action,
    check: (a) => assert.match((a as { reason: string }).reason, /1 active on both clusters/),
  },
  {
    name: 'a double-active schedule is never clean, whatever the summary says',
    state: { phase: 'reconciling', route: onTarget, schedules: { copy: copied, forward: { startedAt: 'x', done: switchedTo('target') } } },
    obs: { reconcile: clean, schedules: { ...schedDoubleActive, clean: true } },
    want: { type: 'wait', for: 'operator' } as Action,
  },
  {
    name: 'schedules reconciled clean: route final',
    state: { phase: 'reconciling', route: onTarget, schedules: { copy: copied, forward: { startedAt: 'x', done: switchedTo('target') } } },
    obs: { reconcile: clean, schedules: schedClean },
    want: {
      type: 'step',
      step: {
        kind: 'set-route',
        route: { kind: 'side', side: 'target' },
        sourceWorkersMayStop: true,
        reason: 'reconcile clean: route final, source workers may stop',
      },
    },
  },
  {
    name: 'dirty schedules: advance reconciles runs and schedules again',
    state: {
      phase: 'reconciling',
      route: onTarget,
      advance,
      schedules: { copy: copied, forward: { startedAt: 'x', done: switchedTo('target') } },
    },
    obs: { reconcile: clean, schedules: schedDoubleActive },
    want: { type: 'clear', keys: ['reconcile', 'schedules'] } as Action,
  },
  {
    name: 'rolling back sends the route back first, then the schedules (a rollback reaches the clients at once)',
    state: {
      phase: 'rolling-back',
      route: onTarget,
      moveStartedAt: 'x',
      rollback: routeFirstRollback,
      schedules: { copy: copied, forward: { startedAt: 'x', done: switchedTo('target') } },
    },
    check: (a) => assert.deepEqual((a as { step: { route: unknown } }).step.route, { kind: 'side', side: 'source' }),
    want: { type: 'step' },
  },
  {
    name: 'route back first: the schedules go back next, before the drain',
    state: {
      phase: 'rolling-back',
      route: onSource,
      moveStartedAt: 'x',
      rollback: routeFirstRollback,
      schedules: { copy: copied, forward: { startedAt: 'x', done: switchedTo('target') } },
    },
    want: { type: 'step', step: { kind: 'switch-schedules', to: 'source' } },
  },
  {
    name: 'rolling back recorded before route-first switches the schedules back first (reverse of the forward steps)',
    state: {
      phase: 'rolling-back',
      route: onTarget,
      moveStartedAt: 'x',
      schedules: { copy: copied, forward: { startedAt: 'x', done: switchedTo('target') } },
    },
    want: { type: 'step', step: { kind: 'switch-schedules', to: 'source' } },
  },
  {
    name: 'rolling back switches back a switch that began and failed',
    state: { phase: 'rolling-back', route: onTarget, moveStartedAt: 'x', schedules: { copy: copied, forward: { startedAt: 'x' } } },
    want: { type: 'step', step: { kind: 'switch-schedules', to: 'source' } },
  },
  {
    name: 'rolling back does not switch schedules that were never switched',
    state: {
      phase: 'rolling-back',
      route: { kind: 'percent', percent: 20, epoch: 2, sourceWorkersMayStop: false },
      moveStartedAt: 'x',
      schedules: { copy: copied },
    },
    check: (a) => assert.equal((a as { step: { kind: string } }).step.kind, 'set-route'),
    want: { type: 'step' },
  },
  {
    name: 'schedules back on the source: the route goes back next',
    state: {
      phase: 'rolling-back',
      route: onTarget,
      moveStartedAt: 'x',
      schedules: {
        copy: copied,
        forward: { startedAt: 'x', done: switchedTo('target') },
        back: { startedAt: 'x', done: switchedTo('source') },
      },
    },
    check: (a) => assert.deepEqual((a as { step: { route: unknown } }).step.route, { kind: 'side', side: 'source' }),
    want: { type: 'step' },
  },
  {
    name: 'rolling back reconciles the schedules after the runs',
    state: { phase: 'rolling-back', route: onSource, schedules: { copy: copied } },
    obs: { reconcile: clean },
    want: { type: 'step', step: { kind: 'reconcile-schedules' } },
  },
  {
    name: 'rollback with a double-active schedule is not clean',
    state: { phase: 'rolling-back', route: onSource, schedules: { copy: copied } },
    obs: { reconcile: clean, schedules: { ...schedDoubleActive, expected: 'source' } },
    want: { type: 'wait', for: 'operator' } as Action,
  },
  {
    name: 'rollback with clean schedules → rolled-back',
    state: {
      phase: 'rolling-back',
      route: onSource,
      schedules: {
        copy: copied,
        forward: { startedAt: 'x', done: switchedTo('target') },
        back: { startedAt: 'x', done: switchedTo('source') },
      },
    },
    obs: { reconcile: clean, schedules: { ...schedClean, expected: 'source' } },
    want: { type: 'transition', to: 'rolled-back' } as Action,
  },
  {
    name: 'a rollback clears both reconciles',
    state: { phase: 'draining', rollback: { ...advance, command: 'rollback', reason: 'why', from: 'draining', at: 'x' } },
    want: { type: 'transition', to: 'rolling-back', clear: ['reconcile', 'schedules'] } as Action,
  },
  {
    name: 'a failed schedule reconcile is retried with its observation cleared',
    state: { phase: 'failed', advance, failure: { phase: 'reconciling', step: 'reconcile-schedules', type: 'T', message: 'm', at: 'x' } },
    want: { type: 'transition', to: 'reconciling', clear: ['schedules'] } as Action,
  },
];

describe('planner: decide (table)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const s = state(c.state);
      const a = decide(input(c.input), s, c.obs ?? s.obs, NOW);
      for (const [k, v] of Object.entries(c.want)) {
        assert.deepEqual((a as Record<string, unknown>)[k], v, `${k} of ${JSON.stringify(a)}`);
      }
      c.check?.(a);
    });
  }

  it('is pure: it decides from its arguments alone and never writes to the state it is given', () => {
    const s = deepFreeze(state({ phase: 'draining', route: onTarget, drain: drainAt(3) }));
    // A write to the frozen state would throw (strict mode); the action is the one its arguments call for.
    assert.deepEqual(decide(input(), s, s.obs, NOW), {
      type: 'wait',
      for: 'timer',
      until: NOW + 400,
      reason: '3 open on the source; draining',
    });
  });
});

describe('planner: phases', () => {
  it('dual-workers walks every forward phase; drain-and-switch has no canary', () => {
    assert.deepEqual(phasesFor('dual-workers'), [
      'pending',
      'preflight',
      'provisioned',
      'shadow',
      'canary',
      'cutover',
      'draining',
      'reconciling',
      'completed',
    ]);
    assert.ok(!phasesFor('drain-and-switch').includes('canary'));
    assert.equal(nextPhase('drain-and-switch', 'shadow'), 'cutover');
    assert.throws(() => nextPhase('dual-workers', 'completed'));
  });
});

describe('planner: forecastDrain', () => {
  const table: { name: string; samples: { at: number; open: number }[]; want: number | undefined }[] = [
    { name: 'no samples', samples: [], want: undefined },
    { name: 'one sample', samples: [{ at: 0, open: 5 }], want: undefined },
    { name: 'already empty', samples: [{ at: 7, open: 0 }], want: 7 },
    {
      name: 'falling linearly',
      samples: [
        { at: 0, open: 10 },
        { at: 1000, open: 8 },
        { at: 2000, open: 6 },
      ],
      want: 5000,
    },
    {
      name: 'flat',
      samples: [
        { at: 0, open: 4 },
        { at: 1000, open: 4 },
      ],
      want: undefined,
    },
    {
      name: 'rising',
      samples: [
        { at: 0, open: 4 },
        { at: 1000, open: 6 },
      ],
      want: undefined,
    },
  ];
  for (const c of table) it(c.name, () => assert.equal(forecastDrain(c.samples), c.want));
});

describe('planner: checkCommand', () => {
  const cmd = (over: Record<string, unknown> = {}) => ({ actor: 'alice', commandId: 'c9', ...over });
  const paused: Partial<MigrationState> = { paused: { actor: 'b', at: 'x' } };
  const awaiting: Partial<MigrationState> = { phase: 'draining', approval: { kind: 'terminate-stragglers', requestedAt: 'x', count: 1 } };
  const rolledBy = { command: 'rollback' as const, actor: 'oncall', reason: 'emergency', from: 'canary' as const, at: 'x' };
  const table: {
    name: string;
    command: Parameters<typeof checkCommand>[0];
    payload: unknown;
    state: Partial<MigrationState>;
    /** Safe commands may come without a commandId (default: the code before they could). */
    idOptional?: boolean;
    want: CommandVerdict['verdict'];
    field?: RegExp;
  }[] = [
    { name: 'advance ok', command: 'advance', payload: cmd(), state: { phase: 'canary' }, want: 'apply' },
    { name: 'not an object', command: 'advance', payload: 'go', state: {}, want: 'reject', field: /^payload:/ },
    { name: 'missing actor', command: 'pause', payload: { commandId: 'x' }, state: {}, want: 'reject', field: /^actor:/ },
    { name: 'blank actor', command: 'pause', payload: { actor: ' ', commandId: 'x' }, state: {}, want: 'reject', field: /^actor:/ },
    { name: 'advance without a commandId', command: 'advance', payload: { actor: 'a' }, state: {}, want: 'reject', field: /^commandId:/ },
    { name: 'resume without a commandId', command: 'resume', payload: { actor: 'a' }, state: paused, want: 'reject', field: /^commandId:/ },
    {
      name: 'approve without a commandId',
      command: 'approve',
      payload: { actor: 'a' },
      state: awaiting,
      want: 'reject',
      field: /^commandId:/,
    },
    {
      name: 'pause without a commandId, on code that refuses it',
      command: 'pause',
      payload: { actor: 'a' },
      state: {},
      idOptional: false,
      want: 'reject',
      field: /^commandId:/,
    },
    { name: 'pause without a commandId', command: 'pause', payload: { actor: 'a' }, state: {}, idOptional: true, want: 'apply' },
    {
      name: 'pause with a blank commandId',
      command: 'pause',
      payload: { actor: 'a', commandId: ' ' },
      state: {},
      idOptional: true,
      want: 'apply',
    },
    {
      name: 'pause with a commandId that is not a string',
      command: 'pause',
      payload: { actor: 'a', commandId: 7 },
      state: {},
      idOptional: true,
      want: 'reject',
      field: /^commandId: must be a string/,
    },
    {
      name: 'pause without a commandId still needs an actor',
      command: 'pause',
      payload: {},
      state: {},
      idOptional: true,
      want: 'reject',
      field: /^actor:/,
    },
    {
      name: 'a second pause without a commandId',
      command: 'pause',
      payload: { actor: 'a' },
      state: paused,
      idOptional: true,
      want: 'no-op',
    },
    {
      name: 'pause without a commandId after completed',
      command: 'pause',
      payload: { actor: 'a' },
      state: { phase: 'completed' },
      idOptional: true,
      want: 'reject',
    },
    {
      name: 'rollback without a commandId',
      command: 'rollback',
      payload: { actor: 'oncall', reason: 'emergency' },
      state: { phase: 'canary' },
      idOptional: true,
      want: 'apply',
    },
    {
      name: 'rollback without a commandId still needs a reason',
      command: 'rollback',
      payload: { actor: 'oncall' },
      state: { phase: 'rolling-back' },
      idOptional: true,
      want: 'reject',
      field: /^reason:/,
    },
    {
      name: 'a second rollback without a commandId while rolling back',
      command: 'rollback',
      payload: { actor: 'oncall', reason: 'emergency' },
      state: { phase: 'rolling-back', rollback: rolledBy },
      idOptional: true,
      want: 'no-op',
    },
    {
      name: 'a second rollback without a commandId before the first took effect',
      command: 'rollback',
      payload: { actor: 'oncall', reason: 'emergency' },
      state: { phase: 'canary', rollback: rolledBy },
      idOptional: true,
      want: 'no-op',
    },
    {
      name: 'rollback without a commandId after rolled-back',
      command: 'rollback',
      payload: { actor: 'oncall', reason: 'emergency' },
      state: { phase: 'rolled-back', rollback: rolledBy },
      idOptional: true,
      want: 'no-op',
    },
    {
      name: 'rollback without a commandId after completed',
      command: 'rollback',
      payload: { actor: 'oncall', reason: 'emergency' },
      state: { phase: 'completed' },
      idOptional: true,
      want: 'reject',
      field: /final/,
    },
    {
      name: 'a second rollback with a new commandId while rolling back is refused as before',
      command: 'rollback',
      payload: cmd({ reason: 'x' }),
      state: { phase: 'rolling-back', rollback: rolledBy },
      idOptional: true,
      want: 'reject',
    },
    { name: 'reason not a string', command: 'pause', payload: cmd({ reason: 3 }), state: {}, want: 'reject', field: /^reason:/ },
    { name: 'advance while paused', command: 'advance', payload: cmd(), state: { paused: { actor: 'b', at: 'x' } }, want: 'reject' },
    {
      name: 'advance twice',
      command: 'advance',
      payload: cmd(),
      state: { advance: { command: 'advance', actor: 'a', commandId: 'c1' } },
      want: 'reject',
    },
    { name: 'advance during rollback', command: 'advance', payload: cmd(), state: { phase: 'rolling-back' }, want: 'reject' },
    {
      name: 'advance during rollback when the schedules are not clean (reconcile again)',
      command: 'advance',
      payload: cmd(),
      state: { phase: 'rolling-back', obs: { reconcile: clean, schedules: schedDoubleActive } },
      want: 'apply',
    },
    {
      name: 'advance until a forward phase',
      command: 'advance',
      payload: cmd({ until: 'completed' }),
      state: { phase: 'cutover' },
      want: 'apply',
    },
    {
      name: 'advance until a phase that is not forward',
      command: 'advance',
      payload: cmd({ until: 'rolled-back' }),
      state: { phase: 'cutover' },
      want: 'reject',
      field: /^until: must be a forward phase/,
    },
    {
      name: 'advance until a number',
      command: 'advance',
      payload: cmd({ until: 7 }),
      state: { phase: 'cutover' },
      want: 'reject',
      field: /^until:/,
    },
    {
      name: 'until on another command',
      command: 'pause',
      payload: cmd({ until: 'completed' }),
      state: { phase: 'cutover' },
      want: 'reject',
      field: /^until: only advance takes until/,
    },
    { name: 'pause twice', command: 'pause', payload: cmd(), state: { paused: { actor: 'b', at: 'x' } }, want: 'reject' },
    { name: 'resume when not paused', command: 'resume', payload: cmd(), state: {}, want: 'reject' },
    { name: 'resume when paused', command: 'resume', payload: cmd(), state: { paused: { actor: 'b', at: 'x' } }, want: 'apply' },
    { name: 'rollback needs a reason', command: 'rollback', payload: cmd(), state: { phase: 'canary' }, want: 'reject', field: /^reason:/ },
    {
      name: 'rollback with a reason',
      command: 'rollback',
      payload: cmd({ reason: 'errors up' }),
      state: { phase: 'canary' },
      want: 'apply',
    },
    {
      name: 'rollback while rolling back',
      command: 'rollback',
      payload: cmd({ reason: 'x' }),
      state: { phase: 'rolling-back' },
      want: 'reject',
    },
    { name: 'anything after completed', command: 'pause', payload: cmd(), state: { phase: 'completed' }, want: 'reject' },
    { name: 'approve with nothing pending', command: 'approve', payload: cmd(), state: { phase: 'draining' }, want: 'reject' },
    {
      name: 'approve a pending request',
      command: 'approve',
      payload: cmd(),
      state: { phase: 'draining', approval: { kind: 'terminate-stragglers', requestedAt: 'x', count: 1 } },
      want: 'apply',
    },
  ];
  for (const c of table) {
    it(c.name, () => {
      const v = checkCommand(c.command, c.payload, state(c.state), { idOptional: c.idOptional ?? false });
      assert.equal(v.verdict, c.want, JSON.stringify(v));
      if (c.field) assert.match(v.verdict === 'reject' ? v.reason : '', c.field);
    });
  }
});

describe('entity state: applyCommand', () => {
  const at = '2030-01-01T00:00:00.000Z';
  const safe = { idOptional: true };

  it('records a refusal in rejected, with the field, and changes nothing else', () => {
    const s = state({ phase: 'canary' });
    const out = applyCommand(s, 'advance', { actor: 'oncall' }, at, safe);
    assert.equal(out.outcome, 'rejected');
    assert.equal(s.rejected.length, 1);
    assert.match(s.rejected[0]!.reason, /^commandId: required non-empty string for advance; .*only pause and rollback may leave it out/);
    assert.equal(s.rejected[0]!.actor, 'oncall');
    assert.equal(s.history.length, 0);
    assert.equal(s.advance, undefined);
  });

  it('applies a rollback without a commandId; its repeat is a no-op in the history, not a refusal', () => {
    const s = state({ phase: 'canary' });
    const payload = { actor: 'oncall', reason: 'emergency' };
    assert.equal(applyCommand(s, 'rollback', payload, at, safe).outcome, 'applied');
    assert.equal(s.rollback?.actor, 'oncall');
    assert.equal(s.rollback?.commandId, undefined);
    assert.equal(decide(input(), s, s.obs, NOW).type, 'transition');
    assert.equal(applyCommand(s, 'rollback', payload, at, safe).outcome, 'no-op');
    assert.deepEqual(s.rejected, []);
    assert.deepEqual(
      s.history.map((h) => h.reason),
      ['rollback by oncall: emergency', 'no-op: rollback by oncall: emergency (already rolling back or rolled back)'],
    );
    assert.deepEqual(s.seenCommandIds, []);
  });

  it('a second pause without a commandId is a no-op naming who paused', () => {
    const s = state({ phase: 'shadow' });
    assert.equal(applyCommand(s, 'pause', { actor: 'alice' }, at, safe).outcome, 'applied');
    assert.equal(applyCommand(s, 'pause', { actor: 'bob', reason: 'me too' }, at, safe).outcome, 'no-op');
    assert.equal(s.paused?.actor, 'alice');
    assert.match(s.history[1]!.reason!, /^no-op: pause by bob: me too \(already paused by alice\)$/);
  });

  it('keeps the commandId idempotency: a seen ID is a silent repeat, a new ID for a paused unit is refused', () => {
    const s = state({ phase: 'shadow' });
    assert.equal(applyCommand(s, 'pause', { actor: 'alice', commandId: 'p1' }, at, safe).outcome, 'applied');
    assert.equal(applyCommand(s, 'pause', { actor: 'alice', commandId: 'p1' }, at, safe).outcome, 'repeat');
    assert.equal(applyCommand(s, 'pause', { actor: 'alice', commandId: 'p2' }, at, safe).outcome, 'rejected');
    assert.deepEqual(s.seenCommandIds, ['p1', 'p2']);
    assert.equal(s.history.length, 1);
    assert.deepEqual(s.history[0]!.evidence, { commandId: 'p1' });
  });

  it('on code that refuses ID-less commands (replay of an older run), a rollback without one is refused', () => {
    const s = state({ phase: 'canary' });
    const out = applyCommand(s, 'rollback', { actor: 'oncall', reason: 'emergency' }, at, { idOptional: false });
    assert.equal(out.outcome, 'rejected');
    assert.equal(s.rollback, undefined);
  });
});

describe('planner: placement sweep', () => {
  const swept = unitInput({ placementSweepTtlMs: 3_600_000, clientStalenessMs: 30_000 });
  const at10 = { kind: 'percent' as const, percent: 10, epoch: 2, sourceWorkersMayStop: false };
  const baking = (over: Partial<MigrationState> = {}) =>
    state({ phase: 'canary', route: at10, routeChangedAt: NOW, canary: { index: 0, bakeUntil: NOW + 600_000 }, ...over });
  const dueAt = NOW + 30_000 + SWEEP_SETTLE_MS;

  it('is due once clients with an older route have failed closed and visibility settled', () => {
    assert.equal(sweepDueAt(swept, baking()), dueAt);
    const early = decide(swept, baking(), {}, NOW + 1_000);
    assert.equal(early.type, 'wait');
    assert.equal((early as { until?: number }).until, dueAt, 'the bake wait wakes when the sweep falls due');
    assert.deepEqual(decide(swept, baking(), {}, dueAt), { type: 'step', step: { kind: 'sweep-placements', epoch: 2 } });
  });

  it('runs once per epoch, marked or not, and again after a route change', () => {
    const done = baking({ sweep: { epoch: 2, marked: false, reason: 'x', listed: { source: 0, target: 0 }, seeded: 0, at: NOW } });
    assert.equal(sweepDueAt(swept, done), undefined);
    const wait = decide(swept, done, {}, dueAt);
    assert.equal(wait.type, 'wait');
    assert.equal((wait as { until?: number }).until, NOW + 600_000);
    const moved = baking({ route: { ...at10, percent: 50, epoch: 3 }, sweep: done.sweep });
    assert.equal(sweepDueAt(swept, moved), dueAt);
  });

  it('never runs without the input field (older runs replay as they ran), on settled or held routes, or before a wait', () => {
    assert.equal(sweepDueAt(unitInput({ clientStalenessMs: 30_000 }), baking()), undefined);
    assert.equal(decide(unitInput({ clientStalenessMs: 30_000 }), baking(), {}, dueAt).type, 'wait');
    assert.equal(sweepDueAt(swept, baking({ route: onSource })), undefined);
    assert.equal(sweepDueAt(swept, baking({ route: { kind: 'hold', epoch: 4, sourceWorkersMayStop: false } })), undefined);
    assert.equal(sweepDueAt(swept, baking({ route: { ...onTarget, sourceWorkersMayStop: true } })), undefined);
    assert.equal(sweepDueAt(swept, baking({ route: onTarget })), dueAt, 'on the target before the route is final: still moving');
    // A step the phase needs goes first: the sweep only replaces waits.
    const unrouted = state({ phase: 'canary', route: { ...at10, percent: 5 }, routeChangedAt: NOW });
    assert.equal(decide(swept, unrouted, {}, dueAt).type, 'step');
    assert.equal((decide(swept, unrouted, {}, dueAt) as { step: { kind: string } }).step.kind, 'set-route');
  });
});
