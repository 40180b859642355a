/**
 * The entity workflow shared by `namespaceMigration` and `tenantMigration`: one long-lived run per
 * unit that owns its migration state. Observe (activities) → decide (the pure planner) → act
 * (unit-actions: activities, timers). Operator commands arrive as signals, are checked by the
 * planner's rules, deduped and serialized with the steps by a mutex; refusals are kept in `status`.
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
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RetryPolicy } from '@temporalio/common';
import type { Activities } from '../activities';
import { isIdlessSafeCommand } from '../domain/commands';
import { NON_RETRYABLE_TYPES, UNIT_METRICS_MEMO, UNIT_VIEW_MEMO } from '../domain/constants';
import { unitName } from '../domain/ids';
import { initialState, type CommandName, type MigrationState, type UnitMigrationInput, type UnitStatus } from '../domain/migration';
import { unitSearchAttributes, validateUnitInput } from '../domain/unit-input';
import { unitMetricsOf } from '../domain/unit-metrics';
import { AUDIT_KEPT, emptyAuditLog, mirrorGraceLeft, unmirrored } from '../audit/chain';
import { Mutex } from './mutex';
import { decide } from './planner';
import { isRouteWatchAction } from './route-watch';
import { act, actStep, type UnitActivities } from './unit-actions';
import * as messages from './unit-migration.messages';
import { newRouteWatch, takeRouteAudit } from './route-watch-state';
import { applyCommand, audit, pushHistory, refuseUnknownSignal } from './unit-state';
import { detailsText, memoView, routeText, unitStatus, type UnitRun } from './unit-view';

// Observing and changing clusters and routing: retried with backoff, but bounded, so a fault that
// outlasts ~5 minutes moves the unit to `failed` (held for an operator) instead of retrying forever.
const RETRY: RetryPolicy = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '10 seconds',
  maximumAttempts: 30,
  nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES],
};
const activities: UnitActivities = {
  // Quick calls (a few RPCs each): a short start-to-close so a worker that died mid-call is noticed fast.
  acts: proxyActivities<Activities>({ startToCloseTimeout: '30 seconds', retry: RETRY }),
  // Provisioning may wait for a new namespace to become usable; it heartbeats while it waits.
  slow: proxyActivities<Activities>({ startToCloseTimeout: '3 minutes', heartbeatTimeout: '20 seconds', retry: RETRY }),
  // Probes wait for workflows on the target (heartbeating): few attempts, since a failed probe is a measurement, not an error.
  probes: proxyActivities<Activities>({
    startToCloseTimeout: '5 minutes',
    heartbeatTimeout: '10 seconds',
    retry: { ...RETRY, maximumAttempts: 3 },
  }),
  // Schedules: a switch waits for the old side's running actions and for backfilled runs (seconds per
  // schedule, many schedules per unit), so a long start-to-close and a heartbeat to notice a dead worker.
  schedules: proxyActivities<Activities>({ startToCloseTimeout: '30 minutes', heartbeatTimeout: '30 seconds', retry: RETRY }),
  // Route checks and restores: a few quick attempts; a Redis outage delays them to the next check, never fails the unit.
  watch: proxyActivities<Activities>({
    startToCloseTimeout: '10 seconds',
    retry: { initialInterval: '500 milliseconds', maximumAttempts: 3, nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES] },
  }),
};

/**
 * The unit's activity groups: the ones above, or, when its input sets the quick steps' timing, the quick
 * group with it (a shorter start-to-close makes a fault's retries show sooner: tests, slow links).
 */
function activitiesFor(input: UnitMigrationInput): UnitActivities {
  const q = input.quickSteps;
  if (!q) return activities;
  return {
    ...activities,
    acts: proxyActivities<Activities>({
      startToCloseTimeout: q.startToCloseMs ?? '30 seconds',
      retry: { ...RETRY, ...(q.maxRetryIntervalMs !== undefined ? { maximumInterval: q.maxRetryIntervalMs } : {}) },
    }),
  };
}

// The audit log's mirror to Redis: an activity with a few quick attempts (not a local activity: its marker
// would sit between patch markers and break replay after continue-as-new); a Redis outage never holds the
// unit (the records stay in the state and are mirrored at a later wait).
const mirror = proxyActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 3 },
});

