/**
 * The entity workflows' pure planner: `(input, state, observations, now) → action`, and the rules of
 * operator commands. No Temporal imports, no clock, no I/O: the workflow observes (activities), asks
 * `decide` what to do next, and acts (activities, timers). Table-tested in test/unit/planner.test.ts.
 */
import { isSafeCommand, parseCommandPayload, safeCommandNoOp } from '../domain/commands';
import { FORWARD_PHASES } from '../domain/constants';
import type {
  Side,
  CommandName,
  CommandRecord,
  DrainState,
  ForwardPhase,
  MigrationState,
  Observations,
  Phase,
  RouteTarget,
  RouteView,
  UnitMigrationInput,
} from '../domain/migration';
import { capWait, routeWatchAction, type RouteWatchAction, type RouteWatchStep } from './route-watch';

/** Work the workflow performs through an activity. */
export type Step =
  | { kind: 'preflight' }
  | { kind: 'provision' }
  | { kind: 'ensure-route' }
  | { kind: 'probe' }
  | { kind: 'set-route'; route: RouteTarget; sourceWorkersMayStop: boolean; reason: string }
  | { kind: 'count'; side: Side }
  | { kind: 'terminate-stragglers' }
  /** Hand the open runs of `side` that use the helper to the other side (`back`: the runs a rollback returns). */
  | { kind: 'hand-off'; side: Side; back: boolean }
  | { kind: 'reconcile' }
  /** Copy the unit's schedules to the target, paused (provisioned). */
  | { kind: 'copy-schedules' }
  /** Switch each of the unit's schedules to `to`, fenced and exactly once (cutover; back to the source on rollback). */
  | { kind: 'switch-schedules'; to: Side }
  /** Check the unit's schedules on both clusters (after the runs' reconcile). */
  | { kind: 'reconcile-schedules' }
  /** Record every open run of the unit in Redis for the current route (src/routing/sweep.ts). */
  | { kind: 'sweep-placements'; epoch: number }
  /** Read the routing record back; restore it above every epoch seen (route-watch.ts). */
  | RouteWatchStep;

/** What the workflow should do next. */
export type Action =
  | { type: 'step'; step: Step }
  | { type: 'transition'; to: Phase; reason: string; clear?: (keyof Observations)[] }
  | { type: 'wait'; for: 'advance' | 'resume' | 'approval' | 'timer' | 'operator'; until?: number; reason: string }
  | { type: 'start-bake'; until: number }
  | { type: 'end-bake'; skipped: boolean }
  | { type: 'start-drain'; side: Side; deadlineAt: number }
  | { type: 'request-approval'; count: number }
  | { type: 'clear'; keys: (keyof Observations)[]; reason: string }
  | { type: 'report-stragglers'; side: Side }
  | { type: 'roll-back'; reason: string }
  /** A reversible completed unit becomes final (its route already says the source's workers may stop). */
  | { type: 'finalize'; how: 'command' | 'deadline' }
  | { type: 'fail'; step: string; failureType: string; reason: string }
  /** The route watch's bookkeeping: a record read judged, a forced record adopted (route-watch.ts). */
  | Exclude<RouteWatchAction, { type: 'step' }>
  | { type: 'done' };

/** Terminal phases: the workflow returns (a reversible completed unit only once finalized, `isFinal`). */
export const TERMINAL_PHASES: readonly Phase[] = ['completed', 'rolled-back'];

/** True while the unit is completed and still reversible: not finalized (units begun before reversibility never are). */
export function reversibleOpen(state: MigrationState): boolean {
  return state.phase === 'completed' && !!state.reversible && !state.reversible.finalized;
}

/** True when nothing can change the unit any more: rolled back, or completed and final. */
export function isFinal(state: MigrationState): boolean {
  return TERMINAL_PHASES.includes(state.phase) && !reversibleOpen(state);
}

/** When a reversible completed unit becomes final on its own (ms); undefined with `never` or before completion. */
export function finalizeDeadline(state: MigrationState): number | undefined {
  const r = state.reversible;
  if (!r || r.after === 'never' || r.completedAt === undefined) return undefined;
  return r.completedAt + r.after;
}

/** The rollback request of a completed unit that still waits for approvals at `now` (an expired one no longer counts). */
export function pendingReversal(state: MigrationState, now: number): NonNullable<MigrationState['reversible']>['request'] {
  const q = state.reversible?.request;
  return q && q.approval.consumedAt === undefined && now < q.approval.expiresAt ? q : undefined;
}

