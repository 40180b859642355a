/**
 * What an entity workflow shows of itself, computed from its state (pure: no Temporal imports, no clock):
 * the `status` query's answer, the Temporal UI's current details, the view a campaign reads from the memo,
 * and the evidence each phase change carries.
 */
import { unitViewOf, type UnitView } from '../campaign/driver';
import type { MigrationState, Phase, RouteView, UnitMigrationInput, UnitStatus } from '../domain/migration';
import { drainRate, finalizeDeadline, reconcileClean, reversibleOpen, type Action } from './planner';

/** One unit's run as the views and the act code read it. */
export interface UnitRun {
  readonly kind: 'namespace' | 'tenant';
  readonly input: UnitMigrationInput;
  /** Carried whole through continue-as-new; mutated by the handlers and the act code. */
  readonly state: MigrationState;
  /** The unit's name (`tenant/<ns>/<tenant>`). */
  readonly unit: string;
  readonly workflowId: string;
  /** What the main loop waits for, while it waits. */
  wait?: Extract<Action, { type: 'wait' }>;
  /** The runs a signed command may name (the chain's first run, the current one). */
  readonly runIds?: { first: string; current: string };
}

/** The `status` query's answer. */
export function unitStatus(run: UnitRun): UnitStatus {
  const { state, input } = run;
  const r = state.route;
  const last = state.drain?.samples[state.drain.samples.length - 1];
  const w = state.routeWatch;
  const forced = w?.forced;
  return {
    id: run.workflowId,
    kind: run.kind,
    unit: run.unit,
    phase: state.phase,
    paused: !!state.paused,
    pausedBy: state.paused,
    ...(state.advanceUntil ? { advanceUntil: state.advanceUntil.phase } : {}),
    route: {
      ...(r.kind === 'side' ? { side: r.side } : r.kind === 'percent' ? { percent: r.percent } : { hold: true }),
      epoch: r.epoch,
      sourceWorkersMayStop: r.sourceWorkersMayStop,
      ...(forced
        ? { forced: { by: forced.by, reason: forced.reason, at: forced.at, ...(forced.signer ? { signedBy: forced.signer.name } : {}) } }
        : {}),
    },
    ...(w
      ? {
          routeCheck: {
            ...(w.checkedAt !== undefined ? { checkedAt: new Date(w.checkedAt).toISOString() } : {}),
            restores: w.restores,
            ...(w.error ? { error: w.error } : {}),
          },
        }
      : {}),
    ...(state.sweep
      ? {
          placementSweep: {
            epoch: state.sweep.epoch,
            marked: state.sweep.marked,
            listed: state.sweep.listed,
            seeded: state.sweep.seeded,
            at: new Date(state.sweep.at).toISOString(),
            ...(state.sweep.reason ? { reason: state.sweep.reason } : {}),
          },
        }
      : {}),
    strategy: input.strategy,
    waitingFor: run.wait?.reason,
    ...(run.wait?.for ? { waitingOn: run.wait.for } : {}),
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
      ratePerMin: drainRate(state.drain.samples),
      forecastAt: state.drain.forecastAt !== undefined ? new Date(state.drain.forecastAt).toISOString() : undefined,
    },
    stragglers: state.stragglers,
    ...(state.handoffs?.length ? { handoffs: state.handoffs } : {}),
    compensations: state.compensations,
    reconcile: state.obs.reconcile && {
      ...state.obs.reconcile,
      clean: reconcileClean(state.obs),
      ...(state.obs.schedules ? { schedules: state.obs.schedules } : {}),
    },
    ...(state.schedules ? { schedules: state.schedules } : {}),
    ...reversibilityView(state),
    continuedAsNew: state.runs,
    ...(run.runIds
      ? { signing: { firstRunId: run.runIds.first, runId: run.runIds.current, required: (input.operators?.length ?? 0) > 0 } }
      : {}),
    ...(state.audit
      ? { audit: { seq: state.audit.seq, head: state.audit.head, mirrored: state.audit.mirrored, records: state.audit.records } }
      : {}),
    ...truncatedView(state),
  };
}

/** Whether a completed unit can still be rolled back, until when, and a rollback request waiting for approvals. */
function reversibilityView(state: MigrationState): Pick<UnitStatus, 'reversible' | 'reversibleUntil' | 'finalized' | 'reversal'> {
  const r = state.reversible;
  const open = reversibleOpen(state);
  const deadline = finalizeDeadline(state);
  const q = r?.request;
  const a = q?.approval;
  return {
    reversible: open,
    ...(open ? { reversibleUntil: deadline === undefined ? 'finalize' : new Date(deadline).toISOString() } : {}),
    ...(r?.finalized ? { finalized: r.finalized } : {}),
    ...(open && q && a && a.consumedAt === undefined
      ? {
          reversal: {
            requestedBy: q.rollback.actor,
            ...(q.rollback.reason !== undefined ? { reason: q.rollback.reason } : {}),
            approvals: a.approvals.map((x) => ({ actor: x.actor, at: new Date(x.at).toISOString() })),
            required: a.required,
            expiresAt: new Date(a.expiresAt).toISOString(),
            binding: { ring: a.binding.ring, step: a.binding.step, epoch: a.binding.epoch },
          },
        }
      : {}),
  };
}

/** What the bounds dropped, for `status`: the state's counters, and the audit records only the Redis stream holds. */
function truncatedView(state: MigrationState): Pick<UnitStatus, 'truncated'> {
  const auditRecords = state.audit ? state.audit.seq - state.audit.records.length : 0;
  const t = { ...state.truncated, ...(auditRecords > 0 ? { auditRecords } : {}) };
  return Object.keys(t).length ? { truncated: t } : {};
}

