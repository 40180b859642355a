/**
 * The campaign's pure planner: `decideCampaign(campaign, state, observations, now)` returns the next
 * action as data. No Temporal imports, no clock, no I/O: the campaign workflow observes (activities),
 * asks the planner, and acts (activities, timers, and the state transitions of ./state.ts). Per-unit
 * moves and bake verdicts come from ./driver.ts. Table-tested in test/unit/campaign-planner.test.ts.
 *
 * A round observes at most once: the action that follows an observation ends the round.
 */
import { isGranted, type ApprovalBinding } from '../approvals/two-person';
import { digestOf } from '../operators/signing';
import type { CampaignInput, CampaignPhase, CampaignState, CampaignStep, CampaignUnit, GateSpec } from './types';
import { bakeDecision, goalOf, nextMove, sealingSteps, settledPhase, touchedRingUnits, type UnitGoal, type UnitView } from './driver';
import { campaignUnit, pickEntities, unitWorkflowIdOf, type CampaignEntities } from './units';

/** One run of a campaign as the planner sees it: its input, its workflow ID, and indexes built once. */
export interface CampaignContext {
  input: CampaignInput;
  workflowId: string;
  /** The actor of the campaign's own commands (`cutover/campaign/<name>`). */
  actor: string;
  ringOf: ReadonlyMap<string, string>;
  /** Unit → the step that seals it (`settledPhase`). */
  sealing: ReadonlyMap<string, number>;
}

/** The context of a campaign run (built once per run: the indexes cost a pass over every unit). */
export function campaignContext(input: CampaignInput, workflowId: string): CampaignContext {
  return {
    input,
    workflowId,
    actor: `cutover/campaign/${input.plan.name}`,
    ringOf: new Map(input.plan.rings.flatMap((r) => r.units.map((u) => [u, r.name] as const))),
    sealing: sealingSteps(input.plan.steps),
  };
}

/** What the current round has read. */
export interface CampaignObservations {
  /** Entity views read this round, for the units the `observe` action named. */
  views?: UnitView[];
  /** When the round asked for them: a baking step's verdict stands as of then (gates due meanwhile wait a round). */
  askedAt?: number;
}

/** One line of the campaign's story, as an action asks for it (the state transition stamps it). */
export interface Note {
  event: string;
  actor?: string;
  reason?: string;
  evidence?: Record<string, unknown>;
}

/** A command to a unit's entity workflow. */
export interface UnitCommand {
  unit: string;
  workflowId: string;
  command: 'advance' | 'rollback';
  commandId: string;
  actor: string;
  reason?: string;
  until?: 'shadow' | 'cutover' | 'completed';
}

/** One gate measurement to take (the gate activity's arguments). */
export interface MeasureRequest {
  gate: GateSpec;
  units: ({ unit: string } & CampaignUnit['scope'])[];
  stepStartedAt: string;
  moveStartedAt?: string;
  measurementId: string;
  probeTaskQueue?: string;
}

/** What the campaign should do next. */
export type CampaignAction =
  /** The campaign has ended (completed or rolled back). */
  | { type: 'done' }
  /** Read these units' entity status, then decide again with `views`. */
  | { type: 'observe'; units: { unit: string; workflowId: string }[] }
  /** Show this phase, then decide again. */
  | { type: 'set-phase'; phase: CampaignPhase }
  /** Wait for a command, or until `until` (ms) when given. */
  | { type: 'wait'; reason: string; until?: number }
  /** Start missing entities and send commands, then look again after the poll interval. */
  | {
      type: 'move-units';
      start?: { entities: CampaignEntities; units: { unit: string; ring: string }[]; taskQueue: string };
      commands: UnitCommand[];
      reason: string;
    }
  /** Take the due gates' measurements (`seq` numbers them). */
  | { type: 'measure'; seq: number; requests: MeasureRequest[] }
  | { type: 'start-bake'; startedAt: number; until: number; routeEpochs: Record<string, number>; notes: Note[] }
  /** Begin the bake again: the units' routes changed under it. */
  | { type: 'restart-bake'; reason: string; routeEpochs: Record<string, number> }
  /** The step is done; `useApproval` consumes the granted approval it waited for; `moveStarted` marks the batch's move. */
  | { type: 'next-step'; notes: Note[]; useApproval?: ApprovalBinding; moveStarted?: boolean }
  | { type: 'request-approval'; binding: ApprovalBinding; evidence: Record<string, unknown>; notes: Note[] }
  /** Hold for a human because of `hold.reason` (`failedGate`: the gate to show failed). */
  | { type: 'hold'; hold: { reason: string; gate?: string }; failedGate?: string; notes: Note[] }
  /** Roll the current ring back because of `reason` (the plan's `onGateFailure: rollback`). */
  | { type: 'roll-back-ring'; reason: string; commandId: string; failedGate?: string; notes: Note[] }
  /** Start the rollback of the ring's touched units (a new epoch). */
  | { type: 'begin-rollback'; units: string[]; notes: Note[] }
  /** Some units cannot roll back (completed): leave them, roll back `keep`. */
  | { type: 'rollback-blocked'; keep: string[]; notes: Note[]; waitFor?: string }
  | { type: 'rolled-back'; notes: Note[] }
  | { type: 'complete'; notes: Note[] };

