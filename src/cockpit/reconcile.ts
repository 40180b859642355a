/**
 * `reconcileUnit`: a fresh reconcile report of one unit, straight from both clusters (duplicates —
 * an ID open on both, or run on both since the move began — and stranded runs), the same check the
 * entity workflow runs before it completes. Reads only; changes nothing.
 */
import type { Connection } from '@temporalio/client';
import { createClusterActivities } from '../activities/cluster';
import type { Plan } from '../config/types';
import type { UnitRef } from '../workflows/ids';
import type { ClusterSide, ReconcileResult } from '../workflows/migration-types';
import { unitScope } from './unit-input';

/** Options of `reconcileUnit`. */
export interface ReconcileUnitOptions {
  source: Connection;
  target: Connection;
  /** Count runs started since the move began as duplicates too (ISO; the unit's `moveStartedAt`). */
  since?: string;
  /** A side that was drained: anything open there is stranded. */
  drainedSide?: ClusterSide;
}

/** The unit's reconcile report. */
export async function reconcileUnit(plan: Plan, ref: UnitRef, opts: ReconcileUnitOptions): Promise<ReconcileResult> {
  // The entity workflow's activity, called as a plain function: it only lists and describes.
  const acts = createClusterActivities({
    source: { name: plan.source, connection: opts.source },
    target: { name: plan.target, connection: opts.target },
  });
  return acts.reconcile({ ...unitScope(plan, ref), ...(opts.since ? { since: opts.since } : {}), ...(opts.drainedSide ? { drainedSide: opts.drainedSide } : {}) });
}

/** The reconcile report as text. */
export function formatReconcile(unit: string, r: ReconcileResult): string {
  const lines = [
    `reconcile ${unit}: ${r.clean ? 'clean' : 'NOT CLEAN'} — open: source ${r.sourceOpen}, target ${r.targetOpen}; ${r.duplicates.length} duplicate(s), ${r.stranded.length} stranded (at ${r.at})`,
    ...r.duplicates.map((id) => `  duplicate  ${id}`),
    ...r.stranded.map((s) => `  stranded   ${s.workflowId} on the ${s.side}: ${s.why}`),
  ];
  if (!r.clean) lines.push('fix: terminate or finish the listed runs on one side, then reconcile again (`cutover advance <unit>` re-runs the workflow\'s reconcile)');
  return lines.join('\n');
}
