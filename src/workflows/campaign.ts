/**
 * `campaign` (ID `cutover/campaign/<name>`): walks the plan's rings in order, batch by batch; for
 * each step it moves the batch's entity workflows (started or resumed, never forked; they outlive
 * the campaign) and then bakes while the ring's gates are measured every interval. A failed gate
 * rolls the ring back or holds it (`onGateFailure`); an inconclusive one holds for a human; rings
 * that ask for it wait for a two-person approval bound to ring, step and epoch.
 *
 * Observe (activities: entity status) → decide (pure: src/campaign/planner.ts) → act (activities:
 * start, advance, rollback, measure; timers; state transitions of src/campaign/state.ts). Commands
 * are checked by src/campaign/commands.ts; status and UI details come from src/campaign/view.ts.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setDefaultSignalHandler,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { CampaignActivities } from '../activities/campaign';
import type { GateActivities } from '../activities/gates';
import { checkCampaignCommand, startDigest, type CampaignCommandName } from '../campaign/commands';
import { isIdlessSafeCommand } from '../domain/commands';
import { AUDIT_KEPT, emptyAuditLog, unmirrored } from '../audit/chain';
import { enforcing } from '../operators/policy';
import { verifySigned } from '../operators/signing';
import type { Activities } from '../activities';
import { campaignContext, decideCampaign, type CampaignAction, type CampaignObservations } from '../campaign/planner';
import {
  applyAction,
  initialCampaignState,
  inputProblems,
  note,
  recordCommand,
  recordMeasurements,
  recordUnknownSignal,
  recordViews,
  type ChangedAttribute,
} from '../campaign/state';
import type { CampaignInput, CampaignState, CampaignStatus } from '../campaign/types';
import { campaignProgress, type CampaignProgress } from '../campaign/progress';
import { campaignDetails, campaignSearchAttributes, campaignStatus } from '../campaign/view';
import type { TimedMeasurement } from '../gates/types';
import * as messages from './campaign.messages';
import { Mutex } from './mutex';

// Entity status, start and commands on the control cluster: quick calls, retried without end while
// the control cluster is down (the campaign must carry on when it is back, never fail for it).
const control = proxyActivities<CampaignActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds' },
});
// A measurement returns `error` for a provider that is down; a thrown error is an infrastructure
// fault of the worker itself: a few retries, then it is recorded as an errored measurement.
const measure = proxyActivities<GateActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 3 },
});

// The audit log's mirror to Redis (as the entity's: an activity, never fatal).
const mirror = proxyActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 3 },
});

/**
 * Commands from here on: a misspelt signal, a command ID reused for another command and an oversized signed
 * body are refused and recorded. Campaigns that took such signals before (dropped or buffered them) replay as they ran.
 */
const BOUNDED_COMMANDS_PATCH = 'campaign-bounded-commands';

/** A wait the main loop performs outside the mutex (so commands can land while it waits); forever without `ms`. */
type Wait = { reason: string; ms?: number } | 'done' | void;

