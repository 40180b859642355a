/**
 * A plan's unit → the entity workflow's input (what `cutover start` hands to the workflow) and its
 * visibility scope (what `cutover reconcile` lists). Pure: values out of the validated plan.
 */
import { tenantFilterOf } from './units';
import { namespaceOn } from '../clusters/connect';
import { DEFAULT_PLACEMENT_TTL_MS } from '../config/defaults';
import type { Plan } from '../config/types';
import { namespaceOfUnit, ringOfUnit } from '../config/units';
import { unitName, type UnitRef } from '../domain/ids';
import type { TenantFilter, UnitMigrationInput } from '../domain/migration';
import { operatorKeysOf } from '../operators/policy';

/** How often a drain is sampled when the plan does not say. */
export const DEFAULT_DRAIN_POLL_MS = 5_000;

/** The unit's task queues and tenant filter, and its namespaces on each cluster. */
export interface UnitScopeOfPlan {
  taskQueues: string[];
  tenant?: TenantFilter;
  sourceNamespace: string;
  targetNamespace: string;
}

/** The visibility scope of a unit of the plan (the plan is validated, so its namespace exists). */
export function unitScope(plan: Plan, ref: UnitRef): UnitScopeOfPlan {
  const ns = namespaceOfUnit(plan, ref)!;
  const tenant = ref.kind === 'tenant' ? tenantFilterOf(ns.tenants!.selector, ref.tenant) : undefined;
  return {
    taskQueues: [...ns.taskQueues],
    ...(tenant ? { tenant } : {}),
    sourceNamespace: namespaceOn(plan.clusters[plan.source]!, ref.namespace),
    targetNamespace: namespaceOn(plan.clusters[plan.target]!, ns.target),
  };
}

/** The entity workflow input of a unit, from the plan's defaults, its ring and its synthetic gate. */
export function unitInputFromPlan(
  plan: Plan,
  ref: UnitRef,
  opts: { actor?: string; advanceMode?: 'auto' | 'manual'; campaign?: string } = {},
): UnitMigrationInput {
  const name = unitName(ref);
  const ring = ringOfUnit(plan, name);
  const ns = namespaceOfUnit(plan, ref)!;
  const synthetic = ring?.gates.map((g) => plan.gates[g]?.synthetic).find((s) => s !== undefined);
  const scope = unitScope(plan, ref);
  return {
    unit: ref,
    sourceCluster: plan.source,
    targetCluster: plan.target,
    sourceNamespace: scope.sourceNamespace,
    targetNamespace: scope.targetNamespace,
    strategy: ns.strategy,
    taskQueues: scope.taskQueues,
    ...(scope.tenant ? { tenant: scope.tenant } : {}),
    percentSteps: [...plan.defaults.percentSteps],
    bakeMs: ring?.bake ?? plan.defaults.bake,
    drainDeadlineMs: plan.defaults.drainDeadline,
    drainPollMs: DEFAULT_DRAIN_POLL_MS,
    holdTimeoutMs: plan.defaults.holdTimeout,
    clientStalenessMs: plan.redis.clientStaleness,
    placementSweepTtlMs: DEFAULT_PLACEMENT_TTL_MS,
    ...(plan.redis.routeCheck !== undefined ? { routeCheckMs: plan.redis.routeCheck } : {}),
    stragglers: plan.defaults.stragglers,
    onGateFailure: plan.defaults.onGateFailure,
    probe: synthetic
      ? { workflows: synthetic.workflows, minSuccess: synthetic.minSuccess, maxP99Ms: synthetic.maxP99 }
      : { workflows: 0, minSuccess: 1 },
    advanceMode: opts.advanceMode ?? 'auto',
    ...(opts.campaign ? { campaign: opts.campaign } : {}),
    ...(ring ? { ring: ring.name } : {}),
    ...(opts.actor ? { actor: opts.actor } : {}),
    schedules: { backfill: ns.schedules.backfill },
    ...(plan.operators ? { operators: operatorKeysOf(plan.operators) } : {}),
    finalizeAfterMs: plan.defaults.finalizeAfter,
  };
}
