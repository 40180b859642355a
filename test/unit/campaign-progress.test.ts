/**
 * The campaign's progress and ETAs (src/campaign/progress.ts), without a server: states walked through the
 * real state transitions at chosen times, then read at a chosen `now`. Also the unit's drain rate.
 */
import assert from 'node:assert/strict';
import type { UnitView } from '../../src/campaign/driver';
import { buildCampaignInput } from '../../src/campaign/input';
import { campaignContext, type CampaignContext } from '../../src/campaign/planner';
import { campaignProgress, etaDuration, etaText, measuredSteps, progressLine, type Eta } from '../../src/campaign/progress';
import { applyAction, initialCampaignState, recordCommand } from '../../src/campaign/state';
import type { CampaignState } from '../../src/campaign/types';
import { campaignDetails, campaignStatus } from '../../src/campaign/view';
import { loadPlan } from '../../src/config';
import { initialState, type MigrationState } from '../../src/domain/migration';
import { drainRate, forecastDrain } from '../../src/workflows/planner';
import { detailsText, unitStatus, type UnitRun } from '../../src/workflows/unit-view';
import { unitInput } from './fixtures/unit-input';

const A = 'tenant/det/a';
const B = 'tenant/det/b';
const C = 'tenant/det/c';
const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const s = (sec: number) => T0 + sec * 1000;

/**
 * Steps (planned minimum in brackets): r0 (A): 1 prepare [0], 2 canary 50% [1 s], 3 cutover [1 s], 4 complete [0];
 * r1 (B, C; two-person approval, one unit per batch): 5 approval, 6 prepare B, 7 canary B, 8 cutover B, 9 complete B,
 * 10 approval, 11–14 the same for C. A drill has `rollback` steps where `complete` steps are.
 */
function ctxOf(drill = false): CampaignContext {
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
    gates: { errs: { prometheus: { url: 'http://127.0.0.1:9090', query: 'x', max: 0 }, interval: '100ms', count: 1 } },
    defaults: { bake: '1s', percentSteps: [50], drainDeadline: '5m' },
    rings: [
      { name: 'r0', units: [A], gates: ['errs'] },
      { name: 'r1', units: [B, C], gates: ['errs'], batchSize: 1, approval: 'two-person' },
    ],
  });
  return campaignContext(buildCampaignInput(plan, { actor: 'alice', drill, pollMs: 500, approvalTtlMs: 60_000 }), 'cutover/campaign/p');
}

/** A campaign started at T0 that finished a step at each of `ends` (seconds after T0), by the state's own transitions. */
function walked(c: CampaignContext, ends: number[], over: Partial<CampaignState> = {}): CampaignState {
  const state: CampaignState = { ...initialCampaignState(), startedAt: new Date(T0).toISOString() };
  applyAction(c, state, { type: 'set-phase', phase: 'running' }, T0);
  for (const e of ends) applyAction(c, state, { type: 'next-step', notes: [{ event: 'step done' }] }, s(e));
  return Object.assign(state, over);
}

function view(unit: string, phase: string): UnitView {
  return { unit, workflowId: `cutover/${unit}`, phase, route: { side: 'source', epoch: 1 } };
}

const known = (e: Eta): Extract<Eta, { known: true }> => {
  assert.ok(e.known, `expected a known ETA, got ${JSON.stringify(e)}`);
  return e;
};

