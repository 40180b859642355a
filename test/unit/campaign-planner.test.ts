/**
 * The campaign's planner, command checks, state transitions and views, without a server: each row a
 * state, this round's observations and `now`, and the action (or verdict) expected.
 */
import assert from 'node:assert/strict';
import { checkApprove, checkCommand, type CommandVerdict } from '../../src/campaign/commands';
import type { UnitView } from '../../src/campaign/driver';
import { buildCampaignInput } from '../../src/campaign/input';
import { campaignContext, decideCampaign, type CampaignAction, type CampaignObservations } from '../../src/campaign/planner';
import { applyAction, initialCampaignState, recordCommand, recordMeasurements, recordViews } from '../../src/campaign/state';
import type { CampaignInput, CampaignState } from '../../src/campaign/types';
import { campaignDetails, campaignSearchAttributes, campaignStatus } from '../../src/campaign/view';
import { loadPlan } from '../../src/config';
import type { MeasurementResult, TimedMeasurement } from '../../src/gates/types';

const A = 'tenant/det/a';
const B = 'tenant/det/b';
const C = 'tenant/det/c';
const ID = 'cutover/campaign/p';
const T = Date.parse('2026-12-01T10:00:00.000Z');

/**
 * Steps: r0 (A): 1 prepare, 2 canary 50%, 3 cutover, 4 complete; r1 (B, C; two-person approval, one
 * unit per batch): 5 approval, 6 prepare B, 7 canary B, 8 cutover B, 9 complete B, 10 approval, 11–14 C.
 * Gate `errs` measures every 100 ms (one conclusive measurement, one error tolerated); `slow` every
 * 250 ms (two). A drill has `rollback` steps where `complete` steps are.
 */
function input(over: { drill?: boolean; onGateFailure?: 'rollback' | 'hold' } = {}): CampaignInput {
  const plan = loadPlan({
    name: 'p',
    clusters: { legacy: { address: '127.0.0.1:7233' }, cloud: { address: '127.0.0.1:7234' } },
    source: 'legacy',
    target: 'cloud',
    control: { cluster: 'cloud', namespace: 'cutover', taskQueue: 'cutover' },
    redis: { url: 'redis://127.0.0.1:6379', clientStaleness: '5s' },
    namespaces: {
      det: { strategy: 'dual-workers', taskQueues: ['q'], tenants: { selector: { workflowIdPrefix: '{tenant}-' }, ids: ['a', 'b', 'c'] } },
    },
    gates: {
      errs: { prometheus: { url: 'http://127.0.0.1:9090', query: 'x', max: 0 }, interval: '100ms', count: 1, consecutiveErrorLimit: 1 },
      slow: { reconcile: { maxDuplicates: 0, maxStranded: 0 }, interval: '250ms', count: 2 },
    },
    defaults: { bake: '1s', percentSteps: [50], drainDeadline: '5m', onGateFailure: over.onGateFailure ?? 'rollback' },
    rings: [
      { name: 'r0', units: [A], gates: ['errs'] },
      { name: 'r1', units: [B, C], gates: ['errs', 'slow'], batchSize: 1, approval: 'two-person' },
    ],
  });
  return buildCampaignInput(plan, { actor: 'alice', drill: over.drill === true, pollMs: 500, approvalTtlMs: 60_000 });
}

const ctxOf = (over: Parameters<typeof input>[0] = {}) => campaignContext(input(over), ID);

/** A state at step `n` (1-based), started before T. */
function at(n: number, over: Partial<CampaignState> = {}): CampaignState {
  return { ...initialCampaignState(), startedAt: '2026-12-01T09:00:00.000Z', stepIndex: n - 1, ...over };
}

function view(unit: string, over: Partial<UnitView> = {}): UnitView {
  return {
    unit,
    workflowId: `cutover/${unit}`,
    phase: 'pending',
    paused: false,
    route: { side: 'source', epoch: 1 },
    historyLength: 3,
    ...over,
  };
}

const bake = (over: Partial<NonNullable<CampaignState['bake']>> = {}): NonNullable<CampaignState['bake']> => ({
  startedAt: T,
  until: T + 1000,
  measurements: [],
  routeEpochs: { [A]: 2 },
  ...over,
});

const m = (gate: string, atMs: number, result: MeasurementResult): TimedMeasurement => ({ gate, at: atMs, result, message: result });

