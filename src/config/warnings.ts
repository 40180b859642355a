/**
 * Advice on a valid plan: choices the plan may make, with a cost the operator should weigh. `cutover
 * validate` prints each as a warning (path, message, what to do) and still exits 0; no command is refused
 * for one.
 */
import type { RawIssue } from './issues';
import type { Plan } from './types';

/** Every warning about `plan` (a validated plan, defaults filled in). Pure. */
export function planWarnings(plan: Plan): RawIssue[] {
  const warnings: RawIssue[] = [];
  if (plan.control.cluster === plan.target) {
    warnings.push({
      path: ['control', 'cluster'],
      message:
        `the control cluster is the target, ${plan.target} (the default when control.cluster is not set): an outage of ` +
        `${plan.target} also takes away cutover's workflows, the ones that would roll its units back to ${plan.source}`,
      hint:
        'run cutover on a cluster separate from the target: declare one under clusters and name it in control.cluster; ' +
        `while the control cluster is down, \`cutover route <unit> source --force --reason "…"\` is the escape hatch: ` +
        `it sends a unit's new starts back to ${plan.source} with Redis alone`,
    });
  }
  const check = plan.redis.routeCheck;
  if (check !== undefined && check >= plan.redis.clientStaleness) {
    warnings.push({
      path: ['redis', 'routeCheck'],
      message:
        `units read their routing records back every ${check} ms, not sooner than routed clients fail closed ` +
        `(redis.clientStaleness ${plan.redis.clientStaleness} ms): a record Redis lost stops the unit's new starts until it is restored`,
      hint: 'set redis.routeCheck well below redis.clientStaleness (default 10s against 30s)',
    });
  }
  return warnings;
}
