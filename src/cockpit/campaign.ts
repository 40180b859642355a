/**
 * The cockpit's campaign verbs: `startCampaignFromPlan` (what `cutover start <plan> [--drill]` does)
 * and `sendCampaignCommand` (advance, pause, resume, rollback, approve aimed at the campaign),
 * confirmed like unit commands: the signal carries a command ID, then the campaign's `status` query
 * is polled (bounded) until the ID shows up applied (in `history`) or refused (in `rejected`).
 */
import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { buildCampaignInput, startCampaign, type CampaignInputOptions } from '../campaign/input';
import { campaignSizeProblem } from '../campaign/input-size';
import { PlanError } from '../config';
import type { CampaignStatus } from '../campaign/types';
import type { Plan } from '../config/types';
import * as messages from '../workflows/campaign.messages';
import { startDigest } from '../campaign/commands';
import { CutoverCampaign, CutoverKind, CutoverUnit } from '../domain/search-attributes';

const CutoverUnitKey = CutoverUnit.name;
import type { OperatorSecret } from '../operators/keys';
import { CockpitInputError, CommandRejectedError, CommandUnconfirmedError, NotStartedError } from './errors';
import { commandPayload, DEFAULT_COMMAND_TTL_MS } from './sign';
import type { CockpitTarget } from './target';

/** What `startCampaignFromPlan` did. */
export interface CampaignStartResult {
  plan: string;
  workflowId: string;
  runId: string;
  /** False when a campaign of the plan was already running and the start attached to it. */
  started: boolean;
  drill: boolean;
  steps: number;
  units: number;
}

/** Options of `startCampaignFromPlan`. */
export interface CampaignStartOptions extends Pick<CampaignInputOptions, 'pollMs' | 'approvalTtlMs' | 'drainPollMs'> {
  actor: string;
  drill?: boolean;
  queryTimeoutMs?: number;
  /** Signs the start (required when the plan lists operators): that key is the requester of the approvals. */
  signer?: OperatorSecret;
  expiresInMs?: number;
}

const QUERY_TIMEOUT_MS = 3_000;
const DEFAULT_TIMEOUT_MS = 10_000;

/** Queries the campaign's status with a deadline, so a missing worker never hangs the cockpit. */
export function queryCampaign(client: Client, handle: WorkflowHandle, timeoutMs = QUERY_TIMEOUT_MS): Promise<CampaignStatus> {
  return client.withDeadline(Date.now() + timeoutMs, () => handle.query(messages.status));
}

/**
 * Starts the plan's campaign workflow (`cutover/campaign/<name>`), or attaches to the running one. A
 * running campaign of the other kind (a drill while a real start is asked for, or the reverse) is
 * refused: the two would steer the same units.
 */
export async function startCampaignFromPlan(client: Client, plan: Plan, opts: CampaignStartOptions): Promise<CampaignStartResult> {
  const drill = opts.drill === true;
  const input = buildCampaignInput(plan, {
    actor: opts.signer?.name ?? opts.actor,
    drill,
    ...(opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {}),
    ...(opts.approvalTtlMs !== undefined ? { approvalTtlMs: opts.approvalTtlMs } : {}),
    ...(opts.drainPollMs !== undefined ? { drainPollMs: opts.drainPollMs } : {}),
  });
  // Refused before anything starts: a campaign that outgrows Temporal's payload limit would fail midway.
  const tooLarge = campaignSizeProblem(plan, input);
  if (tooLarge) throw new PlanError([tooLarge]);
  if (plan.operators && Object.keys(plan.operators).length > 0) {
    if (!opts.signer)
      throw new CockpitInputError(
        '--key',
        'the plan lists operators, so a start must be signed',
        'pass --key <your .key file> (or set $CUTOVER_KEY)',
      );
    const issuedAt = Date.now();
    input.start = opts.signer.sign({
      command: 'start',
      commandId: randomUUID(),
      workflowId: input.plan.workflowId,
      args: { input: startDigest(input) },
      issuedAt,
      expiresAt: issuedAt + (opts.expiresInMs ?? DEFAULT_COMMAND_TTL_MS),
    });
  }
  await refuseOwnedUnits(client, plan);
  const r = await startCampaign(client, input, { taskQueue: plan.control.taskQueue });
  if (!r.started) {
    const running = await queryCampaign(client, client.workflow.getHandle(r.workflowId), opts.queryTimeoutMs).catch(() => undefined);
    if (running && running.drill !== drill) {
      throw new CommandRejectedError(
        'start',
        r.workflowId,
        `a ${running.drill ? 'drill' : 'real campaign'} of plan "${plan.name}" is running (${running.phase}); ` +
          `wait until it ends (\`cutover status\`), or roll it back (\`cutover rollback ${plan.name} --reason …\`), ` +
          `then start ${drill ? 'the drill' : 'the campaign'} again`,
      );
    }
  }
  return {
    plan: plan.name,
    workflowId: r.workflowId,
    runId: r.runId,
    started: r.started,
    drill,
    steps: input.plan.steps.length,
    units: input.plan.unitCount,
  };
}

/** A campaign command to send. */
export interface CampaignCommandInput {
  target: CockpitTarget & { kind: 'campaign' };
  command: 'advance' | 'pause' | 'resume' | 'rollback' | 'approve';
  actor: string;
  reason?: string;
  commandId?: string;
  timeoutMs?: number;
  pollMs?: number;
  signer?: OperatorSecret;
  expiresInMs?: number;
}

/** A campaign command the workflow applied, with its status right after. */
export interface CampaignCommandOutcome {
  command: CampaignCommandInput['command'];
  workflowId: string;
  commandId: string;
  actor: string;
  applied: true;
  status: CampaignStatus;
}

