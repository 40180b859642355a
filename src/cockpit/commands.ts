/**
 * `sendCommand`: one operator command (advance, pause, resume, rollback, approve, finalize) to a unit's entity
 * workflow, confirmed: the signal carries a fresh command ID, then the `status` query is polled
 * (bounded) until the workflow shows that ID applied (an audit line in `history`) or refused (in
 * `rejected`, with the reason). Nothing is dropped in silence.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { CommandName, UnitStatus } from '../domain/migration';
import * as messages from '../workflows/unit-migration.messages';
import type { OperatorSecret } from '../operators/keys';
import { CockpitInputError, CommandRejectedError, CommandUnconfirmedError, NotStartedError } from './errors';
import { commandPayload } from './sign';
import type { CockpitTarget } from './target';

/** The operator commands, in the order the CLI lists them. */
export const COMMANDS: readonly CommandName[] = ['advance', 'pause', 'resume', 'rollback', 'approve', 'finalize'];

/** A command to send. */
export interface CommandInput {
  target: CockpitTarget;
  command: CommandName;
  actor: string;
  reason?: string;
  /** Reuse to retry a command safely (the workflow ignores an ID it has seen); fresh by default. */
  commandId?: string;
  /** How long to wait for the workflow to confirm (default 10 s). */
  timeoutMs?: number;
  /** Poll interval of the status query (default 200 ms). */
  pollMs?: number;
  /** Signs the command (required for forward commands when the plan lists operators). */
  signer?: OperatorSecret;
  /** How long the signature stays valid (default 10 minutes). */
  expiresInMs?: number;
}

