/**
 * Gates as measurements: a provider returns a measurement instead of throwing;
 * the policy (`policy.ts`) applies the gate's limits. Pure types, safe in the workflow sandbox.
 */

/** The four outcomes of one measurement. */
export type MeasurementResult = 'successful' | 'failed' | 'inconclusive' | 'error';

/** One measurement of a gate. `value` is the number compared (absent when there was none). */
export interface Measurement {
  result: MeasurementResult;
  value?: number;
  message: string;
  /** The numbers behind the result, as plain JSON (the compare and schedule-to-start gates give them). */
  evidence?: { [key: string]: unknown };
}

/** A measurement as the campaign records it: which gate, when (ms since epoch). */
export interface TimedMeasurement extends Measurement {
  gate: string;
  at: number;
}

/** Comparison operators a threshold may use. */
export type ThresholdOperator = '<' | '<=' | '>' | '>=' | '==' | '!=';

/** A value passes when `value <op> limit` holds. */
export interface Threshold {
  op: ThresholdOperator;
  limit: number;
}

/** How often a gate measures and what it tolerates (the plan's `GateLimits`, repeated so workflows need no config import). */
export interface GatePolicy {
  /** Time between two measurements (ms). */
  interval: number;
  /** Conclusive (successful or failed) measurements needed before the gate can pass. */
  count: number;
  /** Failed measurements tolerated: one more fails the gate. */
  failureLimit: number;
  /** Consecutive errored measurements tolerated: one more errors the gate. */
  consecutiveErrorLimit: number;
}
