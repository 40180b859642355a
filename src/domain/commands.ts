/**
 * Operator commands as both the entity and the campaign workflows take them: `{ actor, reason?, commandId? }`.
 * Pure: which commands may come without a command ID, the payload's parse, and how such a command is
 * deduplicated by what it is.
 */

/**
 * The safe directions (stop, go back): an operator in an emergency sends them from the Temporal UI or the
 * plain `temporal` CLI, and does not invent idempotency keys. Every other command moves forward and needs
 * a `commandId`, so a retried send is never applied twice.
 */
export const SAFE_COMMANDS = ['pause', 'rollback'] as const;

/** True for `pause` and `rollback`. */
export function isSafeCommand(name: string): boolean {
  return (SAFE_COMMANDS as readonly string[]).includes(name);
}

/** True when the payload is an object without a non-empty `commandId`. */
export function lacksCommandId(payload: unknown): boolean {
  if (typeof payload !== 'object' || payload === null) return false;
  const id = (payload as { commandId?: unknown }).commandId;
  return typeof id !== 'string' || id.trim() === '';
}

/** A safe command sent without a command ID: deduplicated by what it is, not by an ID. */
export function isIdlessSafeCommand(name: string, payload: unknown): boolean {
  return isSafeCommand(name) && lacksCommandId(payload);
}

/** A command's payload, parsed. `commandId` is absent only on a safe command sent without one. */
export interface ParsedCommand {
  actor: string;
  reason?: string;
  commandId?: string;
}

/** The payload's parse: the command, or what is wrong (the field and the fix) with whatever could be read. */
export type CommandParse =
  | { ok: true; command: ParsedCommand }
  | { ok: false; field: string; reason: string; seen: { actor?: string; commandId?: string; reason?: string } };

/**
 * Parses `{ actor, reason?, commandId? }`. `commandId` is required unless `idOptional` (a safe command, on
 * code that accepts it without one); `actor` always is.
 */
export function parseCommandPayload(name: string, payload: unknown, opts: { idOptional: boolean }): CommandParse {
  const idHint = opts.idOptional ? '' : ', commandId';
  if (typeof payload !== 'object' || payload === null) {
    return {
      ok: false,
      field: 'payload',
      reason: `payload: expected an object { actor, reason?${idHint} }; send one as the signal argument`,
      seen: {},
    };
  }
  const p = payload as Record<string, unknown>;
  const seen = {
    ...(typeof p.actor === 'string' ? { actor: p.actor } : {}),
    ...(typeof p.commandId === 'string' ? { commandId: p.commandId } : {}),
    ...(typeof p.reason === 'string' ? { reason: p.reason } : {}),
  };
  const bad = (field: string, why: string): CommandParse => ({ ok: false, field, reason: `${field}: ${why}`, seen });
  if (typeof p.actor !== 'string' || p.actor.trim() === '') {
    return bad(
      'actor',
      'required non-empty string; say who sends the command, e.g. {"actor":"alice"} (the CLI uses --actor or the OS user)',
    );
  }
  const hasId = typeof p.commandId === 'string' && p.commandId.trim() !== '';
  if (!hasId && !opts.idOptional) {
    const only = isSafeCommand(name) ? '' : `; only ${SAFE_COMMANDS.join(' and ')} may leave it out`;
    return bad('commandId', `required non-empty string for ${name}; send a unique ID per command (a retry reuses it)${only}`);
  }
  if (p.commandId !== undefined && typeof p.commandId !== 'string') {
    return bad('commandId', 'must be a string when given; send a unique ID per command, or leave it out');
  }
  if (p.reason !== undefined && typeof p.reason !== 'string') return bad('reason', 'must be a string when given');
  return {
    ok: true,
    command: {
      actor: p.actor,
      ...(hasId ? { commandId: p.commandId as string } : {}),
      ...(typeof p.reason === 'string' ? { reason: p.reason } : {}),
    },
  };
}

/** The history line of a no-op, e.g. `no-op: rollback by oncall: emergency (already rolling back or rolled back)`. */
export function noOpLine(name: string, c: ParsedCommand, why: string): string {
  return `no-op: ${name} by ${c.actor}${c.reason ? `: ${c.reason}` : ''} (${why})`;
}

/** Where a unit or a campaign stands, as far as the safe commands care. */
export interface SafeStanding {
  /** Who paused it, when it is paused. */
  pausedBy?: string;
  /** A rollback is pending, under way, failed midway, or done. */
  rollingBack: boolean;
}

/**
 * The dedupe of a safe command sent without a command ID: why it is a no-op (a second pause of a paused
 * unit, a second rollback of one already rolling back or rolled back), or undefined when it applies.
 */
export function safeCommandNoOp(name: string, at: SafeStanding): string | undefined {
  if (name === 'pause' && at.pausedBy !== undefined) return `already paused by ${at.pausedBy}`;
  if (name === 'rollback' && at.rollingBack) return 'already rolling back or rolled back';
  return undefined;
}
