/**
 * How an entity's state changes (pure: no Temporal imports; the time arrives as an argument): operator
 * commands applied or refused, phase changes, and the planner's bookkeeping actions. The workflow calls
 * these and adds only what talks to Temporal (search attributes, logs, timers, activities).
 */
import { appendAudit, type AuditEntry } from '../audit/chain';
import { noOpLine } from '../domain/commands';
import { authorize, type AuthContext, type AuthOutcome, type Signer } from '../operators/policy';
import { digestOf } from '../operators/signing';
import { FORWARD_PHASES, MAX_REMEMBERED_COMMANDS } from '../domain/constants';
import type { CommandName, MigrationState, Observations, Phase, UnitMigrationInput } from '../domain/migration';
import { advanceCovers, checkCommand, type Action } from './planner';
import { evidenceOf } from './unit-view';

const MAX_REJECTED = 100;
/** How long a request to terminate stragglers stays open by default. */
export const DEFAULT_STRAGGLER_APPROVAL_TTL_MS = 3_600_000;

/** An audit line in the current phase (commands, skipped bakes, terminations). */
export function note(state: MigrationState, at: string, reason: string, by: string, evidence?: Record<string, unknown>): void {
  state.history.push({ phase: state.phase, at, actor: by, reason, ...(evidence ? { evidence } : {}) });
}

/** What became of a command: `repeat` (its ID was seen: nothing recorded), refused, a recorded no-op, or applied. */
export type CommandOutcome =
  { outcome: 'repeat' } | { outcome: 'rejected'; reason: string } | { outcome: 'no-op' } | { outcome: 'applied' };

/** Appends to the unit's audit log, when it keeps one (runs begun before it existed do not). */
export function audit(state: MigrationState, entry: AuditEntry, at: string): void {
  if (state.audit) appendAudit(state.audit, entry, at);
}

function remember(state: MigrationState, commandId: string | undefined): void {
  if (typeof commandId !== 'string' || commandId === '') return;
  state.seenCommandIds.push(commandId);
  if (state.seenCommandIds.length > MAX_REMEMBERED_COMMANDS) state.seenCommandIds.shift();
}

function refuse(
  state: MigrationState,
  name: CommandName,
  at: string,
  r: { reason: string; code?: string; commandId?: string; actor?: string },
  signer?: Signer,
): CommandOutcome {
  state.rejected.push({
    command: name,
    commandId: r.commandId,
    actor: r.actor,
    reason: r.reason,
    ...(r.code ? { code: r.code } : {}),
    phase: state.phase,
    at,
  });
  if (state.rejected.length > MAX_REJECTED) state.rejected.shift();
  audit(
    state,
    {
      kind: 'command',
      command: name,
      verdict: 'refused',
      actor: r.actor,
      commandId: r.commandId,
      reason: r.reason,
      code: r.code,
      signer: signed(signer),
    },
    at,
  );
  return { outcome: 'rejected', reason: r.reason };
}

const signed = (s: Signer | undefined) => s && { name: s.name, publicKey: s.publicKey, body: s.body, sig: s.sig };

/**
 * Applies an operator command to the state: its signature checked (when the plan lists operators),
 * deduped by command ID, checked by the planner's rules, and recorded (refusals in `rejected`, the rest
 * in the history; every verdict in the audit log). `idOptional`: a safe command may come without an ID
 * (then it is deduped by what it is).
 */