/** Runs a campaign; `carried` is the state handed over by continue-as-new. */
export async function campaign(input: CampaignInput, carried?: CampaignState): Promise<CampaignStatus> {
  const problems = inputProblems(input);
  if (problems.length > 0)
    throw ApplicationFailure.create({ type: 'InvalidInput', nonRetryable: true, message: problems.join('; '), details: problems });
  const info = workflowInfo();
  const ctx = campaignContext(input, info.workflowId);
  const state: CampaignState = carried ?? initialCampaignState();
  if (carried) state.runs += 1;
  else {
    if (patched('campaign-audit')) state.audit = emptyAuditLog(info.workflowId);
    // With operators, a campaign starts only on an operator's signature over exactly this input.
    if (enforcing(input.operators)) state.requesterKey = verifyStart(input, info.workflowId, Date.now());
  }
  const runIds = [info.firstExecutionRunId, info.runId];
  const mutex = new Mutex();
  /** Bumped by every accepted command so waits wake up. */
  let commands = 0;
  let waitingFor: string | undefined;
  /** The last command ID sent to each unit: a unit that has not yet acted on it shows the same view, and would get it again. */
  const lastSent: Record<string, string> = {};
  /** The progress the UI's details show, as of the main loop's last look. */
  let progress: CampaignProgress | undefined;

  // Message handlers: check (pure), then record the verdict in the state.
  function onCommand(name: CampaignCommandName, payload: unknown): void {
    const now = Date.now();
    // Runs that refused a pause or rollback without a command ID keep refusing it on replay.
    const idOptional = isIdlessSafeCommand(name, payload) && patched('campaign-idless-safe-commands');
    const verdict = checkCampaignCommand(name, state, payload, {
      now,
      idOptional,
      auth: { operators: input.operators, workflowId: ctx.workflowId, runIds, now },
      step: input.plan.steps[state.stepIndex]?.n,
      bounded: patched(BOUNDED_COMMANDS_PATCH),
    });
    if (verdict.kind === 'repeat') return;
    recordCommand(ctx, state, verdict, now);
    // An accepted command wakes the loop to act on it; with an audit log, any verdict does (to mirror its
    // record). Runs without one (begun before it) wake as they did, so their histories replay.
    if (verdict.kind === 'accept' || state.audit) commands++;
    if (verdict.kind === 'refuse') return log.info('campaign command rejected', { command: name, reason: verdict.reason });
    if (verdict.kind === 'no-op') return refreshDetails();
    refreshDetails();
  }
  for (const name of ['advance', 'pause', 'resume', 'rollback', 'approve'] as const)
    // At once while no round holds the mutex (onCommand never yields): a burst of signals costs no promise each.
    setHandler(messages[name], (p: unknown) => mutex.runNowOrQueue(() => onCommand(name, p)));
  // Progress and ETAs are computed on read (no state, no command): a query changes nothing in the history.
  setHandler(messages.status, () => withSigning(campaignStatus(ctx, state, workflowInfo().historyLength, progressNow())));
  // A signal with no handler (a misspelt name): refused and recorded, where it used to wait unseen in a buffer.
  // Set last: a default handler takes every buffered signal that has no handler yet.
  setDefaultSignalHandler((signalName: string, ...args: unknown[]) =>
    mutex.runNowOrQueue(() => {
      if (!patched(BOUNDED_COMMANDS_PATCH)) return;
      recordUnknownSignal(state, signalName, args[0], Date.now());
      log.info('campaign: unknown signal refused', { signal: signalName.slice(0, 64) });
      if (state.audit) commands++;
      refreshDetails();
    }),
  );

  function withSigning(status: CampaignStatus): CampaignStatus {
    const a = state.audit;
    return {
      ...status,
      signing: {
        firstRunId: runIds[0]!,
        runId: runIds[1]!,
        required: enforcing(input.operators),
        ...(state.requesterKey ? { requester: state.requesterKey } : {}),
      },
      ...(a ? { audit: { seq: a.seq, head: a.head, mirrored: a.mirrored, records: a.records } } : {}),
    };
  }

  /** Copies new audit records to the campaign's stream; a failure is retried next round, never fatal. */
  async function mirrorAudit(): Promise<void> {
    const book = state.audit;
    if (!book || book.seq <= book.mirrored) return;
    try {
      const records = unmirrored(book);
      const stored = await mirror.appendAudit.executeWithOptions(
        { summary: `mirror ${records.length} audit record(s) of campaign ${input.plan.name} to its Redis stream` },
        [{ unit: input.plan.name, records }],
      );
      book.mirrored = Math.max(book.mirrored, Math.min(stored, book.seq));
    } catch (err) {
      log.warn('campaign audit mirror failed; retried next round', { error: String(err), keptInState: AUDIT_KEPT });
    }
  }

  // Declarations, not arrows: a signal buffered before the handlers were set runs inside setHandler.
  // The progress (a pass over every unit and step) is recomputed by the main loop only, not by each of a
  // burst of signals; details are not history, so what they show never affects replay.
  function refreshDetails(recompute = false): void {
    if (recompute) progress = progressNow();
    setCurrentDetails(campaignDetails(ctx, state, waitingFor, progress));
  }
  /** The progress now; only shown, so a fault in it is logged and shows nothing, never failing a workflow task. */
  function progressNow(): CampaignProgress | undefined {
    try {
      return campaignProgress(ctx, state, Date.now());
    } catch (err) {
      log.warn('campaign progress could not be computed', { error: String(err) });
      return undefined;
    }
  }
  function upsert(changed: readonly ChangedAttribute[]): void {
    for (const k of changed) upsertSearchAttributes(campaignSearchAttributes(ctx, state, [k]));
  }

  /** Waits until a command arrives after `seen` was counted, or `ms` pass (forever when undefined). */
  async function waitCommand(reason: string, seen: number, ms?: number): Promise<void> {
    waitingFor = reason;
    refreshDetails(true);
    if (ms === undefined) await condition(() => commands !== seen);
    else if (ms > 0) await condition(() => commands !== seen, ms);
    waitingFor = undefined;
  }

  /** One round under the mutex: observe (at most once) → decide → act, until an action ends the round. */
  async function round(): Promise<Wait> {
    const obs: CampaignObservations = {};
    for (;;) {
      const now = Date.now();
      const a = decideCampaign(ctx, state, obs, now);
      switch (a.type) {
        case 'done':
          return 'done';
        case 'observe':
          obs.askedAt = now;
          obs.views = await control.unitViews({ units: a.units });
          recordViews(state, obs.views);
          continue;
        case 'wait':
          return { reason: a.reason, ...(a.until !== undefined ? { ms: a.until - now } : {}) };
        case 'move-units':
          await moveUnits(a);
          return { reason: a.reason, ms: input.pollMs };
        case 'measure':
          return await measureGates(a);
        default:
          upsert(applyAction(ctx, state, a, now));
          if (a.type === 'set-phase' || a.type === 'begin-rollback') continue;
          if (a.type === 'rollback-blocked' && a.waitFor) return { reason: a.waitFor, ms: input.pollMs };
          return;
      }
    }
  }

  async function moveUnits(a: Extract<CampaignAction, { type: 'move-units' }>): Promise<void> {
    if (a.start) await control.startUnits(a.start);
    // The worker signs them with its controller key (when the plan lists operators), bound to this campaign.
    // The entity drops a repeated command ID anyway; not sending it again saves a signal and a workflow task.
    const cmds = a.commands.filter((c) => lastSent[c.unit] !== c.commandId);
    if (cmds.length === 0) return;
    await control.commandUnits({ campaign: input.plan.name, commands: cmds.map(({ unit: _, ...c }) => c) });
    for (const c of cmds) lastSent[c.unit] = c.commandId;
  }

  async function measureGates(a: Extract<CampaignAction, { type: 'measure' }>): Promise<void> {
    const bake = state.bake;
    state.measurementSeq = a.seq;
    const taken = await Promise.all(
      a.requests.map(async (r): Promise<TimedMeasurement> => {
        try {
          return { ...(await measure.measureGate(r)), gate: r.gate.name, at: Date.now() };
        } catch (err) {
          const message = `measurement failed: ${err instanceof Error ? err.message : String(err)}`;
          return { result: 'error', message, gate: r.gate.name, at: Date.now() };
        }
      }),
    );
    if (state.bake === bake) recordMeasurements(state, taken); // else restarted by a command meanwhile
  }

  function shouldContinueAsNew(): boolean {
    const info = workflowInfo();
    state.maxHistoryLength = Math.max(state.maxHistoryLength, info.historyLength);
    return info.continueAsNewSuggested || (input.maxHistoryEvents !== undefined && info.historyLength > input.maxHistoryEvents);
  }

  // Main loop
  if (!carried)
    note(ctx, state, { event: `campaign started by ${input.actor}${input.plan.drill ? ' (drill)' : ''}`, actor: input.actor }, Date.now());
  state.startedAt ??= new Date().toISOString();
  upsertSearchAttributes(campaignSearchAttributes(ctx, state));
  refreshDetails(true);

  for (;;) {
    if (shouldContinueAsNew()) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof campaign>(input, state);
    }
    // With an audit log, a command that lands during the mirror or the round wakes the wait (its record is
    // mirrored next). Runs without one count from the wait, as they always did, so their histories replay.
    const loopSeen = commands;
    await mirrorAudit();
    const w = await mutex.runExclusive(round);
    if (w === 'done') break;
    if (w) await waitCommand(w.reason, state.audit ? loopSeen : commands, w.ms);
    refreshDetails(true);
  }
  refreshDetails(true);
  await condition(allHandlersFinished);
  await mirrorAudit();
  return campaignStatus(ctx, state, workflowInfo().historyLength, progressNow());
}

/**
 * The start's signature: an operator's, over a digest of this very input, not expired. Returns the
 * signer's public key (the requester of the campaign's approvals); a start that fails is refused.
 */
function verifyStart(input: CampaignInput, workflowId: string, now: number): string {
  const v = verifySigned({ signature: input.start }, input.operators!, {
    command: 'start',
    workflowId,
    runIds: [],
    runOptional: true,
    now,
    roles: ['operator'],
  });
  const refuse = (message: string) => {
    throw ApplicationFailure.create({ type: 'InvalidInput', nonRetryable: true, message: `start refused: ${message}` });
  };
  if (!v.ok) return refuse(input.start ? v.reason : 'the plan lists operators; start the campaign with `cutover start --key <file>`');
  if (v.body.args.input !== startDigest(input)) return refuse('signature: signed for another plan or input; sign the start again');
  return v.operator.publicKey;
}
