/**
 * `campaign` (ID `cutover/campaign/<name>`): walks the plan's rings in order, batch by batch; for
 * each step it moves the batch's entity workflows (started or resumed, never forked; they outlive
 * the campaign) and then bakes while the ring's gates are measured every interval. A failed gate
 * rolls the ring back or holds it (`onGateFailure`); an inconclusive one holds for a human; rings
 * that ask for it wait for a two-person approval bound to ring, step and epoch.
 *
 * Observe (activities: entity status, gate measurements) → decide (pure: src/campaign/driver.ts,
 * src/gates/policy.ts, src/approvals/two-person.ts) → act (activities: start, advance, rollback;
 * timers). State is plain JSON and goes whole through continue-as-new.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { CampaignActivities } from '../activities/campaign';
import type { GateActivities } from '../activities/gates';
import { approve as applyApprove, consume, isGranted, parseApprove, requestApproval } from '../approvals/two-person';
import {
  bakeDecision,
  goalOf,
  nextMove,
  sealingSteps,
  settledPhase,
  touchedRingUnits,
  type UnitGoal,
  type UnitView,
} from '../campaign/driver';
import type { CampaignCommand, CampaignInput, CampaignState, CampaignStatus, CampaignStep, GateSpec } from '../campaign/types';
import { campaignUnit, pickEntities, unitProblem, unitWorkflowIdOf } from '../campaign/units';
import type { TimedMeasurement } from '../gates/types';
import * as messages from './campaign.messages';
import { Mutex } from './mutex';
import { CutoverCampaign, CutoverKind, CutoverPhase, CutoverRing } from '../domain/search-attributes';

// Entity status, start and commands on the control cluster: quick calls, retried without end while
// the control cluster is down (the campaign must carry on when it is back, never fail for it).
const control = proxyActivities<CampaignActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds' },
});
// A measurement returns `error` for a provider that is down; a thrown error is an infrastructure
// fault of the worker itself: a few retries, then it is recorded as an errored measurement.
const measure = proxyActivities<GateActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 3 },
});

const MAX_HISTORY = 300;
const MAX_REJECTED = 100;
const MAX_SEEN = 500;

/** A fresh campaign state. */
export function initialCampaignState(): CampaignState {
  return {
    phase: 'running',
    epoch: 0,
    stepIndex: 0,
    approvals: [],
    units: {},
    gates: [],
    history: [],
    rejected: [],
    seenCommandIds: [],
    measurementSeq: 0,
    runs: 0,
    maxHistoryLength: 0,
  };
}

function inputProblems(input: CampaignInput): string[] {
  const out: string[] = [];
  if (!input || typeof input !== 'object') return ['input: expected a CampaignInput (build it with buildCampaignInput)'];
  if (!input.plan || !Array.isArray(input.plan.steps)) return ['plan.steps: missing; build the input with buildCampaignInput(plan)'];
  if (!input.entities || typeof input.entities.groups !== 'object')
    return ['entities: missing; build the input with buildCampaignInput(plan)'];
  for (const r of input.plan.rings) {
    for (const u of r.units) {
      const problem = unitProblem(input.entities, r.name, u);
      if (problem) out.push(problem);
    }
  }
  for (const s of input.plan.steps) {
    if (!input.plan.rings[s.ringIndex])
      out.push(`plan.steps[${s.n - 1}].ringIndex: no ring ${s.ringIndex}; build the input with buildCampaignInput(plan)`);
    for (const g of s.gates) if (!input.plan.gates[g]) out.push(`plan.gates.${g}: step ${s.n} uses it but it is not defined`);
  }
  if (!(input.pollMs > 0)) out.push('pollMs: must be > 0 (how often units are polled, ms)');
  if (!(input.approvalTtlMs > 0)) out.push('approvalTtlMs: must be > 0 (how long an approval request stays open, ms)');
  if (typeof input.entityTaskQueue !== 'string' || input.entityTaskQueue === '')
    out.push('entityTaskQueue: required (the control task queue)');
  return out;
}

