/**
 * Synthetic provider: probe workflows run on the target; the gate judges their success ratio and
 * p99 latency. Running the probes is the caller's (an activity with a target client); judging is pure.
 */
import type { Measurement } from './types';

/** The plan's synthetic gate limits (durations in ms). */
export interface SyntheticLimits {
  workflows: number;
  minSuccess: number;
  maxP99: number;
}

/** What the probes did: how many were started and the latency (ms) of each that succeeded. */
export interface ProbeOutcome {
  started: number;
  succeededLatenciesMs: number[];
  /** Probes that failed or did not finish in time. */
  failed: number;
}

/** The nearest-rank percentile of `values` (p in 0..100); undefined when empty. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

/** Judges probe results. No probe started is "no data": failed. */
export function judgeSynthetic(limits: SyntheticLimits, outcome: ProbeOutcome): Measurement {
  if (outcome.started === 0) return { result: 'failed', value: 0, message: 'no data: no probe workflow was started on the target' };
  const succeeded = outcome.succeededLatenciesMs.length;
  const ratio = succeeded / outcome.started;
  const p99 = percentile(outcome.succeededLatenciesMs, 99);
  const what = `${succeeded}/${outcome.started} probes succeeded (ratio ${ratio.toFixed(3)})${p99 === undefined ? '' : `, p99 ${p99} ms`}`;
  if (ratio < limits.minSuccess) return { result: 'failed', value: ratio, message: `${what}: below minSuccess ${limits.minSuccess}` };
  if (p99 !== undefined && p99 > limits.maxP99)
    return { result: 'failed', value: ratio, message: `${what}: p99 above maxP99 ${limits.maxP99} ms` };
  return { result: 'successful', value: ratio, message: what };
}