/** Asserts that `actual` has every field of `expected` (deeply, for the fields given). */
function like(actual: unknown, expected: unknown, where = 'action'): void {
  if (expected === null || typeof expected !== 'object') return assert.deepEqual(actual, expected, where);
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${where}: expected an array, got ${JSON.stringify(actual)}`);
    assert.equal(actual.length, expected.length, `${where}: length of ${JSON.stringify(actual)}`);
    expected.forEach((e, i) => like((actual as unknown[])[i], e, `${where}[${i}]`));
    return;
  }
  assert.ok(actual !== null && typeof actual === 'object', `${where}: expected an object, got ${JSON.stringify(actual)}`);
  for (const [k, v] of Object.entries(expected)) like((actual as Record<string, unknown>)[k], v, `${where}.${k}`);
}

interface Row {
  name: string;
  ctx?: Parameters<typeof input>[0];
  state: CampaignState;
  obs?: CampaignObservations;
  now?: number;
  want: { type: CampaignAction['type'] } & Record<string, unknown>;
}

function table(rows: Row[]): void {
  for (const r of rows) it(r.name, () => like(decideCampaign(ctxOf(r.ctx), structuredClone(r.state), r.obs ?? {}, r.now ?? T), r.want));
}

const ref = (u: string) => ({ unit: u, workflowId: `cutover/${u}` });

describe('campaign planner: batches (moving units towards a step)', () => {
  table([
    { name: 'a step begins by reading its units', state: at(1), want: { type: 'observe', units: [ref(A)] } },
    {
      name: 'a missing entity is started (with only the entity fields it needs)',
      state: at(1),
      obs: { views: [{ unit: A, workflowId: `cutover/${A}`, missing: true }] },
      want: {
        type: 'move-units',
        start: { units: [{ unit: A, ring: 'r0' }], taskQueue: 'cutover' },
        commands: [],
        reason: '1 unit(s) of r0 to reach prepare',
      },
    },
    {
      name: 'a unit done with a phase is advanced to the phase the step wants, with an ID of where it stood',
      state: at(1),
      obs: { views: [view(A, { phase: 'preflight', waitingFor: 'advance' })] },
      want: {
        type: 'move-units',
        commands: [{ unit: A, command: 'advance', until: 'shadow', actor: ID, commandId: `${ID}/e0/s1/advance/${A}/preflight#3` }],
      },
    },
    {
      name: 'a working unit is waited for (no command)',
      state: at(1),
      obs: { views: [view(A, { phase: 'provisioned' })] },
      want: { type: 'move-units', commands: [] },
    },
    {
      name: 'a unit whose status is unknown this round is waited for',
      state: at(1),
      obs: { views: [{ unit: A, workflowId: `cutover/${A}`, unknown: true }] },
      want: { type: 'move-units', commands: [] },
    },
    {
      name: 'prepared: the step is done and the batch move begins',
      state: at(1),
      obs: { views: [view(A, { phase: 'shadow', waitingFor: 'advance' })] },
      want: { type: 'next-step', moveStarted: true, notes: [{ event: 'step 1 (prepare) done' }] },
    },
    {
      name: 'a canary reached at its percentage starts the bake from the route epochs seen',
      state: at(2),
      obs: { views: [view(A, { phase: 'canary', route: { percent: 50, epoch: 4 }, waitingFor: 'advance' })] },
      now: T + 5,
      want: { type: 'start-bake', startedAt: T + 5, until: T + 1005, routeEpochs: { [A]: 4 } },
    },
    {
      name: 'a completed unit is not read again: the complete step passes on its last view',
      state: at(4, { units: { [A]: view(A, { phase: 'completed' }) } }),
      want: { type: 'observe', units: [] },
    },
    {
      name: '… and once looked, the step is done',
      state: at(4, { units: { [A]: view(A, { phase: 'completed' }) } }),
      obs: { views: [] },
      want: { type: 'next-step', notes: [{ event: 'step 4 (complete) done' }] },
    },
    {
      name: 'the phase returns to running before a step moves its units again (after a hold)',
      state: at(1, { phase: 'held' }),
      want: { type: 'set-phase', phase: 'running' },
    },
    {
      name: 'a failed unit rolls the ring back (onGateFailure rollback)',
      state: at(2),
      obs: { views: [view(A, { phase: 'failed', failure: 'boom' })] },
      want: {
        type: 'roll-back-ring',
        reason: `step 2 (canary): ${A} failed: boom`,
        commandId: `${ID}/auto-rollback/0/1`,
        failedGate: undefined,
      },
    },
    {
      name: 'a failed unit holds the campaign (onGateFailure hold)',
      ctx: { onGateFailure: 'hold' },
      state: at(2),
      obs: { views: [view(A, { phase: 'failed' })] },
      want: { type: 'hold', hold: { reason: `step 2 (canary): ${A} failed` }, failedGate: undefined },
    },
  ]);
});

