/**
 * The entity workflow shared by `namespaceMigration` and `tenantMigration`: one long-lived run per
 * unit that owns its migration state. Observe (activities) → decide (the pure planner) → act
 * (activities, timers). Operator commands arrive as signals, are checked by the planner's rules,
 * deduped by command ID and serialized with the steps by a mutex; rejections are kept in `status`.
 */
import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RetryPolicy } from '@temporalio/common';
import type { Activities } from '../activities';
import { unitViewOf } from '../campaign/driver';
import { FORWARD_PHASES, MAX_REMEMBERED_COMMANDS, NON_RETRYABLE_TYPES, PROBE_TASK_QUEUE, UNIT_VIEW_MEMO } from '../domain/constants';
import { unitName } from '../domain/ids';
import {
  initialState,
  type CommandName,
  type MigrationState,
  type Observations,
  type Phase,
  type UnitMigrationInput,
  type UnitStatus,
} from '../domain/migration';
import { Mutex } from './mutex';
import { advanceCovers, checkCommand, decide, forecastDrain, reconcileClean, type Step } from './planner';
import { CutoverCampaign, CutoverKind, CutoverPhase, CutoverRing, CutoverUnit } from '../domain/search-attributes';
import * as messages from './unit-migration.messages';
import { validateUnitInput } from '../domain/unit-input';

// Observing and changing clusters and routing: retried with backoff, but bounded, so a fault that
// outlasts ~5 minutes moves the unit to `failed` (held for an operator) instead of retrying forever.
const RETRY: RetryPolicy = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '10 seconds',
  maximumAttempts: 30,
  nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES],
};
// Quick calls (a few RPCs each): a short start-to-close so a worker that died mid-call is noticed fast.
const acts = proxyActivities<Activities>({ startToCloseTimeout: '30 seconds', retry: RETRY });
// Provisioning may wait for a new namespace to become usable; it heartbeats while it waits.
const slow = proxyActivities<Activities>({ startToCloseTimeout: '3 minutes', heartbeatTimeout: '20 seconds', retry: RETRY });
// Probes wait for workflows on the target (heartbeating): few attempts, since a failed probe is a measurement, not an error.
const probes = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { ...RETRY, maximumAttempts: 3 },
});
// Schedules: a switch waits for the old side's running actions and for backfilled runs (seconds per
// schedule, many schedules per unit), so a long start-to-close and a heartbeat to notice a dead worker.
const schedules = proxyActivities<Activities>({ startToCloseTimeout: '30 minutes', heartbeatTimeout: '30 seconds', retry: RETRY });

/** Units started on this code manage their schedules; runs begun before it (replayed) keep the old path. */
const SCHEDULES_PATCH = 'entity-schedules';