/** What the campaign knows of a unit: its last view, or its sealed end. */
export function viewOf(c: CampaignContext, state: CampaignState, unit: string): UnitView | undefined {
  const v = state.units[unit];
  if (v) return v;
  const phase = settledPhase(c.input.plan.steps, c.sealing, state.stepIndex, unit);
  return phase ? { unit, workflowId: unitWorkflowIdOf(c.input.entities, unit), phase } : undefined;
}

/** True once the campaign has ended. */
export function isFinished(state: CampaignState): boolean {
  return state.phase === 'completed' || state.phase === 'rolled-back';
}

/** `canary 50%`, `cutover`, … */
export function stepLabel(step: CampaignStep): string {
  return `${step.kind}${step.percent !== undefined ? ` ${step.percent}%` : ''}`;
}

/** The next action of the campaign at `now`, from its state and what this round observed. */
export function decideCampaign(c: CampaignContext, state: CampaignState, obs: CampaignObservations, now: number): CampaignAction {
  if (isFinished(state)) return { type: 'done' };
  if (state.rollback) return decideRollback(c, state, obs);
  if (state.paused) return { type: 'wait', reason: `resume (paused by ${state.paused.actor})` };
  if (state.hold) return { type: 'wait', reason: `resume or rollback (held: ${state.hold.reason})` };
  const step = c.input.plan.steps[state.stepIndex];
  if (!step) return { type: 'complete', notes: [{ event: 'campaign completed' }] };
  if (step.kind === 'approval') return decideApproval(c, state, step, now);
  if (state.bake) return decideBake(c, state, step, obs, now);
  if (state.phase !== 'running') return { type: 'set-phase', phase: 'running' };
  return decideMove(c, state, step, obs, now);
}

function decideApproval(c: CampaignContext, state: CampaignState, step: CampaignStep, now: number): CampaignAction {
  const plan = c.input.plan;
  // Bound to the units the step covers: an approval given for one batch cannot open another.
  const binding = { campaign: plan.name, ring: step.ring, step: step.n, epoch: state.epoch, units: digestOf(step.units) };
  const a = state.approval;
  const current =
    a && a.binding.step === step.n && a.binding.epoch === state.epoch && a.binding.ring === step.ring && a.consumedAt === undefined;
  if (!a || !current) {
    const previous = plan.rings[step.ringIndex - 1]?.units.map((u) => viewOf(c, state, u)).filter(Boolean) ?? [];
    return {
      type: 'request-approval',
      binding,
      evidence: { gates: state.gates, previousRing: previous, batch: step.units },
      notes: [{ event: `two-person approval requested for ${step.ring} batch ${step.batch}`, actor: c.input.actor, evidence: { binding } }],
    };
  }
  if (isGranted(a)) {
    const approvers = a.approvals.map((x) => x.actor);
    return {
      type: 'next-step',
      useApproval: binding,
      notes: [{ event: `approval granted by ${approvers.join(' and ')}`, evidence: { approvers } }],
    };
  }
  // Kept (expired) until resume, so a late approval is refused as expired, not as "nothing pending".
  if (now >= a.expiresAt)
    return {
      type: 'hold',
      hold: { reason: `approval for ${step.ring} step ${step.n} expired` },
      notes: [{ event: 'approval request expired; resume asks again' }],
    };
  return {
    type: 'wait',
    reason: `two-person approval for ${step.ring} batch ${step.batch} (${a.approvals.length}/${a.required})`,
    until: a.expiresAt,
  };
}