describe('campaign planner: bakes and gates', () => {
  const baking = (over: Partial<CampaignState> = {}, b: Partial<NonNullable<CampaignState['bake']>> = {}) =>
    at(2, { phase: 'baking', bake: bake(b), ...over });
  table([
    {
      name: 'before the first measurement is due: wait until it is',
      state: baking(),
      now: T + 50,
      want: { type: 'wait', until: T + 100, reason: 'baking r0 canary 50%' },
    },
    { name: 'a measurement is due: read the units first', state: baking(), now: T + 100, want: { type: 'observe', units: [ref(A)] } },
    {
      name: 'routes as the bake began: measure the due gates',
      state: baking({ measurementSeq: 6, moveStartedAt: '2026-12-01T09:59:00.000Z' }),
      obs: { views: [view(A, { phase: 'canary', route: { percent: 50, epoch: 2 } })], askedAt: T + 100 },
      now: T + 120,
      want: {
        type: 'measure',
        seq: 7,
        requests: [
          {
            gate: { name: 'errs' },
            units: [{ unit: A, sourceNamespace: 'det', targetNamespace: 'det', taskQueues: ['q'], tenant: { workflowIdPrefix: 'a-' } }],
            stepStartedAt: new Date(T).toISOString(),
            moveStartedAt: '2026-12-01T09:59:00.000Z',
            measurementId: '0-2-7',
          },
        ],
      },
    },
    {
      name: 'a route changed by someone else mid-bake restarts the bake',
      state: baking(),
      obs: { views: [view(A, { phase: 'canary', route: { percent: 50, epoch: 3 } })], askedAt: T + 100 },
      want: { type: 'restart-bake', reason: `route of ${A} changed mid-bake`, routeEpochs: { [A]: 3 } },
    },
    {
      name: 'gates due while the units were read wait for the next round (the verdict stands as of the look)',
      state: at(7, { phase: 'baking', bake: bake({ routeEpochs: { [B]: 2 }, measurements: [m('errs', T + 100, 'successful')] }) }),
      obs: { views: [view(B, { phase: 'canary', route: { percent: 50, epoch: 2 } })], askedAt: T + 200 },
      now: T + 260,
      want: { type: 'measure', requests: [{ gate: { name: 'errs' } }] },
    },
    {
      name: 'measured and passing, bake not over: wait for the next measurement',
      state: baking({}, { measurements: [m('errs', T + 100, 'successful')] }),
      now: T + 150,
      want: { type: 'wait', until: T + 200 },
    },
    {
      name: 'bake over and every gate passed: the step is done',
      state: baking({}, { measurements: [m('errs', T + 950, 'successful')] }),
      now: T + 1000,
      want: { type: 'next-step', notes: [{ event: 'step 2 passed its bake and gates', evidence: { measurements: 1 } }] },
    },
    {
      name: 'a bake is never over before each gate has its count (slow needs two)',
      state: at(7, {
        phase: 'baking',
        bake: bake({ routeEpochs: { [B]: 2 }, measurements: [m('errs', T + 950, 'successful'), m('slow', T + 900, 'successful')] }),
      }),
      now: T + 1000,
      want: { type: 'wait', until: T + 1150 },
    },
    {
      name: 'an advance skips the rest of the bake',
      state: baking({ advance: { command: 'advance', actor: 'bob', commandId: 'c1', reason: 'enough' } }),
      now: T + 10,
      want: { type: 'next-step', notes: [{ event: 'bake skipped by bob', reason: 'enough' }, { event: 'step 2 done (bake skipped)' }] },
    },
    {
      name: 'a failed gate rolls the ring back at once, the gate marked failed',
      state: baking({}, { measurements: [m('errs', T + 100, 'failed')] }),
      now: T + 100,
      want: {
        type: 'roll-back-ring',
        failedGate: 'errs',
        reason: 'gate errs failed: 1 failed measurement(s), limit 0: failed',
        notes: [{ event: 'gate errs failed' }, { event: 'gate failure: rolling back the ring' }],
      },
    },
    {
      name: 'a failed gate holds with onGateFailure hold',
      ctx: { onGateFailure: 'hold' },
      state: baking({}, { measurements: [m('errs', T + 100, 'failed')] }),
      want: { type: 'hold', hold: { gate: 'errs' }, failedGate: 'errs' },
    },
    {
      name: 'an inconclusive gate holds for a human (not marked failed)',
      state: baking({}, { measurements: [m('errs', T + 100, 'inconclusive')] }),
      want: {
        type: 'hold',
        hold: { gate: 'errs', reason: 'gate errs inconclusive: inconclusive measurement, a human must decide: inconclusive' },
        failedGate: undefined,
      },
    },
    {
      name: 'an errored measurement within the error limit is measured again an interval later',
      state: baking({}, { measurements: [m('errs', T + 100, 'error')] }),
      now: T + 150,
      want: { type: 'wait', until: T + 200 },
    },
    {
      name: 'errors past the consecutive error limit fail the gate',
      state: baking({}, { measurements: [m('errs', T + 100, 'error'), m('errs', T + 200, 'error')] }),
      now: T + 200,
      want: { type: 'roll-back-ring', failedGate: 'errs' },
    },
  ]);
});

