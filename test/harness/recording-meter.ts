/**
 * A meter that records what the instruments were given, by name and labels: gauges keep the last value,
 * counters add. Like the SDK runtime's meter, a gauge refuses a negative value (the collector must never send one).
 */
import type { MetricMeter, MetricTags } from '@temporalio/common';

export function recordingMeter() {
  const values = new Map<string, number>();
  const key = (name: string, tags: MetricTags = {}) =>
    `${name}{${Object.entries(tags)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}="${String(v)}"`)
      .join(',')}}`;
  const metric = (name: string, kind: 'gauge' | 'counter') => ({
    name,
    unit: '',
    description: '',
    kind,
    valueType: 'int' as const,
    set: (v: number, tags?: MetricTags) => {
      if (kind === 'gauge' && v < 0) throw new Error(`MetricGauge value must be non-negative (got ${v})`);
      values.set(key(name, tags), v);
    },
    add: (v: number, tags?: MetricTags) => void values.set(key(name, tags), (values.get(key(name, tags)) ?? 0) + v),
    record: () => undefined,
    withTags: () => metric(name, kind),
  });
  const meter = {
    createGauge: (name: string) => metric(name, 'gauge'),
    createCounter: (name: string) => metric(name, 'counter'),
    createHistogram: (name: string) => metric(name, 'gauge'),
    createUpDownCounter: (name: string) => metric(name, 'counter'),
    withTags: () => meter,
  } as unknown as MetricMeter;
  return { meter, values, get: (name: string, tags?: MetricTags) => values.get(key(name, tags)) };
}