/** The forward phases a strategy walks through (drain-and-switch has no canary). */
export function phasesFor(strategy: UnitMigrationInput['strategy']): Phase[] {
  return FORWARD_PHASES.filter((p) => strategy === 'dual-workers' || p !== 'canary');
}

/** The phase after `phase` on the forward path. */
export function nextPhase(strategy: UnitMigrationInput['strategy'], phase: Phase): Phase {
  const phases = phasesFor(strategy);
  const i = phases.indexOf(phase);
  if (i < 0 || i === phases.length - 1) throw new Error(`no phase after ${phase}`);
  return phases[i + 1]!;
}

/** True when the route equals the wanted one. */
export function routeIs(route: RouteView, want: RouteTarget): boolean {
  if (route.kind !== want.kind) return false;
  if (want.kind === 'side') return route.side === want.side;
  if (want.kind === 'percent') return route.percent === want.percent;
  return true;
}

/** Drain samples the forecast and the rate look at: the latest ten (ten poll intervals). */
export const DRAIN_WINDOW = 10;

/** Slope of a least-squares line through the samples (open runs per ms); undefined with fewer than two or one instant. */
function drainSlope(s: readonly { at: number; open: number }[]): number | undefined {
  if (s.length < 2) return undefined;
  const n = s.length;
  const mx = s.reduce((a, p) => a + p.at, 0) / n;
  const my = s.reduce((a, p) => a + p.open, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of s) {
    num += (p.at - mx) * (p.open - my);
    den += (p.at - mx) ** 2;
  }
  return den === 0 ? undefined : num / den;
}

/**
 * Forecast of when an open count reaches zero: a least-squares line through the last samples.
 * Undefined when fewer than two samples or the count is not falling.
 */
export function forecastDrain(samples: { at: number; open: number }[], window = DRAIN_WINDOW): number | undefined {
  const s = samples.slice(-window);
  const last = s[s.length - 1];
  if (!last) return undefined;
  if (last.open === 0) return last.at;
  const slope = drainSlope(s);
  if (slope === undefined || !(slope < 0)) return undefined;
  return Math.round(last.at + last.open / -slope);
}

/**
 * Drain rate in runs per minute over the last samples (the slope the forecast uses): positive while the
 * open count falls, negative while it grows; undefined with fewer than two samples.
 */
export function drainRate(samples: readonly { at: number; open: number }[], window = DRAIN_WINDOW): number | undefined {
  const slope = drainSlope(samples.slice(-window));
  // Two decimals: enough for a person, and a stable number in status and metrics. `+ 0` turns -0 into 0.
  return slope === undefined ? undefined : Math.round(-slope * 60_000 * 100) / 100 + 0;
}

/**
 * True when the unit's reconcile found nothing: no duplicate or stranded run, and no schedule active on both
 * clusters (or otherwise out of place).
 */
export function reconcileClean(obs: Observations): boolean {
  if (!obs.reconcile?.clean) return false;
  const s = obs.schedules;
  return !s || (s.clean && s.doubleActive === 0);
}

/** The schedules' reconcile is due: the unit manages schedules and has touched them (copied or switched). */
function schedulesToReconcile(state: MigrationState, obs: Observations): boolean {
  const s = state.schedules;
  return !!s && (!!s.copy || !!s.forward) && !obs.schedules;
}

/** True when a standing `advance … until` covers entering `to`. */
export function advanceCovers(state: MigrationState, to: Phase): boolean {
  const until = state.advanceUntil;
  if (!until) return false;
  const i = (FORWARD_PHASES as readonly string[]).indexOf(to);
  return i >= 0 && i <= FORWARD_PHASES.indexOf(until.phase);
}

/** Leaving a phase whose work is done: in manual mode an `advance` must be waiting (or a standing one cover the next phase). */
function boundary(input: UnitMigrationInput, state: MigrationState, to: Phase, reason: string): Action {
  if (input.advanceMode === 'manual' && !state.advance && !advanceCovers(state, to)) {
    return { type: 'wait', for: 'advance', reason: `${state.phase} done; send advance to move to ${to}` };
  }
  return { type: 'transition', to, reason };
}

/** A route change step; source workers keep running unless `sourceWorkersMayStop` (only once the unit is final). */
function setRoute(route: RouteTarget, reason: string, sourceWorkersMayStop = false): Action {
  return { type: 'step', step: { kind: 'set-route', route, sourceWorkersMayStop, reason } };
}