describe('campaign planner: two-person approval', () => {
  const request = (over: Partial<NonNullable<CampaignState['approval']>> = {}): NonNullable<CampaignState['approval']> => ({
    binding: { campaign: 'p', ring: 'r1', step: 5, epoch: 0 },
    requestedBy: 'alice',
    requestedAt: T,
    expiresAt: T + 60_000,
    required: 2,
    evidence: {},
    approvals: [],
    ...over,
  });
  const approval = (actor: string) => ({ actor, at: T + 1, commandId: `c-${actor}`, evidence: {} });
  table([
    {
      name: 'an approval step asks for one, with the gates and the previous ring as evidence',
      state: at(5, { gates: [{ name: 'errs', status: 'successful', reason: 'ok', at: '' }] }),
      want: {
        type: 'request-approval',
        binding: { campaign: 'p', ring: 'r1', step: 5, epoch: 0 },
        evidence: { gates: [{ name: 'errs' }], previousRing: [{ unit: A, phase: 'completed' }], batch: [B] },
      },
    },
    {
      name: 'pending (one of two): wait until it expires',
      state: at(5, { phase: 'awaiting-approval', approval: request({ approvals: [approval('bob')] }) }),
      now: T + 1000,
      want: { type: 'wait', until: T + 60_000, reason: 'two-person approval for r1 batch 1 (1/2)' },
    },
    {
      name: 'granted by two: the step passes, using the approval',
      state: at(5, { phase: 'awaiting-approval', approval: request({ approvals: [approval('bob'), approval('carol')] }) }),
      want: {
        type: 'next-step',
        useApproval: { campaign: 'p', ring: 'r1', step: 5, epoch: 0 },
        notes: [{ event: 'approval granted by bob and carol' }],
      },
    },
    {
      name: 'expired: held until resume asks again',
      state: at(5, { phase: 'awaiting-approval', approval: request() }),
      now: T + 60_000,
      want: { type: 'hold', hold: { reason: 'approval for r1 step 5 expired' } },
    },
    {
      name: 'a request of another epoch (a bake restarted since) is asked again',
      state: at(5, { epoch: 1, approval: request({ approvals: [approval('bob'), approval('carol')] }) }),
      want: { type: 'request-approval', binding: { epoch: 1 } },
    },
  ]);
});

