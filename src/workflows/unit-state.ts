/**
 * How an entity's state changes (pure: no Temporal imports; the time arrives as an argument): operator
 * commands applied or refused, phase changes, and the planner's bookkeeping actions. The workflow calls
 * these and adds only what talks to Temporal (search attributes, logs, timers, activities).
 */
import { noOpLine } from '../domain/commands';
import { FORWARD_PHASES, MAX_REMEMBERED_COMMANDS } from '../domain/constants';
import type { CommandName, MigrationState, Observations, Phase, UnitMigrationInput } from '../domain/migration';
import { advanceCovers, checkCommand, type Action } from './planner';
import { evidenceOf } from './unit-view';

const MAX_REJECTED = 100;

/** An audit line in the current phase (commands, skipped bakes, terminations). */
export function note(state: MigrationState, at: string, reason: string, by: string, evidence?: Record<string, unknown>): void {
  state.history.push({ phase: state.phase, at, actor: by, reason, ...(evidence ? { evidence } : {}) });
}

/** What became of a command: `repeat` (its ID was seen: nothing recorded), refused, a recorded no-op, or applied. */
export type CommandOutcome =
  { outcome: 'repeat' } | { outcome: 'rejected'; reason: string } | { outcome: 'no-op' } | { outcome: 'applied' };

/**
 * Applies an operator command to the state: deduped by command ID, checked by the planner's rules, and
 * recorded (refusals in `rejected`, the rest in the history). `idOptional`: a safe command may come without
 * an ID (then it is deduped by what it is).
 */
export function applyCommand(
  state: MigrationState,
  name: CommandName,
  payload: unknown,
  at: string,
  opts: { idOptional: boolean },
): CommandOutcome {
  const commandId = typeof payload === 'object' && payload !== null ? (payload as { commandId?: unknown }).commandId : undefined;
  if (typeof commandId === 'string' && state.seenCommandIds.includes(commandId)) return { outcome: 'repeat' };
  const verdict = checkCommand(name, payload, state, opts);
  if (typeof commandId === 'string' && commandId !== '') {
    state.seenCommandIds.push(commandId);
    if (state.seenCommandIds.length > MAX_REMEMBERED_COMMANDS) state.seenCommandIds.shift();
  }
  if (verdict.verdict === 'reject') {
    const { record } = verdict;
    state.rejected.push({
      command: name,
      commandId: record?.commandId,
      actor: record?.actor,
      reason: verdict.reason,
      phase: state.phase,
      at,
    });
    if (state.rejected.length > MAX_REJECTED) state.rejected.shift();
    return { outcome: 'rejected', reason: verdict.reason };
  }
  const rec = verdict.record;
  if (verdict.verdict === 'no-op') {
    note(state, at, noOpLine(name, rec, verdict.why), rec.actor, { noOp: true });
    return { outcome: 'no-op' };
  }
  switch (name) {
    case 'advance':
      state.advance = rec;
      // A standing advance only when `until` lies ahead; otherwise this is a plain advance.
      if (rec.until && FORWARD_PHASES.indexOf(rec.until) > (FORWARD_PHASES as readonly string[]).indexOf(state.phase)) {
        // Only pause and rollback may come without an ID: an advance always carries one.
        state.advanceUntil = { phase: rec.until, actor: rec.actor, commandId: rec.commandId ?? '' };
      }
      break;
    case 'pause':
      state.paused = { actor: rec.actor, reason: rec.reason, at };
      break;
    case 'resume':
      state.paused = undefined;
      break;
    case 'rollback':
      state.rollback = { ...rec, from: state.phase, at };
      break;
    case 'approve':
      if (state.approval) state.approval.approvedBy = rec.actor;
      break;
  }
  const said = `${name} by ${rec.actor}${rec.reason ? `: ${rec.reason}` : ''}`;
  note(state, at, said, rec.actor, rec.commandId ? { commandId: rec.commandId } : undefined);
  return { outcome: 'applied' };
}

/**
 * The state's side of a phase change: who and why (the operator's command, when one led here), the evidence
 * of the phase left, and what entering `to` resets (a rollback lists its compensations).
 */