type DrainOutcome = { done: true; stragglers: boolean } | { done: false; action: Action };

/**
 * A side that reads empty is drained only once every routed client has seen the last route change: a
 * client cut off from Redis keeps its cached routes for up to `clientStalenessMs`, and could start work
 * on that side until then. Undefined when there is nothing to wait for.
 */
export function staleClientsWait(input: UnitMigrationInput, state: MigrationState, now: number, side: Side): Action | undefined {
  if (!input.clientStalenessMs || state.routeChangedAt === undefined) return undefined;
  const until = state.routeChangedAt + input.clientStalenessMs;
  if (now >= until) return undefined;
  return {
    type: 'wait',
    for: 'timer',
    until,
    reason:
      `the ${side} reads empty; waiting until routed clients with a stale route have failed closed ` +
      `(redis.clientStaleness ${input.clientStalenessMs} ms after the last route change)`,
  };
}

/** One drain tick on `d.side`: count, wait for the next sample, or apply the stragglers policy. */
function drainTick(input: UnitMigrationInput, state: MigrationState, d: DrainState, now: number, wakeBy?: number): DrainOutcome {
  const last = d.samples[d.samples.length - 1];
  if (!last) return { done: false, action: { type: 'step', step: { kind: 'count', side: d.side } } };
  if (last.open === 0) return { done: true, stragglers: false };
  const nextSample = last.at + input.drainPollMs;
  const poll = (reason: string): DrainOutcome => {
    if (now >= nextSample) return { done: false, action: { type: 'step', step: { kind: 'count', side: d.side } } };
    const until = Math.min(nextSample, now < d.deadlineAt ? d.deadlineAt : nextSample, wakeBy ?? nextSample);
    return { done: false, action: { type: 'wait', for: 'timer', until, reason } };
  };
  if (now < d.deadlineAt) return poll(`${last.open} open on the ${d.side}; draining`);
  // The deadline has passed: the stragglers policy decides.
  switch (input.stragglers) {
    case 'wait':
      return poll(`drain deadline passed; waiting for ${last.open} straggler(s) (policy wait)`);
    case 'report':
      if (!d.deadlineReported) return { done: false, action: { type: 'report-stragglers', side: d.side } };
      return { done: true, stragglers: true };
    case 'terminate': {
      if (d.stragglersTerminated) {
        // A count after the termination that still sees runs it did not cover (more than one approval's
        // worth, or runs started since) asks for a new approval, bound to those runs.
        const others = (state.stragglerRuns ?? []).some((r) => !(d.terminatedRuns ?? []).includes(r.runId));
        if (!(d.terminatedAt !== undefined && last.at > d.terminatedAt && others))
          return poll(`stragglers terminated; waiting for the ${d.side} to show 0 open`);
        return { done: false, action: { type: 'request-approval', count: last.open } };
      }
      const a = state.approval;
      if (!a || (!a.approvedBy && a.expiresAt !== undefined && now >= a.expiresAt))
        return { done: false, action: { type: 'request-approval', count: last.open } };
      if (!a.approvedBy) {
        return {
          done: false,
          action: {
            type: 'wait',
            for: 'approval',
            reason: `approve to terminate ${last.open} straggler(s) on the ${d.side}`,
            ...(a.expiresAt !== undefined ? { until: a.expiresAt } : {}),
          },
        };
      }
      return { done: false, action: { type: 'step', step: { kind: 'terminate-stragglers' } } };
    }
    case 'handoff': {
      // A pass hands off every run that uses the helper; runs it asked that had not stopped yet are
      // waited for by the next pass (never left asked: their state would have nowhere to go).
      const handOff: DrainOutcome = { done: false, action: { type: 'step', step: { kind: 'hand-off', side: d.side, back: false } } };
      if (d.handoffAt === undefined || (d.handoffWaiting ?? 0) > 0) return handOff;
      if (last.at <= d.handoffAt) return poll(`handed off stragglers; counting the ${d.side} again`);
      // Still open after a pass: runs without the helper, or that did not answer. They are reported, as
      // under `report`, and the reconcile shows them until they end.
      if (!d.deadlineReported) return { done: false, action: { type: 'report-stragglers', side: d.side } };
      return { done: true, stragglers: true };
    }
  }
}