describe('campaign planner: rollback of a ring, pause, hold, drill, completion', () => {
  const rollback = { command: 'rollback' as const, actor: 'bob', commandId: 'r1', reason: 'bad', at: '' };
  table([
    {
      name: 'a rollback begins with the ring units touched so far',
      state: at(8, { rollback }),
      want: { type: 'begin-rollback', units: [B], notes: [{ event: `rolling back r1: ${B}`, actor: 'bob', reason: 'bad' }] },
    },
    {
      name: 'a rollback comes before a pause',
      state: at(8, { rollback, paused: { actor: 'carol', at: '' } }),
      want: { type: 'begin-rollback' },
    },
    {
      name: 'rolling back: read the units',
      state: at(8, { phase: 'rolling-back', epoch: 1, rollback: { ...rollback, units: [B] } }),
      want: { type: 'observe', units: [ref(B)] },
    },
    {
      name: 'rolling back: each unit gets a rollback with the reason',
      state: at(8, { phase: 'rolling-back', epoch: 1, rollback: { ...rollback, units: [B] } }),
      obs: { views: [view(B, { phase: 'cutover', waitingFor: 'advance' })] },
      want: {
        type: 'move-units',
        commands: [{ unit: B, command: 'rollback', reason: 'bad', commandId: `${ID}/e1/rollback/${B}` }],
        reason: '1 unit(s) to roll back',
      },
    },
    {
      name: 'every unit rolled back: the campaign stops',
      state: at(8, { phase: 'rolling-back', epoch: 1, rollback: { ...rollback, units: [B] } }),
      obs: { views: [view(B, { phase: 'rolled-back' })] },
      want: { type: 'rolled-back', notes: [{ event: 'ring rolled back; campaign stopped' }] },
    },
    {
      name: 'a completed unit cannot roll back: it is left, the rest roll back',
      state: at(14, { phase: 'rolling-back', epoch: 1, rollback: { ...rollback, units: [B, C] } }),
      obs: { views: [view(B, { phase: 'completed' }), view(C, { phase: 'canary' })] },
      want: { type: 'rollback-blocked', keep: [C], waitFor: undefined },
    },
    {
      name: 'paused: wait for a command, without a timer',
      state: at(2, { phase: 'baking', bake: bake(), paused: { actor: 'carol', at: '' } }),
      want: { type: 'wait', reason: 'resume (paused by carol)', until: undefined },
    },
    {
      name: 'held: wait for resume or rollback',
      state: at(2, { phase: 'held', hold: { reason: 'gate errs inconclusive', at: '' } }),
      want: { type: 'wait', reason: 'resume or rollback (held: gate errs inconclusive)', until: undefined },
    },
    {
      name: 'a drill rolls each unit back where a campaign completes it',
      ctx: { drill: true },
      state: at(4),
      obs: { views: [view(A, { phase: 'cutover', waitingFor: 'advance' })] },
      want: { type: 'move-units', commands: [{ unit: A, command: 'rollback', commandId: `${ID}/e0/s4/rollback/${A}` }] },
    },
    {
      name: 'a unit rolled back by an earlier drill is started again by the campaign',
      state: at(1),
      obs: { views: [view(A, { phase: 'rolled-back', startedAt: '2026-12-01T08:00:00.000Z' })] },
      want: { type: 'move-units', start: { units: [{ unit: A, ring: 'r0' }] } },
    },
    {
      name: 'past the last step: complete',
      state: at(15),
      want: { type: 'complete', notes: [{ event: 'campaign completed' }] },
    },
    { name: 'completed: nothing more to do', state: at(15, { phase: 'completed' }), want: { type: 'done' } },
    { name: 'rolled back: nothing more to do', state: at(3, { phase: 'rolled-back' }), want: { type: 'done' } },
  ]);
});

