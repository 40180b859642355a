/**
 * The campaign's state and its transitions: the input check, a fresh state, and how an action of the
 * planner, an operator command or an observation changes the state. Deterministic and free of
 * Temporal, clock and I/O (`now` is an argument); the workflow performs the commands (activities,
 * timers, search-attribute upserts) around them. State is plain JSON: it goes whole through
 * continue-as-new.
 */
import { consume, isGranted, requestApproval } from '../approvals/two-person';
import type { TimedMeasurement } from '../gates/types';
import { appendAudit, type AuditEntry } from '../audit/chain';
import type { SignedVerdict } from './commands';
import type { UnitView } from './driver';
import { settledPhase } from './driver';
import type { CampaignAction, CampaignContext, Note } from './planner';
import type { CampaignInput, CampaignPhase, CampaignState } from './types';
import { unitProblem } from './units';

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

/** Every problem of a campaign input, each naming its field and the fix (empty when it is sound). */
export function inputProblems(input: CampaignInput): string[] {
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

const iso = (ms: number) => new Date(ms).toISOString();

/** Adds a line to the campaign's story (the current step's number, when there is one). */
export function note(c: CampaignContext, state: CampaignState, n: Note, now: number): void {
  const step = c.input.plan.steps[state.stepIndex];
  state.history.push({ at: iso(now), ...(step ? { step: step.n } : {}), ...n });
  if (state.history.length > MAX_HISTORY) state.history.splice(0, state.history.length - MAX_HISTORY);
}

/** Records a checked command: its ID (so a resend is a no-op), then the refusal, or the command's effect and a line of history. */
export function recordCommand(c: CampaignContext, state: CampaignState, v: Exclude<SignedVerdict, { kind: 'repeat' }>, now: number): void {
  const commandId = v.kind === 'refuse' ? v.commandId : v.command.commandId;
  if (commandId) {
    state.seenCommandIds.push(commandId);
    if (state.seenCommandIds.length > MAX_SEEN) state.seenCommandIds.shift();
  }
  const signer = v.signer && { name: v.signer.name, publicKey: v.signer.publicKey, body: v.signer.body, sig: v.signer.sig };
  if (v.kind === 'refuse') {
    const { kind: _, signer: _s, unsigned: _u, ...r } = v;
    state.rejected.push({ ...r, at: iso(now) });
    if (state.rejected.length > MAX_REJECTED) state.rejected.shift();
    auditCampaign(
      state,
      {
        kind: 'command',
        command: v.command,
        verdict: 'refused',
        actor: v.actor,
        commandId: v.commandId,
        reason: v.reason,
        code: v.code,
        signer,
      },
      now,
    );
    return;
  }
  const cmd = v.command;
  auditCampaign(
    state,
    {
      kind: 'command',
      command: cmd.command,
      verdict: v.kind === 'no-op' ? 'no-op' : 'accepted',
      actor: cmd.actor,
      commandId: cmd.commandId,
      reason: cmd.reason,
      signer,
      unsigned: v.unsigned,
    },
    now,
  );
  const by = { actor: cmd.actor, ...(cmd.reason ? { reason: cmd.reason } : {}) };
  const signedBy = v.signer ? { signedBy: v.signer.name, key: v.signer.publicKey } : {};
  if (v.kind === 'no-op') return note(c, state, { event: v.line, ...by, evidence: { noOp: true, ...signedBy } }, now);
  switch (cmd.command) {
    case 'approve': {
      const a = v.approval!;
      state.approval = a;
      const evidence = { ...a.evidence, commandId: cmd.commandId, ...signedBy };
      return note(c, state, { event: `approved by ${cmd.actor} (${a.approvals.length} of ${a.required})`, ...by, evidence }, now);
    }
    case 'advance':
      state.advance = cmd;
      break;
    case 'pause':
      state.paused = { ...by, at: iso(now) };
      break;
    case 'resume':
      if (state.paused) state.paused = undefined;
      else {
        // A released hold re-measures the step from a fresh bake: the old measurements judged a state that a human has now looked at.
        state.hold = undefined;
        if (state.bake) restartBake(c, state, 'hold released by resume', state.bake.routeEpochs, now);
        if (state.approval && !isGranted(state.approval) && now >= state.approval.expiresAt) state.approval = undefined;
      }
      break;
    case 'rollback':
      state.rollback = { ...cmd, at: iso(now) };
      break;
  }
  note(c, state, { event: `${cmd.command} by ${cmd.actor}`, ...by, evidence: { commandId: cmd.commandId, ...signedBy } }, now);
}

/** Appends to the campaign's audit log, when it keeps one. */
export function auditCampaign(state: CampaignState, entry: AuditEntry, now: number): void {
  if (state.audit) appendAudit(state.audit, entry, iso(now));
}

/** Keeps the views read this round (an unreadable unit keeps its last one). */
export function recordViews(state: CampaignState, views: readonly UnitView[]): void {
  for (const v of views) if (!v.unknown) state.units[v.unit] = v;
}

/** Adds measurements to the bake and shows each gate's latest verdict. */
export function recordMeasurements(state: CampaignState, taken: readonly TimedMeasurement[]): void {
  state.bake?.measurements.push(...taken);
  for (const m of taken) {
    auditCampaign(state, { kind: 'gate', gate: m.gate, result: m.result, value: m.value, message: m.message }, m.at);
    const i = state.gates.findIndex((g) => g.name === m.gate);
    const entry = {
      name: m.gate,
      status: m.result,
      reason: m.message,
      ...(m.value !== undefined ? { value: m.value } : {}),
      at: iso(m.at),
    };
    if (i >= 0) state.gates[i] = entry;
    else state.gates.push(entry);
  }
}

/** Begins the current step's bake again (a new epoch: approvals bind to it). */
export function restartBake(
  c: CampaignContext,
  state: CampaignState,
  reason: string,
  routeEpochs: Record<string, number>,
  now: number,
): void {
  const b = state.bake;
  if (!b) return;
  const step = c.input.plan.steps[state.stepIndex]!;
  state.bake = { startedAt: now, until: now + step.bakeMs, measurements: [], routeEpochs };
  state.epoch += 1;
  note(c, state, { event: `bake restarted: ${reason}`, evidence: { measurementsDropped: b.measurements.length } }, now);
}

/** A search attribute an action changed; the workflow upserts each, in order. */
export type ChangedAttribute = 'phase' | 'ring';

/**
 * Applies the state part of an action at `now` (the workflow has done its activities): records its
 * notes, then its change. Returns the search attributes it changed, in order.
 */
export function applyAction(
  c: CampaignContext,
  state: CampaignState,
  a: Exclude<CampaignAction, { type: 'done' | 'observe' | 'wait' | 'move-units' | 'measure' }>,
  now: number,
): ChangedAttribute[] {
  const changed: ChangedAttribute[] = [];
  const setPhase = (phase: CampaignPhase) => {
    if (state.phase === phase) return;
    state.phase = phase;
    changed.push('phase');
  };
  const markFailed = (gate: string | undefined) => {
    for (const g of state.gates) if (g.name === gate) g.status = 'failed';
  };
  switch (a.type) {
    case 'set-phase':
      setPhase(a.phase);
      break;
    case 'request-approval':
      state.approval = requestApproval({
        binding: a.binding,
        requestedBy: c.input.actor,
        ...(state.requesterKey ? { requestedByKey: state.requesterKey } : {}),
        now,
        ttlMs: c.input.approvalTtlMs,
        evidence: a.evidence,
      });
      setPhase('awaiting-approval');
      break;
    case 'next-step': {
      if (a.useApproval) {
        state.approvals.push(consume(state.approval!, a.useApproval, now));
        state.approval = undefined;
        setPhase('running');
      }
      if (a.moveStarted) state.moveStartedAt = iso(now);
      for (const n of a.notes) note(c, state, n, now);
      const steps = c.input.plan.steps;
      const passed = steps[state.stepIndex];
      state.stepIndex += 1;
      // Sealed units are shown by `viewOf` from now on; their views would only weigh on continue-as-new.
      if (passed) for (const u of passed.units) if (settledPhase(steps, c.sealing, state.stepIndex, u)) delete state.units[u];
      state.bake = undefined;
      state.advance = undefined;
      if (steps[state.stepIndex]) changed.push('ring');
      return changed;
    }
    case 'start-bake':
      state.bake = { startedAt: a.startedAt, until: a.until, measurements: [], routeEpochs: a.routeEpochs };
      setPhase('baking');
      break;
    case 'restart-bake':
      restartBake(c, state, a.reason, a.routeEpochs, now);
      break;
    case 'hold':
      markFailed(a.failedGate);
      state.hold = { ...a.hold, at: iso(now) };
      setPhase('held');
      break;
    case 'roll-back-ring':
      markFailed(a.failedGate);
      state.rollback = { command: 'rollback', actor: c.actor, commandId: a.commandId, reason: a.reason, at: iso(now) };
      break;
    case 'begin-rollback':
      state.rollback!.units = a.units;
      state.bake = undefined;
      state.hold = undefined;
      state.approval = undefined;
      state.epoch += 1;
      setPhase('rolling-back');
      break;
    case 'rollback-blocked':
      state.rollback!.units = a.keep;
      break;
    case 'rolled-back':
      setPhase('rolled-back');
      break;
    case 'complete':
      setPhase('completed');
      break;
  }
  if ('notes' in a) for (const n of a.notes) note(c, state, n, now);
  return changed;
}
