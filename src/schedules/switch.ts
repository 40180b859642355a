/**
 * Switching one schedule to the other cluster exactly once (never active on both clusters):
 *
 *   pause the old side → verify paused, nothing running → CAS the owner record (epoch + 1)
 *   → pause the old side again (fencing) → conditional unpause of the new side → backfill the gap
 *   → verify both sides.
 *
 * Pause before unpause: a crash between them leaves the schedule paused on both sides (safe, and
 * reported by reconcile), never active on both. The side to unpause comes only from the record this
 * switch won, and the unpause is conditional on the schedule's conflict token, which the fencing
 * pause of any later winner moves — so a switcher that was overtaken cannot unpause late.
 */
import { temporal } from '@temporalio/proto';
import {
  ScheduleActionsRunningError,
  ScheduleInputError,
  ScheduleMissingError,
  ScheduleSwitchSupersededError,
  ScheduleUnpauseConflictError,
  StaleScheduleEpochError,
} from './errors';
import type { ScheduleFence, ScheduleOwnerRecord } from './fence';
import { backfillRanges, firstOwnTime, gapTimes, scheduledRunId } from './gap';
import {
  backfillRaw,
  describeRaw,
  matchingTimes,
  msProto,
  observeSchedule,
  pauseRaw,
  peekRaw,
  protoMs,
  runExists,
  sleepMs,
  stateOf,
  updateRaw,
} from './raw';
import type { RawDescribe, ScheduleState } from './raw';
import type { ScheduleEndpoint, Side, SidedEndpoint } from './types';

/** The steps of the protocol, in order (`onStep` is called after each). */
export const SWITCH_STEPS = ['pause', 'verify-paused', 'cas', 'fence-pause', 'unpause', 'backfill', 'verify'] as const;
export type SwitchStep = (typeof SWITCH_STEPS)[number];

/**
 * Catch-up window set on a schedule when it becomes active on its new side: a cluster that comes back
 * after an outage must not replay actions the other side already took.
 */
export const DEFAULT_MIGRATED_CATCHUP_WINDOW_MS = 60_000;
/** The server's floor for the catch-up window. */
export const MIN_CATCHUP_WINDOW_MS = 10_000;
/** How long the switch waits for the old side's running actions to finish before giving up (still paused). */
export const DEFAULT_RUNNING_ACTION_TIMEOUT_MS = 30_000;
/** How long the switch waits for backfilled runs to appear on the new side. */
const BACKFILL_SETTLE_MS = 15_000;
/** Conditional unpauses tried before giving up (each loses only to a concurrent pause or update). */
const UNPAUSE_ATTEMPTS = 5;
/** At most this many gap times are checked and backfilled one by one; a longer gap is reported, not replayed. */
export const MAX_GAP_TIMES = 1000;

export interface SwitchScheduleInput {
  /** The side that has the schedule active now (or had, before a crash). */
  from: SidedEndpoint;
  /** The side that will have it active. */
  to: SidedEndpoint;
  scheduleId: string;
  fence: ScheduleFence;
  /** The owner record's epoch the caller's decision was based on (0 when no record exists). */
  expectedEpoch: number;
  actor: string;
  /** `gap`: fires that fell between the pause and the unpause are backfilled on the new side. */
  backfill: 'gap' | 'none';
  /** Idempotency key: a re-run with the same key finishes a switch that won the fence and then crashed. Default `<to>@<expectedEpoch>`. */
  switchId?: string;
  /** Catch-up window for the newly active side (ms, at least 10 s), or `keep`. Default 60 s, never raised. */
  catchupWindowMs?: number | 'keep';
  runningActionTimeoutMs?: number;
  /**
   * The new side as a copy just left it (`CopyItem.destination`: schedule and conflict token), used
   * instead of describing that side; its existence is still checked (its scheduler workflow runs).
   * If the schedule changed since, the server ignores the conditional unpause built from it, and the
   * switch retries from a describe, as with any stale description.
   */
  toKnown?: RawDescribe;
  /**
   * Called after each step (an activity heartbeats here, so a long switch shows where it is). A
   * returned promise is awaited before the next step; an error thrown here stops the switch right
   * after that step, as a crash would, and a re-run with the same `switchId` finishes it.
   */
  onStep?: (step: SwitchStep) => void | Promise<void>;
}