describe('campaign progress (unit)', () => {
  it('nothing measured yet: units counted, every ETA unknown', () => {
    const c = ctxOf();
    const p = campaignProgress(c, walked(c, []), s(5));
    assert.deepEqual(p.units, { total: 3, done: 0, remaining: 3, failed: 0, rolledBack: 0 });
    assert.equal(p.ring, 'r0');
    assert.deepEqual(
      p.rings.map((r) => [r.name, r.status, r.eta.known]),
      [
        ['r0', 'active', false],
        ['r1', 'pending', false],
      ],
    );
    assert.ok(!p.eta.known && /nothing measured/.test(p.eta.reason));
    assert.deepEqual(p.measured, {});
    assert.deepEqual(p.steps, { done: 0, total: 14 });
  });

  it('reads each finished step from the story: its end is its last line, its start the end of the one before', () => {
    const c = ctxOf();
    // A pause and resume during step 2 write lines tagged with step 2: they do not end it.
    const state = walked(c, [30]);
    const cmd = (command: 'pause' | 'resume', id: string) =>
      recordCommand(c, state, { kind: 'accept', command: { command, actor: 'bob', commandId: id } }, s(32));
    cmd('pause', 'x1');
    cmd('resume', 'x2');
    applyAction(c, state, { type: 'next-step', notes: [{ event: 'step 2 passed' }] }, s(35));
    assert.deepEqual(
      measuredSteps(c.input.plan.steps, state).map((m) => [m.step.n, m.ms]),
      [
        [1, 30_000],
        [2, 5_000],
      ],
    );
  });

  it('ETA: each step its planned minimum plus the median overrun of its kind (any kind when none of its kind ran yet)', () => {
    const c = ctxOf();
    // Prepare took 30 s (overrun 30 s), canary 5 s (4 s over its 1 s), cutover 3 s (2 s over); now 2 s into complete.
    const p = campaignProgress(c, walked(c, [30, 35, 38]), s(40));
    assert.deepEqual(p.measured, {
      prepare: { steps: 1, overrunMs: 30_000 },
      canary: { steps: 1, overrunMs: 4_000 },
      cutover: { steps: 1, overrunMs: 2_000 },
    });
    // complete: never measured: the median of all overruns (4 s), 2 s of which have passed.
    const r0 = known(p.rings[0]!.eta);
    assert.equal(r0.ms, 2_000);
    assert.equal(r0.at, new Date(s(42)).toISOString());
    // r1: two batches of approval (unmeasured: 0, counted apart) + prepare 30 + canary 5 + cutover 3 + complete 4.
    const r1 = known(p.rings[1]!.eta);
    assert.equal(r1.ms, 2_000 + 2 * 42_000);
    assert.equal(r1.approvalsAhead, 2);
    assert.deepEqual(p.eta, r1);
    assert.equal(p.stalled, undefined);
  });

  it('a measured approval counts with its median wait; a step past its estimate has nothing left, never less', () => {
    const c = ctxOf();
    // r0 as above, the first approval took 60 s; now 100 s into prepare B (estimate 30 s).
    const p = campaignProgress(c, walked(c, [30, 35, 38, 40, 100]), s(200));
    assert.deepEqual(p.measured.approval, { steps: 1, overrunMs: 60_000 });
    assert.equal(p.rings[0]!.status, 'done');
    assert.deepEqual(p.rings[0]!.eta, { known: true, ms: 0, at: new Date(s(40)).toISOString() });
    // prepare B: 0 left; canary 5 + cutover 3 + complete 2 (complete measured: 2 s); then batch C: 60 + 30 + 5 + 3 + 2.
    const r1 = known(p.rings[1]!.eta);
    assert.equal(r1.ms, 10_000 + 100_000);
    assert.equal(r1.approvalsAhead, undefined);
    assert.equal(p.rings[1]!.batchesDone, 0);
    assert.equal(p.rings[0]!.batchesDone, 1);
  });

  it('a bake in progress lasts at least its planned minimum from its own start', () => {
    const c = ctxOf();
    // Prepare took 0.2 s; the canary bake began at 0.5 s (1 s long); now 1 s: estimate 1.2 − 0.8 = 0.4 s, bake 0.5 s left;
    // then cutover and complete, 1 s + 0.2 s and 0.2 s.
    const state = walked(c, [0.2], { phase: 'baking', bake: { startedAt: s(0.5), until: s(1.5), measurements: [], routeEpochs: {} } });
    assert.equal(known(campaignProgress(c, state, s(1)).rings[0]!.eta).ms, 500 + 1_200 + 200);
  });

  it('paused or held: the work left stops counting down at the pause, and the moment moves on', () => {
    const c = ctxOf();
    const paused = walked(c, [30, 35, 38], { paused: { actor: 'bob', at: new Date(s(39)).toISOString() } });
    const early = campaignProgress(c, paused, s(60));
    const late = campaignProgress(c, paused, s(600));
    assert.equal(early.stalled, 'paused');
    assert.equal(known(early.rings[0]!.eta).ms, 3_000);
    assert.equal(known(late.rings[0]!.eta).ms, 3_000);
    assert.equal(known(late.rings[0]!.eta).at, new Date(s(603)).toISOString());
    const held = walked(c, [30, 35, 38], { phase: 'held', hold: { reason: 'gate x inconclusive', at: new Date(s(41)).toISOString() } });
    const h = campaignProgress(c, held, s(900));
    assert.equal(h.stalled, 'held');
    assert.equal(known(h.rings[0]!.eta).ms, 1_000);
    assert.match(progressLine(h, s(900)), / · held: the clock starts again at resume$/);
  });

  it('awaiting approval is a stall of its own; the approval ahead is named', () => {
    const c = ctxOf();
    const p = campaignProgress(c, walked(c, [30, 35, 38, 40], { phase: 'awaiting-approval' }), s(50));
    assert.equal(p.stalled, 'awaiting-approval');
    assert.equal(known(p.rings[1]!.eta).approvalsAhead, 2);
  });

  it('failures and rollbacks: failed units are counted apart; a campaign rolling back has no ETA for what is left', () => {
    const c = ctxOf();
    const failing = walked(c, [30, 35], { units: { [A]: view(A, 'failed') } });
    const f = campaignProgress(c, failing, s(40));
    assert.deepEqual(f.units, { total: 3, done: 0, remaining: 3, failed: 1, rolledBack: 0 });
    assert.equal(f.rings[0]!.failed, 1);
    assert.match(progressLine(f, s(40)), /^0\/3 units done \(1 failed\)/);

    const rolledBack = walked(c, [30, 35], {
      phase: 'rolled-back',
      rollback: { command: 'rollback', actor: 'bob', reason: 'errors', at: new Date(s(36)).toISOString(), units: [A] },
      units: { [A]: view(A, 'rolled-back') },
    });
    const r = campaignProgress(c, rolledBack, s(50));
    assert.deepEqual(r.units, { total: 3, done: 0, remaining: 3, failed: 0, rolledBack: 1 });
    assert.ok(!r.eta.known && /rolled back/.test(r.eta.reason));
    assert.ok(!r.rings[0]!.eta.known);
    assert.equal(r.ring, undefined);
    assert.equal(r.stalled, undefined);
  });

  it('all done: every unit done, every ring done, nothing left', () => {
    const c = ctxOf();
    const ends = [30, 35, 38, 40, 100, 130, 135, 138, 140, 200, 230, 235, 238, 240];
    const p = campaignProgress(c, walked(c, ends, { phase: 'completed' }), s(300));
    assert.deepEqual(p.units, { total: 3, done: 3, remaining: 0, failed: 0, rolledBack: 0 });
    assert.deepEqual(
      p.rings.map((r) => [r.status, r.batchesDone, r.batches, r.done]),
      [
        ['done', 1, 1, 1],
        ['done', 2, 2, 2],
      ],
    );
    assert.deepEqual(p.eta, { known: true, ms: 0, at: new Date(s(240)).toISOString() });
    assert.equal(p.ring, undefined);
    assert.equal(progressLine(p, s(300)), '3/3 units done');
  });

  it("a unit done by its last step counts before the step passes; a drill's rehearsal ends rolled back and counts as done", () => {
    const c = ctxOf();
    assert.equal(campaignProgress(c, walked(c, [30, 35, 38], { units: { [A]: view(A, 'completed') } }), s(40)).units.done, 1);
    const drill = ctxOf(true);
    assert.equal(drill.input.plan.steps[3]!.kind, 'rollback');
    const p = campaignProgress(drill, walked(drill, [30, 35, 38], { units: { [A]: view(A, 'rolled-back') } }), s(40));
    assert.deepEqual([p.units.done, p.units.rolledBack], [1, 0]);
  });

  it('steps whose lines the bounded story dropped are left out of the measure, not guessed', () => {
    const c = ctxOf();
    const state = walked(c, [30, 35, 38]);
    state.history = state.history.filter((h) => h.step !== 1);
    assert.deepEqual(
      measuredSteps(c.input.plan.steps, state).map((m) => m.step.n),
      [3],
    );
    assert.deepEqual(Object.keys(campaignProgress(c, state, s(40)).measured), ['cutover']);
  });

  it('the status query carries it when given; the UI details show it with moments, not durations', () => {
    const c = ctxOf();
    const state = walked(c, [30, 35, 38]);
    assert.equal(campaignStatus(c, state, 10).progress, undefined);
    const status = campaignStatus(c, state, 10, campaignProgress(c, state, s(40)));
    assert.equal(known(status.progress!.eta).at, new Date(s(126)).toISOString());
    const details = campaignDetails(c, state, undefined, status.progress);
    const line = details.split('\n').find((l) => l.startsWith('**progress**'));
    assert.equal(
      line,
      "**progress** 0/3 units done · ring 'r0' 0/1 batches, ETA ≈ 2026-12-01T10:00:42Z · campaign ETA ≈ 2026-12-01T10:02:06Z + 2 approvals",
    );
    assert.doesNotMatch(campaignDetails(c, state, undefined), /progress/);
  });
});

