/**
 * The campaign's pure decisions: how to move each unit of a step towards the
 * step's goal by commands to its entity workflow, and when a baking step's gates are due, passed or
 * failed. No Temporal imports, no clock: `now` is an argument. Table-tested in
 * test/unit/campaign-driver.test.ts.
 *
 * The campaign runs the entity workflows in `manual` mode with a bake longer than any campaign, so
 * an entity moves only when the campaign sends `advance`: one advance leaves a finished phase or
 * ends a canary step's bake. Each advance carries a command ID derived from where the unit stood
 * (its phase and the length of its history), so a retried or repeated send is a no-op in the entity.
 */
import { evaluateGate, type GateVerdict } from '../gates/policy';
import type { TimedMeasurement } from '../gates/types';
import type { UnitStatus } from '../domain/migration';
import type { CampaignStep, GateSpec } from './types';

/** Phases of a unit in forward order (docs/design.md, "A unit's life"). */
const FORWARD = ['pending', 'preflight', 'provisioned', 'shadow', 'canary', 'cutover', 'draining', 'reconciling', 'completed'];

/** What the campaign knows of a unit (from its entity's `status` query). */
export interface UnitView {
  unit: string;
  workflowId: string;
  /** The entity workflow does not exist. */
  missing?: boolean;
  /** Its status could not be read this round (a query timed out): wait and look again. */
  unknown?: boolean;
  phase?: string;
  paused?: boolean;
  route?: { side?: 'source' | 'target'; percent?: number; hold?: boolean; epoch: number };
  waitingFor?: string;
  /** What it waits on (`timer`, `advance`, `operator`, …). */
  waitingOn?: string;
  /** A standing `advance … until` the entity is carrying out. */
  advanceUntil?: string;
  historyLength?: number;
  failure?: string;
  /** When the entity's migration began (ISO; its first history line). */
  startedAt?: string;
  /**
   * Completed and still reversible (a rollback with two approvals moves it back), until `reversibleUntil` (ISO, or
   * `finalize`). Absent otherwise, so the view of a unit without reversibility is as it always was. A campaign
   * counts such a unit completed: reversibility is the unit's own, after the campaign's step.
   */
  reversible?: true;
  reversibleUntil?: string;
}

/** The campaign's view of an entity's status (small: the campaign keeps it in its state). */
export function unitViewOf(unit: string, workflowId: string, s: UnitStatus): UnitView {
  return {
    unit,
    workflowId,
    phase: s.phase,
    paused: s.paused,
    route: {
      ...(s.route.side ? { side: s.route.side } : {}),
      ...(s.route.percent !== undefined ? { percent: s.route.percent } : {}),
      ...(s.route.hold ? { hold: true } : {}),
      epoch: s.route.epoch,
    },
    ...(s.waitingFor !== undefined ? { waitingFor: s.waitingFor } : {}),
    ...(s.waitingOn ? { waitingOn: s.waitingOn } : {}),
    // Lines written in all (the status keeps the newest): command IDs derived from it never repeat.
    historyLength: s.history.length + (s.truncated?.history ?? 0),
    ...(s.advanceUntil ? { advanceUntil: s.advanceUntil } : {}),
    ...(s.failure ? { failure: `${s.failure.type} in ${s.failure.step}: ${s.failure.message}` } : {}),
    ...(s.history[0] ? { startedAt: s.history[0].at } : {}),
    ...(s.reversible ? { reversible: true as const, ...(s.reversibleUntil ? { reversibleUntil: s.reversibleUntil } : {}) } : {}),
  };
}

/** Where a step wants its units. */
export type UnitGoal =
  { kind: 'prepared' } | { kind: 'percent'; percent: number } | { kind: 'cutover' } | { kind: 'completed' } | { kind: 'rolled-back' };

/** The next thing to do for one unit. */
export type UnitMove =
  | { kind: 'reached' }
  | { kind: 'start' }
  | { kind: 'wait'; why: string }
  /** `until`: the entity keeps advancing through phase boundaries up to that phase (one command per step, not per phase). */
  | { kind: 'advance'; commandId: string; until?: AdvanceUntil }
  | { kind: 'rollback'; commandId: string }
  | { kind: 'failed'; why: string };

