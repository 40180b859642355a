/**
 * Two-person approval, pure (no clock, no I/O; safe in the workflow sandbox). A request binds to
 * campaign, ring, step and epoch; it expires; it needs `required` approvals from distinct actors,
 * none of them the requester; once granted it is consumed by the step it binds and is never reused.
 * Every approval is recorded with the evidence the request showed at the time.
 */

/** What an approval is for: an approval for another step, ring or epoch is refused. */
export interface ApprovalBinding {
  campaign: string;
  ring: string;
  /** The campaign's step number the approval unlocks. */
  step: number;
  /** The campaign's epoch (grows on every rollback or plan change): a stale approval is refused. */
  epoch: number;
  /** Digest of the units the step covers (src/operators/signing.ts `digestOf`): an approval of other units is refused. */
  units?: string;
}

/** One recorded approval. */
export interface ApprovalRecord {
  actor: string;
  /** The approver's public key when the approval was signed: two approvals need two keys, not two names. */
  key?: string;
  at: number;
  commandId: string;
  reason?: string;
  /** The evidence shown when this approval was given (gate values, counts). */
  evidence: Record<string, unknown>;
}

/** A pending (or granted, or consumed) approval request. Plain JSON. */
export interface ApprovalRequest {
  binding: ApprovalBinding;
  requestedBy: string;
  /** The requester's public key (who signed the campaign's start), when signed: that key may not approve. */
  requestedByKey?: string;
  requestedAt: number;
  expiresAt: number;
  /** Distinct approvers needed (two for `two-person`). */
  required: number;
  evidence: Record<string, unknown>;
  approvals: ApprovalRecord[];
  /** Set when the step it binds used it. */
  consumedAt?: number;
}

/** An `approve` command as received (signal payload). */
export interface ApproveCommand {
  actor: string;
  /** The signer's public key (set by the workflow from a verified signature, never from the payload). */
  key?: string;
  /** The units digest the approver saw (status.approval.binding.units). */
  units?: string;
  commandId: string;
  reason?: string;
  campaign?: string;
  ring: string;
  step: number;
  epoch: number;
}

/** Why an approval was refused. */
export type ApprovalRefusal =
  'invalid-input' | 'nothing-to-approve' | 'self-approval' | 'duplicate-approver' | 'expired' | 'wrong-binding' | 'already-used';

/** Outcome of an approve command. */
export type ApproveOutcome =
  | { ok: true; request: ApprovalRequest; granted: boolean }
  | { ok: false; refusal: ApprovalRefusal; field: string; message: string; hint: string };

/** Thrown by `assertApproved` style APIs; carries the refusal code (assert on it, not on the text). */
export class ApprovalRefusedError extends Error {
  constructor(
    readonly refusal: ApprovalRefusal,
    readonly field: string,
    message: string,
    readonly hint: string,
  ) {
    super(`${field}: ${message}; ${hint}`);
    this.name = 'ApprovalRefusedError';
  }
}

/** Opens a request. */
export function requestApproval(args: {
  binding: ApprovalBinding;
  requestedBy: string;
  requestedByKey?: string;
  now: number;
  ttlMs: number;
  evidence: Record<string, unknown>;
  required?: number;
}): ApprovalRequest {
  return {
    binding: { ...args.binding },
    requestedBy: args.requestedBy,
    ...(args.requestedByKey ? { requestedByKey: args.requestedByKey } : {}),
    requestedAt: args.now,
    expiresAt: args.now + args.ttlMs,
    required: args.required ?? 2,
    evidence: structuredCloneJson(args.evidence),
    approvals: [],
  };
}

/** True once enough distinct approvers approved (and it has not been used). */
export function isGranted(request: ApprovalRequest): boolean {
  return request.consumedAt === undefined && request.approvals.length >= request.required;
}

/** Parses an approve payload; refusal names the field and the fix. */
export function parseApprove(payload: unknown): { ok: true; command: ApproveCommand } | Extract<ApproveOutcome, { ok: false }> {
  const bad = (field: string, message: string, hint: string) => ({
    ok: false as const,
    refusal: 'invalid-input' as const,
    field,
    message,
    hint,
  });
  if (typeof payload !== 'object' || payload === null) {
    return bad(
      'payload',
      'expected an object',
      'send { actor, commandId, ring, step, epoch, reason? } (take ring, step and epoch from the status query)',
    );
  }
  const p = payload as Record<string, unknown>;
  if (typeof p.actor !== 'string' || p.actor.trim() === '')
    return bad('actor', 'required non-empty string', 'say who approves (--actor or the OS user)');
  if (typeof p.commandId !== 'string' || p.commandId.trim() === '')
    return bad('commandId', 'required non-empty string', 'send a unique ID per command');
  if (typeof p.ring !== 'string' || p.ring === '')
    return bad('ring', 'required: the ring the approval is for', 'copy it from status.approval.binding.ring');
  if (typeof p.step !== 'number' || !Number.isSafeInteger(p.step))
    return bad('step', 'required whole number: the step the approval is for', 'copy it from status.approval.binding.step');
  if (typeof p.epoch !== 'number' || !Number.isSafeInteger(p.epoch))
    return bad('epoch', 'required whole number: the campaign epoch', 'copy it from status.approval.binding.epoch');
  if (p.reason !== undefined && typeof p.reason !== 'string') return bad('reason', 'must be a string when given', 'drop it or send text');
  if (p.campaign !== undefined && typeof p.campaign !== 'string')
    return bad('campaign', 'must be a string when given', 'drop it or send the campaign name');
  if (p.units !== undefined && typeof p.units !== 'string')
    return bad('units', 'must be the digest string from status.approval.binding.units', 'copy it from the status query');
  return {
    ok: true,
    command: {
      actor: p.actor.trim(),
      commandId: p.commandId,
      ring: p.ring,
      step: p.step,
      epoch: p.epoch,
      ...(typeof p.reason === 'string' ? { reason: p.reason } : {}),
      ...(typeof p.campaign === 'string' ? { campaign: p.campaign } : {}),
      ...(typeof p.units === 'string' ? { units: p.units } : {}),
    },
  };
}