describe('progress in words (unit)', () => {
  it('etaDuration keeps seconds under ten minutes only', () => {
    assert.deepEqual([0, 42_000, 250_000, 600_000, 3_000_000, 7_500_000, 50 * 3_600_000, 72 * 3_600_000].map(etaDuration), [
      '0s',
      '42s',
      '4m10s',
      '10m',
      '50m',
      '2h5m',
      '2d2h',
      '3d',
    ]);
  });

  it('etaText: the time left from the reader’s clock, “due now” past its moment, unknown with its reason', () => {
    const eta: Eta = { known: true, ms: 250_000, at: new Date(s(250)).toISOString(), approvalsAhead: 1 };
    assert.equal(etaText(eta, s(0)), '4m10s + 1 approval');
    assert.equal(etaText(eta, s(300)), 'due now + 1 approval');
    assert.equal(etaText(eta), '≈ 2026-12-01T10:04:10Z + 1 approval');
    assert.equal(etaText({ known: false, reason: 'nothing measured yet' }), 'unknown (nothing measured yet)');
  });
});

describe('a unit draining: its status and its details (unit)', () => {
  const run = (drain: MigrationState['drain']): UnitRun => ({
    kind: 'tenant',
    input: unitInput(),
    state: { ...initialState(), phase: 'draining', ...(drain ? { drain } : {}) },
    unit: 'tenant/det/a',
    workflowId: 'cutover/tenant/det/a',
  });
  const samples = [120, 100, 80].map((open, i) => ({ at: T0 + i * 30_000, open }));

  it('status: the open runs left, the rate they fall at, the forecast and the deadline', () => {
    const r = run({ side: 'source', startedAt: T0, deadlineAt: s(600), samples, forecastAt: forecastDrain(samples) });
    assert.deepEqual(unitStatus(r).drain, {
      side: 'source',
      deadlineAt: new Date(s(600)).toISOString(),
      lastOpen: 80,
      ratePerMin: 40,
      forecastAt: new Date(s(180)).toISOString(),
    });
  });

  it('details: the same in one line, with moments; nothing left reads as such; no drain, no line', () => {
    const r = run({ side: 'source', startedAt: T0, deadlineAt: s(600), samples, forecastAt: forecastDrain(samples) });
    const line = detailsText(r)
      .split('\n')
      .find((l) => l.startsWith('**drain**'));
    assert.equal(
      line,
      '**drain** 80 open on the source · falling 40 runs/min · ' +
        'forecast empty at 2026-12-01T10:03:00.000Z · deadline 2026-12-01T10:10:00.000Z',
    );
    const empty = run({ side: 'target', startedAt: T0, deadlineAt: s(600), samples: [{ at: T0, open: 0 }] });
    assert.match(detailsText(empty), /\*\*drain\*\* the target has no open run left/);
    assert.doesNotMatch(detailsText(run(undefined)), /\*\*drain\*\*/);
  });
});

describe('drain rate (unit)', () => {
  const samples = (opens: number[]) => opens.map((open, i) => ({ at: T0 + i * 10_000, open }));

  it('runs per minute over the last ten samples, by the slope the forecast uses', () => {
    // 10 fewer every 10 s: 60 a minute; the forecast reaches 0 at the same pace.
    const falling = samples([100, 90, 80, 70]);
    assert.equal(drainRate(falling), 60);
    assert.equal(forecastDrain(falling), T0 + 30_000 + 70_000);
    // Only the last ten count: an early burst is forgotten.
    assert.equal(drainRate(samples([1000, 500, ...Array.from({ length: 10 }, (_, i) => 100 - i)])), 6);
  });

  it('negative while the count grows, 0 while steady, undefined with fewer than two samples', () => {
    assert.equal(drainRate(samples([10, 12, 14])), -12);
    assert.equal(forecastDrain(samples([10, 12, 14])), undefined);
    assert.equal(drainRate(samples([5, 5, 5])), 0);
    assert.equal(drainRate(samples([5])), undefined);
    assert.equal(drainRate([]), undefined);
  });
});