export function enterPhase(state: MigrationState, to: Phase, reason: string, at: string, clear: (keyof Observations)[] = []): void {
  const from = state.phase;
  const by =
    to === 'rolling-back'
      ? state.rollback?.actor
      : (state.advance?.actor ?? (advanceCovers(state, to) ? state.advanceUntil?.actor : undefined));
  const why = (to === 'rolling-back' ? state.rollback?.reason : state.advance?.reason) ?? reason;
  const evidence = evidenceOf(state, from);
  for (const k of clear) delete state.obs[k];
  state.phase = to;
  if (to !== 'failed') state.failure = undefined;
  state.advance = undefined;
  state.approval = undefined;
  // Reached, or left the forward path (rollback, failure): the standing advance ends.
  if (state.advanceUntil && (to === state.advanceUntil.phase || !advanceCovers(state, to))) state.advanceUntil = undefined;
  if (to === 'rolling-back') {
    state.drain = undefined;
    state.stragglers = [];
    state.compensations = compensationsOf(state);
  }
  state.history.push({ phase: to, at, actor: by ?? 'cutover', reason: why, ...(evidence ? { evidence } : {}) });
}

/** A rollback's compensations, in reverse of the forward steps that need one. */
function compensationsOf(state: MigrationState): MigrationState['compensations'] {
  const r = state.route;
  return [
    ...(state.schedules?.forward ? [{ name: 'switch schedules back to the source', done: false }] : []),
    ...(r.epoch > 0 && (r.kind !== 'side' || r.side !== 'source' || r.sourceWorkersMayStop)
      ? [{ name: 'route back to the source', done: false }]
      : []),
    ...(state.moveStartedAt ? [{ name: 'drain the target', done: false }] : []),
    ...(state.schedules?.copy ? [{ name: 'keep the paused schedule copies on the target (harmless; delete by hand)', done: true }] : []),
    ...(state.obs.provision
      ? [{ name: 'keep the provisioned target namespace and search attributes (harmless; remove by hand)', done: true }]
      : []),
  ];
}

/** Marks the rollback's compensation whose name starts with `prefix` done. */
export function markCompensation(state: MigrationState, prefix: string): void {
  const c = state.compensations.find((x) => x.name.startsWith(prefix));
  if (c) c.done = true;
}

/** The planner's actions that only change the state (bakes, drains, approvals, reports, an automatic rollback). */
export type Bookkeeping = Extract<
  Action,
  { type: 'start-bake' | 'end-bake' | 'start-drain' | 'request-approval' | 'clear' | 'report-stragglers' | 'roll-back' }
>;

/** Applies a bookkeeping action at `now` (ms; `at` is the same instant as ISO text). */
export function applyBookkeeping(state: MigrationState, input: UnitMigrationInput, action: Bookkeeping, now: number, at: string): void {
  switch (action.type) {
    case 'start-bake':
      state.canary.bakeUntil = action.until;
      return;
    case 'end-bake': {
      const pct = input.percentSteps[state.canary.index];
      state.gates.push({
        name: `bake ${pct}%`,
        result: 'successful',
        at,
        message: action.skipped ? `skipped by ${state.advance?.actor}` : `baked ${input.bakeMs} ms`,
      });
      if (action.skipped && state.advance) note(state, at, `bake of ${pct}% skipped`, state.advance.actor);
      if (action.skipped) state.advance = undefined;
      state.canary = { index: state.canary.index + 1 };
      return;
    }
    case 'start-drain':
      state.drain = { side: action.side, startedAt: now, deadlineAt: action.deadlineAt, samples: [] };
      return;
    case 'request-approval':
      state.approval = { kind: 'terminate-stragglers', requestedAt: at, count: action.count };
      note(state, at, `approval requested to terminate ${action.count} straggler(s)`, 'cutover', { stragglers: state.stragglers });
      return;
    case 'clear':
      for (const k of action.keys) delete state.obs[k];
      note(state, at, action.reason, state.advance?.actor ?? 'cutover');
      state.advance = undefined;
      return;
    case 'report-stragglers':
      if (state.drain) state.drain.deadlineReported = true;
      note(state, at, `drain deadline passed: ${state.stragglers.length} straggler(s) reported`, 'cutover', {
        side: action.side,
        stragglers: state.stragglers,
      });
      return;
    case 'roll-back':
      state.rollback = {
        command: 'rollback',
        actor: 'cutover',
        commandId: `auto-${state.stepSeq}`,
        reason: action.reason,
        from: state.phase,
        at,
      };
      return;
  }
}
