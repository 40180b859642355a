/**
 * Small pure constants shared by workflows, activities, the worker and tests.
 * No imports: safe in the workflow sandbox and in plain Node.
 */

/** Task queue of cutover's synthetic probe workflow on the TARGET cluster (one worker per target namespace). */
export const PROBE_TASK_QUEUE = 'cutover-probe';

/** Workflow type name of the probe (the exported function name in `src/workflows/index.ts`). */
export const PROBE_WORKFLOW_TYPE = 'cutoverProbe';

/** Workflow type names of the entity workflows. */
export const NAMESPACE_MIGRATION_WORKFLOW_TYPE = 'namespaceMigration';
export const TENANT_MIGRATION_WORKFLOW_TYPE = 'tenantMigration';

/**
 * Memo key under which an entity publishes its `UnitView` (without unit and workflow ID) whenever it changes: the campaign
 * reads it with a describe instead of a query, which an uncached worker answers by replaying the run.
 */
export const UNIT_VIEW_MEMO = 'cutoverView';

/**
 * Memo key under which an entity publishes its `UnitMetrics` (src/domain/unit-metrics.ts) whenever they change: the
 * metrics collector reads every unit's from one visibility listing instead of querying each unit.
 */
export const UNIT_METRICS_MEMO = 'cutoverMetrics';

/** Phases of a unit, in forward order (docs/design.md, "A unit's life"). */
export const FORWARD_PHASES = [
  'pending',
  'preflight',
  'provisioned',
  'shadow',
  'canary',
  'cutover',
  'draining',
  'reconciling',
  'completed',
] as const;

/**
 * How often an entity workflow reads its routing record back while it waits (plan `redis.routeCheck`): a
 * record Redis lost comes back within about this long, below the routed clients' default staleness bound
 * (30 s), so applications keep routing through the loss.
 */
export const DEFAULT_ROUTE_CHECK_MS = 10_000;

/** Every phase a unit can be in. */
export const PHASES = [...FORWARD_PHASES, 'rolling-back', 'rolled-back', 'failed'] as const;

/** Failure types the entity activities throw as non-retryable: the same strings go in `nonRetryableErrorTypes`. */
export const NON_RETRYABLE_TYPES = [
  'NamespaceNotFound',
  'NamespaceNotCreatable',
  'SearchAttributeLimit',
  'RouteConflict',
  'InvalidInput',
  'ScheduleConflict',
] as const;