/** The view a campaign reads from the unit's memo (by describe: a query would make an uncached worker replay the run). */
export function memoView(status: UnitStatus): Omit<UnitView, 'unit' | 'workflowId'> {
  const { unit: _unit, workflowId: _id, ...view } = unitViewOf(status.unit, status.id, status);
  return view;
}

/** Where new starts go, in words. */
export function routeText(r: RouteView): string {
  const where = r.kind === 'side' ? `all on the ${r.side}` : r.kind === 'percent' ? `${r.percent}% on the target` : 'new starts held';
  return `${where} (epoch ${r.epoch}${r.sourceWorkersMayStop ? ', source workers may stop' : ''})`;
}

/** The Temporal UI's current details: where the unit stands, why, what comes next and how to steer it. */
export function detailsText(run: UnitRun): string {
  const { state } = run;
  const c = state.counts;
  const gate = state.gates[state.gates.length - 1];
  const paused = state.paused ? ` — paused by ${state.paused.actor}${state.paused.reason ? ` (${state.paused.reason})` : ''}` : '';
  const lastRejected = state.rejected[state.rejected.length - 1];
  return [
    `**phase** ${state.phase}${paused}`,
    `**route** ${routeText(state.route)}`,
    `**open** source ${c.sourceOpen} · target ${c.targetOpen} · **duplicates** ${c.duplicates} · **stranded** ${c.stranded}` +
      (state.schedules ? ` · **schedules active on both** ${c.schedulesDoubleActive ?? 0}` : ''),
    drainText(state),
    gate ? `**last gate** ${gate.name}: ${gate.result}${gate.message ? ` — ${gate.message}` : ''}` : '',
    run.wait ? `**waiting for** ${run.wait.reason}` : '',
    state.failure ? `**failed** in ${state.failure.phase} (${state.failure.type}): ${state.failure.message}` : '',
    lastRejected ? `**last rejected** ${lastRejected.command}: ${lastRejected.reason}` : '',
    ...operatorHints(run),
  ]
    .filter(Boolean)
    .join('\n');
}

/**
 * The drain in one line (absolute times: the details are written when the unit changes, and a relative
 * "in 3m" would be stale by the time someone reads it).
 */
export function drainText(state: MigrationState): string {
  const d = state.drain;
  if (!d) return '';
  const last = d.samples[d.samples.length - 1];
  if (!last) return `**drain** of the ${d.side} started · deadline ${new Date(d.deadlineAt).toISOString()}`;
  if (last.open === 0) return `**drain** the ${d.side} has no open run left`;
  const rate = drainRate(d.samples);
  return [
    `**drain** ${last.open} open on the ${d.side}`,
    rate !== undefined ? `${rateText(rate)}` : '',
    d.forecastAt !== undefined ? `forecast empty at ${new Date(d.forecastAt).toISOString()}` : 'no forecast (not falling)',
    `deadline ${new Date(d.deadlineAt).toISOString()}`,
  ]
    .filter(Boolean)
    .join(' · ');
}

/** `falling 12.5 runs/min`, `growing 3 runs/min`, `steady`. */
export function rateText(ratePerMin: number): string {
  if (ratePerMin === 0) return 'steady';
  return `${ratePerMin > 0 ? 'falling' : 'growing'} ${Math.abs(ratePerMin)} runs/min`;
}

/** Why the unit stands where it is, what comes next, and how to steer it (for a person reading the UI). */
function operatorHints(run: UnitRun): string[] {
  const { state, unit } = run;
  const last = state.history[state.history.length - 1];
  const final = (state.phase === 'completed' || state.phase === 'rolled-back') && !reversibleOpen(state);
  const out = [last ? `**why** ${last.reason ?? ''}${last.actor ? ` (${last.actor}, ${last.at})` : ''}` : ''];
  if (final) return [...out, `**next** nothing: ${state.phase} is final`];
  if (reversibleOpen(state)) {
    const deadline = finalizeDeadline(state);
    return [
      ...out,
      `**reversible** until ${deadline === undefined ? '`cutover finalize`' : new Date(deadline).toISOString()}`,
      `**finalize** \`cutover finalize ${unit}\` (the source's workers may then stop)`,
      `**roll back** \`cutover rollback ${unit} --reason "…"\`, then two other operators \`cutover approve ${unit}\``,
    ];
  }
  out.push(`**next** ${run.wait?.reason ?? `working on ${state.phase}`}`);
  if (state.phase !== 'rolling-back') {
    out.push(`**roll back** \`cutover rollback ${unit} --reason "…"\`, or the signal \`rollback\` with {"actor":"<you>","reason":"…"}`);
  }
  out.push(
    state.paused
      ? `**resume** \`cutover resume ${unit}\``
      : `**pause** \`cutover pause ${unit}\`, or the signal \`pause\` with {"actor":"<you>","reason":"…"}`,
  );
  return out;
}

/** What a phase change records as evidence of the phase it leaves. */
export function evidenceOf(state: MigrationState, from: Phase): Record<string, unknown> | undefined {
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
      return { route: routeText(state.route) };
    case 'cutover': {
      const done = state.schedules?.forward?.done;
      return {
        route: routeText(state.route),
        ...(done ? { schedulesSwitched: done.switched, backfilledFires: done.backfilledFires } : {}),
      };
    }
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