describe('campaign commands: checks', () => {
  const cmd = (over: Record<string, unknown> = {}) => ({ actor: 'bob', commandId: 'c1', ...over });
  const baking = () => at(2, { phase: 'baking', bake: bake() });
  const rows: { name: string; verdict: () => CommandVerdict; want: Record<string, unknown> }[] = [
    { name: 'advance while baking is accepted', verdict: () => checkCommand('advance', baking(), cmd()), want: { kind: 'accept' } },
    {
      name: 'advance with no bake is refused',
      verdict: () => checkCommand('advance', at(1), cmd()),
      want: { kind: 'refuse', code: 'not-allowed', commandId: 'c1', actor: 'bob' },
    },
    {
      name: 'a second advance is refused',
      verdict: () => checkCommand('advance', { ...baking(), advance: { command: 'advance', actor: 'x', commandId: 'c0' } }, cmd()),
      want: { kind: 'refuse', reason: 'an advance is already pending' },
    },
    { name: 'pause is accepted', verdict: () => checkCommand('pause', at(1), cmd()), want: { kind: 'accept', command: { actor: 'bob' } } },
    {
      name: 'pause when paused is refused',
      verdict: () => checkCommand('pause', at(1, { paused: { actor: 'x', at: '' } }), cmd()),
      want: { kind: 'refuse', reason: 'already paused by x' },
    },
    {
      name: 'resume when neither paused nor held is refused',
      verdict: () => checkCommand('resume', at(1), cmd()),
      want: { kind: 'refuse', code: 'not-allowed' },
    },
    {
      name: 'resume of a hold is accepted',
      verdict: () => checkCommand('resume', at(1, { hold: { reason: 'x', at: '' } }), cmd()),
      want: { kind: 'accept' },
    },
    {
      name: 'rollback without a reason is refused',
      verdict: () => checkCommand('rollback', at(1), cmd()),
      want: { kind: 'refuse', code: 'invalid-input', reason: 'reason: required for rollback; say why (--reason "…")' },
    },
    {
      name: 'rollback with a reason is accepted',
      verdict: () => checkCommand('rollback', at(1), cmd({ reason: 'bad' })),
      want: { kind: 'accept', command: { command: 'rollback', reason: 'bad' } },
    },
    {
      name: 'rollback while rolling back is refused',
      verdict: () => checkCommand('rollback', at(1, { phase: 'rolling-back' }), cmd({ reason: 'bad' })),
      want: { kind: 'refuse', reason: 'rollback already in progress' },
    },
    {
      name: 'any command on a finished campaign is refused',
      verdict: () => checkCommand('pause', at(15, { phase: 'completed' }), cmd()),
      want: { kind: 'refuse', reason: 'campaign is completed; pause is not allowed' },
    },
    {
      name: 'a command ID seen before is a no-op',
      verdict: () => checkCommand('pause', at(1, { seenCommandIds: ['c1'] }), cmd()),
      want: { kind: 'repeat' },
    },
    {
      name: 'a payload that is not an object names the payload',
      verdict: () => checkCommand('pause', at(1), null),
      want: { kind: 'refuse', code: 'invalid-input', reason: 'payload: expected { actor, commandId, reason? }; send an object' },
    },
    {
      name: 'a missing actor is named (the command ID is kept)',
      verdict: () => checkCommand('pause', at(1), { commandId: 'c1' }),
      want: {
        kind: 'refuse',
        code: 'invalid-input',
        commandId: 'c1',
        reason: 'actor: required non-empty string; say who sends the command',
      },
    },
    {
      name: 'a missing command ID is named',
      verdict: () => checkCommand('pause', at(1), { actor: 'bob' }),
      want: { kind: 'refuse', reason: 'commandId: required non-empty string; send a unique ID per command' },
    },
    {
      name: 'a reason that is not text is named',
      verdict: () => checkCommand('rollback', at(1), cmd({ reason: 5 })),
      want: { kind: 'refuse', reason: 'reason: must be a string when given' },
    },
  ];
  for (const r of rows) it(r.name, () => like(r.verdict(), r.want, 'verdict'));

  describe('approve', () => {
    const binding = { ring: 'r1', step: 5, epoch: 0 };
    const pending = (approvals: string[] = [], over: Partial<NonNullable<CampaignState['approval']>> = {}) =>
      at(5, {
        phase: 'awaiting-approval',
        approval: {
          binding: { campaign: 'p', ...binding },
          requestedBy: 'alice',
          requestedAt: T,
          expiresAt: T + 60_000,
          required: 2,
          evidence: { gates: [] },
          approvals: approvals.map((a) => ({ actor: a, at: T, commandId: `c-${a}`, evidence: {} })),
          ...over,
        },
      });
    const approveRows: { name: string; state: CampaignState; payload: unknown; now?: number; want: Record<string, unknown> }[] = [
      {
        name: 'a first approval is accepted and counted',
        state: pending(),
        payload: cmd(binding),
        want: { kind: 'accept', approval: { approvals: [{ actor: 'bob', evidence: { gates: [] } }] } },
      },
      { name: 'nothing pending is refused', state: at(5), payload: cmd(binding), want: { kind: 'refuse', code: 'nothing-to-approve' } },
      {
        name: 'the requester may not approve',
        state: pending(),
        payload: cmd({ ...binding, actor: 'alice' }),
        want: { kind: 'refuse', code: 'self-approval' },
      },
      {
        name: 'one approver twice is refused',
        state: pending(['bob']),
        payload: cmd(binding),
        want: { kind: 'refuse', code: 'duplicate-approver' },
      },
      {
        name: 'an expired request is refused',
        state: pending(),
        payload: cmd(binding),
        now: T + 60_000,
        want: { kind: 'refuse', code: 'expired' },
      },
      {
        name: 'another epoch is refused',
        state: pending(),
        payload: cmd({ ...binding, epoch: 1 }),
        want: { kind: 'refuse', code: 'wrong-binding' },
      },
      {
        name: 'a missing binding field is named',
        state: pending(),
        payload: cmd({ ring: 'r1', epoch: 0 }),
        want: { kind: 'refuse', code: 'invalid-input', reason: /^step: / },
      },
    ];
    for (const r of approveRows)
      it(r.name, () => {
        const v = checkApprove(r.state, r.payload, r.now ?? T + 1000);
        const { reason, ...rest } = r.want;
        like(v, rest, 'verdict');
        if (reason instanceof RegExp) assert.match((v as { reason: string }).reason, reason);
      });
  });
});

