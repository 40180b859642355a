import assert from 'node:assert/strict';
import { decideScheduleSwitch, scheduleSelector, type SwitchDecision } from '../../src/activities/schedules';
import { validateUnitInput } from '../../src/domain/unit-input';

// The per-schedule decision of the entity workflows' schedule switch (pure): what a retry, a crash
// in the middle or an owner's own pause leads to, in both directions.
const active = { exists: true, paused: false, notes: '' };
const copyPaused = { exists: true, paused: true, notes: 'cutover: copied paused from detections by cutover/tenant/detections/acme' };
const switchPaused = {
  exists: true,
  paused: true,
  notes: 'cutover switch target@0: paused on source by cutover/x; gap-from 2026-01-01T00:00:00.000Z',
};
const ownerPaused = { exists: true, paused: true, notes: 'Paused via TypeScript SDK"' };
const missing = { exists: false, paused: false, notes: '' };

describe('entity schedules: decideScheduleSwitch (table)', () => {
  const table: {
    name: string;
    to: 'source' | 'target';
    rec?: { owner: 'source' | 'target'; epoch: number; switchId?: string };
    source: typeof active;
    target: typeof active;
    want: SwitchDecision;
  }[] = [
    {
      name: 'forward, never switched: switch at epoch 0',
      to: 'target',
      source: active,
      target: copyPaused,
      want: { do: 'switch', expectedEpoch: 0 },
    },
    {
      name: 'forward, no copy yet: still switch (the activity copies first)',
      to: 'target',
      source: active,
      target: missing,
      want: { do: 'switch', expectedEpoch: 0 },
    },
    {
      name: 'forward after an earlier rollback: switch at the current epoch',
      to: 'target',
      rec: { owner: 'source', epoch: 2, switchId: 'source@1' },
      source: active,
      target: copyPaused,
      want: { do: 'switch', expectedEpoch: 2 },
    },
    {
      name: 'forward, already switched (a retry): nothing',
      to: 'target',
      rec: { owner: 'target', epoch: 1, switchId: 'target@0' },
      source: switchPaused,
      target: active,
      want: { do: 'nothing', why: 'already' },
    },
    {
      name: 'forward, fence won then crashed before the unpause: finish that switch',
      to: 'target',
      rec: { owner: 'target', epoch: 1, switchId: 'target@0' },
      source: switchPaused,
      target: copyPaused,
      want: { do: 'switch', expectedEpoch: 0, switchId: 'target@0' },
    },
    {
      name: 'forward, paused before the fence then crashed: switch again (the pause note keeps the gap)',
      to: 'target',
      source: switchPaused,
      target: copyPaused,
      want: { do: 'switch', expectedEpoch: 0 },
    },
    {
      name: 'forward, paused by its owner: left paused',
      to: 'target',
      source: ownerPaused,
      target: copyPaused,
      want: { do: 'nothing', why: 'left-paused' },
    },
    {
      name: 'forward, gone from the source: nothing',
      to: 'target',
      source: missing,
      target: copyPaused,
      want: { do: 'nothing', why: 'vanished' },
    },
    {
      name: 'back, switched forward: switch back at its epoch',
      to: 'source',
      rec: { owner: 'target', epoch: 1, switchId: 'target@0' },
      source: switchPaused,
      target: active,
      want: { do: 'switch', expectedEpoch: 1 },
    },
    { name: 'back, never switched: nothing', to: 'source', source: active, target: copyPaused, want: { do: 'nothing', why: 'already' } },
    {
      name: 'back, forward paused the source and crashed before the fence: take it back',
      to: 'source',
      source: switchPaused,
      target: copyPaused,
      want: { do: 'switch', expectedEpoch: 0 },
    },
    {
      name: 'back, back-switch won then crashed: finish it',
      to: 'source',
      rec: { owner: 'source', epoch: 2, switchId: 'source@1' },
      source: switchPaused,
      target: { ...copyPaused, notes: 'cutover switch source@1: paused on target' },
      want: { do: 'switch', expectedEpoch: 1, switchId: 'source@1' },
    },
    {
      name: 'back, paused by its owner on the source: left paused',
      to: 'source',
      source: ownerPaused,
      target: copyPaused,
      want: { do: 'nothing', why: 'left-paused' },
    },
  ];
  for (const c of table) {
    it(c.name, () => assert.deepEqual(decideScheduleSwitch(c.to, c.rec, { source: c.source, target: c.target }), c.want));
  }
});

describe('entity schedules: selector and input', () => {
  it('maps a unit to its schedules: namespace, schedule-ID prefix, search attribute', () => {
    assert.deepEqual(scheduleSelector(), { kind: 'namespace' });
    assert.deepEqual(scheduleSelector({ workflowIdPrefix: 'acme-' }), { kind: 'idPrefix', prefix: 'acme-' });
    assert.deepEqual(scheduleSelector({ searchAttribute: 'TenantId', value: 'acme' }), {
      kind: 'searchAttribute',
      name: 'TenantId',
      value: 'acme',
    });
  });

  it('rejects a bad backfill policy in the entity input, naming the field', () => {
    const base = {
      unit: { kind: 'namespace', namespace: 'payments' },
      sourceNamespace: 'payments',
      targetNamespace: 'payments',
      strategy: 'dual-workers',
      taskQueues: ['q'],
      percentSteps: [10],
      bakeMs: 0,
      drainDeadlineMs: 0,
      holdTimeoutMs: 0,
      drainPollMs: 1,
      stragglers: 'report',
      onGateFailure: 'rollback',
      advanceMode: 'auto',
      probe: { workflows: 0, minSuccess: 1 },
    };
    assert.deepEqual(validateUnitInput(base, 'namespace'), []);
    assert.deepEqual(validateUnitInput({ ...base, schedules: { backfill: 'none' } }, 'namespace'), []);
    assert.deepEqual(
      validateUnitInput({ ...base, schedules: { backfill: 'all' } }, 'namespace').map((p) => p.field),
      ['schedules.backfill'],
    );
    assert.deepEqual(
      validateUnitInput({ ...base, schedules: 'gap' }, 'namespace').map((p) => p.field),
      ['schedules.backfill'],
    );
  });
});
