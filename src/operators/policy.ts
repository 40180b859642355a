/**
 * Who may send what (pure, sandbox-safe). With no operators in the plan every command is taken on its
 * word, as before keys existed. With operators:
 *   - pause and rollback, the safe directions, are taken from anyone with signal rights (the Temporal UI
 *     and the plain `temporal` CLI keep working in an emergency); a valid signature is still recorded;
 *   - every other command needs a valid signature by a key with the role the command needs;
 *   - a unit a campaign drives also takes its campaign's commands, signed by the cutover worker's
 *     `controller` key for that campaign.
 * The signed body is the command: a payload's other fields cannot change what was signed.
 */
import { utf8Length } from '../domain/bounds';
import { isSafeCommand } from '../domain/commands';
import { hasEnvelope, verifySigned, type OperatorKey, type Role, type SignatureRefusal, type SignedBody } from './signing';

/** The plan's operators as the workflows take them (sorted by name: one input per plan). */
export function operatorKeysOf(
  operators: Readonly<Record<string, { publicKey: string; roles: readonly Role[] }>> | undefined,
): OperatorKey[] {
  if (!operators) return [];
  return Object.keys(operators)
    .sort()
    .map((name) => ({ name, publicKey: operators[name]!.publicKey, roles: [...operators[name]!.roles] }));
}

/** The roles a command needs (the safe ones need none). */
export const COMMAND_ROLES: Readonly<Record<string, readonly Role[]>> = {
  advance: ['operator'],
  resume: ['operator'],
  start: ['operator'],
  approve: ['approver'],
  finalize: ['operator'],
};

/** Where a command is checked. */
export interface AuthContext {
  operators?: readonly OperatorKey[];
  workflowId: string;
  /** The run IDs a signature may name: the chain's first run and the current one. */
  runIds: readonly string[];
  /** The campaign that drives this unit, if any: its worker-signed commands are accepted. */
  campaign?: string;
  /** The workflow's time, ms. */
  now: number;
  /** A signed body longer than this (bytes of UTF-8) is refused, `too-large`: the audit log keeps bodies whole. */
  maxBodyBytes?: number;
}

/** Who signed a command (recorded in the history and the audit log). */
export interface Signer {
  name: string;
  publicKey: string;
  roles: Role[];
  /** The envelope as received, so the audit log can be verified again later. */
  body: string;
  sig: string;
}

export type AuthOutcome =
  /** Taken: `payload` is what to apply (the signed body's content when signed). */
  | { ok: true; payload: unknown; signer?: Signer; unsignedNote?: string }
  | { ok: false; code: SignatureRefusal; reason: string; by?: string; commandId?: string };

/** True when the plan lists operators (commands are then checked). */
export function enforcing(operators: readonly OperatorKey[] | undefined): boolean {
  return !!operators && operators.length > 0;
}

/** The payload a signed body stands for: the fields the parsers read. */
export function payloadOf(body: SignedBody): Record<string, unknown> {
  return { ...body.args, actor: body.by, commandId: body.commandId };
}

