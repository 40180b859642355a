/**
 * The campaign's operator commands, checked: payload validation and policy as pure functions that
 * return a verdict (accept, or refuse with a reason and a machine-readable code). No Temporal
 * imports, no clock: `now` is an argument. The workflow's handlers record the verdict
 * (./state.ts `recordCommand`). Table-tested in test/unit/campaign-planner.test.ts.
 */
import { approve as applyApprove, parseApprove, type ApprovalRequest } from '../approvals/two-person';
import { authorize, type AuthContext, type Signer } from '../operators/policy';
import { clipPayload, SIGNED_BODY_MAX_BYTES } from '../domain/bounds';
import { noOpLine, safeCommandNoOp } from '../domain/commands';
import { commandDigest, priorUse, wasSeen } from '../operators/command-ids';
import { isFinished } from './planner';
import { digestOf } from '../operators/signing';
import type { CampaignCommand, CampaignInput, CampaignState } from './types';

/** The campaign's operator commands (the signals' wire names). */
export type CampaignCommandName = CampaignCommand['command'];

/** Refusal codes besides the approval's own (`self-approval`, `expired`, …). */
export type CommandRefusalCode = 'invalid-input' | 'not-allowed';

/** What to do with a received command. */
export type CommandVerdict =
  /** Its command ID was seen before: a retried send, a no-op. */
  | { kind: 'repeat' }
  /** A pause or rollback sent without a command ID that is already in effect: recorded as a no-op line. */
  | { kind: 'no-op'; command: CampaignCommand; line: string }
  /** Refused: recorded in `rejected` (with its command ID, so a resend is a no-op too). */
  | { kind: 'refuse'; command: CampaignCommandName; commandId?: string; actor?: string; reason: string; code: string }
  /** Accepted; for `approve`, `approval` is the request with this approval added. */
  | { kind: 'accept'; command: CampaignCommand; approval?: ApprovalRequest };

/**
 * A verdict and, when the command was signed, who signed it (recorded in the history and the audit log).
 * `remember`: the command ID as sent (the verdict's own may be clipped) and the command's digest, for the
 * state to remember; null: remember nothing (already remembered); absent: the verdict's own ID, digest unknown.
 * `clipped`: how many of its text fields were clipped.
 */
export type SignedVerdict = CommandVerdict & {
  signer?: Signer;
  unsigned?: string;
  remember?: { id: string; digest: string } | null;
  clipped?: number;
};

type Refusal = Extract<CommandVerdict, { kind: 'refuse' }>;

/**
 * Checks the payload every command shares: `{ actor, commandId, reason? }`. With `idOptional` (a pause or
 * rollback sent without an ID, on code that accepts it) the command ID may be left out.
 */
function checkPayload(name: CampaignCommandName, state: CampaignState, payload: unknown, idOptional = false): CommandVerdict {
  const p = (typeof payload === 'object' && payload !== null ? payload : {}) as Record<string, unknown>;
  const ids = {
    ...(typeof p.commandId === 'string' && p.commandId ? { commandId: p.commandId } : {}),
    ...(typeof p.actor === 'string' && p.actor ? { actor: p.actor } : {}),
  };
  if (ids.commandId && wasSeen(state, ids.commandId)) return { kind: 'repeat' };
  const bad = (reason: string): Refusal => ({ kind: 'refuse', command: name, ...ids, reason, code: 'invalid-input' });
  if (typeof payload !== 'object' || payload === null) return bad('payload: expected { actor, commandId, reason? }; send an object');
  if (typeof p.actor !== 'string' || p.actor.trim() === '') return bad('actor: required non-empty string; say who sends the command');
  const hasId = typeof p.commandId === 'string' && p.commandId.trim() !== '';
  if (!hasId && !idOptional) return bad('commandId: required non-empty string; send a unique ID per command');
  if (p.reason !== undefined && typeof p.reason !== 'string') return bad('reason: must be a string when given');
  const command = {
    command: name,
    actor: p.actor.trim(),
    ...(hasId ? { commandId: p.commandId as string } : {}),
    ...(typeof p.reason === 'string' ? { reason: p.reason } : {}),
  };
  return { kind: 'accept', command };
}

function refuse(c: CampaignCommand, reason: string, code: string): Refusal {
  return { kind: 'refuse', command: c.command, commandId: c.commandId, actor: c.actor, reason, code };
}

/**
 * Checks `advance`, `pause`, `resume` or `rollback` against the campaign's state. `idOptional`: a pause or
 * rollback may come without a command ID (from the Temporal UI, in an emergency); it is then deduplicated by
 * what it is, and a second one while the first is in effect is a no-op.
 */
export function checkCommand(
  name: Exclude<CampaignCommandName, 'approve'>,
  state: CampaignState,
  payload: unknown,
  idOptional = false,
): CommandVerdict {
  const v = checkPayload(name, state, payload, idOptional);
  if (v.kind !== 'accept') return v;
  const c = v.command;
  if (!c.commandId && (name === 'pause' || name === 'rollback')) {
    const rollingBack = !!state.rollback || state.phase === 'rolling-back' || state.phase === 'rolled-back';
    const why = safeCommandNoOp(name, { pausedBy: state.paused?.actor, rollingBack });
    if (why) return { kind: 'no-op', command: c, line: noOpLine(name, c, why) };
  }
  if (isFinished(state)) return refuse(c, `campaign is ${state.phase}; ${name} is not allowed`, 'not-allowed');
  switch (name) {
    case 'advance':
      if (!state.bake) return refuse(c, 'advance skips the current bake, and no step is baking', 'not-allowed');
      if (state.advance) return refuse(c, 'an advance is already pending', 'not-allowed');
      return v;
    case 'pause':
      return state.paused ? refuse(c, `already paused by ${state.paused.actor}`, 'not-allowed') : v;
    case 'resume':
      return state.paused || state.hold ? v : refuse(c, 'campaign is neither paused nor held', 'not-allowed');
    case 'rollback':
      if (state.rollback || state.phase === 'rolling-back') return refuse(c, 'rollback already in progress', 'not-allowed');
      if (!c.reason || c.reason.trim() === '') return refuse(c, 'reason: required for rollback; say why (--reason "…")', 'invalid-input');
      return v;
  }
}