/** Handoffs a rollback returns: runs handed to the target that were not handed back (nor found closed there). */
export function handoffsToReturn(state: MigrationState): NonNullable<MigrationState['handoffs']> {
  const all = state.handoffs ?? [];
  return all.filter(
    (h, i) =>
      h.to === 'target' &&
      !all.slice(i + 1).some((later) => later.workflowId === h.workflowId && later.from === 'target') &&
      !(state.handBackSkipped ?? []).includes(h.toRunId),
  );
}

/** Visibility lag allowed for before a sweep lists runs that stale clients may have started. */
export const SWEEP_SETTLE_MS = 5_000;

/**
 * When the unit's placement sweep for its current route is due (ms), or undefined when none is: no
 * sweep configured, already made at this epoch, or a route no start is placed under (settled, or hold).
 * Due once every routed client still starting holds this route: the staleness bound after the change,
 * plus the visibility lag, so every run a client could have started by an older route is listed.
 */
export function sweepDueAt(input: UnitMigrationInput, state: MigrationState): number | undefined {
  if (!input.placementSweepTtlMs || state.routeChangedAt === undefined) return undefined;
  const r = state.route;
  if (r.epoch === 0 || r.kind === 'hold' || state.sweep?.epoch === r.epoch) return undefined;
  // Settled routes place nothing (src/routing/client.ts, isSettled).
  if (r.kind === 'side' && ((r.side === 'source' && r.epoch === 1) || r.sourceWorkersMayStop)) return undefined;
  return state.routeChangedAt + (input.clientStalenessMs ?? 0) + SWEEP_SETTLE_MS;
}

/**
 * The sweep beside a phase's own work: it takes the place of a wait once due, and a wait ends when it
 * falls due. Steps and transitions go first (the sweep is an optimisation, never a gate).
 */
function withSweep(input: UnitMigrationInput, state: MigrationState, now: number, action: Action): Action {
  if (action.type !== 'wait') return action;
  const due = sweepDueAt(input, state);
  if (due === undefined) return action;
  if (now >= due) return { type: 'step', step: { kind: 'sweep-placements', epoch: state.route.epoch } };
  return action.until === undefined || action.until > due ? { ...action, until: due } : action;
}

