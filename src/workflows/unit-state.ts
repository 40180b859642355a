/**
 * How an entity's state changes (pure: no Temporal imports; the time arrives as an argument): operator
 * commands applied or refused, phase changes, and the planner's bookkeeping actions. The workflow calls
 * these and adds only what talks to Temporal (search attributes, logs, timers, activities).
 */
import { appendAudit, type AuditEntry } from '../audit/chain';
import {
  clipPayload,
  clipText,
  countTruncated,
  HISTORY_BOUND,
  pushBounded,
  REJECTED_BOUND,
  SIGNAL_NAME_MAX_BYTES,
  SIGNAL_TEXT_MAX_BYTES,
  SIGNED_BODY_MAX_BYTES,
  type Truncated,
} from '../domain/bounds';
import { noOpLine } from '../domain/commands';
import { commandDigest, priorUse, rememberCommand, wasSeen } from '../operators/command-ids';
import { authorize, type AuthContext, type AuthOutcome, type Signer } from '../operators/policy';
import { digestOf } from '../operators/signing';
import { FORWARD_PHASES } from '../domain/constants';
import type { CommandName, HistoryEntry, MigrationState, Observations, Phase, UnitMigrationInput } from '../domain/migration';
import { approve as approveTwoPerson, consume, parseApprove, requestApproval } from '../approvals/two-person';
import { advanceCovers, checkCommand, handoffsToReturn, pendingReversal, routeMustGoBack, type Action } from './planner';
import { evidenceOf } from './unit-view';

/** How long a request to terminate stragglers stays open by default. */
export const DEFAULT_STRAGGLER_APPROVAL_TTL_MS = 3_600_000;

/** The entity's signals, as a refusal of an unknown one names them. */
export const UNIT_SIGNALS: readonly CommandName[] = ['advance', 'pause', 'resume', 'rollback', 'approve', 'finalize'];

/**
 * The binding's `ring` of a rollback-after-completion approval: the request is bound to the unit's workflow, this,
 * the request's number and the route epoch, so an approval of an older request (or of another unit) is refused.
 */
export const REVERSAL_BINDING = 'rollback-after-completion';

/** An audit line in the current phase (commands, skipped bakes, terminations). */
export function note(state: MigrationState, at: string, reason: string, by: string, evidence?: Record<string, unknown>): void {
  pushHistory(state, { phase: state.phase, at, actor: by, reason, ...(evidence ? { evidence } : {}) });
}

function truncated(state: MigrationState): Truncated {
  return (state.truncated ??= {});
}

/**
 * Appends a line to the unit's story within HISTORY_BOUND. The oldest notes (lines in the same phase as the
 * line before) go first; the first line (when the migration began: a campaign reads it) and the phase
 * changes go only when nothing else is left to drop.
 */
export function pushHistory(state: MigrationState, entry: HistoryEntry): void {
  const dropped = pushBounded(state.history, entry, HISTORY_BOUND, oldestNote);
  if (dropped) countTruncated(truncated(state), 'history', dropped);
}

/** The oldest line that is a note (not the first line, not a phase change); else the oldest after the first. */
function oldestNote(list: readonly HistoryEntry[]): number {
  for (let i = 1; i < list.length - 1; i++) if (list[i]!.phase === list[i - 1]!.phase) return i;
  return 1;
}

/** What became of a command: `repeat` (its ID was seen: nothing recorded), refused, a recorded no-op, or applied. */
export type CommandOutcome =
  { outcome: 'repeat' } | { outcome: 'rejected'; reason: string } | { outcome: 'no-op' } | { outcome: 'applied' };

/** Appends to the unit's audit log, when it keeps one (runs begun before it existed do not). */
export function audit(state: MigrationState, entry: AuditEntry, at: string): void {
  if (state.audit) appendAudit(state.audit, entry, at);
}

