/**
 * The compare gate's Prometheus source: both sides' runs of a workflow type read from the SDK's worker
 * metrics instead of visibility. The Temporal SDK (core) exports, per worker, labelled `namespace`,
 * `task_queue` and `workflow_type` (checked against a worker of SDK 1.24 exporting to Prometheus):
 * - counters `temporal_workflow_completed`, `temporal_workflow_failed`, `temporal_workflow_canceled` and
 *   `temporal_workflow_continue_as_new` (left out, as visibility's comparison leaves continued-as-new runs out);
 * - the histogram `temporal_workflow_endtoend_latency` in milliseconds, recorded for every run that ends on
 *   a worker (completed, failed or canceled): only the bucket of each run is known.
 * Each is summed over the side's workers with `increase()` over the side's window, evaluated at its end.
 * A run timed out or terminated by the server ends on no worker, so the counters cannot see it: visibility
 * counts those as failed, this source cannot.
 */
import type { CompareWindow, ObserveSide, SideObservation } from './compare';
import { queryPrometheus, type FetchLike } from './prometheus';

/** The SDK's metric names as its Prometheus exporter writes them (durations in milliseconds, the SDK's default). */
export const SDK_WORKFLOW_METRICS = {
  completed: 'temporal_workflow_completed',
  failed: 'temporal_workflow_failed',
  canceled: 'temporal_workflow_canceled',
  latencyBuckets: 'temporal_workflow_endtoend_latency_bucket',
} as const;

/** One side's selection: its namespace on its cluster, the unit's task queues, and labels telling its workers apart. */
export interface ComparePromSide {
  namespace: string;
  /** Empty: every task queue of the namespace. */
  taskQueues: string[];
  labels?: Record<string, string>;
}

/** A PromQL string literal (double-quoted; JSON's escapes are PromQL's). */
const str = (v: string) => JSON.stringify(v);
/** A regular expression matching exactly `v` (Prometheus anchors label regexes). */
const reExact = (v: string) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The label matchers of one side and type. */
export function promSelector(side: ComparePromSide, workflowType: string): string {
  const m = [`namespace=${str(side.namespace)}`, `workflow_type=${str(workflowType)}`];
  if (side.taskQueues.length === 1) m.push(`task_queue=${str(side.taskQueues[0]!)}`);
  else if (side.taskQueues.length > 1) m.push(`task_queue=~${str(side.taskQueues.map(reExact).join('|'))}`);
  for (const [k, v] of Object.entries(side.labels ?? {})) m.push(`${k}=${str(v)}`);
  return `{${m.join(',')}}`;
}

/** Whole seconds of a window (at least 1): the range of `increase()`. */
export function windowRange(window: CompareWindow): string {
  return `${Math.max(1, Math.round((Date.parse(window.to) - Date.parse(window.from)) / 1000))}s`;
}

/** The queries of one side and type: three counters' increases and the latency histogram's, per bucket bound. */
export function comparePromQueries(
  side: ComparePromSide,
  workflowType: string,
  window: CompareWindow,
): { completed: string; failed: string; canceled: string; buckets: string } {
  const sel = promSelector(side, workflowType);
  const range = windowRange(window);
  const inc = (metric: string) => `sum(increase(${metric}${sel}[${range}]))`;
  return {
    completed: inc(SDK_WORKFLOW_METRICS.completed),
    failed: inc(SDK_WORKFLOW_METRICS.failed),
    canceled: inc(SDK_WORKFLOW_METRICS.canceled),
    buckets: `sum by (le) (increase(${SDK_WORKFLOW_METRICS.latencyBuckets}${sel}[${range}]))`,
  };
}

/** One series of an instant vector. */
export interface PromSample {
  labels: Record<string, string>;
  value: number;
}

/** Runs one instant query at `timeMs`; throws with a message that never holds the token. */
export type PromInstantQuery = (query: string, timeMs: number) => Promise<PromSample[]>;

/** An instant-query reader over Prometheus' HTTP API. */
export function prometheusInstantQuery(
  opts: { url: string; bearerToken?: string; timeoutMs?: number },
  fetchFn: FetchLike = fetch,
): PromInstantQuery {
  return async (query, timeMs) => {
    const body = await queryPrometheus({ ...opts, query, time: timeMs, tokenField: "the compare gate's prometheus.tokenEnv" }, fetchFn);
    if (body.data?.resultType !== 'vector' || !Array.isArray(body.data.result)) {
      throw new Error(`prometheus answered ${String(body.data?.resultType)} to ${query}, not a vector`);
    }
    return (body.data.result as { metric?: Record<string, string>; value?: unknown }[]).map((r) => ({
      labels: r.metric ?? {},
      value: Array.isArray(r.value) ? Number(r.value[1]) : NaN,
    }));
  };
}

/** A sum's value: no series (no worker reported the metric in the window) is 0; increase() estimates are rounded. */
function count(samples: PromSample[]): number {
  const v = samples[0]?.value ?? 0;
  return Number.isFinite(v) ? Math.max(0, Math.round(v)) : 0;
}

/**
 * Per-bucket counts from cumulative `le` series: sorted by bound, rounded, then differenced (a bucket never
 * below zero: rounding can make a cumulative count dip by one).
 */
export function bucketsFromCumulative(samples: PromSample[]): { bounds: number[]; counts: number[] } {
  const rows = samples
    .map((s) => ({ le: s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), v: Number.isFinite(s.value) ? Math.round(s.value) : 0 }))
    .filter((r) => !Number.isNaN(r.le))
    .sort((a, b) => a.le - b.le);
  const bounds: number[] = [];
  const counts: number[] = [];
  let before = 0;
  for (const r of rows) {
    bounds.push(r.le);
    counts.push(Math.max(0, r.v - before));
    before = Math.max(before, r.v);
  }
  return { bounds, counts };
}

/** Observes one side of one type from Prometheus, at the end of its window. */
export async function observeSidePrometheus(
  query: PromInstantQuery,
  side: ComparePromSide,
  workflowType: string,
  window: CompareWindow,
): Promise<SideObservation> {
  const q = comparePromQueries(side, workflowType, window);
  const at = Date.parse(window.to);
  const [completed, failed, canceled, buckets] = await Promise.all([
    query(q.completed, at),
    query(q.failed, at),
    query(q.canceled, at),
    query(q.buckets, at),
  ]);
  const f = count(failed);
  return {
    // Closed as visibility counts it (continued-as-new left out); canceled runs are closed, not failed.
    closed: count(completed) + f + count(canceled),
    failed: f,
    latenciesMs: [],
    truncated: false,
    latencyBins: bucketsFromCumulative(buckets),
  };
}

/** The side readers of a compare gate on Prometheus. */
export function prometheusSides(
  query: PromInstantQuery,
  sides: { source: ComparePromSide; target: ComparePromSide },
): { source: ObserveSide; target: ObserveSide } {
  return {
    source: (workflowType, window) => observeSidePrometheus(query, sides.source, workflowType, window),
    target: (workflowType, window) => observeSidePrometheus(query, sides.target, workflowType, window),
  };
}