export function applyCommand(
  state: MigrationState,
  name: CommandName,
  received: unknown,
  at: string,
  opts: { idOptional: boolean; auth?: AuthContext },
): CommandOutcome {
  const auth: AuthOutcome = opts.auth ? authorize(name, received, opts.auth) : { ok: true, payload: received };
  if (!auth.ok) {
    // Refused before anything else: a resend of a refused signed command is refused (and recorded) again.
    remember(state, auth.commandId);
    return refuse(state, name, at, { reason: auth.reason, code: auth.code, commandId: auth.commandId, actor: auth.by });
  }
  const { payload, signer } = auth;
  const commandId = typeof payload === 'object' && payload !== null ? (payload as { commandId?: unknown }).commandId : undefined;
  if (typeof commandId === 'string' && state.seenCommandIds.includes(commandId)) {
    // A signed command is a capability: its second arrival is a replay, recorded. An unsigned resend is a retry.
    if (!signer) return { outcome: 'repeat' };
    return refuse(
      state,
      name,
      at,
      {
        reason: `commandId: ${commandId} was already used; a signed command is taken once (sign a new one)`,
        code: 'replayed',
        commandId,
        actor: signer.name,
      },
      signer,
    );
  }
  const verdict = checkCommand(name, payload, state, { idOptional: opts.idOptional });
  remember(state, typeof commandId === 'string' ? commandId : undefined);
  if (verdict.verdict === 'reject') {
    const { record } = verdict;
    return refuse(state, name, at, { reason: verdict.reason, commandId: record?.commandId, actor: record?.actor }, signer);
  }
  const rec = verdict.record;
  if (name === 'approve') {
    const why = approvalBindingProblem(state, payload, Date.parse(at), !!signer);
    if (why) return refuse(state, name, at, { reason: why.reason, code: why.code, commandId: rec.commandId, actor: rec.actor }, signer);
  }
  const auditCommand = (verdictName: 'accepted' | 'no-op') =>
    audit(
      state,
      {
        kind: 'command',
        command: name,
        verdict: verdictName,
        actor: rec.actor,
        commandId: rec.commandId,
        reason: rec.reason,
        signer: signed(signer),
        unsigned: auth.unsignedNote,
      },
      at,
    );
  if (verdict.verdict === 'no-op') {
    note(state, at, noOpLine(name, rec, verdict.why), rec.actor, { noOp: true });
    auditCommand('no-op');
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
  const evidence = {
    ...(rec.commandId ? { commandId: rec.commandId } : {}),
    ...(signer ? { signedBy: signer.name, key: signer.publicKey } : {}),
    ...(opts.auth?.operators?.length && !signer ? { unsigned: true } : {}),
  };
  note(state, at, said, rec.actor, Object.keys(evidence).length ? evidence : undefined);
  auditCommand('accepted');
  return { outcome: 'applied' };
}

/**
 * An approval to terminate stragglers binds to the exact runs it lists and expires. A signed approve must
 * name the runs' digest (so the signer approved these runs); an unsigned one may, and is then checked too.
 */
function approvalBindingProblem(
  state: MigrationState,
  payload: unknown,
  now: number,
  signedCommand: boolean,
): { reason: string; code: string } | undefined {
  const a = state.approval;
  if (!a) return undefined;
  if (a.expiresAt !== undefined && now >= a.expiresAt)
    return {
      code: 'expired',
      reason: `approval: the request expired at ${new Date(a.expiresAt).toISOString()}; a new one is asked with the runs open now`,
    };
  const named = (payload as { runsDigest?: unknown }).runsDigest;
  if (a.runsDigest === undefined) return undefined;
  if (named === undefined && signedCommand)
    return {
      code: 'wrong-binding',
      reason: 'runsDigest: a signed approve names the runs it approves; copy status.approval.runsDigest (the CLI does)',
    };
  if (named !== undefined && named !== a.runsDigest)
    return {
      code: 'wrong-binding',
      reason: `runsDigest: approves other runs than the request lists (${a.runsDigest.slice(0, 12)}…); read status again`,
    };
  return undefined;
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
    ...(state.routeWatch?.forced ? [{ name: `route back to the source (forced by ${state.routeWatch.forced.by})`, done: true }] : []),
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
    case 'request-approval': {
      // Bound to the runs the last count saw: the approval terminates exactly these, never a run started later.
      const runs = state.stragglerRuns ?? [];
      state.approval = {
        kind: 'terminate-stragglers',
        requestedAt: at,
        count: action.count,
        runs,
        runsDigest: digestOf(runs),
        expiresAt: now + (input.approvalTtlMs ?? DEFAULT_STRAGGLER_APPROVAL_TTL_MS),
      };
      if (state.drain) state.drain.stragglersTerminated = false;
      note(state, at, `approval requested to terminate ${runs.length} straggler run(s) of ${action.count} open`, 'cutover', {
        stragglers: state.stragglers,
        runsDigest: state.approval.runsDigest,
      });
      return;
    }
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