function remember(state: MigrationState, commandId: string | undefined, digest: string): void {
  if (typeof commandId !== 'string' || commandId === '') return;
  const forgotten = rememberCommand(state, commandId, digest);
  if (forgotten) countTruncated(truncated(state), 'commandIds', forgotten);
}

function refuse(
  state: MigrationState,
  name: string,
  at: string,
  r: { reason: string; code?: string; commandId?: string; actor?: string },
  signer?: Signer,
): CommandOutcome {
  // What a refusal keeps of the signal is clipped (its reason may quote what was sent).
  const clip = () => countTruncated(truncated(state), 'clipped');
  const commandId = r.commandId === undefined ? undefined : clipText(r.commandId, SIGNAL_NAME_MAX_BYTES, clip);
  const actor = r.actor === undefined ? undefined : clipText(r.actor, SIGNAL_NAME_MAX_BYTES, clip);
  const reason = clipText(r.reason, SIGNAL_TEXT_MAX_BYTES, clip);
  const dropped = pushBounded(
    state.rejected,
    { command: name, commandId, actor, reason, ...(r.code ? { code: r.code } : {}), phase: state.phase, at },
    REJECTED_BOUND,
  );
  if (dropped) countTruncated(truncated(state), 'rejected', dropped);
  audit(state, { kind: 'command', command: name, verdict: 'refused', actor, commandId, reason, code: r.code, signer: signed(signer) }, at);
  return { outcome: 'rejected', reason };
}

/**
 * Records a signal the unit has no handler for (a misspelt name): refused with code `unknown-signal`, naming
 * the signals it takes. Its command ID, if any, is not remembered (a junk name must not push real IDs out).
 */
export function refuseUnknownSignal(state: MigrationState, signalName: string, payload: unknown, at: string): CommandOutcome {
  const p = (typeof payload === 'object' && payload !== null ? payload : {}) as { actor?: unknown; commandId?: unknown };
  const name = clipText(signalName, SIGNAL_NAME_MAX_BYTES, () => countTruncated(truncated(state), 'clipped'));
  return refuse(state, name, at, {
    reason: `signal: "${name}" is not a signal of this workflow; send one of ${UNIT_SIGNALS.join(', ')}`,
    code: 'unknown-signal',
    ...(typeof p.commandId === 'string' && p.commandId !== '' ? { commandId: p.commandId } : {}),
    ...(typeof p.actor === 'string' && p.actor !== '' ? { actor: p.actor } : {}),
  });
}

const signed = (s: Signer | undefined) => s && { name: s.name, publicKey: s.publicKey, body: s.body, sig: s.sig };

const actorOf = (payload: unknown): string | undefined => {
  const a = typeof payload === 'object' && payload !== null ? (payload as { actor?: unknown }).actor : undefined;
  return typeof a === 'string' && a !== '' ? a : undefined;
};

/**
 * Applies an operator command to the state: its signature checked (when the plan lists operators),
 * deduped by command ID, checked by the planner's rules, and recorded (refusals in `rejected`, the rest
 * in the history; every verdict in the audit log). `idOptional`: a safe command may come without an ID
 * (then it is deduped by what it is). `bounded` (runs on code with the bounds): a signed body over
 * SIGNED_BODY_MAX_BYTES is refused, and a command ID seen with another command is refused
 * (`reused-command-id`) instead of dropped as a retry. Free text is clipped either way (domain/bounds.ts).
 */