/** The forward path's work in the current phase. */
function forward(input: UnitMigrationInput, state: MigrationState, obs: Observations, now: number): Action {
  const { phase } = state;
  switch (phase) {
    case 'pending':
      return boundary(input, state, 'preflight', 'start');
    case 'preflight': {
      if (!obs.preflight) return { type: 'step', step: { kind: 'preflight' } };
      if (!obs.preflight.ok) {
        const what = obs.preflight.problems.map((p) => `${p.field}: ${p.message}`).join('; ');
        return { type: 'fail', step: 'preflight', failureType: 'PreflightFailed', reason: what || 'preflight failed' };
      }
      return boundary(input, state, 'provisioned', 'preflight passed');
    }
    case 'provisioned':
      if (!obs.provision) return { type: 'step', step: { kind: 'provision' } };
      // Copies before the routing record: once the record exists, the unit is visibly in motion.
      if (state.schedules && !state.schedules.copy) return { type: 'step', step: { kind: 'copy-schedules' } };
      if (state.route.epoch === 0) return { type: 'step', step: { kind: 'ensure-route' } };
      return boundary(
        input,
        state,
        'shadow',
        `target provisioned;${state.schedules ? ' schedules copied paused;' : ''} routing record on the source`,
      );
    case 'shadow': {
      if (input.probe.workflows > 0) {
        if (!obs.probe) return { type: 'step', step: { kind: 'probe' } };
        if (obs.probe.result !== 'successful') {
          if (input.onGateFailure === 'rollback')
            return { type: 'roll-back', reason: `probe gate ${obs.probe.result}: ${obs.probe.message}` };
          if (state.advance) return { type: 'clear', keys: ['probe'], reason: 'operator asked to run the probe again' };
          return { type: 'wait', for: 'operator', reason: `probe gate ${obs.probe.result}; advance re-runs it, rollback rolls back` };
        }
      }
      return boundary(input, state, nextPhase(input.strategy, 'shadow'), 'shadow checks passed');
    }
    case 'canary': {
      const steps = input.percentSteps;
      const i = state.canary.index;
      if (i < steps.length) {
        const want: RouteTarget = { kind: 'percent', percent: steps[i]! };
        if (!routeIs(state.route, want)) {
          return setRoute(want, `canary ${steps[i]}%`);
        }
        const until = state.canary.bakeUntil;
        if (until === undefined) return { type: 'start-bake', until: now + input.bakeMs };
        if (now < until && !state.advance) return { type: 'wait', for: 'timer', until, reason: `baking canary ${steps[i]}%` };
        return { type: 'end-bake', skipped: now < until };
      }
      return boundary(input, state, 'cutover', `canary steps ${steps.join(' → ')}% baked`);
    }
    case 'cutover': {
      const want: RouteTarget = input.strategy === 'dual-workers' ? { kind: 'side', side: 'target' } : { kind: 'hold' };
      // drain-and-switch retried after a hold timeout may already be on the target: never go back to hold.
      const reached = routeIs(state.route, want) || routeIs(state.route, { kind: 'side', side: 'target' });
      if (!reached) {
        const reason = want.kind === 'hold' ? 'cutover: hold new starts while the source drains' : 'cutover: all new starts to the target';
        return setRoute(want, reason);
      }
      // After the route: new starts already go to the target when the schedules' fires do too.
      if (state.schedules && !state.schedules.forward?.done) return { type: 'step', step: { kind: 'switch-schedules', to: 'target' } };
      return boundary(input, state, 'draining', state.schedules ? 'route and schedules switched' : 'route switched');
    }
    case 'draining': {
      const d = state.drain;
      if (!d || d.side !== 'source') return { type: 'start-drain', side: 'source', deadlineAt: now + input.drainDeadlineMs };
      const target: RouteTarget = { kind: 'side', side: 'target' };
      let wakeBy: number | undefined;
      if (state.route.kind === 'hold') {
        const holdEnd = d.startedAt + input.holdTimeoutMs;
        if (now >= holdEnd) {
          return setRoute(target, 'hold timeout: release held starts to the target');
        }
        wakeBy = holdEnd;
      }
      const tick = drainTick(input, state, d, now, wakeBy);
      if (!tick.done) return tick.action;
      const stale = staleClientsWait(input, state, now, 'source');
      if (stale) return stale;
      if (!routeIs(state.route, target)) {
        return setRoute(target, 'source drained: release held starts to the target');
      }
      return boundary(input, state, 'reconciling', tick.stragglers ? 'drain deadline passed with stragglers (reported)' : 'source drained');
    }
    case 'reconciling': {
      if (!obs.reconcile) return { type: 'step', step: { kind: 'reconcile' } };
      if (schedulesToReconcile(state, obs)) return { type: 'step', step: { kind: 'reconcile-schedules' } };
      if (reconcileClean(obs)) {
        const leave = boundary(input, state, 'completed', 'reconcile clean');
        // Source workers may stop only once the unit is final: a reversible unit completes with them running
        // (a rollback after completion needs them) and frees them when it is finalized.
        if (leave.type === 'transition' && !state.reversible && !state.route.sourceWorkersMayStop) {
          return setRoute({ kind: 'side', side: 'target' }, 'reconcile clean: route final, source workers may stop', true);
        }
        return leave;
      }
      if (state.advance) return { type: 'clear', keys: ['reconcile', 'schedules'], reason: 'operator asked to reconcile again' };
      return {
        type: 'wait',
        for: 'operator',
        reason: `reconcile found ${notCleanWhat(obs)}; advance reconciles again, rollback rolls back`,
      };
    }
    default:
      throw new Error(`not a forward phase: ${phase}`);
  }
}

/** What a reconcile that is not clean found, for the wait reason. */
function notCleanWhat(obs: Observations): string {
  const s = obs.schedules;
  const runs = obs.reconcile && !obs.reconcile.clean ? 'duplicate, stranded or misrouted runs' : '';
  const scheds = s && !(s.clean && s.doubleActive === 0) ? `schedules out of place (${s.doubleActive} active on both clusters)` : '';
  return [runs, scheds].filter(Boolean).join(' and ') || 'problems';
}

const SOURCE: RouteTarget = { kind: 'side', side: 'source' };

/** A rollback sends the route back unless it never moved, or is already the source's alone with its workers kept. */
export function routeMustGoBack(route: RouteView): boolean {
  return route.epoch > 0 && (!routeIs(route, SOURCE) || route.sourceWorkersMayStop);
}

/**
 * The rollback path: compensations in reverse of the forward steps (schedules back to the source,
 * route back to the source, drain the target), then reconcile.
 */
