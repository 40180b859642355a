/**
 * The "act" half of the entity workflow (workflow code): runs each step the planner asks for through the
 * activity proxies the workflow passes in, and applies phase changes, failures and bookkeeping to the
 * state. Observations land in the state for the next `decide`.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  isCancellation,
  log,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityInterfaceFor,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { PROBE_TASK_QUEUE } from '../domain/constants';
import type { Observations, Phase, RouteSeen, RouteTarget, RouteView, ScheduleCopyResult } from '../domain/migration';
import { CutoverPhase } from '../domain/search-attributes';
import { forecastDrain, handoffsToReturn, type Action, type Step } from './planner';
import { adoptForced, applyRestored, applyRouteSeen, applySeen, applyWatchError, sawEpoch } from './route-watch-state';
import { applyBookkeeping, enterPhase, markCompensation, note, type Bookkeeping } from './unit-state';
import type { UnitRun } from './unit-view';

/** The activity proxies, one group per kind of call (each with its own timeouts and retries). */
export interface UnitActivities {
  /** Quick calls: a few RPCs each. */
  acts: ActivityInterfaceFor<Activities>;
  /** The routing record's checks and restores: few quick attempts (a Redis outage delays them, never fails the unit). */
  watch: ActivityInterfaceFor<Activities>;
  /** Provisioning: may wait for a new namespace to become usable. */
  slow: ActivityInterfaceFor<Activities>;
  /** Probe workflows on the target. */
  probes: ActivityInterfaceFor<Activities>;
  /** Schedule copies, switches and checks. */
  schedules: ActivityInterfaceFor<Activities>;
}

const MAX_SAMPLES = 20;

const nowIso = () => new Date().toISOString();

/** Enters `to`: the state's side (history, resets), then the search attribute the UI filters on. */
export function transition(run: UnitRun, to: Phase, reason: string, clear: (keyof Observations)[] = []): void {
  const from = run.state.phase;
  enterPhase(run.state, to, reason, nowIso(), clear);
  upsertSearchAttributes([{ key: CutoverPhase, value: to }]);
  log.info('phase change', { unit: run.unit, from, to, reason });
}

/** A step whose activity failed for good: the unit is held in `failed` for an operator. */
export function fail(run: UnitRun, step: string, type: string, message: string): void {
  const phase = run.state.phase;
  transition(run, 'failed', `${step} failed: ${message}`);
  run.state.failure = { phase, step, type, message, at: nowIso() };
}

/** The planner's actions that need no activity and no wait: applied at once. */
export function act(
  run: UnitRun,
  action: Bookkeeping | Extract<Action, { type: 'transition' | 'fail' | 'route-seen' | 'adopt-forced' }>,
  now: number,
): void {
  if (action.type === 'transition') transition(run, action.to, action.reason, action.clear);
  else if (action.type === 'fail') fail(run, action.step, action.failureType, action.reason);
  else if (action.type === 'route-seen') {
    applyRouteSeen(run.state, action.verdict, nowIso());
    // A route change lost to a record something else wrote ahead of the workflow: held for an operator, as before.
    if (action.conflict) fail(run, 'set-route', 'RouteConflict', action.conflict);
  } else if (action.type === 'adopt-forced') {
    adoptForced(run.state, run.input, run.workflowId, now, nowIso());
    log.warn('routing record forced to the source: adopted', { unit: run.unit, forced: run.state.routeWatch?.forced });
  } else applyBookkeeping(run.state, run.input, action, now, nowIso());
}

/** Runs a step; an activity that failed for good holds the unit in `failed` (a cancellation propagates). */
export async function actStep(run: UnitRun, a: UnitActivities, step: Step): Promise<void> {
  try {
    await runStep(run, a, step);
  } catch (err) {
    if (isCancellation(err)) throw err;
    const cause = err instanceof ActivityFailure ? err.cause : err;
    const type = cause instanceof ApplicationFailure ? (cause.type ?? 'ApplicationFailure') : 'ActivityFailed';
    fail(run, step.kind, type, cause instanceof Error ? cause.message : String(cause));
  }
}