export function applyCommand(
  state: MigrationState,
  name: CommandName,
  received: unknown,
  at: string,
  opts: { idOptional: boolean; auth?: AuthContext; bounded?: boolean; approvalTtlMs?: number },
): CommandOutcome {
  const ctx = opts.auth && opts.bounded ? { ...opts.auth, maxBodyBytes: SIGNED_BODY_MAX_BYTES } : opts.auth;
  const auth: AuthOutcome = ctx ? authorize(name, received, ctx) : { ok: true, payload: received };
  if (!auth.ok) {
    // Refused before anything else: a resend of a refused signed command is refused (and recorded) again.
    remember(state, auth.commandId, commandDigest(name, clipPayload(received)));
    return refuse(state, name, at, { reason: auth.reason, code: auth.code, commandId: auth.commandId, actor: auth.by });
  }
  const { signer } = auth;
  const commandId =
    typeof auth.payload === 'object' && auth.payload !== null ? (auth.payload as { commandId?: unknown }).commandId : undefined;
  const payload = clipPayload(auth.payload, () => countTruncated(truncated(state), 'clipped'));
  // Of the command as kept: hashing a clipped payload keeps a burst of large signals cheap (a reason that
  // differs only past its first KiB, with the same length, is taken for the same command).
  const digest = commandDigest(name, payload);
  if (typeof commandId === 'string' && wasSeen(state, commandId)) {
    const by = clipText(signer?.name ?? actorOf(payload) ?? '', SIGNAL_NAME_MAX_BYTES);
    // A signed command is a capability: its second arrival is a replay, recorded. An unsigned resend is a retry.
    if (signer)
      return refuse(
        state,
        name,
        at,
        {
          reason: `commandId: ${commandId} was already used; a signed command is taken once (sign a new one)`,
          code: 'replayed',
          commandId,
          actor: by,
        },
        signer,
      );
    // The same ID with another command is no retry: refused (and recorded), so the sender learns its command was not taken.
    if (opts.bounded && priorUse(state, commandId, digest) === 'other')
      return refuse(state, name, at, {
        reason: `commandId: ${commandId} was already used for another command; send a new command ID (a retry resends the same command)`,
        code: 'reused-command-id',
        commandId,
        ...(by ? { actor: by } : {}),
      });
    return { outcome: 'repeat' };
  }
  const verdict = checkCommand(name, payload, state, { idOptional: opts.idOptional, now: Date.parse(at) });
  remember(state, typeof commandId === 'string' ? commandId : undefined, digest);
  if (verdict.verdict === 'reject') {
    const { record } = verdict;
    return refuse(state, name, at, { reason: verdict.reason, commandId: record?.commandId, actor: record?.actor }, signer);
  }
  const rec = verdict.record;
  // A rollback of a completed unit, or an approval of one: the two-person request (below) decides.
  if (state.phase === 'completed' && (name === 'rollback' || name === 'approve') && state.reversible) {
    const r = reversalCommand(state, name, payload, at, signer, opts);
    if (r) return refuse(state, name, at, { reason: r.reason, code: r.code, commandId: rec.commandId, actor: rec.actor }, signer);
  }
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
    case 'finalize':
      if (state.reversible) state.reversible.finalize = rec;
      break;
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
      // A completed unit's rollback opened a request (reversalCommand); it rolls back once two approve.
      if (state.phase !== 'completed') state.rollback = { ...rec, from: state.phase, at };
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
 * A rollback of a reversible completed unit opens a two-person request (src/approvals/two-person.ts): two
 * distinct approvers, neither the requester (with keys: two distinct keys), bound to this request and the route
 * epoch, expiring (`approvalTtlMs`, one hour by default). An approval that grants it sets the rollback, which the
 * planner carries out as any other. Returns why the command is refused, or undefined when it was taken.
 */
function reversalCommand(
  state: MigrationState,
  name: 'rollback' | 'approve',
  payload: unknown,
  at: string,
  signer: Signer | undefined,
  opts: { auth?: AuthContext; approvalTtlMs?: number },
): { reason: string; code?: string } | undefined {
  const r = state.reversible!;
  const now = Date.parse(at);
  const p = payload as { actor: string; reason?: string; commandId?: string };
  if (name === 'rollback') {
    r.requests += 1;
    const rollback = {
      command: 'rollback' as const,
      actor: p.actor,
      ...(p.commandId ? { commandId: p.commandId } : {}),
      ...(p.reason !== undefined ? { reason: p.reason } : {}),
    };
    r.request = {
      rollback,
      approval: requestApproval({
        binding: { campaign: opts.auth?.workflowId ?? '', ring: REVERSAL_BINDING, step: r.requests, epoch: state.route.epoch },
        requestedBy: p.actor,
        ...(signer ? { requestedByKey: signer.publicKey } : {}),
        now,
        ttlMs: opts.approvalTtlMs ?? DEFAULT_STRAGGLER_APPROVAL_TTL_MS,
        evidence: { route: state.route, counts: state.counts, completedAt: r.completedAt, reason: p.reason },
      }),
    };
    return undefined;
  }
  const pending = pendingReversal(state, now)!;
  const parsed = parseApprove(payload);
  if (!parsed.ok) return { reason: `${parsed.field}: ${parsed.message}; ${parsed.hint} (status.reversal.binding)`, code: parsed.refusal };
  // The key comes from the verified signature, never from the payload.
  const command = { ...parsed.command, ...(signer ? { key: signer.publicKey } : {}) };
  delete (command as { campaign?: string }).campaign;
  const out = approveTwoPerson(pending.approval, command, now);
  if (!out.ok) return { reason: `${out.field}: ${out.message}; ${out.hint}`, code: out.refusal };
  pending.approval = out.request;
  if (out.granted) {
    pending.approval = consume(out.request, out.request.binding, now);
    const approvers = pending.approval.approvals.map((a) => a.actor).join(' and ');
    state.rollback = {
      ...pending.rollback,
      reason: `${pending.rollback.reason ?? 'rollback after completion'} (approved by ${approvers})`,
      from: 'completed',
      at,
    };
  }
  return undefined;
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
  // The clock a reversible unit's finalizeAfter counts from.
  if (to === 'completed' && state.reversible) state.reversible.completedAt = Date.parse(at);
  state.advance = undefined;
  state.approval = undefined;
  // Reached, or left the forward path (rollback, failure): the standing advance ends.
  if (state.advanceUntil && (to === state.advanceUntil.phase || !advanceCovers(state, to))) state.advanceUntil = undefined;
  if (to === 'rolling-back') {
    state.drain = undefined;
    state.stragglers = [];
    state.compensations = compensationsOf(state);
  }
  pushHistory(state, { phase: to, at, actor: by ?? 'cutover', reason: why, ...(evidence ? { evidence } : {}) });
}

/** A rollback's compensations, in the order they run (planner.ts `rollingBack`). */
function compensationsOf(state: MigrationState): MigrationState['compensations'] {
  const schedules = state.schedules?.forward ? [{ name: 'switch schedules back to the source', done: false }] : [];
  const route = routeMustGoBack(state.route) ? [{ name: 'route back to the source', done: false }] : [];
  return [
    ...(state.rollback?.routeFirst ? [...route, ...schedules] : [...schedules, ...route]),
    ...(handoffsToReturn(state).length > 0
      ? [{ name: `hand back ${handoffsToReturn(state).length} run(s) handed off to the target`, done: false }]
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
  {
    type: 'start-bake' | 'end-bake' | 'start-drain' | 'request-approval' | 'clear' | 'report-stragglers' | 'roll-back' | 'finalize';
  }
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
    case 'finalize': {
      const r = state.reversible;
      if (!r) return;
      const by = action.how === 'command' ? (r.finalize?.actor ?? 'cutover') : 'cutover';
      const reason =
        action.how === 'command'
          ? `finalized by ${by}${r.finalize?.reason ? `: ${r.finalize.reason}` : ''}`
          : `finalized: reversible for ${r.after} ms after completion, and nobody rolled it back`;
      r.finalized = { actor: by, at, ...(r.finalize?.reason ? { reason: r.finalize.reason } : {}), how: action.how };
      note(state, at, `${reason}; the source's workers may stop and its paused schedule copies may be deleted`, by, {
        finalized: action.how,
        ...(r.finalize?.commandId ? { finalizeCommandId: r.finalize.commandId } : {}),
      });
      return;
    }
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