function rollingBack(input: UnitMigrationInput, state: MigrationState, obs: Observations, now: number): Action {
  // Only when a switch to the target began: the step itself leaves alone each schedule never switched.
  const schedulesBack =
    state.schedules?.forward && !state.schedules.back?.done
      ? ({ type: 'step', step: { kind: 'switch-schedules', to: 'source' } } as const)
      : undefined;
  // The route first: the clients' new starts go back to the source at once, while the schedules' switch waits
  // on their running actions (seconds). A schedule still firing on the target meanwhile starts its runs there,
  // where the target's workers run them and the drain waits for them. Older runs replay schedules first.
  if (schedulesBack && !state.rollback?.routeFirst) return schedulesBack;
  if (routeMustGoBack(state.route)) return setRoute(SOURCE, `rollback: ${state.rollback?.reason ?? ''}`.trim());
  if (schedulesBack) return schedulesBack;
  // Runs handed to the target go back with their state before the target drains (they would never drain).
  if (handoffsToReturn(state).length > 0) return { type: 'step', step: { kind: 'hand-off', side: 'target', back: true } };
  if (state.moveStartedAt) {
    const d = state.drain;
    if (!d || d.side !== 'target') return { type: 'start-drain', side: 'target', deadlineAt: now + input.drainDeadlineMs };
    const tick = drainTick(input, state, d, now);
    if (!tick.done) return tick.action;
    const stale = staleClientsWait(input, state, now, 'target');
    if (stale) return stale;
  }
  if (!obs.reconcile) return { type: 'step', step: { kind: 'reconcile' } };
  if (schedulesToReconcile(state, obs)) return { type: 'step', step: { kind: 'reconcile-schedules' } };
  if (!reconcileClean(obs)) {
    if (state.advance) return { type: 'clear', keys: ['reconcile', 'schedules'], reason: 'operator asked to reconcile again' };
    return { type: 'wait', for: 'operator', reason: `reconcile after rollback found ${notCleanWhat(obs)}; advance reconciles again` };
  }
  return {
    type: 'transition',
    to: 'rolled-back',
    reason: state.schedules?.forward
      ? 'route and schedules back on the source; reconcile clean'
      : 'route back on the source; reconcile clean',
  };
}

/** Which observation a failed step produced (cleared on retry). */
function obsOfStep(step: string): (keyof Observations)[] {
  if (step === 'reconcile-schedules') return ['schedules'];
  return step === 'preflight' || step === 'provision' || step === 'probe' || step === 'reconcile' ? [step] : [];
}

/** The planner: what to do next, given the input, the state, the latest observations and the time (ms). */
export function decide(input: UnitMigrationInput, state: MigrationState, obs: Observations, now: number): Action {
  if (isFinal(state)) return { type: 'done' };
  // A completed unit waiting to be finalized or rolled back rests: no periodic check of its record (a completed
  // unit never had one), so it costs nothing until a command or its deadline; a route change it makes still
  // reads the record when its compare-and-set loses (`seen`), and restores or adopts as in any phase.
  const resting = reversibleOpen(state) && !state.rollback;
  // The routing record first, in every phase (paused and failed too): it is what applications route by.
  // Runs whose watch reads only at waits act on a record read (a lost compare-and-set) at once, and read
  // the record back when the phase's own work is a wait.
  const atWaits = !!state.routeWatch?.atWaits;
  const watch = routeWatchAction(input, state, now, { periodic: !resting && !atWaits });
  if (watch) return watch;
  const action = decidePhase(input, state, obs, now);
  if (resting) return action;
  if (atWaits && action.type === 'wait') {
    const due = routeWatchAction(input, state, now);
    if (due) return due;
  }
  return capWait(action, input, state);
}