/** Runs a campaign; `carried` is the state handed over by continue-as-new. */
export async function campaign(input: CampaignInput, carried?: CampaignState): Promise<CampaignStatus> {
  const problems = inputProblems(input);
  if (problems.length > 0)
    throw ApplicationFailure.create({ type: 'InvalidInput', nonRetryable: true, message: problems.join('; '), details: problems });
  const plan = input.plan;
  const state: CampaignState = carried ?? initialCampaignState();
  if (carried) state.runs += 1;
  const mutex = new Mutex();
  const wfId = workflowInfo().workflowId;
  const me = `cutover/campaign/${plan.name}`;
  /** Bumped by every accepted command so waits wake up. */
  let commands = 0;
  let waitingFor: string | undefined;
  const nowIso = () => new Date().toISOString();
  /** Each unit's ring, and the step that seals it (its view then leaves the state: `settledPhase`). */
  const ringOf = new Map(plan.rings.flatMap((r) => r.units.map((u) => [u, r.name] as const)));
  const sealing = sealingSteps(plan.steps);
  const unitOf = (u: string) => campaignUnit(input.entities, ringOf.get(u)!, u);
  // The ID alone: status and every round of `drive` ask for it, and need not rebuild the unit's input.
  const workflowIdOf = (u: string) => unitWorkflowIdOf(input.entities, u);
  /** What the campaign knows of a unit: its last view, or its sealed end. */
  function viewOf(u: string): UnitView | undefined {
    const v = state.units[u];
    if (v) return v;
    const phase = settledPhase(plan.steps, sealing, state.stepIndex, u);
    return phase ? { unit: u, workflowId: workflowIdOf(u), phase } : undefined;
  }

  function note(event: string, extra: { actor?: string; reason?: string; evidence?: Record<string, unknown> } = {}): void {
    const step = plan.steps[state.stepIndex];
    state.history.push({ at: nowIso(), ...(step ? { step: step.n } : {}), event, ...extra });
    if (state.history.length > MAX_HISTORY) state.history.splice(0, state.history.length - MAX_HISTORY);
  }

  // Message handlers
  function reject(command: string, reason: string, p: { commandId?: string; actor?: string }, code?: string): void {
    state.rejected.push({
      command,
      ...(p.commandId ? { commandId: p.commandId } : {}),
      ...(p.actor ? { actor: p.actor } : {}),
      reason,
      ...(code ? { code } : {}),
      at: nowIso(),
    });
    if (state.rejected.length > MAX_REJECTED) state.rejected.shift();
    log.info('campaign command rejected', { command, reason });
  }

  /** Checks `{ actor, commandId, reason? }`; a seen command ID is a silent no-op (undefined). */
  function parseCommand(name: CampaignCommand['command'], payload: unknown): CampaignCommand | undefined {
    const p = (typeof payload === 'object' && payload !== null ? payload : {}) as Record<string, unknown>;
    const ids = {
      commandId: typeof p.commandId === 'string' ? p.commandId : undefined,
      actor: typeof p.actor === 'string' ? p.actor : undefined,
    };
    if (ids.commandId && state.seenCommandIds.includes(ids.commandId)) return undefined;
    if (ids.commandId) {
      state.seenCommandIds.push(ids.commandId);
      if (state.seenCommandIds.length > MAX_SEEN) state.seenCommandIds.shift();
    }
    if (typeof payload !== 'object' || payload === null)
      return void reject(name, 'payload: expected { actor, commandId, reason? }; send an object', ids, 'invalid-input');
    if (typeof p.actor !== 'string' || p.actor.trim() === '')
      return void reject(name, 'actor: required non-empty string; say who sends the command', ids, 'invalid-input');
    if (typeof p.commandId !== 'string' || p.commandId.trim() === '')
      return void reject(name, 'commandId: required non-empty string; send a unique ID per command', ids, 'invalid-input');
    if (p.reason !== undefined && typeof p.reason !== 'string')
      return void reject(name, 'reason: must be a string when given', ids, 'invalid-input');
    return { command: name, actor: p.actor.trim(), commandId: p.commandId, ...(typeof p.reason === 'string' ? { reason: p.reason } : {}) };
  }

  const finished = () => state.phase === 'completed' || state.phase === 'rolled-back';

  function onCommand(name: 'advance' | 'pause' | 'resume' | 'rollback', payload: unknown): void {
    const c = parseCommand(name, payload);
    if (!c) return;
    if (finished()) return reject(name, `campaign is ${state.phase}; ${name} is not allowed`, c, 'not-allowed');
    switch (name) {
      case 'advance':
        if (!state.bake) return reject(name, 'advance skips the current bake, and no step is baking', c, 'not-allowed');
        if (state.advance) return reject(name, 'an advance is already pending', c, 'not-allowed');
        state.advance = c;
        break;
      case 'pause':
        if (state.paused) return reject(name, `already paused by ${state.paused.actor}`, c, 'not-allowed');
        state.paused = { actor: c.actor, ...(c.reason ? { reason: c.reason } : {}), at: nowIso() };
        break;
      case 'resume':
        if (state.paused) state.paused = undefined;
        else if (state.hold) {
          // A released hold re-measures the step from a fresh bake: the old measurements judged a state that a human has now looked at.
          state.hold = undefined;
          if (state.bake) restartBake('hold released by resume');
          if (state.approval && !isGranted(state.approval) && Date.now() >= state.approval.expiresAt) state.approval = undefined;
        } else return reject(name, 'campaign is neither paused nor held', c, 'not-allowed');
        break;
      case 'rollback':
        if (state.rollback || state.phase === 'rolling-back') return reject(name, 'rollback already in progress', c, 'not-allowed');
        if (!c.reason || c.reason.trim() === '')
          return reject(name, 'reason: required for rollback; say why (--reason "…")', c, 'invalid-input');
        state.rollback = { ...c, at: nowIso() };
        break;
    }
    note(`${name} by ${c.actor}`, { actor: c.actor, ...(c.reason ? { reason: c.reason } : {}), evidence: { commandId: c.commandId } });
    commands++;
    refreshDetails();
  }

  function onApprove(payload: unknown): void {
    const base = parseCommand('approve', payload);
    if (!base) return;
    const parsed = parseApprove(payload);
    if (!parsed.ok) return reject('approve', `${parsed.field}: ${parsed.message}; ${parsed.hint}`, base, parsed.refusal);
    const out = applyApprove(state.approval, parsed.command, Date.now());
    if (!out.ok) return reject('approve', `${out.field}: ${out.message}; ${out.hint}`, base, out.refusal);
    state.approval = out.request;
    note(`approved by ${parsed.command.actor} (${out.request.approvals.length} of ${out.request.required})`, {
      actor: parsed.command.actor,
      ...(parsed.command.reason ? { reason: parsed.command.reason } : {}),
      evidence: { ...out.request.evidence, commandId: parsed.command.commandId },
    });
    commands++;
    refreshDetails();
  }

  setHandler(messages.advance, (p) => mutex.runExclusive(() => onCommand('advance', p)));
  setHandler(messages.pause, (p) => mutex.runExclusive(() => onCommand('pause', p)));
  setHandler(messages.resume, (p) => mutex.runExclusive(() => onCommand('resume', p)));
  setHandler(messages.rollback, (p) => mutex.runExclusive(() => onCommand('rollback', p)));
  setHandler(messages.approve, (p) => mutex.runExclusive(() => onApprove(p)));
  setHandler(messages.status, () => toStatus());

  function toStatus(): CampaignStatus {
    const step = plan.steps[state.stepIndex];
    const current = step?.ringIndex ?? plan.rings.length;
    return {
      id: wfId,
      kind: 'campaign',
      name: plan.name,
      drill: plan.drill,
      phase: state.phase,
      paused: !!state.paused,
      ...(state.paused ? { pausedBy: state.paused } : {}),
      ...(state.hold ? { hold: state.hold } : {}),
      epoch: state.epoch,
      ...(step && !finished()
        ? {
            step: {
              ...step,
              ...(state.bake
                ? { bakeStartedAt: new Date(state.bake.startedAt).toISOString(), bakeUntil: new Date(state.bake.until).toISOString() }
                : {}),
            },
          }
        : {}),
      stepsTotal: plan.steps.length,
      rings: plan.rings.map((r, i) => ({
        name: r.name,
        status: finished() && state.phase === 'completed' ? 'done' : i < current ? 'done' : i === current ? 'active' : 'pending',
        ...(r.approval ? { approval: r.approval } : {}),
        units: r.units.map((u) => viewOf(u) ?? { unit: u, workflowId: workflowIdOf(u) }),
      })),
      gates: state.gates,
      measurements: state.bake?.measurements ?? [],
      ...(state.approval ? { approval: state.approval } : {}),
      approvals: state.approvals,
      history: state.history,
      rejected: state.rejected,
      continuedAsNew: state.runs,
      maxHistoryLength: Math.max(state.maxHistoryLength, workflowInfo().historyLength),
    };
  }

  function refreshDetails(): void {
    const step = plan.steps[state.stepIndex];
    setCurrentDetails(
      [
        `**campaign** ${plan.name}${plan.drill ? ' (drill)' : ''} — **${state.phase}**${state.paused ? ` — paused by ${state.paused.actor}` : ''}`,
        step && !finished()
          ? `**step** ${step.n}/${plan.steps.length}: ${step.ring} batch ${step.batch}/${step.batches} ${step.kind}${step.percent !== undefined ? ` ${step.percent}%` : ''}`
          : '',
        state.bake ? `**baking until** ${new Date(state.bake.until).toISOString()}` : '',
        state.hold ? `**held**: ${state.hold.reason}` : '',
        state.approval && !isGranted(state.approval)
          ? `**awaiting approval** ${state.approval.approvals.length}/${state.approval.required} (step ${state.approval.binding.step}, epoch ${state.approval.binding.epoch})`
          : '',
        waitingFor ? `**waiting for** ${waitingFor}` : '',
        finished()
          ? ''
          : `**roll back** \`cutover rollback ${plan.name} --reason "…"\` (the current ring's units) · **pause** \`cutover pause ${plan.name}\``,
      ]
        .filter(Boolean)
        .join('\n'),
    );
  }

  function setPhase(phase: CampaignState['phase']): void {
    if (state.phase === phase) return;
    state.phase = phase;
    upsertSearchAttributes([{ key: CutoverPhase, value: phase }]);
  }

  function restartBake(reason: string): void {
    const b = state.bake;
    if (!b) return;
    const step = plan.steps[state.stepIndex]!;
    const now = Date.now();
    state.bake = { startedAt: now, until: now + step.bakeMs, measurements: [], routeEpochs: b.routeEpochs };
    state.epoch += 1;
    note(`bake restarted: ${reason}`, { evidence: { measurementsDropped: b.measurements.length } });
  }

  /** A wait the main loop performs outside the mutex (so commands can land while it waits). */
  type Wait = { reason: string; ms?: number } | void;
  function wait(reason: string, ms?: number): Wait {
    return { reason, ...(ms !== undefined ? { ms } : {}) };
  }

  /** Waits until a command arrives or `ms` pass (forever when undefined). */
  async function waitCommand(reason: string, ms?: number): Promise<void> {
    waitingFor = reason;
    refreshDetails();
    const seen = commands;
    if (ms === undefined) await condition(() => commands !== seen);
    else if (ms > 0) await condition(() => commands !== seen, ms);
    waitingFor = undefined;
  }

  const unitRefs = (units: readonly string[]) => units.map((u) => ({ unit: u, workflowId: workflowIdOf(u) }));
  /** The last command ID sent to each unit: a unit that has not yet acted on it shows the same view, and would get it again. */
  const lastSent: Record<string, string> = {};

  /** One round of moving `units` towards `goal`: observe, then start or command what needs it. */
  async function drive(
    units: readonly string[],
    goal: UnitGoal,
    step: CampaignStep | undefined,
  ): Promise<{ reached: boolean; failed?: string }> {
    // A completed unit never changes again: its last view stands, and it is not read again.
    const done = new Set(units.filter((u) => viewOf(u)?.phase === 'completed'));
    const fresh = await control.unitViews({ units: unitRefs(units.filter((u) => !done.has(u))) });
    for (const v of fresh) if (!v.unknown) state.units[v.unit] = v;
    const views = [...[...done].map((u) => viewOf(u)!), ...fresh];
    const key = `${wfId}/e${state.epoch}${step ? `/s${step.n}` : ''}`;
    const moves = views.map((v) => ({ v, m: nextMove(goal, v, key, state.startedAt) }));
    const failed = moves.filter((x) => x.m.kind === 'failed').map((x) => (x.m as { why: string }).why);
    if (failed.length > 0) return { reached: false, failed: failed.join('; ') };
    // The activity gets the start list and only the entity fields it needs, not every unit's input (history stays small).
    const toStart = moves.filter((x) => x.m.kind === 'start').map((x) => ({ unit: x.v.unit, ring: ringOf.get(x.v.unit)! }));
    if (toStart.length > 0)
      await control.startUnits({ entities: pickEntities(input.entities, toStart), units: toStart, taskQueue: input.entityTaskQueue });
    // The entity drops a repeated command ID anyway; not sending it again saves a signal and a workflow task.
    const cmds = moves.flatMap(({ v, m }) =>
      (m.kind === 'advance' || m.kind === 'rollback') && lastSent[v.unit] !== m.commandId
        ? [
            {
              unit: v.unit,
              workflowId: v.workflowId,
              command: m.kind,
              commandId: m.commandId,
              actor: me,
              ...(m.kind === 'rollback' ? { reason: state.rollback?.reason ?? 'campaign rollback' } : {}),
              ...(m.kind === 'advance' && m.until ? { until: m.until } : {}),
            },
          ]
        : [],
    );
    if (cmds.length > 0) {
      await control.commandUnits({ commands: cmds.map(({ unit: _, ...c }) => c) });
      for (const c of cmds) lastSent[c.unit] = c.commandId;
    }
    return { reached: moves.every((x) => x.m.kind === 'reached') };
  }

  function gatesOf(step: CampaignStep): GateSpec[] {
    return step.gates.map((g) => plan.gates[g]!);
  }

  /** A gate verdict that ends the step badly: roll the ring back or hold, per the plan. */
  function onGateFailure(what: string, gate?: string): void {
    for (const g of state.gates) if (g.name === gate) g.status = 'failed';
    if (plan.onGateFailure === 'rollback') {
      state.rollback = {
        command: 'rollback',
        actor: me,
        commandId: `${wfId}/auto-rollback/${state.epoch}/${state.stepIndex}`,
        reason: what,
        at: nowIso(),
      };
      note(`gate failure: rolling back the ring`, { reason: what });
    } else {
      state.hold = { reason: what, ...(gate ? { gate } : {}), at: nowIso() };
      setPhase('held');
      note('gate failure: held for an operator (onGateFailure hold); resume re-measures, rollback rolls back', { reason: what });
    }
  }

  function nextStep(event: string, evidence?: Record<string, unknown>): void {
    note(event, evidence ? { evidence } : {});
    const passed = plan.steps[state.stepIndex];
    state.stepIndex += 1;
    // Sealed units are shown by `viewOf` from now on; their views would only weigh on continue-as-new.
    if (passed) for (const u of passed.units) if (settledPhase(plan.steps, sealing, state.stepIndex, u)) delete state.units[u];
    state.bake = undefined;
    state.advance = undefined;
    const step = plan.steps[state.stepIndex];
    if (step) upsertSearchAttributes([{ key: CutoverRing, value: step.ring }]);
  }

  async function runBake(step: CampaignStep): Promise<Wait> {
    const b = state.bake!;
    if (state.advance) {
      const a = state.advance;
      note(`bake skipped by ${a.actor}`, {
        actor: a.actor,
        ...(a.reason ? { reason: a.reason } : {}),
        evidence: { measurements: b.measurements.slice(-10) },
      });
      return nextStep(`step ${step.n} done (bake skipped)`);
    }
    const gates = gatesOf(step);
    const now = Date.now();
    const d = bakeDecision(gates, b.measurements, b.startedAt, b.until, now);
    switch (d.kind) {
      case 'wait':
        return wait(`baking ${step.ring} ${step.kind}${step.percent !== undefined ? ` ${step.percent}%` : ''}`, d.until - now);
      case 'measure': {
        // Observe the units first: a route changed by someone else mid-bake restarts the bake clock.
        const views = await control.unitViews({ units: unitRefs(step.units) });
        for (const v of views) state.units[v.unit] = v;
        const moved = views.filter((v) => v.route && b.routeEpochs[v.unit] !== undefined && v.route.epoch !== b.routeEpochs[v.unit]);
        if (moved.length > 0) {
          for (const v of moved) b.routeEpochs[v.unit] = v.route!.epoch;
          return restartBake(`route of ${moved.map((v) => v.unit).join(', ')} changed mid-bake`);
        }
        const seq = ++state.measurementSeq;
        const taken = await Promise.all(
          d.gates.map(async (name): Promise<TimedMeasurement> => {
            const gate = plan.gates[name]!;
            try {
              const m = await measure.measureGate({
                gate,
                units: step.units.map((u) => ({ unit: u, ...unitOf(u).scope })),
                stepStartedAt: new Date(b.startedAt).toISOString(),
                ...(state.moveStartedAt ? { moveStartedAt: state.moveStartedAt } : {}),
                measurementId: `${state.epoch}-${step.n}-${seq}`,
                ...(input.probeTaskQueue ? { probeTaskQueue: input.probeTaskQueue } : {}),
              });
              return { ...m, gate: name, at: Date.now() };
            } catch (err) {
              return {
                result: 'error',
                message: `measurement failed: ${err instanceof Error ? err.message : String(err)}`,
                gate: name,
                at: Date.now(),
              };
            }
          }),
        );
        if (state.bake !== b) return; // restarted by a command meanwhile
        b.measurements.push(...taken);
        for (const m of taken) {
          const i = state.gates.findIndex((g) => g.name === m.gate);
          const entry = {
            name: m.gate,
            status: m.result,
            reason: m.message,
            ...(m.value !== undefined ? { value: m.value } : {}),
            at: new Date(m.at).toISOString(),
          };
          if (i >= 0) state.gates[i] = entry;
          else state.gates.push(entry);
        }
        return;
      }
      case 'passed':
        return nextStep(`step ${step.n} passed its bake and gates`, {
          gates: state.gates.filter((g) => step.gates.includes(g.name)),
          measurements: b.measurements.length,
        });
      case 'inconclusive':
        state.hold = { reason: `gate ${d.gate} inconclusive: ${d.reason}`, gate: d.gate, at: nowIso() };
        setPhase('held');
        note(`gate ${d.gate} inconclusive: held for a human (resume re-measures)`, {
          reason: d.reason,
          evidence: { measurements: b.measurements.filter((m) => m.gate === d.gate) },
        });
        return;
      case 'gate-failed':
        note(`gate ${d.gate} failed`, { reason: d.reason, evidence: { measurements: b.measurements.filter((m) => m.gate === d.gate) } });
        return onGateFailure(`gate ${d.gate} failed: ${d.reason}`, d.gate);
    }
  }

  async function runApproval(step: CampaignStep): Promise<Wait> {
    const binding = { campaign: plan.name, ring: step.ring, step: step.n, epoch: state.epoch };
    const a = state.approval;
    const current =
      a && a.binding.step === step.n && a.binding.epoch === state.epoch && a.binding.ring === step.ring && a.consumedAt === undefined;
    if (!current) {
      const evidence = {
        gates: state.gates,
        previousRing: plan.rings[step.ringIndex - 1]?.units.map((u) => viewOf(u)).filter(Boolean) ?? [],
        batch: step.units,
      };
      state.approval = requestApproval({ binding, requestedBy: input.actor, now: Date.now(), ttlMs: input.approvalTtlMs, evidence });
      setPhase('awaiting-approval');
      note(`two-person approval requested for ${step.ring} batch ${step.batch}`, { actor: input.actor, evidence: { binding } });
      return;
    }
    if (isGranted(a)) {
      const used = consume(a, binding, Date.now());
      state.approvals.push(used);
      state.approval = undefined;
      setPhase('running');
      return nextStep(`approval granted by ${used.approvals.map((x) => x.actor).join(' and ')}`, {
        approvers: used.approvals.map((x) => x.actor),
      });
    }
    const now = Date.now();
    if (now >= a.expiresAt) {
      // Kept (expired) until resume, so a late approval is refused as expired, not as "nothing pending".
      note('approval request expired; resume asks again');
      state.hold = { reason: `approval for ${step.ring} step ${step.n} expired`, at: nowIso() };
      setPhase('held');
      return;
    }
    return wait(`two-person approval for ${step.ring} batch ${step.batch} (${a.approvals.length}/${a.required})`, a.expiresAt - now);
  }

  async function runStep(step: CampaignStep): Promise<Wait> {
    if (step.kind === 'approval') return runApproval(step);
    if (state.bake) return runBake(step);
    if (state.phase !== 'running') setPhase('running');
    const goal = goalOf(step)!;
    const r = await drive(step.units, goal, step);
    if (r.failed) return onGateFailure(`step ${step.n} (${step.kind}): ${r.failed}`);
    if (!r.reached)
      return wait(
        `${step.units.length} unit(s) of ${step.ring} to reach ${step.kind}${step.percent !== undefined ? ` ${step.percent}%` : ''}`,
        input.pollMs,
      );
    if (step.kind === 'prepare') state.moveStartedAt = nowIso();
    if (step.kind === 'canary' || step.kind === 'cutover') {
      const now = Date.now();
      const routeEpochs: Record<string, number> = {};
      for (const u of step.units) routeEpochs[u] = state.units[u]?.route?.epoch ?? 0;
      state.bake = { startedAt: now, until: now + step.bakeMs, measurements: [], routeEpochs };
      setPhase('baking');
      note(`step ${step.n}: ${step.kind}${step.percent !== undefined ? ` ${step.percent}%` : ''} reached; baking ${step.bakeMs} ms`, {
        evidence: { routeEpochs },
      });
      return;
    }
    return nextStep(`step ${step.n} (${step.kind}) done`);
  }

  async function runRollback(): Promise<Wait> {
    const rb = state.rollback!;
    if (state.phase !== 'rolling-back') {
      const step = plan.steps[Math.min(state.stepIndex, plan.steps.length - 1)]!;
      rb.units = touchedRingUnits(plan.steps, plan.steps.indexOf(step));
      state.bake = undefined;
      state.hold = undefined;
      state.approval = undefined;
      state.epoch += 1;
      setPhase('rolling-back');
      note(`rolling back ${step.ring}: ${rb.units.join(', ')}`, { actor: rb.actor, reason: rb.reason ?? '' });
    }
    const units = rb.units ?? [];
    const r = await drive(units, { kind: 'rolled-back' }, undefined);
    if (r.failed) {
      // A unit that cannot roll back (completed) is reported and left; the rest roll back.
      note(`rollback: ${r.failed}`);
      rb.units = units.filter((u) => viewOf(u)?.phase !== 'completed');
      if (rb.units.length === units.length) return wait('a unit cannot roll back; see history', input.pollMs);
      return;
    }
    if (!r.reached) return wait(`${units.length} unit(s) to roll back`, input.pollMs);
    setPhase('rolled-back');
    note('ring rolled back; campaign stopped', { evidence: { units: units.map((u) => viewOf(u)) } });
  }

  function shouldContinueAsNew(): boolean {
    const info = workflowInfo();
    state.maxHistoryLength = Math.max(state.maxHistoryLength, info.historyLength);
    return info.continueAsNewSuggested || (input.maxHistoryEvents !== undefined && info.historyLength > input.maxHistoryEvents);
  }

  // Main loop
  if (!carried) note(`campaign started by ${input.actor}${plan.drill ? ' (drill)' : ''}`, { actor: input.actor });
  state.startedAt ??= nowIso();
  upsertSearchAttributes([
    { key: CutoverKind, value: 'campaign' },
    { key: CutoverCampaign, value: plan.name },
    { key: CutoverPhase, value: state.phase },
    ...(plan.steps[state.stepIndex] ? [{ key: CutoverRing, value: plan.steps[state.stepIndex]!.ring }] : []),
  ]);
  refreshDetails();

  for (;;) {
    if (shouldContinueAsNew()) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof campaign>(input, state);
    }
    if (finished()) break;
    let w: Wait = undefined;
    if (state.rollback) {
      w = await mutex.runExclusive(runRollback);
    } else if (state.paused) {
      await waitCommand(`resume (paused by ${state.paused.actor})`);
    } else if (state.hold) {
      await waitCommand(`resume or rollback (held: ${state.hold.reason})`);
    } else {
      const step = plan.steps[state.stepIndex];
      if (!step) {
        setPhase('completed');
        note('campaign completed');
      } else {
        w = await mutex.runExclusive(() => runStep(step));
      }
    }
    if (w) await waitCommand(w.reason, w.ms);
    refreshDetails();
  }
  refreshDetails();
  await condition(allHandlersFinished);
  return toStatus();
}