const MAX_REJECTED = 100;
const MAX_SAMPLES = 20;

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
  const unit = unitName(input.unit);
  const actor = `cutover/${unit}`;
  const mutex = new Mutex();
  let waitingFor: string | undefined;
  /** What the wait is for (advance, timer, operator, resume, approval): a campaign resends nothing to a unit that only waits on a timer. */
  let waitingOn: UnitStatus['waitingOn'];
  /** Bumped by every accepted command so waits wake up. */
  let commands = 0;
  const nowIso = () => new Date().toISOString();

  // Message handlers
  const onCommand = (name: CommandName) => async (payload: unknown) => {
    await mutex.runExclusive(() => applyCommand(name, payload));
  };
  setHandler(messages.advance, onCommand('advance'));
  setHandler(messages.pause, onCommand('pause'));
  setHandler(messages.resume, onCommand('resume'));
  setHandler(messages.rollback, onCommand('rollback'));
  setHandler(messages.approve, onCommand('approve'));
  setHandler(messages.status, () => toStatus());

  function applyCommand(name: CommandName, payload: unknown): void {
    const commandId = typeof payload === 'object' && payload !== null ? (payload as { commandId?: unknown }).commandId : undefined;
    if (typeof commandId === 'string' && state.seenCommandIds.includes(commandId)) return; // a repeat: no-op
    const verdict = checkCommand(name, payload, state);
    if (typeof commandId === 'string' && commandId !== '') {
      state.seenCommandIds.push(commandId);
      if (state.seenCommandIds.length > MAX_REMEMBERED_COMMANDS) state.seenCommandIds.shift();
    }
    if (!verdict.ok) {
      state.rejected.push({
        command: name,
        commandId: verdict.record?.commandId,
        actor: verdict.record?.actor,
        reason: verdict.reason,
        phase: state.phase,
        at: nowIso(),
      });
      if (state.rejected.length > MAX_REJECTED) state.rejected.shift();
      log.info('command rejected', { unit, command: name, reason: verdict.reason });
      refreshDetails();
      return;
    }
    const rec = verdict.record;
    switch (name) {
      case 'advance':
        state.advance = rec;
        // A standing advance only when `until` lies ahead; otherwise this is a plain advance.
        if (rec.until && FORWARD_PHASES.indexOf(rec.until) > (FORWARD_PHASES as readonly string[]).indexOf(state.phase)) {
          state.advanceUntil = { phase: rec.until, actor: rec.actor, commandId: rec.commandId };
        }
        break;
      case 'pause':
        state.paused = { actor: rec.actor, reason: rec.reason, at: nowIso() };
        break;
      case 'resume':
        state.paused = undefined;
        break;
      case 'rollback':
        state.rollback = { ...rec, from: state.phase, at: nowIso() };
        break;
      case 'approve':
        if (state.approval) state.approval.approvedBy = rec.actor;
        break;
    }
    note(`${name} by ${rec.actor}${rec.reason ? `: ${rec.reason}` : ''}`, rec.actor, { commandId: rec.commandId });
    commands++;
    refreshDetails();
  }

  // What the Temporal UI shows
  function toStatus(): UnitStatus {
    const r = state.route;
    const last = state.drain?.samples[state.drain.samples.length - 1];
    return {
      id: workflowInfo().workflowId,
      kind,
      unit,
      phase: state.phase,
      paused: !!state.paused,
      pausedBy: state.paused,
      ...(state.advanceUntil ? { advanceUntil: state.advanceUntil.phase } : {}),
      route: {
        ...(r.kind === 'side' ? { side: r.side } : r.kind === 'percent' ? { percent: r.percent } : { hold: true }),
        epoch: r.epoch,
        sourceWorkersMayStop: r.sourceWorkersMayStop,
      },
      strategy: input.strategy,
      waitingFor,
      ...(waitingOn ? { waitingOn } : {}),
      history: state.history,
      gates: state.gates,
      counts: state.counts,
      rejected: state.rejected,
      failure: state.failure,
      approval: state.approval,
      drain: state.drain && {
        side: state.drain.side,
        deadlineAt: new Date(state.drain.deadlineAt).toISOString(),
        lastOpen: last?.open,
        forecastAt: state.drain.forecastAt !== undefined ? new Date(state.drain.forecastAt).toISOString() : undefined,
      },
      stragglers: state.stragglers,
      compensations: state.compensations,
      reconcile: state.obs.reconcile && {
        ...state.obs.reconcile,
        clean: reconcileClean(state.obs),
        ...(state.obs.schedules ? { schedules: state.obs.schedules } : {}),
      },
      ...(state.schedules ? { schedules: state.schedules } : {}),
      continuedAsNew: state.runs,
    };
  }

  function routeText(): string {
    const r = state.route;
    const where = r.kind === 'side' ? `all on the ${r.side}` : r.kind === 'percent' ? `${r.percent}% on the target` : 'new starts held';
    return `${where} (epoch ${r.epoch}${r.sourceWorkersMayStop ? ', source workers may stop' : ''})`;
  }

  function refreshDetails(): void {
    const c = state.counts;
    const gate = state.gates[state.gates.length - 1];
    setCurrentDetails(
      [
        `**phase** ${state.phase}${state.paused ? ` — paused by ${state.paused.actor}${state.paused.reason ? ` (${state.paused.reason})` : ''}` : ''}`,
        `**route** ${routeText()}`,
        `**open** source ${c.sourceOpen} · target ${c.targetOpen} · **duplicates** ${c.duplicates} · **stranded** ${c.stranded}${state.schedules ? ` · **schedules active on both** ${c.schedulesDoubleActive ?? 0}` : ''}`,
        gate ? `**last gate** ${gate.name}: ${gate.result}${gate.message ? ` — ${gate.message}` : ''}` : '',
        waitingFor ? `**waiting for** ${waitingFor}` : '',
        state.failure ? `**failed** in ${state.failure.phase} (${state.failure.type}): ${state.failure.message}` : '',
        state.rejected.length
          ? `**last rejected** ${state.rejected[state.rejected.length - 1]!.command}: ${state.rejected[state.rejected.length - 1]!.reason}`
          : '',
        ...operatorHints(),
      ]
        .filter(Boolean)
        .join('\n'),
    );
  }

  /** Why the unit stands where it is, what comes next, and how to steer it (for a person reading the UI). */
  function operatorHints(): string[] {
    const last = state.history[state.history.length - 1];
    const final = state.phase === 'completed' || state.phase === 'rolled-back';
    const out = [last ? `**why** ${last.reason ?? ''}${last.actor ? ` (${last.actor}, ${last.at})` : ''}` : ''];
    if (final) return [...out, `**next** nothing: ${state.phase} is final`];
    out.push(`**next** ${waitingFor ?? `working on ${state.phase}`}`);
    if (state.phase !== 'rolling-back') {
      out.push(
        `**roll back** \`cutover rollback ${unit} --reason "…"\`, or the signal \`rollback\` with {"actor":"<you>","reason":"…","commandId":"<unique>"}`,
      );
    }
    out.push(state.paused ? `**resume** \`cutover resume ${unit}\`` : `**pause** \`cutover pause ${unit}\``);
    return out;
  }

  let publishedView = '';
  /** The unit's view in its memo, when it changed: a campaign reads it by describe, where a query would make an uncached worker replay the run. */
  function publishView(): void {
    const { unit: _unit, workflowId: _id, ...view } = unitViewOf(unit, workflowInfo().workflowId, toStatus());
    const json = JSON.stringify(view);
    if (json === publishedView) return;
    publishedView = json;
    upsertMemo({ [UNIT_VIEW_MEMO]: view });
  }

  /** An audit line in the current phase (commands, skipped bakes, terminations). */
  function note(reason: string, by: string, evidence?: Record<string, unknown>): void {
    state.history.push({ phase: state.phase, at: nowIso(), actor: by, reason, ...(evidence ? { evidence } : {}) });
  }

  function evidenceOf(from: Phase): Record<string, unknown> | undefined {
    const o = state.obs;
    switch (from) {
      case 'preflight':
        return (
          o.preflight && {
            sourceOpen: o.preflight.sourceOpen,
            targetPollers: o.preflight.targetPollers,
            missingSearchAttributes: o.preflight.missingSearchAttributes,
          }
        );
      case 'provisioned':
        return (
          o.provision && {
            namespaceCreated: o.provision.namespaceCreated,
            searchAttributesAdded: o.provision.searchAttributesAdded,
            routeEpoch: state.route.epoch,
            ...(state.schedules?.copy ? { schedulesCopied: state.schedules.copy.selected } : {}),
          }
        );
      case 'shadow':
        return o.probe && { probe: o.probe.result, succeeded: o.probe.succeeded, p99Ms: o.probe.p99Ms };
      case 'canary':
        return { route: routeText() };
      case 'cutover':
        return {
          route: routeText(),
          ...(state.schedules?.forward?.done
            ? { schedulesSwitched: state.schedules.forward.done.switched, backfilledFires: state.schedules.forward.done.backfilledFires }
            : {}),
        };
      case 'draining':
        return { samples: state.drain?.samples.slice(-3), stragglers: state.stragglers.length };
      case 'reconciling':
      case 'rolling-back':
        return (
          o.reconcile && {
            duplicates: o.reconcile.duplicates.length,
            stranded: o.reconcile.stranded.length,
            ...(o.schedules ? { schedulesDoubleActive: o.schedules.doubleActive, schedulesClean: o.schedules.clean } : {}),
          }
        );
      default:
        return undefined;
    }
  }

  function transition(to: Phase, reason: string, clear: (keyof Observations)[] = []): void {
    const from = state.phase;
    const by =
      to === 'rolling-back'
        ? state.rollback?.actor
        : (state.advance?.actor ?? (advanceCovers(state, to) ? state.advanceUntil?.actor : undefined));
    const why = (to === 'rolling-back' ? state.rollback?.reason : state.advance?.reason) ?? reason;
    const evidence = evidenceOf(from);
    for (const k of clear) delete state.obs[k];
    state.phase = to;
    if (to !== 'failed') state.failure = undefined;
    state.advance = undefined;
    state.approval = undefined;
    // Reached, or left the forward path (rollback, failure): the standing advance ends.
    if (state.advanceUntil && (to === state.advanceUntil.phase || !advanceCovers(state, to))) state.advanceUntil = undefined;
    if (to === 'rolling-back') {
      state.drain = undefined;
      state.stragglers = [];
      // Compensations, in reverse of the forward steps that need one.
      state.compensations = [
        ...(state.schedules?.forward ? [{ name: 'switch schedules back to the source', done: false }] : []),
        ...(state.route.epoch > 0 && (state.route.kind !== 'side' || state.route.side !== 'source' || state.route.sourceWorkersMayStop)
          ? [{ name: 'route back to the source', done: false }]
          : []),
        ...(state.moveStartedAt ? [{ name: 'drain the target', done: false }] : []),
        ...(state.schedules?.copy
          ? [{ name: 'keep the paused schedule copies on the target (harmless; delete by hand)', done: true }]
          : []),
        ...(state.obs.provision
          ? [{ name: 'keep the provisioned target namespace and search attributes (harmless; remove by hand)', done: true }]
          : []),
      ];
    }
    state.history.push({ phase: to, at: nowIso(), actor: by ?? 'cutover', reason: why, ...(evidence ? { evidence } : {}) });
    upsertSearchAttributes([{ key: CutoverPhase, value: to }]);
    log.info('phase change', { unit, from, to, reason });
  }

  function markCompensation(prefix: string): void {
    const c = state.compensations.find((x) => x.name.startsWith(prefix));
    if (c) c.done = true;
  }

  const scope = { taskQueues: input.taskQueues, ...(input.tenant ? { tenant: input.tenant } : {}) };
  const scheduleScope = {
    unit,
    sourceNamespace: input.sourceNamespace,
    targetNamespace: input.targetNamespace,
    ...(input.tenant ? { tenant: input.tenant } : {}),
  };
  const backfill = input.schedules?.backfill ?? 'gap';

  async function runStep(step: Step): Promise<void> {
    state.stepSeq++;
    const now = () => Date.now();
    switch (step.kind) {
      case 'preflight': {
        const r = await acts.preflight.executeWithOptions(
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
        state.obs.provision = await slow.provision.executeWithOptions(
          { summary: `provision ${input.targetCluster}/${input.targetNamespace}: namespace and search attributes` },
          [{ sourceNamespace: input.sourceNamespace, targetNamespace: input.targetNamespace }],
        );
        return;
      case 'ensure-route':
        state.route = await acts.ensureRoute.executeWithOptions({ summary: `create the routing record of ${unit} on the source` }, [
          { unit, actor, reason: 'provisioned: all starts on the source' },
        ]);
        return;
      case 'probe': {
        const p = input.probe;
        const r = await probes.runProbes.executeWithOptions(
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
        state.route = await acts.changeRoute.executeWithOptions(
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
        if (state.phase === 'rolling-back') markCompensation('route back');
        return;
      }
      case 'count': {
        const ns = step.side === 'source' ? input.sourceNamespace : input.targetNamespace;
        const r = await acts.countOpen.executeWithOptions({ summary: `count open runs of ${unit} on the ${step.side}` }, [
          { ...scope, side: step.side, namespace: ns },
        ]);
        if (step.side === 'source') state.counts.sourceOpen = r.open;
        else state.counts.targetOpen = r.open;
        const d = state.drain;
        if (d && d.side === step.side) {
          d.samples.push({ at: now(), open: r.open });
          if (d.samples.length > MAX_SAMPLES) d.samples.shift();
          d.forecastAt = forecastDrain(d.samples);
          if (now() >= d.deadlineAt) state.stragglers = r.sampleIds;
          if (r.open === 0 && state.phase === 'rolling-back') markCompensation('drain the target');
        }
        return;
      }
      case 'terminate-stragglers': {
        const side = state.drain?.side ?? 'source';
        const ns = side === 'source' ? input.sourceNamespace : input.targetNamespace;
        const by = state.approval?.approvedBy ?? 'unknown';
        const r = await acts.terminateStragglers.executeWithOptions(
          { summary: `terminate stragglers of ${unit} on the ${side} (approved by ${by})` },
          [
            {
              ...scope,
              side,
              namespace: ns,
              reason: `cutover: straggler of ${unit} past the drain deadline; termination approved by ${by}`,
            },
          ],
        );
        if (state.drain) state.drain.stragglersTerminated = true;
        note(`terminated ${r.terminated.length} straggler(s) on the ${side}`, by, { terminated: r.terminated });
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
        const r = await acts.reconcile.executeWithOptions(
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
        const r = await schedules.copySchedules.executeWithOptions(
          { summary: `copy the schedules of ${unit} to ${input.targetCluster}/${input.targetNamespace}, paused` },
          [{ ...scheduleScope, actor }],
        );
        s.copy = r;
        note(
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
        const r = await schedules.switchSchedules.executeWithOptions(
          {
            summary: `switch the schedules of ${unit} to the ${step.to} (${step.to === 'target' ? input.targetCluster : input.sourceCluster}) exactly once; backfill ${backfill}`,
          },
          [{ ...scheduleScope, to: step.to, backfill, actor }],
        );
        rec.done = r;
        note(
          `switched ${r.switched} schedule(s) to the ${step.to} (${r.already} already there${r.leftPaused.length ? `, ${r.leftPaused.length} left paused by their owner` : ''}); ${r.missedFires} fire(s) in the gap, ${r.backfilledFires} backfilled`,
          actor,
          { ...r },
        );
        if (state.phase === 'rolling-back') markCompensation('switch schedules back');
        return;
      }
      case 'reconcile-schedules': {
        const expected = state.phase === 'rolling-back' ? 'source' : 'target';
        const since = state.schedules?.forward?.startedAt;
        const r = await schedules.reconcileSchedules.executeWithOptions(
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
          message: `${r.schedules} schedule(s): ${r.doubleActive} active on both clusters, ${r.wrongSide} on the wrong side, ${r.pausedOnBoth} paused on both, ${r.duplicateFires} double fire(s)`,
        });
        return;
      }
    }
  }

  /** A step whose activity failed for good: the unit is held in `failed` for an operator. */
  function fail(step: string, type: string, message: string): void {
    const phase = state.phase;
    transition('failed', `${step} failed: ${message}`);
    state.failure = { phase, step, type, message, at: nowIso() };
  }

  function shouldContinueAsNew(): boolean {
    const info = workflowInfo();
    return info.continueAsNewSuggested || (input.maxHistoryEvents !== undefined && info.historyLength > input.maxHistoryEvents);
  }

  // Main loop
  if (!carried) {
    state.history.push({ phase: 'pending', at: nowIso(), actor: input.actor ?? 'cutover', reason: 'migration started' });
  }
  upsertSearchAttributes([
    { key: CutoverKind, value: kind },
    { key: CutoverUnit, value: unit },
    { key: CutoverPhase, value: state.phase },
    ...(input.campaign ? [{ key: CutoverCampaign, value: input.campaign }] : []),
    ...(input.ring ? [{ key: CutoverRing, value: input.ring }] : []),
  ]);
  refreshDetails();

  for (;;) {
    if (shouldContinueAsNew()) {
      // Let in-flight command handlers finish so none is lost; state (with seen command IDs) goes whole.
      await condition(allHandlersFinished);
      await continueAsNew<(i: UnitMigrationInput, s?: MigrationState) => Promise<UnitStatus>>(input, state);
    }
    const now = Date.now();
    const action = decide(input, state, state.obs, now);
    waitingFor = action.type === 'wait' ? action.reason : undefined;
    waitingOn = action.type === 'wait' ? action.for : undefined;
    // Runs recorded before the view memo existed replay without it.
    if (patched('unit-view-memo')) publishView();
    switch (action.type) {
      case 'done':
        refreshDetails();
        await condition(allHandlersFinished);
        return toStatus();
      case 'transition':
        transition(action.to, action.reason, action.clear);
        break;
      case 'wait': {
        refreshDetails();
        const seen = commands;
        const woke = () => commands !== seen;
        if (action.until === undefined) await condition(woke);
        else if (action.until > now) await condition(woke, action.until - now, { summary: action.reason });
        break;
      }
      case 'step':
        await mutex.runExclusive(async () => {
          try {
            await runStep(action.step);
          } catch (err) {
            if (isCancellation(err)) throw err;
            const cause = err instanceof ActivityFailure ? err.cause : err;
            const type = cause instanceof ApplicationFailure ? (cause.type ?? 'ApplicationFailure') : 'ActivityFailed';
            fail(action.step.kind, type, cause instanceof Error ? cause.message : String(cause));
          }
        });
        break;
      case 'start-bake':
        state.canary.bakeUntil = action.until;
        break;
      case 'end-bake': {
        const pct = input.percentSteps[state.canary.index];
        state.gates.push({
          name: `bake ${pct}%`,
          result: 'successful',
          at: nowIso(),
          message: action.skipped ? `skipped by ${state.advance?.actor}` : `baked ${input.bakeMs} ms`,
        });
        if (action.skipped && state.advance) note(`bake of ${pct}% skipped`, state.advance.actor);
        if (action.skipped) state.advance = undefined;
        state.canary = { index: state.canary.index + 1 };
        break;
      }
      case 'start-drain':
        state.drain = { side: action.side, startedAt: now, deadlineAt: action.deadlineAt, samples: [] };
        break;
      case 'request-approval':
        state.approval = { kind: 'terminate-stragglers', requestedAt: nowIso(), count: action.count };
        note(`approval requested to terminate ${action.count} straggler(s)`, 'cutover', { stragglers: state.stragglers });
        break;
      case 'clear':
        for (const k of action.keys) delete state.obs[k];
        note(action.reason, state.advance?.actor ?? 'cutover');
        state.advance = undefined;
        break;
      case 'report-stragglers':
        if (state.drain) state.drain.deadlineReported = true;
        note(`drain deadline passed: ${state.stragglers.length} straggler(s) reported`, 'cutover', {
          side: action.side,
          stragglers: state.stragglers,
        });
        break;
      case 'roll-back':
        state.rollback = {
          command: 'rollback',
          actor: 'cutover',
          commandId: `auto-${state.stepSeq}`,
          reason: action.reason,
          from: state.phase,
          at: nowIso(),
        };
        break;
      case 'fail':
        fail(action.step, action.failureType, action.reason);
        break;
    }
    refreshDetails();
  }
}