/** The goal of a step kind (approval steps have none). */
export function goalOf(step: CampaignStep): UnitGoal | undefined {
  switch (step.kind) {
    case 'approval':
      return undefined;
    case 'prepare':
      return { kind: 'prepared' };
    case 'canary':
      return { kind: 'percent', percent: step.percent ?? 0 };
    case 'cutover':
      return { kind: 'cutover' };
    case 'complete':
      return { kind: 'completed' };
    case 'rollback':
      return { kind: 'rolled-back' };
  }
}

/** The phases a campaign's advance may run to unattended. */
type AdvanceUntil = 'shadow' | 'cutover' | 'completed';

/**
 * The phase a goal's advance may run to unattended; a canary percentage has none (each percentage is its
 * own step, baked by the campaign).
 */
function untilOf(goal: UnitGoal): AdvanceUntil | undefined {
  return goal.kind === 'prepared' ? 'shadow' : goal.kind === 'cutover' || goal.kind === 'completed' ? goal.kind : undefined;
}

function index(phase: string | undefined): number {
  return FORWARD.indexOf(phase ?? '');
}

/** True when the unit stands where the goal wants it. */
export function reached(goal: UnitGoal, v: UnitView): boolean {
  const i = index(v.phase);
  const waiting = v.waitingFor !== undefined;
  switch (goal.kind) {
    case 'prepared':
      return i > index('shadow') || (v.phase === 'shadow' && waiting);
    case 'percent':
      return i > index('canary') || (v.phase === 'canary' && v.route?.percent === goal.percent && waiting);
    case 'cutover':
      return i > index('cutover') || (v.phase === 'cutover' && waiting);
    case 'completed':
      return v.phase === 'completed';
    case 'rolled-back':
      return v.phase === 'rolled-back';
  }
}

/**
 * The next move for one unit towards the goal. `key` scopes command IDs (campaign ID and epoch).
 * `campaignStartedAt` (ISO): a unit rolled back before this campaign began (a drill, an earlier
 * attempt) is started again as a new run of the same workflow ID; one rolled back during this
 * campaign is not, since the campaign (or an operator) decided that.
 */
export function nextMove(goal: UnitGoal, v: UnitView, key: string, campaignStartedAt?: string): UnitMove {
  if (v.unknown) return { kind: 'wait', why: `${v.unit}: status unknown this round` };
  if (v.missing) return goal.kind === 'rolled-back' ? { kind: 'reached' } : { kind: 'start' };
  if (
    goal.kind !== 'rolled-back' &&
    v.phase === 'rolled-back' &&
    campaignStartedAt !== undefined &&
    v.startedAt !== undefined &&
    v.startedAt < campaignStartedAt
  ) {
    return { kind: 'start' };
  }
  if (reached(goal, v)) return { kind: 'reached' };
  const where = `${v.phase ?? '?'}#${v.historyLength ?? 0}`;
  if (goal.kind === 'rolled-back') {
    if (v.phase === 'completed')
      return { kind: 'failed', why: `${v.unit} is completed; rolling back a completed unit needs an approval on the unit itself` };
    if (v.phase === 'rolling-back') return { kind: 'wait', why: `${v.unit} is rolling back` };
    return { kind: 'rollback', commandId: `${key}/rollback/${v.unit}` };
  }
  if (v.phase === 'failed') return { kind: 'failed', why: `${v.unit} failed${v.failure ? `: ${v.failure}` : ''}` };
  if (v.phase === 'rolling-back' || v.phase === 'rolled-back') return { kind: 'failed', why: `${v.unit} is ${v.phase}` };
  if (v.paused) return { kind: 'wait', why: `${v.unit} is paused on the unit itself; resume it there` };
  if (v.waitingFor === undefined) return { kind: 'wait', why: `${v.unit} is working (${v.phase})` };
  // Already on its way and only waiting on a timer: a second advance would cost a signal and a
  // workflow task, and could land after the unit closed. (One held for an operator still gets it: a retry.)
  const until = untilOf(goal);
  if (until && v.advanceUntil === until && v.waitingOn === 'timer')
    return { kind: 'wait', why: `${v.unit} is advancing to ${until} (${v.phase})` };
  return { kind: 'advance', commandId: `${key}/advance/${v.unit}/${where}`, ...(until ? { until } : {}) };
}

