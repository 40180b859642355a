/** Threshold comparison shared by the providers. Pure. */
import type { Threshold, ThresholdOperator } from './types';

/** The operators, for validation and hints. */
export const THRESHOLD_OPERATORS: readonly ThresholdOperator[] = ['<', '<=', '>', '>=', '==', '!='];

/** True when `value <op> limit` holds. */
export function compare(value: number, t: Threshold): boolean {
  switch (t.op) {
    case '<':
      return value < t.limit;
    case '<=':
      return value <= t.limit;
    case '>':
      return value > t.limit;
    case '>=':
      return value >= t.limit;
    case '==':
      return value === t.limit;
    case '!=':
      return value !== t.limit;
  }
}

/** The plan's `{ max?, min? }` as thresholds: passes when value ≤ max and value ≥ min. */
export function boundsToThresholds(bounds: { max?: number; min?: number }): Threshold[] {
  const out: Threshold[] = [];
  if (bounds.max !== undefined) out.push({ op: '<=', limit: bounds.max });
  if (bounds.min !== undefined) out.push({ op: '>=', limit: bounds.min });
  return out;
}

/** The thresholds `value` breaks (empty when it passes all of them). */
export function broken(value: number, thresholds: readonly Threshold[]): Threshold[] {
  return thresholds.filter((t) => !compare(value, t));
}

/** `value <= 0.5 and value >= 0` */
export function describeThresholds(thresholds: readonly Threshold[]): string {
  return thresholds.map((t) => `value ${t.op} ${t.limit}`).join(' and ');
}