/** Units started on this code manage their schedules; runs begun before it (replayed) keep the old path. */
const SCHEDULES_PATCH = 'entity-schedules';
/** Runs recorded before the view memo existed replay without it. */
const VIEW_MEMO_PATCH = 'unit-view-memo';
/** Pause and rollback without a command ID: runs that refused them before keep refusing them on replay. */
const IDLESS_SAFE_COMMANDS_PATCH = 'idless-safe-commands';
/** Units started on this code keep a hash-chained audit log (and mirror it); older runs replay without one. */
const AUDIT_PATCH = 'audit-log';
/**
 * Units started on this code mirror their audit log where they wait and when they end, not before every step
 * (an activity and a workflow task each: a third of a unit's work). Asked once, when the log is made; runs
 * begun before it mirror before every step, as recorded.
 */
const AUDIT_AT_WAITS_PATCH = 'audit-mirror-at-waits';
/**
 * How long a unit under AUDIT_AT_WAITS_PATCH may hold new audit records before it mirrors them at a wait: a
 * wait a command ends sooner (a campaign's advance, a drain's next count) mirrors nothing, and the records go
 * at the next longer wait, at the end, or once the oldest of them is this old.
 */
const MIRROR_GRACE_MS = 5_000;
/**
 * Units started on this code read their routing record back where they wait, not between steps (route-watch.ts).
 * Asked once, when the watch begins; watches begun before it read whenever a check is due, as recorded.
 */
const ROUTE_CHECK_AT_WAITS_PATCH = 'route-check-at-waits';
/**
 * Units started on this code run the `provisioned` phase's steps as one activity (src/activities/merged.ts).
 * Asked once, when a run begins (a continued run carries the answer); older runs keep a step per activity.
 */
const MERGED_STEPS_PATCH = 'merged-steps';
/**
 * Runs on this code keep their routing record true (route-watch.ts): checks, restores, forced routes adopted.
 * Asked on every loop, so a run begun on older code takes it up from its next live step; histories recorded
 * before it replay without it.
 */
const ROUTE_TRUTH_PATCH = 'route-truth';
/**
 * Commands from here on: a misspelt signal, a command ID reused for another command and an oversized signed
 * body are refused and recorded. Runs that took such signals before (dropped or buffered them) replay as they ran.
 */
const BOUNDED_COMMANDS_PATCH = 'bounded-commands';
/**
 * The metrics memo (`cutoverMetrics`) beside the view: the collector reads it from visibility instead of querying
 * each unit. Asked where the view is published, so a run begun on older code publishes it from its next live step.
 */
const METRICS_MEMO_PATCH = 'unit-metrics-memo';
/**
 * A unit whose input sets `finalizeAfterMs` stays reversible after it completes (until `finalize` or the deadline)
 * and frees the source's workers only then. Asked once, when a run begins (never on a continued run: the carried
 * state says it); runs begun before it, and inputs without the field, complete final as they always did.
 */
const REVERSIBLE_PATCH = 'reversible-completed';
/**
 * A rollback sends the route back before the schedules (planner.ts `rollingBack`). Asked once per rollback,
 * before its first step, and kept in it; rollbacks recorded before it replay schedules first.
 */
const ROLLBACK_ROUTE_FIRST_PATCH = 'rollback-route-first';