describe('campaign state: commands and actions change the state', () => {
  const c = ctxOf();
  it('a refusal is recorded with its command ID, which then makes a resend a no-op', () => {
    const s = at(1);
    const v = checkCommand('resume', s, { actor: 'bob', commandId: 'c9' });
    assert.ok(v.kind === 'refuse');
    recordCommand(c, s, v, T);
    like(s.rejected, [{ command: 'resume', commandId: 'c9', actor: 'bob', code: 'not-allowed', at: new Date(T).toISOString() }]);
    assert.equal(checkCommand('resume', s, { actor: 'bob', commandId: 'c9' }).kind, 'repeat');
  });

  it('resume of a hold restarts the bake (new epoch) and drops an expired approval', () => {
    const expired = {
      binding: { campaign: 'p', ring: 'r1', step: 5, epoch: 0 },
      requestedBy: 'alice',
      requestedAt: T - 70_000,
      expiresAt: T - 10_000,
      required: 2,
      evidence: {},
      approvals: [],
    };
    const s = at(2, {
      phase: 'held',
      hold: { reason: 'x', at: '' },
      approval: expired,
      bake: bake({ measurements: [m('errs', T + 100, 'inconclusive')] }),
    });
    const v = checkCommand('resume', s, { actor: 'bob', commandId: 'c1' });
    assert.ok(v.kind === 'accept');
    recordCommand(c, s, v, T + 5000);
    assert.equal(s.hold, undefined);
    assert.equal(s.approval, undefined);
    assert.equal(s.epoch, 1);
    like(s.bake, { startedAt: T + 5000, until: T + 6000, measurements: [], routeEpochs: { [A]: 2 } });
    like(
      s.history.map((h) => h.event),
      ['bake restarted: hold released by resume', 'resume by bob'],
    );
  });

  it('next-step after an approval consumes it, shows running, then the next ring: two upserts in that order', () => {
    const d = decideCampaign(c, at(5, { phase: 'awaiting-approval' }), {}, T);
    const s = at(5, { phase: 'awaiting-approval' });
    assert.deepEqual(applyAction(c, s, d as Extract<CampaignAction, { type: 'request-approval' }>, T), []);
    for (const actor of ['bob', 'carol']) {
      const v = checkApprove(s, { actor, commandId: `c-${actor}`, ring: 'r1', step: 5, epoch: 0 }, T + 1);
      assert.ok(v.kind === 'accept');
      recordCommand(c, s, v, T + 1);
    }
    const next = decideCampaign(c, s, {}, T + 2);
    assert.equal(next.type, 'next-step');
    assert.deepEqual(applyAction(c, s, next as Extract<CampaignAction, { type: 'next-step' }>, T + 2), ['phase', 'ring']);
    assert.equal(s.phase, 'running');
    assert.equal(s.stepIndex, 5);
    assert.equal(s.approval, undefined);
    like(s.approvals, [{ consumedAt: T + 2, approvals: [{ actor: 'bob' }, { actor: 'carol' }] }]);
  });

  it('measurements show each gate’s latest verdict', () => {
    const s = at(2, { bake: bake() });
    recordMeasurements(s, [m('errs', T + 100, 'successful')]);
    recordMeasurements(s, [m('errs', T + 200, 'failed')]);
    like(s.gates, [{ name: 'errs', status: 'failed' }]);
    assert.equal(s.bake!.measurements.length, 2);
  });

  it('an unreadable unit keeps its last view', () => {
    const s = at(1, { units: { [A]: view(A, { phase: 'shadow' }) } });
    recordViews(s, [{ unit: A, workflowId: `cutover/${A}`, unknown: true }]);
    assert.equal(s.units[A]!.phase, 'shadow');
  });
});

/**
 * A whole campaign without a server: the planner's actions applied to the state, against units that
 * do what they are told at once, gates that pass, and two approvers. The campaign completes, in order.
 */
