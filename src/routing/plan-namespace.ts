/** One namespace of a plan as the routing library connects to it: its config and its clusters and names on both sides. */
import { checkNamespaceAccess, ClusterConnectError, namespaceOn } from '../clusters/connect';
import { loadPlan } from '../config';
import type { ClusterConfig, NamespaceConfig, Plan } from '../config';
import { RoutingInputError } from './errors';
import type { Side } from './types';

/** A side of the move: the plan's cluster and the namespace's name there. */
export interface PlanSide {
  /** The cluster's key in the plan's `clusters`. */
  name: string;
  cluster: ClusterConfig;
  namespace: string;
}

export interface PlanNamespace {
  plan: Plan;
  config: NamespaceConfig;
  sides: Record<Side, PlanSide>;
}

/** Loads the plan and finds `namespace` (the source namespace, as keyed in the plan); throws naming the field. */
export function planNamespace(planOrPath: string | Plan, namespace: string): PlanNamespace {
  const plan = loadPlan(planOrPath);
  const config = plan.namespaces[namespace];
  if (!config)
    throw new RoutingInputError('namespace', `not in the plan's namespaces (known: ${Object.keys(plan.namespaces).join(', ') || 'none'})`);
  const source = plan.clusters[plan.source];
  const target = plan.clusters[plan.target];
  if (!source || !target) throw new RoutingInputError('source', "the plan's source and target must name entries of clusters");
  return {
    plan,
    config,
    sides: {
      source: { name: plan.source, cluster: source, namespace: namespaceOn(source, namespace) },
      target: { name: plan.target, cluster: target, namespace: namespaceOn(target, config.target ?? namespace) },
    },
  };
}

/**
 * Describes a side's namespace on its open connection, so credentials without access fail at connect with
 * their own error. A target namespace that does not exist yet is fine: a drain-and-switch provisions it.
 */
export async function checkPlanNamespace(
  conn: Parameters<typeof checkNamespaceAccess>[0],
  side: PlanSide,
  opts: { mayBeMissing?: boolean } = { mayBeMissing: true },
): Promise<void> {
  try {
    await checkNamespaceAccess(conn, side.name, side.cluster, side.namespace);
  } catch (err) {
    if (opts.mayBeMissing && err instanceof ClusterConnectError && err.failure === 'namespace-not-found') return;
    throw err;
  }
}