/** Runs one unit's migration; `carried` is the state handed over by continue-as-new. */
export async function runUnitMigration(
  kind: 'namespace' | 'tenant',
  input: UnitMigrationInput,
  carried?: MigrationState,
): Promise<UnitStatus> {
  const problems = validateUnitInput(input, kind);
  if (problems.length > 0) {
    throw ApplicationFailure.create({
      type: 'InvalidInput',
      nonRetryable: true,
      message: problems.map((p) => `${p.field}: ${p.message} (${p.hint})`).join('; '),
      details: problems,
    });
  }
  const state: MigrationState = carried ?? initialState();
  if (carried) state.runs += 1;
  // A carried state already says whether the unit manages schedules (a unit begun before they were
  // managed never starts halfway through: its schedules stay where they are).
  else if (patched(SCHEDULES_PATCH)) state.schedules = {};
  const info = workflowInfo();
  if (!carried && patched(AUDIT_PATCH)) state.audit = emptyAuditLog(info.workflowId, patched(AUDIT_AT_WAITS_PATCH));
  if (!carried && patched(MERGED_STEPS_PATCH)) state.mergedSteps = true;
  const after = input.finalizeAfterMs;
  if (!carried && after !== undefined && after !== 0 && patched(REVERSIBLE_PATCH)) state.reversible = { after, requests: 0 };
  const run: UnitRun = {
    kind,
    input,
    state,
    unit: unitName(input.unit),
    workflowId: info.workflowId,
    runIds: { first: info.firstExecutionRunId, current: info.runId },
  };
  const unitActivities = activitiesFor(input);
  const mutex = new Mutex();
  /** Bumped by every applied command so waits wake up. */
  let commands = 0;
  const nowIso = () => new Date().toISOString();
  const refreshDetails = () => setCurrentDetails(detailsText(run));

  // Message handlers
  // Synchronous, and at once while no step holds the mutex: a burst of signals costs no promise each.
  const onCommand = (name: CommandName) => (payload: unknown) =>
    mutex.runNowOrQueue(() => {
      const idOptional = isIdlessSafeCommand(name, payload) && patched(IDLESS_SAFE_COMMANDS_PATCH);
      const now = Date.now();
      const auth = {
        operators: input.operators,
        workflowId: run.workflowId,
        runIds: [run.runIds!.first, run.runIds!.current],
        ...(input.campaign ? { campaign: input.campaign } : {}),
        now,
      };
      const bounded = patched(BOUNDED_COMMANDS_PATCH);
      const out = applyCommand(state, name, payload, new Date(now).toISOString(), {
        idOptional,
        auth,
        bounded,
        ...(input.approvalTtlMs !== undefined ? { approvalTtlMs: input.approvalTtlMs } : {}),
      });
      if (out.outcome === 'repeat') return;
      if (out.outcome === 'rejected') log.info('command rejected', { unit: run.unit, command: name, reason: out.reason });
      // An applied command wakes the loop to act on it; with an audit log, any verdict does (to mirror its
      // record). Runs without one (begun before it) wake as they did, so their histories replay.
      if (out.outcome === 'applied' || state.audit) commands++;
      refreshDetails();
    });
  setHandler(messages.advance, onCommand('advance'));
  setHandler(messages.pause, onCommand('pause'));
  setHandler(messages.resume, onCommand('resume'));
  setHandler(messages.rollback, onCommand('rollback'));
  setHandler(messages.approve, onCommand('approve'));
  setHandler(messages.finalize, onCommand('finalize'));
  setHandler(messages.status, () => unitStatus(run));
  // A signal with no handler (a misspelt name): refused and recorded, where it used to wait unseen in a buffer.
  // Set last: a default handler takes every buffered signal that has no handler yet.
  setDefaultSignalHandler((signalName: string, ...args: unknown[]) =>
    mutex.runNowOrQueue(() => {
      if (!patched(BOUNDED_COMMANDS_PATCH)) return;
      refuseUnknownSignal(state, signalName, args[0], nowIso());
      log.info('unknown signal refused', { unit: run.unit, signal: signalName.slice(0, 64) });
      if (state.audit) commands++;
      refreshDetails();
    }),
  );

  let publishedView = '';
  let publishedMetrics = '';
  /**
   * The unit's view in its memo, when it changed (a campaign reads it by describe), and with `metrics` its
   * metrics memo when they changed (the collector reads it from visibility): one upsert for both.
   */
  function publishView(metrics: boolean): void {
    const status = unitStatus(run);
    const memo: Record<string, unknown> = {};
    const view = memoView(status);
    const json = JSON.stringify(view);
    if (json !== publishedView) {
      publishedView = json;
      memo[UNIT_VIEW_MEMO] = view;
    }
    if (metrics) {
      const m = unitMetricsOf(status);
      const mJson = JSON.stringify(m);
      if (mJson !== publishedMetrics) {
        publishedMetrics = mJson;
        memo[UNIT_METRICS_MEMO] = m;
      }
    }
    if (Object.keys(memo).length > 0) upsertMemo(memo);
  }

  /** Route changes and gate verdicts since the last look go to the audit log. */
  let seenEpoch = state.route.epoch;
  let seenRoute = routeText(state.route);
  let seenGates = state.gates.length;
  function auditChanges(): void {
    if (!state.audit) return;
    const at = nowIso();
    for (const g of state.gates.slice(Math.min(seenGates, state.gates.length)))
      audit(state, { kind: 'gate', gate: g.name, result: g.result, value: g.value, message: g.message }, at);
    seenGates = state.gates.length;
    // A restore or an adoption says why (`restored: missing`, `forced to the source by …`) and who forced it.
    const why = takeRouteAudit(state);
    if (state.route.epoch !== seenEpoch || why) {
      const after = { epoch: state.route.epoch, route: routeText(state.route) };
      const before = { epoch: seenEpoch, route: seenRoute };
      audit(state, { kind: 'route', before, after, reason: why?.reason ?? `phase ${state.phase}`, forced: why?.forced }, at);
      seenEpoch = after.epoch;
      seenRoute = after.route;
    }
  }

  /** Copies new audit records to the Redis stream; a failure is retried at the next wait, never fatal. */
  async function mirrorAudit(): Promise<void> {
    const book = state.audit;
    if (!book || book.seq <= book.mirrored) return;
    // Older records than the state keeps were lost to it only if mirroring failed for AUDIT_KEPT records:
    // the stream then shows the gap, and `cutover audit --verify` reports it.
    const records = unmirrored(book);
    try {
      const stored = await mirror.appendAudit.executeWithOptions(
        { summary: `mirror ${records.length} audit record(s) of ${run.unit} to its Redis stream` },
        [{ unit: run.unit, records }],
      );
      book.mirrored = Math.max(book.mirrored, Math.min(stored, book.seq));
    } catch (err) {
      log.warn('audit mirror failed; retried at the next step', { unit: run.unit, error: String(err), keptInState: AUDIT_KEPT });
    }
  }

  function shouldContinueAsNew(): boolean {
    const info = workflowInfo();
    return info.continueAsNewSuggested || (input.maxHistoryEvents !== undefined && info.historyLength > input.maxHistoryEvents);
  }

  // Main loop
  if (!carried) {
    pushHistory(state, { phase: 'pending', at: nowIso(), actor: input.actor ?? 'cutover', reason: 'migration started' });
  }
  upsertSearchAttributes(unitSearchAttributes(input, state.phase));
  refreshDetails();

  for (;;) {
    if (shouldContinueAsNew()) {
      // Let in-flight command handlers finish so none is lost; state (with seen command IDs) goes whole.
      await condition(allHandlersFinished);
      await continueAsNew<(i: UnitMigrationInput, s?: MigrationState) => Promise<UnitStatus>>(input, state);
    }
    // A command that lands while the mirror runs wakes the wait below (its record is then mirrored too).
    // Runs without an audit log count from the wait, as they always did, so their histories replay.
    const loopSeen = commands;
    const mirrorAtWaits = !!state.audit?.atWaits;
    // Before deciding (a wait decided before an await could miss a command that landed during it).
    if (!mirrorAtWaits) await mirrorAudit();
    // Observations are in the state (the steps put them there); decide is pure.
    const now = Date.now();
    if (patched(ROUTE_TRUTH_PATCH)) state.routeWatch ??= newRouteWatch(state, now, patched(ROUTE_CHECK_AT_WAITS_PATCH));
    if (state.rollback && state.rollback.routeFirst === undefined) state.rollback.routeFirst = patched(ROLLBACK_ROUTE_FIRST_PATCH);
    const action = decide(input, state, state.obs, now);
    // A route check in the middle of a wait does not end it for the views (the memo would flap at every check).
    if (!isRouteWatchAction(action)) run.wait = action.type === 'wait' ? action : undefined;
    if (patched(VIEW_MEMO_PATCH)) publishView(patched(METRICS_MEMO_PATCH));
    switch (action.type) {
      case 'done':
        refreshDetails();
        if (mirrorAtWaits) await mirrorAudit();
        await condition(allHandlersFinished);
        return unitStatus(run);
      case 'wait': {
        refreshDetails();
        const seen = state.audit ? loopSeen : commands;
        const woke = () => commands !== seen;
        const until = action.until;
        if (until !== undefined && until <= now) break;
        if (mirrorAtWaits && state.audit) {
          const grace = mirrorGraceLeft(state.audit, now, MIRROR_GRACE_MS);
          if (grace !== undefined && grace > 0) {
            // Wait out the grace first: ended by a command or by its own time, the wait mirrors nothing.
            const first = until === undefined ? grace : Math.min(grace, until - now);
            if (await condition(woke, first, { summary: action.reason })) break;
            if (until !== undefined && Date.now() >= until) break;
          }
          if (grace !== undefined) await mirrorAudit();
        }
        // The mirror counts against the wait: a command that landed during it ends the wait at once.
        const from = mirrorAtWaits ? Date.now() : now;
        if (until === undefined) await condition(woke);
        else if (until > from) await condition(woke, until - from, { summary: action.reason });
        break;
      }
      case 'step':
        // Under the mutex: a command lands between steps, never in the middle of one.
        await mutex.runExclusive(() => actStep(run, unitActivities, action.step));
        break;
      default:
        act(run, action, now);
    }
    auditChanges();
    refreshDetails();
  }
}