describe('campaign planner: a whole campaign, simulated', () => {
  function simulate(c: ReturnType<typeof ctxOf>, gate: MeasurementResult = 'successful') {
    const s = at(1, { startedAt: new Date(T).toISOString() });
    const units: Record<string, UnitView> = {};
    const phases = ['pending', 'preflight', 'provisioned', 'shadow', 'canary', 'cutover', 'draining', 'reconciling', 'completed'];
    const attributes: string[] = [];
    let now = T;
    for (let round = 0; round < 2000; round++) {
      const obs: CampaignObservations = {};
      for (;;) {
        const a = decideCampaign(c, s, obs, now);
        if (a.type === 'done') return { state: s, attributes };
        if (a.type === 'observe') {
          obs.askedAt = now;
          obs.views = a.units.map((u) => units[u.unit] ?? { ...u, missing: true });
          recordViews(s, obs.views);
          continue;
        }
        if (a.type === 'wait') {
          if (a.until === undefined) throw new Error(`stuck: ${a.reason}`);
          now = Math.max(now + 1, a.until);
        } else if (a.type === 'move-units') {
          for (const u of a.start?.units ?? []) units[u.unit] = view(u.unit, { phase: 'preflight', waitingFor: 'advance' });
          for (const cmd of a.commands) {
            const v = units[cmd.unit]!;
            const next = (p: string) => ({ ...v, phase: p, waitingFor: 'advance', historyLength: (v.historyLength ?? 0) + 1 });
            if (cmd.command === 'rollback') units[cmd.unit] = { ...v, phase: 'rolled-back', waitingFor: undefined };
            else if (cmd.until) units[cmd.unit] = { ...next(cmd.until), route: { epoch: 1 } };
            else units[cmd.unit] = { ...next(phases[phases.indexOf(v.phase!) + 1]!), route: { percent: 50, epoch: 1 } };
          }
          now += c.input.pollMs;
        } else if (a.type === 'measure') {
          s.measurementSeq = a.seq;
          recordMeasurements(
            s,
            a.requests.map((r) => m(r.gate.name, now, gate)),
          );
        } else {
          attributes.push(...applyAction(c, s, a, now));
          if (a.type === 'request-approval')
            for (const actor of ['bob', 'carol']) {
              const v = checkApprove(s, { actor, commandId: `${actor}-${s.stepIndex}`, ...a.binding }, now);
              assert.ok(v.kind === 'accept', JSON.stringify(v));
              recordCommand(c, s, v, now);
            }
          if (a.type === 'set-phase' || a.type === 'begin-rollback') continue;
        }
        break;
      }
    }
    throw new Error(`did not finish: ${JSON.stringify(s.history.slice(-3))}`);
  }

  it('walks every step of both rings to completion, with two approvals', () => {
    const { state, attributes } = simulate(ctxOf());
    assert.equal(state.phase, 'completed');
    assert.equal(state.approvals.length, 2);
    const done = state.history.filter((h) => / done| passed/.test(h.event)).map((h) => h.step);
    assert.deepEqual(done, [1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14]);
    // The current ring is upserted on every step change; the phase only when it changes.
    assert.equal(attributes.filter((a) => a === 'ring').length, 13);
    const status = campaignStatus(ctxOf(), state, 10);
    assert.deepEqual(
      status.rings.map((r) => r.status),
      ['done', 'done'],
    );
    for (const r of status.rings) for (const u of r.units) assert.equal(u.phase, 'completed', u.unit);
  });

  it('a failing gate in the first canary rolls the first ring back and stops', () => {
    const { state } = simulate(ctxOf(), 'failed');
    assert.equal(state.phase, 'rolled-back');
    assert.equal(state.stepIndex, 1);
    assert.equal(state.epoch, 1);
    assert.deepEqual(state.rollback?.units, [A]);
    like(state.gates, [{ name: 'errs', status: 'failed' }]);
  });

  it('a drill takes each unit to cutover and rolls it back', () => {
    const { state } = simulate(ctxOf({ drill: true }));
    assert.equal(state.phase, 'completed');
    const status = campaignStatus(ctxOf({ drill: true }), state, 10);
    for (const r of status.rings) for (const u of r.units) assert.equal(u.phase, 'rolled-back', u.unit);
  });
});

describe('campaign views', () => {
  const c = ctxOf();
  it('status: the current step with its bake, rings done, active and pending', () => {
    const s = campaignStatus(c, at(2, { phase: 'baking', bake: bake() }), 42);
    like(s, {
      id: ID,
      phase: 'baking',
      step: { n: 2, kind: 'canary', bakeUntil: new Date(T + 1000).toISOString() },
      stepsTotal: 14,
      maxHistoryLength: 42,
    });
    assert.deepEqual(
      s.rings.map((r) => r.status),
      ['active', 'pending'],
    );
    like(s.rings[1], { approval: 'two-person', units: [{ unit: B, workflowId: `cutover/${B}` }, { unit: C }] });
  });

  it('details: where the campaign stands and how to stop it; nothing to stop once finished', () => {
    const d = campaignDetails(c, at(2, { phase: 'baking', bake: bake(), paused: { actor: 'carol', at: '' } }), 'resume');
    assert.match(d, /\*\*campaign\*\* p — \*\*baking\*\* — paused by carol/);
    assert.match(d, /\*\*step\*\* 2\/14: r0 batch 1\/1 canary 50%/);
    assert.match(d, /\*\*waiting for\*\* resume/);
    assert.match(d, /cutover rollback p --reason/);
    assert.doesNotMatch(campaignDetails(c, at(15, { phase: 'completed' }), undefined), /rollback/);
  });

  it('search attributes: all at a run’s start, or only the ones an action changed', () => {
    const all = campaignSearchAttributes(c, at(7, { phase: 'baking' }));
    assert.deepEqual(
      all.map((p) => [p.key.name, p.value]),
      [
        ['CutoverKind', 'campaign'],
        ['CutoverCampaign', 'p'],
        ['CutoverPhase', 'baking'],
        ['CutoverRing', 'r1'],
      ],
    );
    assert.deepEqual(
      campaignSearchAttributes(c, at(7), ['ring']).map((p) => p.key.name),
      ['CutoverRing'],
    );
    assert.deepEqual(campaignSearchAttributes(c, at(15), ['ring']), []);
  });
});
