/**
 * Reconcile provider: judges a reconcile report's counts (duplicates, stranded and misrouted runs,
 * schedules active on both clusters) against the gate's limits. Producing the report is the cluster
 * activities' job; judging is pure.
 */
import type { Measurement } from './types';

/** The plan's reconcile gate limits (schedules double-active are never tolerated). */
export interface ReconcileLimits {
  maxDuplicates: number;
  maxStranded: number;
}

/** The counts of a reconcile report. `undefined` report = the report could not be produced. */
export interface ReconcileCounts {
  duplicates: number;
  stranded: number;
  /** Schedules active on both clusters. */
  schedulesDoubleActive: number;
  /** Client starts on the side the route did not give (absent: not checked). */
  misrouted?: number;
}

/** Judges the counts: value is the worst excess (0 when clean). */
export function judgeReconcile(limits: ReconcileLimits, counts: ReconcileCounts | undefined): Measurement {
  if (!counts) return { result: 'failed', message: 'no data: no reconcile report for the unit' };
  const misrouted = counts.misrouted ?? 0;
  const what =
    `${counts.duplicates} duplicate(s), ${counts.stranded} stranded, ` +
    (counts.misrouted !== undefined ? `${misrouted} misrouted, ` : '') +
    `${counts.schedulesDoubleActive} schedule(s) active on both clusters`;
  const problems: string[] = [];
  if (counts.duplicates > limits.maxDuplicates) problems.push(`duplicates above ${limits.maxDuplicates}`);
  if (counts.stranded > limits.maxStranded) problems.push(`stranded above ${limits.maxStranded}`);
  if (counts.schedulesDoubleActive > 0) problems.push('a schedule must be active on exactly one cluster');
  // Never tolerated: a client that ignores the route keeps starting work on a side being left.
  if (misrouted > 0) problems.push('every start must follow the route');
  const value = counts.duplicates + counts.stranded + counts.schedulesDoubleActive + misrouted;
  if (problems.length > 0) return { result: 'failed', value, message: `${what}: ${problems.join('; ')}` };
  return { result: 'successful', value, message: what };
}
