/**
 * Temporal-native provider: from visibility on the target, the unit's runs that closed since the
 * step began, and how many of them failed (failed, timed out or terminated) — as a count and as a
 * ratio. No closed run since the step began is "no data": a failed measurement.
 */
import { literal, unitQuery, type UnitScope } from '../clusters/queries';
import type { Measurement } from './types';

/** The plan's temporal gate limits. */
export interface TemporalLimits {
  maxFailed?: number;
  maxFailureRatio?: number;
}

/** What visibility said. */
export interface TemporalCounts {
  closed: number;
  failed: number;
}

/** Statuses that count as a failed run. */
export const FAILED_STATUSES = ['Failed', 'TimedOut', 'Terminated'] as const;

/** The two visibility queries: runs of the unit closed since `sinceIso`, and the failed ones among them. */
export function temporalGateQueries(scope: UnitScope, sinceIso: string): { closed: string; failed: string } {
  const closed = unitQuery(scope, `CloseTime >= ${literal(sinceIso)}`, 'ExecutionStatus != "Running"');
  const failed = `${closed} AND (${FAILED_STATUSES.map((s) => `ExecutionStatus = ${literal(s)}`).join(' OR ')})`;
  return { closed, failed };
}

/** Judges the counts against the limits. Pure. */
export function judgeTemporal(limits: TemporalLimits, counts: TemporalCounts): Measurement {
  if (limits.maxFailed === undefined && limits.maxFailureRatio === undefined) {
    return { result: 'error', message: 'temporal gate has no limit: set maxFailed and/or maxFailureRatio' };
  }
  if (counts.closed === 0) {
    return { result: 'failed', value: 0, message: 'no data: no run of the unit closed on the target since the step began' };
  }
  const ratio = counts.failed / counts.closed;
  const what = `${counts.failed} failed of ${counts.closed} closed (ratio ${ratio.toFixed(4)})`;
  if (limits.maxFailed !== undefined && counts.failed > limits.maxFailed) {
    return { result: 'failed', value: counts.failed, message: `${what}: more than maxFailed ${limits.maxFailed}` };
  }
  if (limits.maxFailureRatio !== undefined && ratio > limits.maxFailureRatio) {
    return { result: 'failed', value: ratio, message: `${what}: above maxFailureRatio ${limits.maxFailureRatio}` };
  }
  return { result: 'successful', value: limits.maxFailed !== undefined ? counts.failed : ratio, message: what };
}

/** Counts workflows matching a visibility query on the target namespace. */
export type VisibilityCount = (query: string) => Promise<number>;

/** Measures the gate; a visibility fault is an `error` measurement. */
export async function measureTemporal(
  limits: TemporalLimits,
  scope: UnitScope,
  sinceIso: string,
  count: VisibilityCount,
): Promise<Measurement> {
  const q = temporalGateQueries(scope, sinceIso);
  let counts: TemporalCounts;
  try {
    const [closed, failed] = await Promise.all([count(q.closed), count(q.failed)]);
    counts = { closed, failed };
  } catch (err) {
    return { result: 'error', message: `visibility count on the target failed: ${(err as Error).message}` };
  }
  return judgeTemporal(limits, counts);
}