/** What a switch did. */
export interface SwitchReport {
  scheduleId: string;
  from: Side;
  to: Side;
  switchId: string;
  /** Epoch of the owner record this switch won. */
  epoch: number;
  /** True when this run finished a switch that had already won the fence. */
  resumed: boolean;
  gap: { fromMs?: number; untilMs?: number; missed: number[]; backfilled: number[] };
  catchupWindowMs?: number;
  /** Final check: the old side paused, the new one active, the record still this switch's. */
  verified: { fromPaused: boolean; toActive: boolean; ownerEpoch: number | undefined };
}

const GAP_NOTE = /gap-from (\S+)/;

function pauseNote(switchId: string, from: Side, actor: string, gapFromMs: number | undefined): string {
  const gapFrom = gapFromMs === undefined ? 'none' : new Date(gapFromMs).toISOString();
  return `cutover switch ${switchId}: paused on ${from} by ${actor}; gap-from ${gapFrom}`;
}

/** The gap start an earlier attempt wrote into the pause note, if the note is cutover's. */
export function gapFromNote(notes: string): number | undefined {
  if (!notes.startsWith('cutover switch ')) return undefined;
  const m = GAP_NOTE.exec(notes);
  if (!m || m[1] === 'none') return undefined;
  const t = Date.parse(m[1]);
  return Number.isNaN(t) ? undefined : t;
}

/** The namespace that keys the owner record: the source side's, whichever way the switch goes. */
export function fenceNamespace(a: SidedEndpoint, b: SidedEndpoint): string {
  return a.side === 'source' ? a.namespace : b.namespace;
}

function validate(input: SwitchScheduleInput): void {
  if (!input.scheduleId) throw new ScheduleInputError('scheduleId', 'must be a non-empty schedule ID');
  if (input.from.side === input.to.side)
    throw new ScheduleInputError(
      'to.side',
      `must differ from from.side (${input.from.side}): a switch moves a schedule to the other cluster`,
    );
  if (!Number.isInteger(input.expectedEpoch) || input.expectedEpoch < 0) {
    throw new ScheduleInputError(
      'expectedEpoch',
      'must be a non-negative integer: the epoch of the owner record read before deciding (0 when none exists)',
    );
  }
  if (input.backfill !== 'gap' && input.backfill !== 'none') throw new ScheduleInputError('backfill', "must be 'gap' or 'none'");
  if (!input.actor) throw new ScheduleInputError('actor', 'must name who switches (an operator or cutover itself)');
  const cw = input.catchupWindowMs;
  if (cw !== undefined && cw !== 'keep' && (!Number.isFinite(cw) || cw < MIN_CATCHUP_WINDOW_MS)) {
    throw new ScheduleInputError('catchupWindowMs', `must be at least ${MIN_CATCHUP_WINDOW_MS} ms (the server's minimum) or 'keep'`);
  }
}

/**
 * Waits until the old side is paused and has no running action, while the owner record stays at
 * `expectedEpoch`: if another switch moves the epoch meanwhile, this one is stale (and stops); if
 * someone unpaused the old side without moving the epoch, it is paused again. Throws
 * `ScheduleActionsRunningError` at the deadline.
 */
async function waitPausedAndIdle(
  ep: SidedEndpoint,
  scheduleId: string,
  timeoutMs: number,
  fence: ScheduleFence,
  ns: string,
  expectedEpoch: number,
  repause: () => Promise<void>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 25;
  for (;;) {
    const s = await observeSchedule(ep, scheduleId, { afterSignal: true });
    if (!s.exists) throw new ScheduleMissingError(scheduleId, ep.namespace);
    if (s.paused && s.running.length === 0) return;
    const rec = await fence.read(ns, scheduleId);
    if ((rec?.epoch ?? 0) !== expectedEpoch) throw new StaleScheduleEpochError(scheduleId, expectedEpoch, rec);
    if (!s.paused) await repause();
    if (Date.now() >= deadline) throw new ScheduleActionsRunningError(scheduleId, s.running);
    await sleepMs(delay);
    delay = Math.min(delay * 2, 500);
  }
}