/**
 * Checks an `approve` at `now`: its payload, its binding (ring, step, epoch, units) and the two-person rules.
 * `key`: the verified signer's public key.
 */
export function checkApprove(state: CampaignState, payload: unknown, now: number, key?: string): CommandVerdict {
  const v = checkPayload('approve', state, payload);
  if (v.kind !== 'accept') return v;
  const parsed = parseApprove(payload);
  if (!parsed.ok) return refuse(v.command, `${parsed.field}: ${parsed.message}; ${parsed.hint}`, parsed.refusal);
  const out = applyApprove(state.approval, { ...parsed.command, ...(key !== undefined ? { key } : {}) }, now);
  if (!out.ok) return refuse(v.command, `${out.field}: ${out.message}; ${out.hint}`, out.refusal);
  return { kind: 'accept', command: v.command, approval: out.request };
}

/**
 * Checks any campaign command: first its signature against the plan's operators (src/operators/policy.ts),
 * then what it says. The signed body is the command; a signed command whose ID was seen is a replay,
 * refused and recorded (an unsigned resend stays a silent retry).
 */
export function checkCampaignCommand(
  name: CampaignCommandName,
  state: CampaignState,
  received: unknown,
  opts: { now: number; idOptional: boolean; auth: AuthContext; step?: number; bounded?: boolean },
): SignedVerdict {
  const auth = authorize(name, received, opts.bounded ? { ...opts.auth, maxBodyBytes: SIGNED_BODY_MAX_BYTES } : opts.auth);
  if (!auth.ok)
    return {
      kind: 'refuse',
      command: name,
      ...(auth.commandId ? { commandId: auth.commandId } : {}),
      ...(auth.by ? { actor: auth.by } : {}),
      reason: auth.reason,
      code: auth.code,
      remember: auth.commandId ? { id: auth.commandId, digest: commandDigest(name, clipPayload(received)) } : null,
    };
  const { signer } = auth;
  const raw = typeof auth.payload === 'object' && auth.payload !== null ? (auth.payload as { commandId?: unknown }).commandId : undefined;
  const id = typeof raw === 'string' && raw !== '' ? raw : undefined;
  // What is checked and kept has its free text clipped (domain/bounds.ts); so does what is hashed, which keeps
  // a burst of large signals cheap.
  let clipped = 0;
  const payload = clipPayload(auth.payload, () => clipped++);
  const digest = commandDigest(name, payload);
  const taken = { remember: id !== undefined ? { id, digest } : null, ...(clipped ? { clipped } : {}) };
  if (id !== undefined && wasSeen(state, id)) {
    if (signer)
      return {
        kind: 'refuse',
        command: name,
        commandId: id,
        actor: signer.name,
        reason: `commandId: ${id} was already used; a signed command is taken once (sign a new one)`,
        code: 'replayed',
        signer,
        ...taken,
      };
    // The same ID with another command is no retry: refused (recorded), so the sender learns it was not taken.
    if (opts.bounded && priorUse(state, id, digest) === 'other') {
      const actor = (payload as { actor?: unknown }).actor;
      return {
        kind: 'refuse',
        command: name,
        commandId: id,
        ...(typeof actor === 'string' && actor !== '' ? { actor } : {}),
        reason: `commandId: ${id} was already used for another command; send a new command ID (a retry resends the same command)`,
        code: 'reused-command-id',
        // Remembered already, with the command that used it first.
        remember: null,
        ...(clipped ? { clipped } : {}),
      };
    }
    return { kind: 'repeat' };
  }
  // A signed advance or resume binds to the step and epoch its signer saw: held back and sent later, it is refused.
  const p = (typeof payload === 'object' && payload !== null ? payload : {}) as { step?: unknown; epoch?: unknown };
  if (signer && (name === 'advance' || name === 'resume') && (p.step !== opts.step || p.epoch !== state.epoch))
    return {
      kind: 'refuse',
      command: name,
      ...(id !== undefined ? { commandId: id } : {}),
      actor: signer.name,
      reason:
        `step/epoch: signed for step ${String(p.step)} epoch ${String(p.epoch)}, the campaign is at step ${String(opts.step)} ` +
        `epoch ${state.epoch}; read status and sign again`,
      code: 'wrong-binding',
      signer,
      ...taken,
    };
  const v =
    name === 'approve' ? checkApprove(state, payload, opts.now, signer?.publicKey) : checkCommand(name, state, payload, opts.idOptional);
  return { ...v, ...(signer ? { signer } : {}), ...(auth.unsignedNote ? { unsigned: auth.unsignedNote } : {}), ...taken };
}

/** What a signed start covers: the plan's steps and every unit's input (everything but the signature itself). */
export function startDigest(input: CampaignInput): string {
  const { start: _, ...rest } = input;
  return digestOf(rest);
}