/** A measured gate's state in a baking step. */
export interface GateProgress {
  gate: string;
  verdict: GateVerdict;
  /** When the next measurement is due (ms). */
  nextAt: number;
}

/** Verdict of a baking step at `now`. */
export type BakeDecision =
  | { kind: 'measure'; gates: string[] }
  | { kind: 'wait'; until: number }
  | { kind: 'passed' }
  | { kind: 'gate-failed'; gate: string; reason: string }
  | { kind: 'inconclusive'; gate: string; reason: string };

/**
 * Where a baking step stands. Gate g is measured at `bakeStart + k × interval` (k = 1, 2, …), from
 * its last measurement on; it keeps measuring through the bake, and past it until it has `count`
 * conclusive measurements. The step passes when the bake is over and every gate passed; any gate
 * failing, erroring or coming back inconclusive ends it at once.
 */
export function bakeDecision(
  gates: readonly GateSpec[],
  measurements: readonly TimedMeasurement[],
  bakeStart: number,
  bakeUntil: number,
  now: number,
): BakeDecision {
  const progress = gateProgress(gates, measurements, bakeStart);
  for (const p of progress) {
    if (p.verdict.status === 'failed' || p.verdict.status === 'errored')
      return { kind: 'gate-failed', gate: p.gate, reason: p.verdict.reason };
    if (p.verdict.status === 'inconclusive') return { kind: 'inconclusive', gate: p.gate, reason: p.verdict.reason };
  }
  // Keep measuring while the bake lasts, and after it until each gate has what it needs.
  const pending = progress.filter((p) => p.verdict.status === 'measuring' || p.nextAt <= bakeUntil);
  const due = pending.filter((p) => p.nextAt <= now).map((p) => p.gate);
  if (due.length > 0) return { kind: 'measure', gates: due };
  const unfinished = progress.filter((p) => p.verdict.status === 'measuring');
  if (now >= bakeUntil && unfinished.length === 0) return { kind: 'passed' };
  const next = Math.min(...pending.map((p) => p.nextAt), ...(now < bakeUntil ? [bakeUntil] : []));
  return { kind: 'wait', until: next };
}

/** Each gate's verdict and next due time from the step's measurements. */
export function gateProgress(gates: readonly GateSpec[], measurements: readonly TimedMeasurement[], bakeStart: number): GateProgress[] {
  return gates.map((g) => {
    const mine = measurements.filter((m) => m.gate === g.name);
    const last = mine[mine.length - 1];
    return { gate: g.name, verdict: evaluateGate(g.policy, mine), nextAt: (last ? last.at : bakeStart) + g.policy.interval };
  });
}

/** The units of a ring that the campaign has touched up to step `stepIndex` (rollback scope). */
export function touchedRingUnits(steps: readonly CampaignStep[], stepIndex: number): string[] {
  const current = steps[stepIndex];
  if (!current) return [];
  const out: string[] = [];
  for (let i = 0; i <= stepIndex; i++) {
    const s = steps[i]!;
    if (s.ringIndex !== current.ringIndex || s.kind === 'approval') continue;
    for (const u of s.units) if (!out.includes(u)) out.push(u);
  }
  return out;
}

/**
 * Units whose fate is sealed before step `stepIndex`: a `complete` (or a drill's `rollback`) step
 * passes only when every unit of it reached that end, and a closed entity never changes again. The
 * campaign drops their views from its state (so a 10,000-unit state still fits through
 * continue-as-new) and shows them by this phase.
 */
export function settledPhase(
  steps: readonly CampaignStep[],
  sealing: ReadonlyMap<string, number>,
  stepIndex: number,
  unit: string,
): 'completed' | 'rolled-back' | undefined {
  const i = sealing.get(unit);
  if (i === undefined || i >= stepIndex) return undefined;
  return steps[i]!.kind === 'complete' ? 'completed' : 'rolled-back';
}

/** Unit → index of the step that seals it (for `settledPhase`; built once per run). */
export function sealingSteps(steps: readonly CampaignStep[]): Map<string, number> {
  const out = new Map<string, number>();
  steps.forEach((s, i) => {
    if (s.kind === 'complete' || s.kind === 'rollback') for (const u of s.units) out.set(u, i);
  });
  return out;
}