/** The schedule as described, made active, with the migrated catch-up window. */
function activated(
  d: RawDescribe,
  note: string,
  catchup: number | 'keep',
): { schedule: temporal.api.schedule.v1.ISchedule; catchupWindowMs?: number } {
  const s = d.schedule ?? {};
  const current = protoMs(s.policies?.catchupWindow);
  let catchupWindowMs = current;
  if (catchup !== 'keep') catchupWindowMs = Math.max(MIN_CATCHUP_WINDOW_MS, Math.min(current ?? Number.MAX_SAFE_INTEGER, catchup));
  return {
    schedule: {
      spec: s.spec,
      action: s.action,
      policies: { ...s.policies, catchupWindow: catchupWindowMs === undefined ? undefined : msProto(catchupWindowMs) },
      state: { paused: false, notes: note, limitedActions: s.state?.limitedActions, remainingActions: s.state?.remainingActions },
    },
    catchupWindowMs,
  };
}

/** Unpauses `ep` if it is still paused and the record still names it (conditional on the conflict token). */
async function restore(
  ep: SidedEndpoint,
  id: string,
  owner: ScheduleOwnerRecord,
  fence: ScheduleFence,
  ns: string,
  identity: string,
): Promise<void> {
  const d = await describeRaw(ep, id);
  if (!d || !stateOf(d).paused) return;
  const current = await fence.read(ns, id);
  if (!current || current.epoch !== owner.epoch || current.owner !== ep.side) return;
  const s = d.schedule ?? {};
  const state = {
    ...s.state,
    paused: false,
    notes: `cutover: restored on ${ep.side} after losing the switch race to epoch ${owner.epoch}`,
  };
  await updateRaw(ep, id, { spec: s.spec, action: s.action, policies: s.policies, state }, d.conflictToken, identity);
}

/** Waits (bounded) until runs with these workflow IDs exist on the endpoint. */
async function waitRunsExist(ep: ScheduleEndpoint, ids: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending = ids;
  let delay = 50;
  while (pending.length) {
    const exists = await Promise.all(pending.map((id) => runExists(ep, id)));
    pending = pending.filter((_, i) => !exists[i]);
    if (!pending.length || Date.now() >= deadline) return;
    await sleepMs(delay);
    delay = Math.min(delay * 2, 500);
  }
}

/**
 * Switches one schedule from `from` to `to`, exactly once. Refuses (StaleScheduleEpochError) when
 * `expectedEpoch` is stale; a re-run after a crash with the same `switchId` finishes the switch.
 */