/** A command the workflow applied, with its status right after. */
export interface CommandOutcome {
  command: CommandName;
  workflowId: string;
  commandId: string;
  actor: string;
  applied: true;
  status: UnitStatus;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const QUERY_TIMEOUT_MS = 3_000;

/** Checks a command's input before anything is sent (bad input names the flag and the fix). */
export function checkCommandInput(input: Pick<CommandInput, 'command' | 'actor' | 'reason' | 'target'>): void {
  if (!COMMANDS.includes(input.command)) {
    throw new CockpitInputError('<command>', `unknown command "${input.command}"`, `use one of ${COMMANDS.join(', ')}`);
  }
  if (!input.actor || input.actor.trim() === '')
    throw new CockpitInputError('--actor', 'empty actor', 'say who you are with --actor <name>, or leave it out to use the OS user');
  if (input.command === 'rollback' && (!input.reason || input.reason.trim() === '')) {
    throw new CockpitInputError('--reason', 'rollback needs a reason', 'say why, e.g. --reason "error rate above the gate"');
  }
  if (input.target.kind === 'campaign' && input.command === 'finalize') {
    throw new CockpitInputError(
      '<unit>',
      `"${input.target.name}" is the campaign; finalize makes one completed unit final`,
      'name the unit, e.g. `cutover finalize tenant/<ns>/<tenant>` (`cutover status` lists the reversible units)',
    );
  }
  if (input.target.kind === 'campaign') {
    throw new CockpitInputError(
      '<unit>',
      `"${input.target.name}" is the campaign; ${input.command} goes to one unit`,
      `name the unit, e.g. \`cutover ${input.command} namespace/<ns>\` (see \`cutover status\` for the units)`,
    );
  }
}

/**
 * Refuses, before anything is sent, a finalize the unit would refuse: it is not completed, or already final, or a
 * rollback request waits for approvals (CockpitInputError, exit 2, naming the fix).
 */
export function checkFinalizable(unit: string, status: UnitStatus): void {
  if (status.phase !== 'completed')
    throw new CockpitInputError(
      '<unit>',
      `${unit} is ${status.phase}; finalize makes a completed unit final`,
      'wait until `cutover status` shows it completed (or roll it back instead)',
    );
  if (!status.reversible)
    throw new CockpitInputError(
      '<unit>',
      `${unit} is already final${status.finalized ? ` (finalized by ${status.finalized.actor} at ${status.finalized.at})` : ''}`,
      'nothing to do',
    );
  if (status.reversal)
    throw new CockpitInputError(
      '<unit>',
      `a rollback of ${unit} asked by ${status.reversal.requestedBy} waits for approvals until ${status.reversal.expiresAt}`,
      'let it expire, or have it approved (it then rolls back), before finalizing',
    );
}

/** Where a command stands in a status: applied (its audit line), refused (with the reason), or not seen yet. */
export function findCommand(
  status: UnitStatus,
  commandId: string,
): { state: 'applied' } | { state: 'rejected'; reason: string; phase: string } | { state: 'pending' } {
  // Applied first: a resend of a signed command is refused as a replay after the first one applied.
  const applied = status.history.some((h) => h.evidence && (h.evidence as { commandId?: unknown }).commandId === commandId);
  if (applied) return { state: 'applied' };
  const rejected = status.rejected.find((r) => r.commandId === commandId);
  if (rejected) return { state: 'rejected', reason: rejected.reason, phase: rejected.phase };
  return { state: 'pending' };
}

/** Queries a unit's status with a deadline, so a missing worker never hangs the cockpit. */
export function queryStatus(client: Client, handle: WorkflowHandle, timeoutMs = QUERY_TIMEOUT_MS): Promise<UnitStatus> {
  return client.withDeadline(Date.now() + timeoutMs, () => handle.query(messages.status));
}

/** Sends the command and waits until the workflow applied it; throws when it refused or did not answer. */
export async function sendCommand(client: Client, input: CommandInput): Promise<CommandOutcome> {
  checkCommandInput(input);
  const { target, command } = input;
  const commandId = input.commandId ?? randomUUID();
  const timeoutMs = input.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const handle = client.workflow.getHandle(target.workflowId);
  let description;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new NotStartedError(target.workflowId, 'start the plan first: `cutover start <plan>`');
    throw err;
  }
  if (description.status.name !== 'RUNNING') {
    // A closed unit cannot be finalized or rolled back: bad input, with nothing sent.
    if (command === 'finalize' || command === 'rollback')
      throw new CockpitInputError(
        '<unit>',
        `${target.name} is final: its workflow is ${description.status.name.toLowerCase()} (a finalized or rolled-back unit)`,
        command === 'finalize'
          ? 'nothing to do; `cutover status` shows how it ended'
          : 'a final unit is not rolled back; to move it back, run a new migration the other way',
      );
    throw new CommandRejectedError(
      command,
      target.workflowId,
      `the workflow is ${description.status.name.toLowerCase()}; nothing takes commands any more — ` +
        'start it again with `cutover start <plan>` if it must move again',
    );
  }
  const args: Record<string, unknown> = { ...(input.reason ? { reason: input.reason } : {}) };
  if (command === 'approve') {
    // An approval names exactly the runs it lets the unit terminate (the request lists them), or the rollback
    // request of a completed unit it approves (its binding).
    const now = await queryStatus(client, handle).catch(() => undefined);
    if (now?.approval?.runsDigest) args.runsDigest = now.approval.runsDigest;
    if (now?.reversal) Object.assign(args, now.reversal.binding);
  }
  if (command === 'finalize') {
    const now = await queryStatus(client, handle).catch(() => undefined);
    if (now) checkFinalizable(target.name, now);
  }
  const payload = commandPayload({
    signer: input.signer,
    actor: input.actor,
    command,
    commandId,
    workflowId: target.workflowId,
    runId: description.runId,
    args,
    expiresInMs: input.expiresInMs,
  });
  await handle.signal(messages[command], payload as unknown as messages.OperatorCommand);

  const started = Date.now();
  const pollMs = input.pollMs ?? 200;
  for (;;) {
    let status: UnitStatus | undefined;
    try {
      status = await queryStatus(client, handle, Math.min(QUERY_TIMEOUT_MS, Math.max(500, timeoutMs - (Date.now() - started))));
    } catch (err) {
      // A workflow that closed right after the command: it can no longer confirm.
      if (err instanceof WorkflowNotFoundError)
        throw new NotStartedError(target.workflowId, 'the workflow closed; run `cutover status` to see how it ended');
      status = undefined; // no worker answered this time; keep polling until the deadline
    }
    if (status) {
      const seen = findCommand(status, commandId);
      if (seen.state === 'applied')
        return { command, workflowId: target.workflowId, commandId, actor: String(payload.actor), applied: true, status };
      if (seen.state === 'rejected') throw new CommandRejectedError(command, target.workflowId, seen.reason, seen.phase);
    }
    if (Date.now() - started >= timeoutMs) throw new CommandUnconfirmedError(command, target.workflowId, commandId, timeoutMs);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
