/**
 * Visibility queries that select one unit's application workflows. Pure (unit-tested), shared by
 * the cluster activities. Only constructs the dev server's SQL visibility supports are used
 * (no ORDER BY; `STARTS_WITH` on WorkflowId; `=`/`OR` on TaskQueue and Keyword attributes).
 */
import { PROBE_WORKFLOW_TYPE } from '../domain/constants';
import type { TenantFilter } from '../domain/migration';

/** Which workflows belong to a unit: its task queues, and for a tenant, its selector. */
export interface UnitScope {
  taskQueues: string[];
  tenant?: TenantFilter;
}

/** A string literal for a visibility query (double quotes; backslash and quote escaped). */
export function literal(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Query selecting the unit's workflows (never cutover's probes), optionally with more conditions. */
export function unitQuery(scope: UnitScope, ...more: string[]): string {
  const parts: string[] = [];
  if (scope.taskQueues.length > 0) parts.push(`(${scope.taskQueues.map((q) => `TaskQueue = ${literal(q)}`).join(' OR ')})`);
  if (scope.tenant) {
    // The prefix is expanded by `expandTenantPrefix`; it is exact because the plan refuses overlapping tenant prefixes.
    if ('workflowIdPrefix' in scope.tenant) parts.push(`WorkflowId STARTS_WITH ${literal(scope.tenant.workflowIdPrefix)}`);
    else parts.push(`${scope.tenant.searchAttribute} = ${literal(scope.tenant.value)}`);
  }
  parts.push(`WorkflowType != ${literal(PROBE_WORKFLOW_TYPE)}`);
  parts.push(...more);
  return parts.join(' AND ');
}

/** The unit's open runs. */
export function openQuery(scope: UnitScope): string {
  return unitQuery(scope, 'ExecutionStatus = "Running"');
}

/** The unit's runs started at or after `sinceIso`. */
export function startedSinceQuery(scope: UnitScope, sinceIso: string): string {
  return unitQuery(scope, `StartTime >= ${literal(sinceIso)}`);
}