function decideBake(c: CampaignContext, state: CampaignState, step: CampaignStep, obs: CampaignObservations, now: number): CampaignAction {
  const b = state.bake!;
  if (state.advance) {
    const a = state.advance;
    const skipped = { actor: a.actor, ...(a.reason ? { reason: a.reason } : {}), evidence: { measurements: b.measurements.slice(-10) } };
    return {
      type: 'next-step',
      notes: [{ event: `bake skipped by ${a.actor}`, ...skipped }, { event: `step ${step.n} done (bake skipped)` }],
    };
  }
  const gates = step.gates.map((g) => c.input.plan.gates[g]!);
  const d = bakeDecision(gates, b.measurements, b.startedAt, b.until, obs.askedAt ?? now);
  const evidenceOf = (gate: string) => ({ measurements: b.measurements.filter((m) => m.gate === gate) });
  switch (d.kind) {
    case 'wait':
      return { type: 'wait', reason: `baking ${step.ring} ${stepLabel(step)}`, until: d.until };
    case 'measure': {
      // Observe the units first: a route changed by someone else mid-bake restarts the bake clock.
      if (!obs.views) return { type: 'observe', units: refs(c, step.units) };
      const moved = obs.views.filter((v) => v.route && b.routeEpochs[v.unit] !== undefined && v.route.epoch !== b.routeEpochs[v.unit]);
      if (moved.length > 0) {
        const routeEpochs = { ...b.routeEpochs };
        for (const v of moved) routeEpochs[v.unit] = v.route!.epoch;
        return { type: 'restart-bake', reason: `route of ${moved.map((v) => v.unit).join(', ')} changed mid-bake`, routeEpochs };
      }
      const seq = state.measurementSeq + 1;
      const units = step.units.map((u) => ({ unit: u, ...campaignUnit(c.input.entities, c.ringOf.get(u)!, u).scope }));
      const requests = d.gates.map((g) => ({
        gate: c.input.plan.gates[g]!,
        units,
        stepStartedAt: new Date(b.startedAt).toISOString(),
        ...(state.moveStartedAt ? { moveStartedAt: state.moveStartedAt } : {}),
        measurementId: `${state.epoch}-${step.n}-${seq}`,
        ...(c.input.probeTaskQueue ? { probeTaskQueue: c.input.probeTaskQueue } : {}),
      }));
      return { type: 'measure', seq, requests };
    }
    case 'passed': {
      const evidence = { gates: state.gates.filter((g) => step.gates.includes(g.name)), measurements: b.measurements.length };
      return { type: 'next-step', notes: [{ event: `step ${step.n} passed its bake and gates`, evidence }] };
    }
    case 'inconclusive':
      return {
        type: 'hold',
        hold: { reason: `gate ${d.gate} inconclusive: ${d.reason}`, gate: d.gate },
        notes: [
          { event: `gate ${d.gate} inconclusive: held for a human (resume re-measures)`, reason: d.reason, evidence: evidenceOf(d.gate) },
        ],
      };
    case 'gate-failed':
      return gateFailure(c, state, `gate ${d.gate} failed: ${d.reason}`, d.gate, [
        { event: `gate ${d.gate} failed`, reason: d.reason, evidence: evidenceOf(d.gate) },
      ]);
  }
}

function decideMove(c: CampaignContext, state: CampaignState, step: CampaignStep, obs: CampaignObservations, now: number): CampaignAction {
  const r = drive(c, state, step.units, goalOf(step)!, step, obs);
  if (r.kind === 'observe') return r.action;
  if (r.kind === 'failed') return gateFailure(c, state, `step ${step.n} (${step.kind}): ${r.why}`);
  if (r.kind === 'moving') return { ...r.action, reason: `${step.units.length} unit(s) of ${step.ring} to reach ${stepLabel(step)}` };
  if (step.kind === 'canary' || step.kind === 'cutover') {
    const routeEpochs: Record<string, number> = {};
    for (const u of step.units) routeEpochs[u] = r.views.get(u)?.route?.epoch ?? 0;
    return {
      type: 'start-bake',
      startedAt: now,
      until: now + step.bakeMs,
      routeEpochs,
      notes: [{ event: `step ${step.n}: ${stepLabel(step)} reached; baking ${step.bakeMs} ms`, evidence: { routeEpochs } }],
    };
  }
  return {
    type: 'next-step',
    notes: [{ event: `step ${step.n} (${step.kind}) done` }],
    ...(step.kind === 'prepare' ? { moveStarted: true } : {}),
  };
}

function decideRollback(c: CampaignContext, state: CampaignState, obs: CampaignObservations): CampaignAction {
  const rb = state.rollback!;
  const steps = c.input.plan.steps;
  if (state.phase !== 'rolling-back') {
    const i = Math.min(state.stepIndex, steps.length - 1);
    const units = touchedRingUnits(steps, i);
    return {
      type: 'begin-rollback',
      units,
      notes: [{ event: `rolling back ${steps[i]!.ring}: ${units.join(', ')}`, actor: rb.actor, reason: rb.reason ?? '' }],
    };
  }
  const units = rb.units ?? [];
  const r = drive(c, state, units, { kind: 'rolled-back' }, undefined, obs);
  if (r.kind === 'observe') return r.action;
  if (r.kind === 'failed') {
    // A unit that cannot roll back (completed) is reported and left; the rest roll back.
    const keep = units.filter((u) => r.views.get(u)?.phase !== 'completed');
    const notes = [{ event: `rollback: ${r.why}` }];
    return {
      type: 'rollback-blocked',
      keep,
      notes,
      ...(keep.length === units.length ? { waitFor: 'a unit cannot roll back; see history' } : {}),
    };
  }
  if (r.kind === 'moving') return { ...r.action, reason: `${units.length} unit(s) to roll back` };
  return {
    type: 'rolled-back',
    notes: [{ event: 'ring rolled back; campaign stopped', evidence: { units: units.map((u) => r.views.get(u)) } }],
  };
}