async function runStep(run: UnitRun, a: UnitActivities, step: Step): Promise<void> {
  const { state, input, unit } = run;
  const actor = `cutover/${unit}`;
  const scope = { taskQueues: input.taskQueues, ...(input.tenant ? { tenant: input.tenant } : {}) };
  const scheduleScope = {
    unit,
    sourceNamespace: input.sourceNamespace,
    targetNamespace: input.targetNamespace,
    ...(input.tenant ? { tenant: input.tenant } : {}),
  };
  const backfill = input.schedules?.backfill ?? 'gap';
  state.stepSeq++;
  const now = () => Date.now();
  switch (step.kind) {
    case 'preflight': {
      const r = await a.acts.preflight.executeWithOptions(
        { summary: `preflight ${unit}: reachability, namespace and search-attribute parity, pollers, open count` },
        [
          {
            ...scope,
            sourceNamespace: input.sourceNamespace,
            targetNamespace: input.targetNamespace,
            requirePollers: input.strategy === 'dual-workers',
          },
        ],
      );
      state.obs.preflight = r;
      state.counts.sourceOpen = r.sourceOpen;
      state.gates.push({
        name: 'preflight',
        result: r.ok ? 'successful' : 'failed',
        value: r.problems.length,
        at: nowIso(),
        message: r.ok ? `${r.sourceOpen} open on the source` : r.problems.map((p) => p.field).join(', '),
      });
      return;
    }
    case 'provision': {
      const summary = `provision ${input.targetCluster}/${input.targetNamespace}: namespace and search attributes`;
      const provision = { sourceNamespace: input.sourceNamespace, targetNamespace: input.targetNamespace };
      if (!state.mergedSteps) {
        state.obs.provision = await a.slow.provision.executeWithOptions({ summary }, [provision]);
        return;
      }
      // The phase's next steps in the same call, each only when the planner would ask for it next.
      const copy = state.schedules && !state.schedules.copy ? { ...scheduleScope, actor } : undefined;
      const ensure = state.route.epoch === 0 ? ensureArgs(unit, actor) : undefined;
      const r = await a.schedules.prepareTarget.executeWithOptions(
        {
          summary:
            summary +
            (copy ? `; copy the schedules of ${unit} to the target, paused` : '') +
            (ensure ? `; create the routing record of ${unit} on the source` : ''),
        },
        [{ provision, ...(copy ? { copySchedules: copy } : {}), ...(ensure ? { ensureRoute: ensure } : {}) }],
      );
      state.obs.provision = r.provision;
      if (r.copy) applyCopy(state, r.copy, actor);
      if (r.route) applyEnsured(state, r.route, now());
      return;
    }
    case 'ensure-route': {
      const summary = { summary: `create the routing record of ${unit} on the source` };
      if (state.routeWatch?.atWaits) {
        applyEnsured(state, await a.acts.ensureRouteRead.executeWithOptions(summary, [ensureArgs(unit, actor)]), now());
        return;
      }
      state.route = await a.acts.ensureRoute.executeWithOptions(summary, [ensureArgs(unit, actor)]);
      // No `checkedAt` yet: the record is read back at once (an operator may have forced it before it was ours).
      if (state.routeWatch) sawEpoch(state.routeWatch, state.route.epoch);
      return;
    }
    case 'probe': {
      const p = input.probe;
      const r = await a.probes.runProbes.executeWithOptions(
        { summary: `run ${p.workflows} probe workflow(s) on ${input.targetCluster}/${input.targetNamespace}` },
        [
          {
            namespace: input.targetNamespace,
            count: p.workflows,
            idPrefix: `cutover-probe/${unit}/${workflowInfo().firstExecutionRunId.slice(0, 8)}-${state.stepSeq}`,
            taskQueue: p.taskQueue ?? PROBE_TASK_QUEUE,
            timeoutMs: p.timeoutMs,
            minSuccess: p.minSuccess,
            maxP99Ms: p.maxP99Ms,
          },
        ],
      );
      state.obs.probe = r;
      state.gates.push({ name: 'probe', result: r.result, value: r.value, at: nowIso(), message: r.message });
      return;
    }
    case 'set-route': {
      // Recorded before the switch: a run started right after it must count as "since the move began".
      if (!(step.route.kind === 'side' && step.route.side === 'source') && !state.moveStartedAt) state.moveStartedAt = nowIso();
      const what =
        step.route.kind === 'side'
          ? `all to the ${step.route.side}`
          : step.route.kind === 'percent'
            ? `${step.route.percent}% to the target`
            : 'hold new starts';
      const change = {
        unit,
        expectedEpoch: state.route.epoch,
        route: step.route,
        sourceWorkersMayStop: step.sourceWorkersMayStop,
        actor,
        reason: step.reason,
      };
      const summary = { summary: `route ${unit}: ${what} (epoch ${state.route.epoch} → ${state.route.epoch + 1})` };
      const w = state.routeWatch;
      if (w) {
        // A lost compare-and-set hands back the record: missing or regressed is restored (then this step runs
        // again), forced is adopted; only a record written ahead by something else is a conflict.
        const out = await a.acts.setRoute.executeWithOptions(summary, [change]);
        if ('seen' in out) return applySeen(state, out.seen);
        state.route = out.view;
        sawEpoch(w, out.view.epoch);
        w.checkedAt = now();
      } else state.route = await a.acts.changeRoute.executeWithOptions(summary, [change]);
      state.routeChangedAt = now();
      if (state.phase === 'rolling-back') markCompensation(state, 'route back');
      return;
    }
    case 'sweep-placements': {
      // An optimisation, never a gate: a sweep that cannot finish leaves routed starts looking at the
      // other cluster, as before, and is not tried again at this epoch.
      const base = { epoch: step.epoch, listed: { source: 0, target: 0 }, seeded: 0, at: now() };
      try {
        const r = await a.slow.sweepPlacements.executeWithOptions(
          { summary: `record ${unit}'s open runs on both clusters in Redis (route epoch ${step.epoch})` },
          [
            {
              unit,
              namespace: input.unit.namespace,
              sourceNamespace: input.sourceNamespace,
              targetNamespace: input.targetNamespace,
              ...(input.tenant ? { tenant: input.tenant } : {}),
              epoch: step.epoch,
              ttlMs: input.placementSweepTtlMs ?? 0,
            },
          ],
        );
        state.sweep = {
          ...base,
          marked: r.marked,
          listed: r.listed,
          seeded: r.seeded,
          at: r.at,
          ...(r.reason ? { reason: r.reason } : {}),
        };
      } catch (err) {
        if (isCancellation(err)) throw err;
        const cause = err instanceof ActivityFailure && err.cause ? err.cause.message : String((err as Error)?.message ?? err);
        state.sweep = { ...base, marked: false, reason: `sweep failed: ${cause}` };
      }
      return;
    }
    case 'count': {
      const ns = step.side === 'source' ? input.sourceNamespace : input.targetNamespace;
      const r = await a.acts.countOpen.executeWithOptions({ summary: `count open runs of ${unit} on the ${step.side}` }, [
        { ...scope, side: step.side, namespace: ns },
      ]);
      if (step.side === 'source') state.counts.sourceOpen = r.open;
      else state.counts.targetOpen = r.open;
      const d = state.drain;
      if (d && d.side === step.side) {
        d.samples.push({ at: now(), open: r.open });
        if (d.samples.length > MAX_SAMPLES) d.samples.shift();
        d.forecastAt = forecastDrain(d.samples);
        if (now() >= d.deadlineAt) {
          state.stragglers = r.sampleIds;
          if (r.sampleRuns) state.stragglerRuns = r.sampleRuns;
        }
        if (r.open === 0 && state.phase === 'rolling-back') markCompensation(state, 'drain the target');
      }
      return;
    }
    case 'terminate-stragglers': {
      const side = state.drain?.side ?? 'source';
      const ns = side === 'source' ? input.sourceNamespace : input.targetNamespace;
      const by = state.approval?.approvedBy ?? 'unknown';
      const r = await a.acts.terminateStragglers.executeWithOptions(
        { summary: `terminate stragglers of ${unit} on the ${side} (approved by ${by})` },
        [
          {
            ...scope,
            side,
            namespace: ns,
            reason: `cutover: straggler of ${unit} past the drain deadline; termination approved by ${by}`,
            // Exactly the runs the approval listed (requests made before approvals bound runs list none: all open runs).
            ...(state.approval?.runs ? { runs: state.approval.runs } : {}),
          },
        ],
      );
      if (state.drain) {
        state.drain.stragglersTerminated = true;
        state.drain.terminatedAt = now();
        state.drain.terminatedRuns = (state.approval?.runs ?? []).map((x) => x.runId);
      }
      note(state, nowIso(), `terminated ${r.terminated.length} straggler(s) on the ${side}`, by, { terminated: r.terminated });
      return;
    }
    case 'hand-off': {
      const from = step.side;
      const to = from === 'source' ? 'target' : 'source';
      const ns = { source: input.sourceNamespace, target: input.targetNamespace };
      const back = step.back ? handoffsToReturn(state) : undefined;
      const r = await a.schedules.handOffRuns.executeWithOptions(
        {
          summary: back
            ? `hand ${back.length} run(s) of ${unit} back to the source with their state (rollback)`
            : `hand the open runs of ${unit} that use the helper to the ${to} with their state`,
        },
        [
          {
            unit,
            keyNamespace: input.unit.namespace,
            from,
            to,
            fromNamespace: ns[from],
            toNamespace: ns[to],
            scope,
            ...(back
              ? { runs: back.map((h) => ({ workflowId: h.workflowId, runId: h.toRunId })) }
              : state.drain?.handoffAsked?.length
                ? { asked: state.drain.handoffAsked }
                : {}),
            epoch: state.route.epoch,
            stopWaitMs: input.handoffWaitMs ?? 30_000,
            recordTtlMs: Math.max(input.placementSweepTtlMs ?? 0, 7 * 24 * 3600_000),
          },
        ],
      );
      const handed = r.items.flatMap((i) => (i.outcome === 'handed-off' ? [i.entry] : []));
      const known = new Set((state.handoffs ?? []).map((h) => `${h.fromRunId}>${h.toRunId}`));
      const fresh = handed.filter((h) => !known.has(`${h.fromRunId}>${h.toRunId}`));
      if (fresh.length) state.handoffs = [...(state.handoffs ?? []), ...fresh];
      const asked = r.items.flatMap((i) => (i.outcome === 'waiting' ? [{ workflowId: i.workflowId, runId: i.runId }] : []));
      const waiting = asked.length;
      const others = r.items.flatMap((i) => (i.outcome === 'refused' || i.outcome === 'closed' ? [i] : []));
      if (back) {
        // A run that ended on the target, or no longer answers, is not handed back: reported, never retried forever.
        state.handBackSkipped = [...(state.handBackSkipped ?? []), ...others.map((i) => i.runId)];
        if (handoffsToReturn(state).length === 0) markCompensation(state, 'hand back');
      } else if (state.drain) {
        state.drain.handoffAt = r.at;
        state.drain.handoffWaiting = waiting;
        if (waiting) state.drain.handoffAsked = asked;
        else delete state.drain.handoffAsked;
      }
      note(
        state,
        nowIso(),
        `${back ? 'handed back' : 'handed off'} ${handed.length} run(s) to the ${to}` +
          (waiting ? `; ${waiting} asked, not at a safe point yet` : '') +
          (others.length ? `; ${others.length} not handed ${back ? 'back' : 'off'} (${others.map((i) => i.why).join('; ')})` : ''),
        'cutover',
        {
          // The first runs of each kind (the whole list is in state.handoffs and the activity's result).
          handedOff: handed.slice(0, 25).map((h) => ({ workflowId: h.workflowId, fromRunId: h.fromRunId, toRunId: h.toRunId })),
          ...(others.length
            ? {
                notHandedOff: others
                  .slice(0, 25)
                  .map((i) => ({ workflowId: i.workflowId, runId: i.runId, outcome: i.outcome, why: i.why })),
              }
            : {}),
        },
      );
      return;
    }
    case 'reconcile': {
      const drainedSide = state.phase === 'rolling-back' ? (state.moveStartedAt ? 'target' : undefined) : 'source';
      // Starts are judged against the route this unit last set (none before it set one).
      const { kind, side, percent } = state.route;
      const route =
        state.route.epoch > 0 && state.routeChangedAt !== undefined
          ? {
              kind,
              side,
              percent,
              changedAt: new Date(state.routeChangedAt).toISOString(),
              graceMs: input.clientStalenessMs,
              placementNamespace: input.unit.namespace,
            }
          : undefined;
      const r = await a.acts.reconcile.executeWithOptions(
        { summary: `reconcile ${unit}: duplicates, stranded and misrouted runs on both clusters` },
        [
          {
            ...scope,
            sourceNamespace: input.sourceNamespace,
            targetNamespace: input.targetNamespace,
            since: state.moveStartedAt,
            drainedSide,
            route,
            ...(state.handoffs?.length ? { handedOff: [...new Set(state.handoffs.map((h) => h.workflowId))] } : {}),
          },
        ],
      );
      state.obs.reconcile = r;
      state.counts = {
        ...state.counts,
        sourceOpen: r.sourceOpen,
        targetOpen: r.targetOpen,
        duplicates: r.duplicates.length,
        stranded: r.stranded.length,
      };
      const misrouted = r.misrouted?.length ?? 0;
      state.gates.push({
        name: 'reconcile',
        result: r.clean ? 'successful' : 'failed',
        value: r.duplicates.length + r.stranded.length + misrouted,
        at: nowIso(),
        message: `${r.duplicates.length} duplicate(s), ${r.stranded.length} stranded, ${misrouted} misrouted`,
      });
      return;
    }
    case 'copy-schedules': {
      const r = await a.schedules.copySchedules.executeWithOptions(
        { summary: `copy the schedules of ${unit} to ${input.targetCluster}/${input.targetNamespace}, paused` },
        [{ ...scheduleScope, actor }],
      );
      applyCopy(state, r, actor);
      return;
    }
    case 'switch-schedules': {
      const s = state.schedules!;
      const leg = step.to === 'target' ? 'forward' : 'back';
      // Recorded before the switch: a rollback after a crash in the middle still switches back.
      const rec = (s[leg] ??= { startedAt: nowIso() });
      const cluster = step.to === 'target' ? input.targetCluster : input.sourceCluster;
      const r = await a.schedules.switchSchedules.executeWithOptions(
        { summary: `switch the schedules of ${unit} to the ${step.to} (${cluster}) exactly once; backfill ${backfill}` },
        [{ ...scheduleScope, to: step.to, backfill, actor }],
      );
      rec.done = r;
      const leftPaused = r.leftPaused.length ? `, ${r.leftPaused.length} left paused by their owner` : '';
      note(
        state,
        nowIso(),
        `switched ${r.switched} schedule(s) to the ${step.to} (${r.already} already there${leftPaused}); ` +
          `${r.missedFires} fire(s) in the gap, ${r.backfilledFires} backfilled`,
        actor,
        { ...r },
      );
      if (state.phase === 'rolling-back') markCompensation(state, 'switch schedules back');
      return;
    }
    case 'check-route': {
      try {
        const seen = await a.watch.readRoute.executeWithOptions(
          { summary: `read the routing record of ${unit} back (the workflow's epoch ${state.route.epoch})` },
          [{ unit }],
        );
        state.routeWatch!.checkedAt = now();
        state.routeWatch!.error = undefined;
        applySeen(state, seen);
      } catch (err) {
        if (isCancellation(err)) throw err;
        // Redis unreachable: clients ride on their cached routes meanwhile; the next check tries again.
        applyWatchError(state, errorText(err), now());
      }
      return;
    }
    case 'restore-route': {
      const w = state.routeWatch!;
      const seen = w.seen;
      w.seen = undefined;
      const r = state.route;
      try {
        const out = await a.watch.restoreRoute.executeWithOptions(
          { summary: `restore the routing record of ${unit} (${step.why}) at epoch ${step.epoch}, from the workflow's route` },
          [
            {
              unit,
              expectDigest: seen?.digest ?? null,
              epoch: step.epoch,
              route: targetOf(r),
              sourceWorkersMayStop: r.sourceWorkersMayStop,
              actor,
              reason: `restored: ${step.why} (the workflow's route at epoch ${r.epoch})`,
              restoredFrom: r.epoch,
              // A forced route stays marked as forced through a restore.
              ...(w.forced ? { forced: forcedMark(w.forced) } : {}),
            },
          ],
        );
        if ('seen' in out) applySeen(state, out.seen);
        else applyRestored(state, step.why, out.restored, now(), nowIso());
      } catch (err) {
        if (isCancellation(err)) throw err;
        applyWatchError(state, errorText(err), now());
      }
      return;
    }
    case 'reconcile-schedules': {
      const expected = state.phase === 'rolling-back' ? 'source' : 'target';
      const since = state.schedules?.forward?.startedAt;
      const r = await a.schedules.reconcileSchedules.executeWithOptions(
        { summary: `reconcile the schedules of ${unit}: each active on the ${expected} only, copies equal in meaning` },
        [{ ...scheduleScope, expected, ...(since ? { runsSince: since } : {}) }],
      );
      state.obs.schedules = r;
      state.counts.schedulesDoubleActive = r.doubleActive;
      state.gates.push({
        name: 'reconcile schedules',
        result: r.clean ? 'successful' : 'failed',
        value: r.doubleActive,
        at: nowIso(),
        message:
          `${r.schedules} schedule(s): ${r.doubleActive} active on both clusters, ${r.wrongSide} on the wrong side, ` +
          `${r.pausedOnBoth} paused on both, ${r.duplicateFires} double fire(s)`,
      });
      return;
    }
  }
}