export async function switchSchedule(input: SwitchScheduleInput): Promise<SwitchReport> {
  validate(input);
  const { from, to, scheduleId: id, fence, expectedEpoch, actor } = input;
  const ns = fenceNamespace(from, to);
  const switchId = input.switchId ?? `${to.side}@${expectedEpoch}`;
  const identity = `cutover:${actor}`;

  const rec = await fence.read(ns, id);
  const epochNow = rec?.epoch ?? 0;
  let won: ScheduleOwnerRecord;
  let resumed = false;
  /** The new side as described before the pause: its conflict token serves the first unpause attempt. */
  let dToBefore: RawDescribe | undefined;
  if (epochNow === expectedEpoch) {
    // The old side is read from its scheduler's memo (no query, see `observeSchedule`); the new side
    // is described in full, for the schedule the unpause writes back and its conflict token, unless
    // the caller's copy knows both.
    const known = input.toKnown;
    const [sFrom, dTo0] = await Promise.all([
      observeSchedule(from, id, { checkRunning: false }),
      // Existence needs no settled memo: the scheduler workflow runs or it does not.
      known ? peekRaw(to, id).then((p) => (p === null ? describeRaw(to, id) : p && known)) : describeRaw(to, id),
    ]);
    dToBefore = dTo0;
    if (!sFrom.exists) throw new ScheduleMissingError(id, from.namespace);
    // Never silence the old side when the new one has no copy to take over.
    if (!dTo0) throw new ScheduleMissingError(id, to.namespace);
    // Where the gap starts: the first time the old side had not processed before the pause. If an
    // earlier attempt paused it, its note says; if someone else paused it, nothing was missed.
    const gapFromMs = sFrom.paused ? gapFromNote(sFrom.notes) : sFrom.futureActionTimes[0];
    const pause = () => pauseRaw(from, id, pauseNote(switchId, from.side, actor, gapFromMs), identity);
    if (!sFrom.paused) await pause();
    await input.onStep?.('pause');
    try {
      await waitPausedAndIdle(from, id, input.runningActionTimeoutMs ?? DEFAULT_RUNNING_ACTION_TIMEOUT_MS, fence, ns, expectedEpoch, pause);
    } catch (err) {
      // Overtaken while waiting: give back the side this run paused if the record names it.
      if (err instanceof StaleScheduleEpochError && !sFrom.paused && err.current?.owner === from.side)
        await restore(from, id, err.current, fence, ns, identity);
      throw err;
    }
    await input.onStep?.('verify-paused');
    const cas = await fence.compareAndSet(ns, id, expectedEpoch, { owner: to.side, actor, switchId, gapFromMs });
    if (!cas.ok) {
      // Lost the race. If this run paused the side the winning record names as owner, give it
      // back — with the same conditional unpause the winner would use, so it cannot outlive a
      // later switch's fencing pause.
      if (!sFrom.paused && cas.current?.owner === from.side) await restore(from, id, cas.current, fence, ns, identity);
      throw new StaleScheduleEpochError(id, expectedEpoch, cas.current);
    }
    won = cas.record;
    await input.onStep?.('cas');
  } else if (rec && epochNow === expectedEpoch + 1 && rec.owner === to.side && rec.switchId === switchId) {
    won = rec;
    resumed = true;
  } else {
    throw new StaleScheduleEpochError(id, expectedEpoch, rec);
  }

  // Fencing pause: any unpause of the old side prepared by an overtaken switcher holds a conflict
  // token from before this pause, so the server ignores it.
  await pauseRaw(from, id, pauseNote(switchId, from.side, actor, won.gapFromMs), identity);
  await input.onStep?.('fence-pause');
  // The final check of the old side: its state once the server has processed the fencing pause. It
  // waits on the old side's scheduler, so it runs while the new side is unpaused (awaited at the end).
  const oldSideCheck = observeSchedule(from, id, { checkRunning: false, afterSignal: true });
  oldSideCheck.catch(() => undefined); // awaited below; a step that throws first must not leave it unhandled

  // Conditional unpause: a description of the new side (its conflict token) → the record is still
  // ours → update guarded by that token → read back that it took. A pause or update by anyone in
  // between moves the token and the server ignores the update; then retry (a bounded number of times)
  // from a new describe. Describes are the slowest schedule operation (each is a query to the
  // scheduler workflow), so the first attempt uses the description taken before the pause, and the
  // read-back comes from the scheduler's memo; the read that shows the new side active is also the
  // final check of that side.
  let dTo: RawDescribe | undefined;
  let sTo: ScheduleState;
  let catchupWindowMs: number | undefined;
  for (let attempt = 1; ; attempt++) {
    const fresh = attempt > 1 || dToBefore === undefined;
    dTo = fresh ? await describeRaw(to, id) : dToBefore;
    if (!dTo) throw new ScheduleMissingError(id, to.namespace);
    const current = await fence.read(ns, id);
    if (!current || current.epoch !== won.epoch || current.owner !== to.side)
      throw new ScheduleSwitchSupersededError(id, won.epoch, current);
    sTo = stateOf(dTo);
    catchupWindowMs = protoMs(dTo.schedule?.policies?.catchupWindow);
    if (!sTo.paused) {
      // Already active: believed only from a description taken after this switch won the record
      // (otherwise look again: the next turn describes).
      if (fresh) break;
      continue;
    }
    const next = activated(
      dTo,
      `cutover switch ${switchId}: active on ${to.side} (epoch ${won.epoch}) by ${actor}`,
      input.catchupWindowMs ?? DEFAULT_MIGRATED_CATCHUP_WINDOW_MS,
    );
    await updateRaw(to, id, next.schedule, dTo.conflictToken, identity);
    // Read back once the server has processed the update (from the memo: no query).
    const after = await observeSchedule(to, id, { checkRunning: false, afterSignal: true });
    if (after.exists && !after.paused) {
      sTo = after;
      catchupWindowMs = next.catchupWindowMs;
      break;
    }
    if (attempt >= UNPAUSE_ATTEMPTS) throw new ScheduleUnpauseConflictError(id);
  }
  await input.onStep?.('unpause');

  const gap: SwitchReport['gap'] = { fromMs: won.gapFromMs, missed: [], backfilled: [] };
  const actionWorkflowId = dTo.schedule?.action?.startWorkflow?.workflowId ?? '';
  if (input.backfill === 'gap' && won.gapFromMs !== undefined && actionWorkflowId) {
    const g = won.gapFromMs;
    if (won.backfillMs?.length) {
      // An earlier run asked for these: let the scheduler start them before deciding what is missing.
      await waitRunsExist(
        to,
        won.backfillMs.map((t) => scheduledRunId(actionWorkflowId, t)),
        BACKFILL_SETTLE_MS,
      );
    }
    const untilMs = firstOwnTime(g, sTo.recentNominal, sTo.futureActionTimes) ?? Date.now();
    gap.untilMs = untilMs;
    const matching = untilMs > g ? (await matchingTimes(to, id, g - 1, untilMs - 1)).slice(0, MAX_GAP_TIMES) : [];
    // Ran means: a run of that nominal time exists on either side (describe by ID: no visibility lag).
    const ran: number[] = [];
    await Promise.all(
      matching.map(async (t) => {
        const runId = scheduledRunId(actionWorkflowId, t);
        if ((await runExists(from, runId)) || (await runExists(to, runId))) ran.push(t);
      }),
    );
    gap.missed = gapTimes(matching, g, untilMs, ran);
    if (gap.missed.length) {
      const asked = [...new Set([...(won.backfillMs ?? []), ...gap.missed])].sort((a, b) => a - b);
      if (!(await fence.annotate(ns, id, won.epoch, { backfillMs: asked }))) {
        throw new ScheduleSwitchSupersededError(id, won.epoch, await fence.read(ns, id));
      }
      // ALLOW_ALL: a gap fire must not be skipped because a run of the new side overlaps it.
      await backfillRaw(
        to,
        id,
        backfillRanges(matching, gap.missed),
        temporal.api.enums.v1.ScheduleOverlapPolicy.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
        identity,
      );
      gap.backfilled = gap.missed;
      await waitRunsExist(
        to,
        gap.missed.map((t) => scheduledRunId(actionWorkflowId, t)),
        BACKFILL_SETTLE_MS,
      );
    }
  }
  await input.onStep?.('backfill');

  // The new side was checked by the read that showed it active; the old side by the read started
  // after the fencing pause.
  const [vf, owner] = await Promise.all([oldSideCheck, fence.read(ns, id)]);
  const verified = { fromPaused: vf.paused, toActive: !sTo.paused, ownerEpoch: owner?.epoch };
  await input.onStep?.('verify');
  return { scheduleId: id, from: from.side, to: to.side, switchId, epoch: won.epoch, resumed, gap, catchupWindowMs, verified };
}

/**
 * Rollback: the same protocol in reverse — the schedule goes back to the source.
 * `expectedEpoch` is the epoch the rollback was decided on (usually that of the forward switch).
 */
export async function rollbackSchedule(
  input: Omit<SwitchScheduleInput, 'from' | 'to'> & { source: ScheduleEndpoint; target: ScheduleEndpoint },
): Promise<SwitchReport> {
  const { source, target, ...rest } = input;
  return switchSchedule({ ...rest, from: { ...target, side: 'target' }, to: { ...source, side: 'source' } });
}
