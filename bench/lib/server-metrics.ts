/**
 * Request counters of a Temporal server's frontend (`service_requests{service_name="frontend"}`), by
 * namespace and operation, scraped from its Prometheus endpoint. The benchmarks diff two scrapes to
 * count what a phase cost the server: RPCs per schedule, workflow and activity tasks per unit.
 */

/** Counter values keyed `namespace|operation`. */
export type RequestCounts = Record<string, number>;

const LINE = /^service_requests\{([^}]*)\}\s+([0-9.eE+-]+)$/;
const LABEL = /(\w+)="([^"]*)"/g;

/** Scrapes the frontend's request counters. */
export async function scrapeRequests(metricsUrl: string): Promise<RequestCounts> {
  const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${metricsUrl}: HTTP ${res.status}`);
  const out: RequestCounts = {};
  for (const line of (await res.text()).split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of m[1]!.matchAll(LABEL)) labels[l[1]!] = l[2]!;
    if (labels.service_name !== 'frontend' || !labels.operation) continue;
    const key = `${labels.namespace ?? ''}|${labels.operation}`;
    out[key] = (out[key] ?? 0) + Number(m[2]);
  }
  return out;
}

/** `after - before`, per key (keys only in `after` count from 0). */
export function diffCounts(after: RequestCounts, before: RequestCounts): RequestCounts {
  const out: RequestCounts = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
}

/** Adds several diffs (e.g. both clusters). */
export function addCounts(...all: RequestCounts[]): RequestCounts {
  const out: RequestCounts = {};
  for (const c of all) for (const [k, v] of Object.entries(c)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** Sum of the given operations in one namespace (every operation when `ops` is omitted). */
export function sumOps(counts: RequestCounts, namespace: string, ops?: readonly string[]): number {
  let n = 0;
  for (const [k, v] of Object.entries(counts)) {
    const [ns, op] = k.split('|') as [string, string];
    if (ns === namespace && (!ops || ops.includes(op))) n += v;
  }
  return n;
}

/** Operations of one namespace, largest first: `[operation, count]`. */
export function byOperation(counts: RequestCounts, namespace: string): [string, number][] {
  return Object.entries(counts)
    .filter(([k]) => k.startsWith(`${namespace}|`))
    .map(([k, v]): [string, number] => [k.slice(namespace.length + 1), v])
    .sort((a, b) => b[1] - a[1]);
}

/** Operations that hand a workflow task back to the server (one per task a worker processed). */
export const WORKFLOW_TASK_OPS = ['RespondWorkflowTaskCompleted', 'RespondWorkflowTaskFailed'] as const;
/** Operations that hand an activity task back (completed, failed or cancelled). */
export const ACTIVITY_TASK_OPS = ['RespondActivityTaskCompleted', 'RespondActivityTaskFailed', 'RespondActivityTaskCanceled'] as const;
/** Answers to queries dispatched to a worker outside a workflow task. */
export const QUERY_TASK_OPS = ['RespondQueryTaskCompleted'] as const;

/**
 * Sum of a metric's series grouped by one label (e.g. the SDK's
 * `temporal_activity_execution_latency_count` by `activity_type`), from any Prometheus text endpoint.
 */
export async function scrapeByLabel(metricsUrl: string, metric: string, label: string): Promise<Record<string, number>> {
  const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${metricsUrl}: HTTP ${res.status}`);
  const out: Record<string, number> = {};
  for (const line of (await res.text()).split('\n')) {
    if (!line.startsWith(`${metric}{`) && !line.startsWith(`${metric} `)) continue;
    const m = /^[^{\s]+(?:\{([^}]*)\})?\s+([0-9.eE+-]+)$/.exec(line);
    if (!m) continue;
    let value = '';
    for (const l of (m[1] ?? '').matchAll(LABEL)) if (l[1] === label) value = l[2]!;
    out[value] = (out[value] ?? 0) + Number(m[2]);
  }
  return out;
}
