/**
 * Every default of the plan file, in one place, as a named constant. Durations are milliseconds,
 * which is what the validated `Plan` carries.
 */

/** Redis used for routing records when the plan names none. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/** Prefix of every Redis key cutover writes. */
export const DEFAULT_REDIS_KEY_PREFIX = 'cutover:';
/** How long routed clients keep cached routes while Redis is unreachable (and so how long a drain waits after a route change): 30s. */
export const DEFAULT_CLIENT_STALENESS_MS = 30_000;
/** How long a workflow ID's placement lives in Redis (routed clients' `placementTtlMs`, and the placement sweep's). */
export const DEFAULT_PLACEMENT_TTL_MS = 7 * 24 * 3600_000;

/** Namespace of cutover's own workflows on the control cluster. */
export const DEFAULT_CONTROL_NAMESPACE = 'cutover';
/** Task queue of cutover's own workflows on the control cluster. */
export const DEFAULT_CONTROL_TASK_QUEUE = 'cutover';
// The control cluster defaults to the plan's target (it is where the work ends up, so cutover's
// history survives the retirement of the source); see `resolveControl` in validate.ts.

/** Soak after each canary step before its gates are read: 30s. */
export const DEFAULT_BAKE_MS = 30_000;
/** Canary percentages on the target, in order. */
export const DEFAULT_PERCENT_STEPS: readonly number[] = [10, 50];
/** What a failed gate does. */
export const DEFAULT_ON_GATE_FAILURE = 'rollback' as const;
/** How long the source may take to drain after the cutover: 10m. */
export const DEFAULT_DRAIN_DEADLINE_MS = 10 * 60_000;
/** What happens to runs still open on the source after the drain deadline. */
export const DEFAULT_STRAGGLERS = 'report' as const;
/** Longest a drain-and-switch hold may keep new starts waiting: 30s. */
export const DEFAULT_HOLD_TIMEOUT_MS = 30_000;
/**
 * How long a completed unit stays reversible before it is final on its own: 24h. A day covers a full daily
 * traffic cycle (nightly batches, peaks) on the target with the source's workers still there to take the unit
 * back; past it the source's workers are freed without anyone having to remember to. `never` waits for
 * `cutover finalize`; `0s` makes a unit final on completion (as before reversibility existed).
 */
export const DEFAULT_FINALIZE_AFTER_MS = 24 * 3_600_000;
/** Fires missed while a schedule switches clusters are run on its new cluster (`gap`), or only reported (`none`). */
export const DEFAULT_SCHEDULE_BACKFILL = 'gap' as const;

/** Local server kind for `cutover dev up` when `local:` gives none. */
export const DEFAULT_LOCAL_SERVER = 'dev' as const;
/** History shards of a local self-hosted (postgres) cluster. */
export const DEFAULT_POSTGRES_SHARDS = 4;
/** The dev server always runs a single history shard. */
export const DEV_SERVER_SHARDS = 1;
/** How clients authenticate to a Cloud-shaped local cluster when `local.auth` gives nothing. */
export const DEFAULT_LOCAL_CLOUD_AUTH = 'api-key' as const;

/** Time between two measurements of a gate: 15s. */
export const DEFAULT_GATE_INTERVAL_MS = 15_000;
/** Measurements a gate takes per evaluation. */
export const DEFAULT_GATE_COUNT = 1;
/** Failed measurements tolerated before the gate fails. */
export const DEFAULT_GATE_FAILURE_LIMIT = 0;
/** Consecutive errored measurements (provider unreachable, …) tolerated before the gate errors. */
export const DEFAULT_GATE_CONSECUTIVE_ERROR_LIMIT = 4;
/** Reconcile gate: duplicates tolerated. */
export const DEFAULT_RECONCILE_MAX_DUPLICATES = 0;
/** Compare gate: least runs per side for a test to conclude. */
export const DEFAULT_COMPARE_MIN_SAMPLES = 20;
/** Compare gate: most completed runs listed per side and workflow type (visibility stays bounded). */
export const DEFAULT_COMPARE_MAX_SAMPLES = 500;
/** Compare gate: significance level of the one-sided tests. */
export const DEFAULT_COMPARE_ALPHA = 0.05;
/** Compare gate: the target may be 10 % slower before it counts as worse. */
export const DEFAULT_COMPARE_LATENCY_TOLERANCE = 0.1;
/** Compare gate: runs are read from visibility on each cluster unless the plan says prometheus. */
export const DEFAULT_COMPARE_SOURCE = 'visibility';
/** Compare gate on Prometheus: the SDK metric labels the gate matches itself (a side's own labels may not name them). */
export const COMPARE_PROMETHEUS_GATE_LABELS = ['namespace', 'task_queue', 'workflow_type', 'le'] as const;
/** Reconcile gate: stranded runs tolerated. */
export const DEFAULT_RECONCILE_MAX_STRANDED = 0;

/** Where the codec server listens when neither the plan nor the command line says: loopback only. */
export const DEFAULT_CODEC_SERVER_LISTEN = '127.0.0.1:8888';
/** Largest request body the codec server reads: 4 MiB. */
export const DEFAULT_CODEC_SERVER_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** CORS answers allow credentials only when the plan asks (the UI's "include credentials" setting). */
export const DEFAULT_CODEC_SERVER_INCLUDE_CREDENTIALS = false;

/** Hosts of Temporal Cloud's frontends (namespace endpoints and the regional API-key endpoints). */
export const CLOUD_HOST_SUFFIXES: readonly string[] = ['.tmprl.cloud', '.api.temporal.io'];

/** The host of a `host:port` address, lower case, without IPv6 brackets. */
export function addressHost(address: string): string {
  const m = /^(.*):\d+$/.exec(address);
  return (m ? m[1]! : address).replace(/^\[|\]$/g, '').toLowerCase();
}

/** Whether an address is one of Temporal Cloud's. */
export function isCloudAddress(address: string): boolean {
  const host = addressHost(address);
  return CLOUD_HOST_SUFFIXES.some((suffix) => host.endsWith(suffix));
}

/** A cluster's kind when the plan gives none: `cloud` for a Cloud address or a Cloud-shaped local server. */
export function defaultClusterKind(address: string, localServer: string | undefined): 'self-hosted' | 'cloud' {
  return isCloudAddress(address) || localServer === 'cloud' ? 'cloud' : 'self-hosted';
}