/** The phase's own work (and the rules that hold in every phase: rollback, pause, failure). */
function decidePhase(input: UnitMigrationInput, state: MigrationState, obs: Observations, now: number): Action {
  const { phase } = state;
  // A rollback that itself failed waits in `failed` for an operator's advance (retry), like any step.
  const rollbackFailed = phase === 'failed' && state.failure?.phase === 'rolling-back';
  if (state.rollback && phase !== 'rolling-back' && !rollbackFailed) {
    return { type: 'transition', to: 'rolling-back', reason: state.rollback.reason ?? 'rollback', clear: ['reconcile', 'schedules'] };
  }
  if (state.paused)
    return {
      type: 'wait',
      for: 'resume',
      reason: `paused by ${state.paused.actor}${state.paused.reason ? `: ${state.paused.reason}` : ''}`,
    };
  if (phase === 'failed') {
    const f = state.failure;
    if (f && state.advance) return { type: 'transition', to: f.phase, reason: `retry ${f.step}`, clear: obsOfStep(f.step) };
    return {
      type: 'wait',
      for: 'operator',
      reason: `failed in ${f?.phase ?? '?'} (${f?.type ?? '?'}); advance retries, rollback rolls back`,
    };
  }
  if (phase === 'rolling-back') return withSweep(input, state, now, rollingBack(input, state, obs, now));
  if (phase === 'completed') return withSweep(input, state, now, completedReversible(input, state, now));
  return withSweep(input, state, now, forward(input, state, obs, now));
}

/**
 * A completed unit that is still reversible: it waits for `finalize`, its deadline (`finalizeAfter`), or a
 * rollback with two approvals (applied as a rollback, above). Finalizing marks the route final first, so the
 * source's workers may stop only once nothing can bring the unit back. A rollback request still waiting for
 * approvals holds the deadline: the unit is finalized once the request is granted (it rolls back) or expires.
 */
function completedReversible(input: UnitMigrationInput, state: MigrationState, now: number): Action {
  const r = state.reversible!;
  const deadline = finalizeDeadline(state);
  const pending = pendingReversal(state, now);
  if (r.finalize || (deadline !== undefined && now >= deadline && !pending)) {
    if (!state.route.sourceWorkersMayStop)
      return setRoute({ kind: 'side', side: 'target' }, 'finalized: route final, source workers may stop', true);
    return { type: 'finalize', how: r.finalize ? 'command' : 'deadline' };
  }
  const until = deadline === undefined ? 'cutover finalize' : new Date(deadline).toISOString();
  if (pending) {
    const a = pending.approval;
    const left = a.required - a.approvals.length;
    return {
      type: 'wait',
      for: 'approval',
      until: a.expiresAt,
      reason:
        `rollback of the completed unit asked by ${pending.rollback.actor}: waiting for ${left} more approval(s) from ` +
        `other operators until ${new Date(a.expiresAt).toISOString()} (cutover approve)`,
    };
  }
  return {
    type: 'wait',
    for: 'operator',
    ...(deadline !== undefined ? { until: deadline } : {}),
    reason: `completed; reversible until ${until}: finalize makes it final now, a rollback with two approvals moves it back to the source`,
  };
}

// ---------------------------------------------------------------------------------------------
// Operator commands: validated here (pure) so the rules are table-tested and the workflow only
// records the verdict.

/** Result of checking a command against the state. */
export type CommandVerdict =
  | { verdict: 'apply'; record: CommandRecord }
  /** A safe command without an ID that would change nothing: recorded in the history, not as a refusal. */
  | { verdict: 'no-op'; record: CommandRecord; why: string }
  | { verdict: 'reject'; reason: string; record?: Partial<CommandRecord> };

/** A rollback is pending, under way, failed midway (waiting for an advance to retry), or done. */
function rollbackUnderWay(state: MigrationState): boolean {
  return !!state.rollback || state.phase === 'rolling-back' || state.phase === 'rolled-back';
}

/**
 * Validates an operator command's payload and whether it is allowed in the current state. `idOptional`:
 * a safe command (pause, rollback) may come without a `commandId`; it is then deduped by what it is.
 */
