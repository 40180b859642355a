/**
 * The gate policy (after Argo Rollouts' analysis limits): given a gate's limits and the measurements
 * taken during one step, is the gate still measuring, passed, failed, inconclusive or errored? Pure
 * and clock-free: the campaign workflow calls it after every measurement.
 *
 * Rules, in order:
 * - an inconclusive latest measurement pauses for a human (`inconclusive`);
 * - more failed measurements than `failureLimit` fails the gate at once (no need to wait for `count`);
 * - more consecutive errors than `consecutiveErrorLimit` errors the gate;
 * - the gate passes once it has `count` conclusive measurements (successful or failed) and has not
 *   failed. Errored measurements never count towards `count`: an unreachable provider is never a pass.
 * Missing data is a failed measurement (the providers return `failed` for it), never a pass.
 */
import type { GatePolicy, Measurement, MeasurementResult } from './types';

/** Where a gate stands after its measurements so far. */
export type GateStatus = 'measuring' | 'passed' | 'failed' | 'inconclusive' | 'errored';

/** The verdict and the tallies it was drawn from (kept as evidence). */
export interface GateVerdict {
  status: GateStatus;
  taken: number;
  successful: number;
  failed: number;
  inconclusive: number;
  errors: number;
  consecutiveErrors: number;
  /** Why, for the status query and the audit trail. */
  reason: string;
}

/** Policy values that are not whole non-negative numbers (count and interval must be ≥ 1). Empty when valid. */
export function policyProblems(policy: GatePolicy): { field: string; message: string; hint: string }[] {
  const out: { field: string; message: string; hint: string }[] = [];
  const whole = (field: keyof GatePolicy, min: number) => {
    const v = policy[field];
    if (!Number.isSafeInteger(v) || v < min) {
      out.push({ field, message: `must be a whole number ≥ ${min}, got ${String(v)}`, hint: `set ${field} to ${min} or more` });
    }
  };
  whole('interval', 1);
  whole('count', 1);
  whole('failureLimit', 0);
  whole('consecutiveErrorLimit', 0);
  return out;
}

/** Applies the gate's limits to the measurements of one step, oldest first. */
export function evaluateGate(policy: GatePolicy, measurements: readonly Pick<Measurement, 'result' | 'message'>[]): GateVerdict {
  const tally: Record<MeasurementResult, number> = { successful: 0, failed: 0, inconclusive: 0, error: 0 };
  let consecutiveErrors = 0;
  for (const m of measurements) {
    tally[m.result] += 1;
    consecutiveErrors = m.result === 'error' ? consecutiveErrors + 1 : 0;
  }
  const base = {
    taken: measurements.length,
    successful: tally.successful,
    failed: tally.failed,
    inconclusive: tally.inconclusive,
    errors: tally.error,
    consecutiveErrors,
  };
  const last = measurements[measurements.length - 1];
  if (last?.result === 'inconclusive') {
    return { ...base, status: 'inconclusive', reason: `inconclusive measurement, a human must decide: ${last.message}` };
  }
  if (tally.failed > policy.failureLimit) {
    const lastFailed = [...measurements].reverse().find((m) => m.result === 'failed');
    return {
      ...base,
      status: 'failed',
      reason: `${tally.failed} failed measurement(s), limit ${policy.failureLimit}: ${lastFailed?.message ?? ''}`.trim(),
    };
  }
  if (consecutiveErrors > policy.consecutiveErrorLimit) {
    return {
      ...base,
      status: 'errored',
      reason:
        `${consecutiveErrors} consecutive errored measurement(s), limit ${policy.consecutiveErrorLimit}: ${last?.message ?? ''}`.trim(),
    };
  }
  const conclusive = tally.successful + tally.failed;
  if (conclusive >= policy.count) {
    return {
      ...base,
      status: 'passed',
      reason: `${conclusive} conclusive measurement(s) of ${policy.count} needed, ${tally.failed} failed (limit ${policy.failureLimit})`,
    };
  }
  return { ...base, status: 'measuring', reason: `${conclusive} of ${policy.count} conclusive measurement(s) taken` };
}

/** True for the verdicts that end a step badly (the plan's `onGateFailure` applies). */
export function isGateFailure(status: GateStatus): boolean {
  return status === 'failed' || status === 'errored';
}
