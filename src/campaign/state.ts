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
import {
  CAMPAIGN_HISTORY_BOUND,
  clipText,
  countTruncated,
  pushBounded,
  REJECTED_BOUND,
  SIGNAL_NAME_MAX_BYTES,
  SIGNAL_TEXT_MAX_BYTES,
  type Truncated,
} from '../domain/bounds';
import { rememberCommand } from '../operators/command-ids';
import type { Signer } from '../operators/policy';
import type { SignedVerdict } from './commands';
import type { UnitView } from './driver';
import { settledPhase } from './driver';
import type { CampaignAction, CampaignContext, Note } from './planner';
import type { CampaignHistoryEntry, CampaignInput, CampaignPhase, CampaignState } from './types';
import { unitProblem } from './units';

/** The campaign's signals, as a refusal of an unknown one names them. */
export const CAMPAIGN_SIGNALS = ['advance', 'pause', 'resume', 'rollback', 'approve'] as const;

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

function truncated(state: CampaignState): Truncated {
  return (state.truncated ??= {});
}

/** A line an operator's command wrote (its command ID, or a no-op): dropped before the campaign's own lines. */
const isCommandLine = (h: CampaignHistoryEntry) => h.evidence?.commandId !== undefined || h.evidence?.noOp === true;

/** The oldest command line after the first line; else the oldest line after the first. */
function oldestCommandLine(list: readonly CampaignHistoryEntry[]): number {
  for (let i = 1; i < list.length - 1; i++) if (isCommandLine(list[i]!)) return i;
  return 1;
}

/**
 * Adds a line to the campaign's story (the current step's number, when there is one), within
 * CAMPAIGN_HISTORY_BOUND: the oldest command lines go first, then the oldest lines after the first.
 */
export function note(c: CampaignContext, state: CampaignState, n: Note, now: number): void {
  const step = c.input.plan.steps[state.stepIndex];
  const dropped = pushBounded(
    state.history,
    { at: iso(now), ...(step ? { step: step.n } : {}), ...n },
    CAMPAIGN_HISTORY_BOUND,
    oldestCommandLine,
  );
  if (dropped) countTruncated(truncated(state), 'history', dropped);
}

/** A refusal as the state keeps it: in `rejected` (bounded, free text clipped) and in the audit log. */
function recordRefusal(
  state: CampaignState,
  v: { command: string; commandId?: string; actor?: string; reason: string; code: string; signer?: Signer },
  now: number,
): void {
  const clip = () => countTruncated(truncated(state), 'clipped');
  const commandId = v.commandId === undefined ? undefined : clipText(v.commandId, SIGNAL_NAME_MAX_BYTES, clip);
  const actor = v.actor === undefined ? undefined : clipText(v.actor, SIGNAL_NAME_MAX_BYTES, clip);
  const reason = clipText(v.reason, SIGNAL_TEXT_MAX_BYTES, clip);
  const rec = {
    command: v.command,
    ...(commandId !== undefined ? { commandId } : {}),
    ...(actor !== undefined ? { actor } : {}),
    reason,
    code: v.code,
    at: iso(now),
  };
  const dropped = pushBounded(state.rejected, rec, REJECTED_BOUND);
  if (dropped) countTruncated(truncated(state), 'rejected', dropped);
  const signer = v.signer && { name: v.signer.name, publicKey: v.signer.publicKey, body: v.signer.body, sig: v.signer.sig };
  auditCampaign(state, { kind: 'command', command: v.command, verdict: 'refused', actor, commandId, reason, code: v.code, signer }, now);
}

/** Remembers a command's ID (so a resend is a no-op, or refused when it carries another command). */
function rememberId(state: CampaignState, id: string | undefined, digest: string): void {
  if (!id) return;
  const forgotten = rememberCommand(state, id, digest);
  if (forgotten) countTruncated(truncated(state), 'commandIds', forgotten);
}

/**
 * Records a signal the campaign has no handler for (a misspelt name): refused with code `unknown-signal`,
 * naming the signals it takes. Its command ID is not remembered (a junk name must not push real IDs out).
 */
export function recordUnknownSignal(state: CampaignState, signalName: string, payload: unknown, now: number): void {
  const p = (typeof payload === 'object' && payload !== null ? payload : {}) as { actor?: unknown; commandId?: unknown };
  const name = clipText(signalName, SIGNAL_NAME_MAX_BYTES, () => countTruncated(truncated(state), 'clipped'));
  recordRefusal(
    state,
    {
      command: name,
      ...(typeof p.commandId === 'string' && p.commandId !== '' ? { commandId: p.commandId } : {}),
      ...(typeof p.actor === 'string' && p.actor !== '' ? { actor: p.actor } : {}),
      reason: `signal: "${name}" is not a signal of this workflow; send one of ${CAMPAIGN_SIGNALS.join(', ')}`,
      code: 'unknown-signal',
    },
    now,
  );
}

/**
 * Records a checked command: its ID (so a resend is a no-op), then the refusal, or the command's effect and a
 * line of history. What the state keeps of it has its free text clipped (domain/bounds.ts).
 */
export function recordCommand(c: CampaignContext, state: CampaignState, v: Exclude<SignedVerdict, { kind: 'repeat' }>, now: number): void {
  if (v.remember) rememberId(state, v.remember.id, v.remember.digest);
  else if (v.remember === undefined) rememberId(state, v.kind === 'refuse' ? v.commandId : v.command.commandId, '');
  if (v.clipped) countTruncated(truncated(state), 'clipped', v.clipped);
  const signer = v.signer && { name: v.signer.name, publicKey: v.signer.publicKey, body: v.signer.body, sig: v.signer.sig };
  if (v.kind === 'refuse') return recordRefusal(state, v, now);
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