export function checkCommand(
  command: CommandName,
  payload: unknown,
  state: MigrationState,
  opts: { idOptional: boolean; now?: number } = { idOptional: false },
): CommandVerdict {
  const parsed = parseCommandPayload(command, payload, { idOptional: opts.idOptional && isSafeCommand(command) });
  if (!parsed.ok) return { verdict: 'reject', reason: parsed.reason, record: { command, ...parsed.seen } };
  const p = payload as Record<string, unknown>;
  const { actor, commandId, reason } = parsed.command;
  const partial: Partial<CommandRecord> = { command, actor, commandId, reason };
  if (
    p.until !== undefined &&
    (command !== 'advance' || typeof p.until !== 'string' || !(FORWARD_PHASES as readonly string[]).includes(p.until))
  ) {
    const why =
      command !== 'advance'
        ? `only advance takes until; leave it out of ${command}`
        : `must be a forward phase (${FORWARD_PHASES.join(', ')})`;
    return { verdict: 'reject', reason: `until: ${why}`, record: partial };
  }
  const until = p.until as ForwardPhase | undefined;
  const record: CommandRecord = {
    command,
    actor,
    ...(commandId !== undefined ? { commandId } : {}),
    ...(reason !== undefined ? { reason } : {}),
    ...(until ? { until } : {}),
  };
  const reject = (why: string): CommandVerdict => ({ verdict: 'reject', reason: why, record });
  const needsReason = command === 'rollback' && (!record.reason || record.reason.trim() === '');
  if (commandId === undefined) {
    if (needsReason) return reject('reason: required for rollback; say why, e.g. {"actor":"<you>","reason":"errors up"}');
    const why = safeCommandNoOp(command, { pausedBy: state.paused?.actor, rollingBack: rollbackUnderWay(state) });
    if (why) return { verdict: 'no-op', record, why };
  }
  const { phase } = state;
  if (command === 'finalize' && phase !== 'completed')
    return reject(
      `finalize: the unit is ${phase}; finalize makes a completed unit final — wait until it is completed ` +
        '(cutover status), or roll it back instead',
    );
  if (isFinal(state))
    return reject(
      `phase ${phase} is final; ${command} is not allowed` +
        (state.reversible?.finalized ? ` (finalized by ${state.reversible.finalized.actor} at ${state.reversible.finalized.at})` : ''),
    );
  if (phase === 'completed') return checkReversibleCommand(command, state, record, opts.now, needsReason);
  switch (command) {
    case 'advance':
      if (state.paused) return reject('unit is paused; send resume first');
      if (state.advance) return reject('an advance is already pending');
      if (phase === 'rolling-back' && !(state.obs.reconcile && !reconcileClean(state.obs))) {
        return reject('rollback in progress; advance is not allowed');
      }
      return { verdict: 'apply', record };
    case 'pause':
      if (state.paused) return reject(`already paused by ${state.paused.actor}`);
      return { verdict: 'apply', record };
    case 'resume':
      if (!state.paused) return reject('unit is not paused');
      return { verdict: 'apply', record };
    case 'rollback':
      if (phase === 'rolling-back') return reject('rollback already in progress');
      if (needsReason) return reject('reason: required for rollback; say why (--reason "…")');
      return { verdict: 'apply', record };
    case 'approve':
      if (!state.approval || state.approval.approvedBy) return reject('nothing awaits approval');
      return { verdict: 'apply', record };
    case 'finalize':
      return reject(`finalize: the unit is ${phase}; finalize makes a completed unit final`);
  }
}

/**
 * Commands to a completed unit that is still reversible: `finalize` makes it final; `rollback` opens a request
 * that two other operators must approve (`approve`, checked against the request in unit-state.ts); nothing else
 * has anything to do.
 */
function checkReversibleCommand(
  command: CommandName,
  state: MigrationState,
  record: CommandRecord,
  now: number | undefined,
  needsReason: boolean,
): CommandVerdict {
  const reject = (why: string): CommandVerdict => ({ verdict: 'reject', reason: why, record });
  const r = state.reversible!;
  const pending = now === undefined ? r.request : pendingReversal(state, now);
  switch (command) {
    case 'finalize':
      if (r.finalize) return reject(`finalize: already asked by ${r.finalize.actor}; the unit is being finalized`);
      if (pending)
        return reject(
          `finalize: a rollback asked by ${pending.rollback.actor} waits for approvals; ` +
            'let it expire or be approved, then finalize (cutover status shows it)',
        );
      return { verdict: 'apply', record };
    case 'rollback':
      if (needsReason) return reject('reason: required for rollback; say why (--reason "…")');
      if (r.finalize) return reject('rollback: the unit is being finalized; a finalized unit cannot be rolled back');
      if (pending)
        return reject(
          `rollback: a rollback of this completed unit, asked by ${pending.rollback.actor}, already waits for approvals; ` +
            'two other operators approve it with `cutover approve <unit>`',
        );
      return { verdict: 'apply', record };
    case 'approve':
      if (!pending)
        return reject(
          'approve: nothing awaits approval; a rollback of a completed unit is asked first (`cutover rollback <unit> --reason …`)',
        );
      return { verdict: 'apply', record };
    default:
      return reject(
        `${command}: the unit is completed, so there is nothing to ${command}; \`cutover finalize\` makes it final, ` +
          'a rollback with two approvals moves it back',
      );
  }
}
