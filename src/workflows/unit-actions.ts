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
import type { Observations, Phase } from '../domain/migration';
import { CutoverPhase } from '../domain/search-attributes';
import { forecastDrain, type Action, type Step } from './planner';
import { applyBookkeeping, enterPhase, markCompensation, note, type Bookkeeping } from './unit-state';
import type { UnitRun } from './unit-view';

/** The activity proxies, one group per kind of call (each with its own timeouts and retries). */
export interface UnitActivities {
  /** Quick calls: a few RPCs each. */
  acts: ActivityInterfaceFor<Activities>;
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
export function act(run: UnitRun, action: Bookkeeping | Extract<Action, { type: 'transition' | 'fail' }>, now: number): void {
  if (action.type === 'transition') transition(run, action.to, action.reason, action.clear);
  else if (action.type === 'fail') fail(run, action.step, action.failureType, action.reason);
  else applyBookkeeping(run.state, run.input, action, now, nowIso());
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
    case 'provision':
      state.obs.provision = await a.slow.provision.executeWithOptions(
        { summary: `provision ${input.targetCluster}/${input.targetNamespace}: namespace and search attributes` },
        [{ sourceNamespace: input.sourceNamespace, targetNamespace: input.targetNamespace }],
      );
      return;
    case 'ensure-route':
      state.route = await a.acts.ensureRoute.executeWithOptions({ summary: `create the routing record of ${unit} on the source` }, [
        { unit, actor, reason: 'provisioned: all starts on the source' },
      ]);
      return;
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
      state.route = await a.acts.changeRoute.executeWithOptions(
        { summary: `route ${unit}: ${what} (epoch ${state.route.epoch} → ${state.route.epoch + 1})` },
        [
          {
            unit,
            expectedEpoch: state.route.epoch,
            route: step.route,
            sourceWorkersMayStop: step.sourceWorkersMayStop,
            actor,
            reason: step.reason,
          },
        ],
      );
      state.routeChangedAt = now();
      if (state.phase === 'rolling-back') markCompensation(state, 'route back');
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
    case 'reconcile': {
      const drainedSide = state.phase === 'rolling-back' ? (state.moveStartedAt ? 'target' : undefined) : 'source';
      // Starts are judged against the route this unit last set (none before it set one).
      const { kind, side, percent } = state.route;
      const route =
        state.route.epoch > 0 && state.routeChangedAt !== undefined
          ? { kind, side, percent, changedAt: new Date(state.routeChangedAt).toISOString(), graceMs: input.clientStalenessMs }
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
      const s = state.schedules!;
      const r = await a.schedules.copySchedules.executeWithOptions(
        { summary: `copy the schedules of ${unit} to ${input.targetCluster}/${input.targetNamespace}, paused` },
        [{ ...scheduleScope, actor }],
      );
      s.copy = r;
      note(
        state,
        nowIso(),
        `copied ${r.selected} schedule(s) to the target, paused: ${r.created} created, ${r.unchanged} unchanged, ${r.updated} updated`,
        actor,
        { ...r },
      );
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
