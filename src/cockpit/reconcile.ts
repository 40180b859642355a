/**
 * `reconcileUnit`: a fresh reconcile report of one unit, straight from both clusters (duplicates —
 * an ID open on both, or run on both since the move began —, stranded runs and, given the route,
 * runs started on the side the route did not give) and, given the schedules' owner records, its
 * schedules (each active on exactly one cluster): the same checks the entity workflow runs before it
 * completes. Reads only; changes nothing.
 */
import type { Connection } from '@temporalio/client';
import { createClusterActivities } from '../activities/cluster';
import { createScheduleActivities } from '../activities/schedules';
import type { Plan } from '../config/types';
import type { ScheduleFence } from '../schedules/fence';
import { unitName, type UnitRef } from '../domain/ids';
import type { Side, ReconcileResult, ReconcileRoute, ScheduleReconcileResult } from '../domain/migration';
import { unitScope } from '../campaign/unit-input';

/** Options of `reconcileUnit`. */
export interface ReconcileUnitOptions {
  source: Connection;
  target: Connection;
  /** Count runs started since the move began as duplicates too (ISO; the unit's `moveStartedAt`). */
  since?: string;
  /** A side that was drained: anything open there is stranded. */
  drainedSide?: Side;
  /** The unit's route and when it changed (its routing record): starts on the other side since then are misrouted. */
  route?: ReconcileRoute;
  /** The schedules' owner records (the plan's Redis): with them, the unit's schedules are checked too. */
  fence?: ScheduleFence;
  /** The side every schedule of the unit should be active on (after the move: the target). */
  expectedScheduleSide?: Side;
}

/** A unit's reconcile report; `clean` covers the schedules when they were checked. */
export type UnitReconcileReport = ReconcileResult & { schedules?: ScheduleReconcileResult };

/** The unit's reconcile report. */
export async function reconcileUnit(plan: Plan, ref: UnitRef, opts: ReconcileUnitOptions): Promise<UnitReconcileReport> {
  // The entity workflow's activities, called as plain functions: they only list and describe.
  const source = { name: plan.source, connection: opts.source };
  const target = { name: plan.target, connection: opts.target };
  const scope = unitScope(plan, ref);
  const runs = await createClusterActivities({ source, target }).reconcile({
    ...scope,
    ...(opts.since ? { since: opts.since } : {}),
    ...(opts.drainedSide ? { drainedSide: opts.drainedSide } : {}),
    ...(opts.route ? { route: opts.route } : {}),
  });
  if (!opts.fence) return runs;
  const schedules = await createScheduleActivities({ source, target, fence: opts.fence }).reconcileSchedules({
    unit: unitName(ref),
    sourceNamespace: scope.sourceNamespace,
    targetNamespace: scope.targetNamespace,
    ...(scope.tenant ? { tenant: scope.tenant } : {}),
    ...(opts.expectedScheduleSide ? { expected: opts.expectedScheduleSide } : {}),
    ...(opts.since ? { runsSince: opts.since } : {}),
  });
  return { ...runs, schedules, clean: runs.clean && schedules.clean };
}

/** The reconcile report as text. */
export function formatReconcile(unit: string, r: UnitReconcileReport): string {
  const sc = r.schedules;
  const misrouted = r.misrouted ? `, ${r.misrouted.length} misrouted` : '';
  const lines = [
    `reconcile ${unit}: ${r.clean ? 'clean' : 'NOT CLEAN'} — open: source ${r.sourceOpen}, target ${r.targetOpen}; ` +
      `${r.duplicates.length} duplicate(s), ${r.stranded.length} stranded${misrouted} (at ${r.at})`,
    ...r.duplicates.map((id) => `  duplicate  ${id}`),
    ...r.stranded.map((s) => `  stranded   ${s.workflowId} on the ${s.side}: ${s.why}`),
    ...(r.misrouted ?? []).map((m) => `  misrouted  ${m.workflowId} (run ${m.runId}): ${m.why}`),
    ...(sc
      ? [
          `  schedules ${sc.schedules}: ${sc.doubleActive} active on both, ${sc.pausedOnBoth} paused on both by a switch, ` +
            `${sc.wrongSide} on the wrong side, ${sc.specDiffers} differing` +
            (sc.runsChecked ? `, ${sc.duplicateFires} fire(s) on both, ${sc.lostFires} lost` : ''),
          ...sc.problems.map((p) => `  schedule   ${p.scheduleId}: ${p.problems.join('; ')}`),
        ]
      : []),
  ];
  if (!r.clean)
    lines.push(
      'fix: terminate or finish the listed runs on one side, then reconcile again ' +
        "(`cutover advance <unit>` re-runs the workflow's reconcile)",
    );
  if (r.misrouted?.length)
    lines.push(
      'fix (misrouted): some client starts this unit without following its route — start through RoutedClient with the ' +
        "plan's tenants; a rollback moves the route back, after which these runs are on the route's side",
    );
  return lines.join('\n');
}