/** The arguments of the routing record's creation. */
function ensureArgs(unit: string, actor: string) {
  return { unit, actor, reason: 'provisioned: all starts on the source' };
}

/** The routing record created (or found): the unit's route, read back in the same call and judged next. */
function applyEnsured(state: UnitRun['state'], out: { view: RouteView; seen: RouteSeen }, at: number): void {
  state.route = out.view;
  const w = state.routeWatch;
  if (!w) return;
  sawEpoch(w, out.view.epoch);
  w.checkedAt = at;
  // Judged before the next step: an operator may have forced the record before it was the unit's.
  applySeen(state, out.seen);
}

/** The schedules copied to the target, paused: kept in the state and noted. */
function applyCopy(state: UnitRun['state'], r: ScheduleCopyResult, actor: string): void {
  state.schedules!.copy = r;
  note(
    state,
    nowIso(),
    `copied ${r.selected} schedule(s) to the target, paused: ${r.created} created, ${r.unchanged} unchanged, ${r.updated} updated`,
    actor,
    { ...r },
  );
}

/** The route a view holds, as a route to write. */
function targetOf(r: RouteView): RouteTarget {
  if (r.kind === 'side') return { kind: 'side', side: r.side ?? 'source' };
  return r.kind === 'percent' ? { kind: 'percent', percent: r.percent ?? 0 } : { kind: 'hold' };
}

/** An activity failure's message (its cause's, when it has one). */
function errorText(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}

/** The forced mark as the record carries it (without the epoch the unit found it at). */
function forcedMark(f: NonNullable<NonNullable<UnitRun['state']['routeWatch']>['forced']>) {
  const { epoch: _, ...mark } = f;
  return mark;
}