/** Where a command stands in a campaign status: applied, refused (with the reason), or not seen yet. */
export function findCampaignCommand(
  status: CampaignStatus,
  commandId: string,
): { state: 'applied' } | { state: 'rejected'; reason: string } | { state: 'pending' } {
  // Applied first: a resend of a signed command is refused as a replay after the first one applied.
  const applied = status.history.some((h) => (h.evidence as { commandId?: unknown } | undefined)?.commandId === commandId);
  if (applied) return { state: 'applied' };
  const rejected = status.rejected.find((r) => r.commandId === commandId);
  return rejected ? { state: 'rejected', reason: rejected.reason } : { state: 'pending' };
}

/**
 * One campaign per unit: a plan that names a unit whose entity workflow another running campaign drives
 * is refused before anything starts (the two would steer the same unit).
 */
export async function refuseOwnedUnits(client: Client, plan: Plan): Promise<void> {
  const units = new Set(plan.rings.flatMap((r) => r.units));
  const owned: string[] = [];
  const query =
    `${CutoverKind.name} IN ("namespace","tenant") AND ExecutionStatus = "Running" ` + `AND ${CutoverCampaign.name} != "${plan.name}"`;
  for await (const wf of client.workflow.list({ query })) {
    const unit = wf.searchAttributes?.[CutoverUnitKey]?.[0];
    const campaign = wf.searchAttributes?.[CutoverCampaign.name]?.[0];
    if (typeof unit === 'string' && typeof campaign === 'string' && units.has(unit)) owned.push(`${unit} (campaign ${String(campaign)})`);
    if (owned.length >= 20) break;
  }
  if (owned.length > 0)
    throw new CockpitInputError(
      'rings[].units',
      `${owned.length === 20 ? 'at least 20' : owned.length} unit(s) belong to another running campaign: ${owned.join(', ')}`,
      'wait until that campaign ends or roll it back, or take these units out of this plan',
    );
}

/**
 * Sends a command to the campaign and waits until it applied it; throws when it refused or did not
 * answer. `approve` binds to the pending request (ring, step, epoch) read from the status right
 * before, so an approval can never land on a request the approver did not see.
 */
export async function sendCampaignCommand(client: Client, input: CampaignCommandInput): Promise<CampaignCommandOutcome> {
  if (!input.actor || input.actor.trim() === '')
    throw new CockpitInputError('--actor', 'empty actor', 'say who you are with --actor <name>, or leave it out to use the OS user');
  if (input.command === 'rollback' && (!input.reason || input.reason.trim() === '')) {
    throw new CockpitInputError('--reason', 'rollback needs a reason', 'say why, e.g. --reason "error rate above the gate"');
  }
  const { target, command } = input;
  const handle = client.workflow.getHandle(target.workflowId);
  try {
    const d = await handle.describe();
    if (d.status.name !== 'RUNNING') {
      throw new CommandRejectedError(
        command,
        target.workflowId,
        `the campaign is ${d.status.name.toLowerCase()}; start it again with \`cutover start <plan>\` to run it once more`,
      );
    }
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new NotStartedError(target.workflowId, 'start the campaign first: `cutover start <plan>`');
    throw err;
  }
  const commandId = input.commandId ?? randomUUID();
  const args: Record<string, unknown> = { ...(input.reason ? { reason: input.reason } : {}) };
  // The command binds to what this read shows, so it waits as long as the command may (a busy worker answers late).
  const readMs = Math.max(QUERY_TIMEOUT_MS, input.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  if (command === 'approve') {
    const now = await queryCampaign(client, handle, readMs);
    const req = now.approval;
    if (!req || req.approvals.length >= req.required) {
      throw new CommandRejectedError('approve', target.workflowId, 'nothing awaits approval in the campaign; see `cutover status`');
    }
    // The approval binds to what the approver saw: campaign, ring, step, epoch and the units the step covers.
    Object.assign(args, req.binding);
  } else if (input.signer && (command === 'advance' || command === 'resume')) {
    // A signed advance or resume binds to the step and epoch it was meant for.
    const now = await queryCampaign(client, handle, readMs);
    Object.assign(args, { step: now.step?.n, epoch: now.epoch });
  }
  const runId = (await handle.describe().catch(() => undefined))?.runId;
  const payload = commandPayload({
    signer: input.signer,
    actor: input.actor.trim(),
    command,
    commandId,
    workflowId: target.workflowId,
    runId,
    args,
    expiresInMs: input.expiresInMs,
  });
  await handle.signal(messages[command] as typeof messages.approve, payload as unknown as messages.CampaignApprovePayload);

  const timeoutMs = input.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const started = Date.now();
  for (;;) {
    let status: CampaignStatus | undefined;
    try {
      status = await queryCampaign(client, handle, Math.min(QUERY_TIMEOUT_MS, Math.max(500, timeoutMs - (Date.now() - started))));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError)
        throw new NotStartedError(target.workflowId, 'the campaign closed; run `cutover status` to see how it ended');
      status = undefined; // no worker answered this time; keep polling until the deadline
    }
    if (status) {
      const seen = findCampaignCommand(status, commandId);
      if (seen.state === 'applied')
        return { command, workflowId: target.workflowId, commandId, actor: String(payload.actor), applied: true, status };
      if (seen.state === 'rejected') throw new CommandRejectedError(command, target.workflowId, seen.reason, status.phase);
    }
    if (Date.now() - started >= timeoutMs) throw new CommandUnconfirmedError(command, target.workflowId, commandId, timeoutMs);
    await new Promise((r) => setTimeout(r, input.pollMs ?? 200));
  }
}