/** Applies an approve command to the open request at time `now`. Returns a new request (the input is not mutated). */
export function approve(request: ApprovalRequest | undefined, command: ApproveCommand, now: number): ApproveOutcome {
  const refuse = (refusal: ApprovalRefusal, field: string, message: string, hint: string): ApproveOutcome => ({
    ok: false,
    refusal,
    field,
    message,
    hint,
  });
  if (!request) return refuse('nothing-to-approve', 'approve', 'no approval is pending', 'wait until status shows an approval request');
  const b = request.binding;
  if (request.consumedAt !== undefined)
    return refuse(
      'already-used',
      'approve',
      `the approval for ${b.ring} step ${b.step} was already used`,
      'an approval is single-use; wait for the next request',
    );
  // The binding in the order it is checked; the campaign only when the command names one.
  const binding: { field: keyof ApprovalBinding; differs: boolean; message: string; hint: string }[] = [
    {
      field: 'campaign',
      differs: command.campaign !== undefined && command.campaign !== b.campaign,
      message: `approval names campaign ${command.campaign}, the request is for ${b.campaign}`,
      hint: 'approve the campaign that asks',
    },
    {
      field: 'ring',
      differs: command.ring !== b.ring,
      message: `approval names ring ${command.ring}, the request is for ${b.ring}`,
      hint: 'copy ring from the status query',
    },
    {
      field: 'step',
      differs: command.step !== b.step,
      message: `approval names step ${command.step}, the request is for step ${b.step}`,
      hint: 'copy step from the status query',
    },
    {
      field: 'units',
      // A signed approval must name the units (the signer saw them); an unsigned one is checked when it names them.
      differs: b.units !== undefined && (command.units !== undefined || command.key !== undefined) && command.units !== b.units,
      message: `approval covers other units than step ${b.step} (${(command.units ?? 'none named').slice(0, 12)}…)`,
      hint: 'read status again and approve the units the step covers (status.approval.binding.units)',
    },
    {
      field: 'epoch',
      differs: command.epoch !== b.epoch,
      message: `approval names epoch ${command.epoch}, the campaign is at epoch ${b.epoch}`,
      hint: 'the campaign changed since you looked: read status again',
    },
  ];
  const wrong = binding.find((c) => c.differs);
  if (wrong) return refuse('wrong-binding', wrong.field, wrong.message, wrong.hint);
  if (now >= request.expiresAt)
    return refuse(
      'expired',
      'approve',
      `the request expired at ${new Date(request.expiresAt).toISOString()}`,
      'ask for a new approval (resume the campaign)',
    );
  if (command.key !== undefined && command.key === request.requestedByKey) {
    return refuse(
      'self-approval',
      'signature',
      `${command.actor} signs with the key that started the campaign`,
      'a different person, with their own key, must approve',
    );
  }
  if (command.key !== undefined && request.approvals.some((a) => a.key === command.key)) {
    const first = request.approvals.find((a) => a.key === command.key)!;
    return refuse(
      'duplicate-approver',
      'signature',
      `this key already approved (as ${first.actor}); two approvals need two distinct keys`,
      'a second person must approve with their own key',
    );
  }
  if (command.actor === request.requestedBy) {
    return refuse(
      'self-approval',
      'actor',
      `${command.actor} requested this step and may not approve it`,
      'a different person must approve',
    );
  }
  if (request.approvals.some((a) => a.actor === command.actor)) {
    return refuse('duplicate-approver', 'actor', `${command.actor} already approved`, 'a second, different person must approve');
  }
  if (isGranted(request)) return { ok: true, request, granted: true };
  const record: ApprovalRecord = {
    actor: command.actor,
    ...(command.key !== undefined ? { key: command.key } : {}),
    at: now,
    commandId: command.commandId,
    ...(command.reason !== undefined ? { reason: command.reason } : {}),
    evidence: structuredCloneJson(request.evidence),
  };
  const next: ApprovalRequest = { ...request, approvals: [...request.approvals, record] };
  return { ok: true, request: next, granted: isGranted(next) };
}

/** Marks a granted request used by its step. Throws when it is not granted, or binds another step. */
export function consume(request: ApprovalRequest, binding: ApprovalBinding, now: number): ApprovalRequest {
  const b = request.binding;
  if (b.campaign !== binding.campaign || b.ring !== binding.ring || b.step !== binding.step || b.epoch !== binding.epoch) {
    throw new ApprovalRefusedError(
      'wrong-binding',
      'binding',
      `approval binds ${b.ring} step ${b.step} epoch ${b.epoch}`,
      'request a new approval for this step',
    );
  }
  if (request.consumedAt !== undefined)
    throw new ApprovalRefusedError('already-used', 'approve', 'approval already used', 'request a new approval');
  if (!isGranted(request))
    throw new ApprovalRefusedError(
      'nothing-to-approve',
      'approve',
      `${request.approvals.length} of ${request.required} approvals`,
      'wait for the approvers',
    );
  return { ...request, consumedAt: now };
}

/** A deep copy of plain JSON (the sandbox has structuredClone in Node 20, but JSON keeps it plain). */
function structuredCloneJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