/** Checks a command's signature against the policy; never throws. */
export function authorize(name: string, payload: unknown, ctx: AuthContext): AuthOutcome {
  if (!enforcing(ctx.operators)) return { ok: true, payload };
  const operators = ctx.operators!;
  const safe = isSafeCommand(name);
  const roles: Role[] = [...(COMMAND_ROLES[name] ?? ['operator'])];
  // A campaign's own commands: signed by the worker's controller key, bound to this campaign (not to a run).
  const controllerAllowed = ctx.campaign !== undefined && (name === 'advance' || name === 'rollback');
  if (controllerAllowed) roles.push('controller');
  if (!hasEnvelope(payload)) {
    if (safe) return { ok: true, payload, unsignedNote: 'unsigned (safe direction)' };
    const v = verifySigned(payload, operators, { command: name, workflowId: ctx.workflowId, runIds: ctx.runIds, now: ctx.now, roles });
    return v.ok ? { ok: true, payload } : { ok: false, code: v.code, reason: v.reason, ...idOf(payload) };
  }
  const tooLarge = bodyTooLarge(payload, ctx.maxBodyBytes);
  if (tooLarge) {
    if (safe) return { ok: true, payload: stripSignature(payload), unsignedNote: `signature not taken: ${tooLarge}` };
    return { ok: false, code: 'too-large', reason: tooLarge, ...idOf(payload) };
  }
  const signedByController = (() => {
    const body = peekBody(payload);
    const op = body && operators.find((o) => o.name === body.by);
    return !!op && op.roles.includes('controller') && !op.roles.some((r) => (COMMAND_ROLES[name] ?? []).includes(r));
  })();
  const v = verifySigned(payload, operators, {
    command: name,
    workflowId: ctx.workflowId,
    runIds: ctx.runIds,
    // A controller key binds to the campaign, not a run; checked for its role below when it may not sign this.
    runOptional: signedByController,
    now: ctx.now,
    roles: signedByController ? ['controller'] : roles,
  });
  if (v.ok && signedByController && !controllerAllowed) {
    if (safe)
      return { ok: true, payload: stripSignature(payload), unsignedNote: 'signature not taken: a controller key outside its campaign' };
    return {
      ok: false,
      code: 'role',
      reason:
        `signature: ${v.body.by} is a controller key (the cutover worker's): it signs only a campaign's ` +
        `advance and rollback to that campaign's units, not ${name} here`,
      by: v.body.by,
      commandId: v.body.commandId,
    };
  }
  if (!v.ok) {
    // A safe command with a bad signature still goes through (anyone may stop or go back); the failure is recorded.
    if (safe) return { ok: true, payload: stripSignature(payload), unsignedNote: `signature not taken: ${v.reason}` };
    return { ok: false, code: v.code, reason: v.reason, ...(v.by ? { by: v.by } : {}), ...idOf(payload) };
  }
  if (signedByController && v.body.args.campaign !== ctx.campaign) {
    return {
      ok: false,
      code: 'role',
      reason: `signature: ${v.body.by} signs for campaign ${String(v.body.args.campaign)}; this unit is driven by campaign ${ctx.campaign}`,
      by: v.body.by,
      commandId: v.body.commandId,
    };
  }
  const signer: Signer = {
    name: v.operator.name,
    publicKey: v.operator.publicKey,
    roles: [...v.operator.roles],
    body: (payload as { signature: { body: string } }).signature.body,
    sig: (payload as { signature: { sig: string } }).signature.sig,
  };
  return { ok: true, payload: payloadOf(v.body), signer };
}

/** The command ID a payload names (signed body first), for recording a refusal. */
export function commandIdOf(payload: unknown): string | undefined {
  const body = peekBody(payload);
  if (body && typeof body.commandId === 'string') return body.commandId;
  const id = typeof payload === 'object' && payload !== null ? (payload as { commandId?: unknown }).commandId : undefined;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

function idOf(payload: unknown): { commandId?: string } {
  const id = commandIdOf(payload);
  return id ? { commandId: id } : {};
}

/** The signed body without checking it (only to read who claims to have signed and the command ID). */
function peekBody(payload: unknown): Partial<SignedBody> | undefined {
  const env = typeof payload === 'object' && payload !== null ? (payload as { signature?: unknown }).signature : undefined;
  const text = typeof env === 'object' && env !== null ? (env as { body?: unknown }).body : undefined;
  if (typeof text !== 'string') return undefined;
  try {
    const b = JSON.parse(text) as unknown;
    return typeof b === 'object' && b !== null ? (b as Partial<SignedBody>) : undefined;
  } catch {
    return undefined;
  }
}

/** Why the envelope's body is too long to keep (undefined when it fits or there is no limit). */
function bodyTooLarge(payload: unknown, max: number | undefined): string | undefined {
  if (max === undefined) return undefined;
  const env = (payload as { signature?: unknown }).signature;
  const text = typeof env === 'object' && env !== null ? (env as { body?: unknown }).body : undefined;
  if (typeof text !== 'string') return undefined;
  const bytes = utf8Length(text);
  return bytes > max
    ? `signature.body: ${bytes} bytes, over the ${max} a workflow keeps; sign a shorter command (a reason keeps 1 KiB anyway)`
    : undefined;
}

function stripSignature(payload: unknown): unknown {
  const { signature: _, ...rest } = payload as Record<string, unknown>;
  return rest;
}