/** The plan's answer to a failed gate or step: roll the ring back, or hold for an operator. */
function gateFailure(c: CampaignContext, state: CampaignState, what: string, gate?: string, notes: Note[] = []): CampaignAction {
  const failedGate = gate ? { failedGate: gate } : {};
  if (c.input.plan.onGateFailure === 'rollback') {
    const commandId = `${c.workflowId}/auto-rollback/${state.epoch}/${state.stepIndex}`;
    return {
      type: 'roll-back-ring',
      reason: what,
      commandId,
      ...failedGate,
      notes: [...notes, { event: 'gate failure: rolling back the ring', reason: what }],
    };
  }
  const event = 'gate failure: held for an operator (onGateFailure hold); resume re-measures, rollback rolls back';
  return { type: 'hold', hold: { reason: what, ...(gate ? { gate } : {}) }, ...failedGate, notes: [...notes, { event, reason: what }] };
}

type Drive =
  | { kind: 'observe'; action: Extract<CampaignAction, { type: 'observe' }> }
  | { kind: 'failed'; why: string; views: Map<string, UnitView | undefined> }
  | { kind: 'moving'; action: Omit<Extract<CampaignAction, { type: 'move-units' }>, 'reason'> }
  | { kind: 'reached'; views: Map<string, UnitView | undefined> };

/**
 * One round of moving `units` towards `goal`: read the units that can still change (a completed unit
 * never does: its last view stands), then start or command what needs it.
 */
function drive(
  c: CampaignContext,
  state: CampaignState,
  units: readonly string[],
  goal: UnitGoal,
  step: CampaignStep | undefined,
  obs: CampaignObservations,
): Drive {
  if (!obs.views)
    return {
      kind: 'observe',
      action: {
        type: 'observe',
        units: refs(
          c,
          units.filter((u) => viewOf(c, state, u)?.phase !== 'completed'),
        ),
      },
    };
  const fresh = new Map(obs.views.map((v) => [v.unit, v]));
  const views = [...units.filter((u) => !fresh.has(u)).map((u) => viewOf(c, state, u)!), ...obs.views];
  // What the campaign knows of each unit after this round's look (an unreadable unit keeps its last view).
  const known = new Map(units.map((u) => [u, fresh.get(u)?.unknown ? viewOf(c, state, u) : (fresh.get(u) ?? viewOf(c, state, u))]));
  const key = `${c.workflowId}/e${state.epoch}${step ? `/s${step.n}` : ''}`;
  const moves = views.map((v) => ({ v, m: nextMove(goal, v, key, state.startedAt) }));
  const failed = moves.flatMap((x) => (x.m.kind === 'failed' ? [x.m.why] : []));
  if (failed.length > 0) return { kind: 'failed', why: failed.join('; '), views: known };
  if (moves.every((x) => x.m.kind === 'reached')) return { kind: 'reached', views: known };
  // The activity gets the start list and only the entity fields it needs, not every unit's input (history stays small).
  const toStart = moves.filter((x) => x.m.kind === 'start').map((x) => ({ unit: x.v.unit, ring: c.ringOf.get(x.v.unit)! }));
  const commands = moves.flatMap(({ v, m }): UnitCommand[] =>
    m.kind === 'advance' || m.kind === 'rollback'
      ? [
          {
            unit: v.unit,
            workflowId: v.workflowId,
            command: m.kind,
            commandId: m.commandId,
            actor: c.actor,
            ...(m.kind === 'rollback' ? { reason: state.rollback?.reason ?? 'campaign rollback' } : {}),
            ...(m.kind === 'advance' && m.until ? { until: m.until } : {}),
          },
        ]
      : [],
  );
  const start =
    toStart.length > 0
      ? { entities: pickEntities(c.input.entities, toStart), units: toStart, taskQueue: c.input.entityTaskQueue }
      : undefined;
  return { kind: 'moving', action: { type: 'move-units', ...(start ? { start } : {}), commands } };
}

function refs(c: CampaignContext, units: readonly string[]): { unit: string; workflowId: string }[] {
  return units.map((u) => ({ unit: u, workflowId: unitWorkflowIdOf(c.input.entities, u) }));
}
