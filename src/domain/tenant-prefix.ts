/**
 * A tenant's workflow-ID prefix: the plan's `workflowIdPrefix` with `{tenant}` filled in. Routing,
 * schedule selection and the visibility queries that count a tenant's runs all expand it here, so
 * they agree on what belongs to a tenant. Tenant IDs may contain the prefix's separator (`t-red`
 * under `"{tenant}-"`), so a workflow ID is matched against the listed tenants' prefixes, never cut
 * at a separator. Imports nothing: routing, schedules, config and the workflows' inputs share it.
 */

/** What a `workflowIdPrefix` selector writes where the tenant ID goes. */
export const TENANT_PLACEHOLDER = '{tenant}';

/** The selector's prefix for one tenant: every `{tenant}` replaced by the tenant ID. */
export function expandTenantPrefix(pattern: string, tenant: string): string {
  return pattern.split(TENANT_PLACEHOLDER).join(tenant);
}

/** Two listed tenants whose prefixes overlap: every ID of `longer` also starts with `shorter`'s prefix. */
export interface AmbiguousTenants {
  shorter: string;
  longer: string;
  shorterPrefix: string;
  longerPrefix: string;
}

/**
 * Every pair of distinct tenants where one's expanded prefix starts the other's. With such a pair a
 * prefix query for the shorter one (schedule IDs, `WorkflowId STARTS_WITH`) also picks the longer
 * one's runs, so the plan must not have any. Sorted, a prefix comes right before the strings it
 * starts, so one pass with a stack of open prefixes finds every pair without comparing all of them.
 */
export function ambiguousTenants(pattern: string, tenants: readonly string[]): AmbiguousTenants[] {
  const expanded = [...new Set(tenants)].map((tenant) => ({ tenant, prefix: expandTenantPrefix(pattern, tenant) }));
  expanded.sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
  const out: AmbiguousTenants[] = [];
  const open: typeof expanded = [];
  for (const cur of expanded) {
    while (open.length > 0 && !cur.prefix.startsWith(open[open.length - 1]!.prefix)) open.pop();
    for (const o of open) out.push({ shorter: o.tenant, longer: cur.tenant, shorterPrefix: o.prefix, longerPrefix: cur.prefix });
    open.push(cur);
  }
  return out;
}

/** Finds the tenant of a workflow (or schedule) ID: the listed tenant with the longest prefix the ID starts with. */
export class TenantPrefixIndex {
  private readonly byPrefix = new Map<string, string>();
  /** The distinct prefix lengths, longest first: at most one lookup per length. */
  private readonly lengths: number[];

  constructor(pattern: string, tenants: readonly string[]) {
    for (const tenant of tenants) this.byPrefix.set(expandTenantPrefix(pattern, tenant), tenant);
    this.lengths = [...new Set([...this.byPrefix.keys()].map((p) => p.length))].sort((a, b) => b - a);
  }

  /** The tenant of `id`, or undefined when no listed tenant's prefix starts it. */
  tenantOf(id: string): string | undefined {
    for (const n of this.lengths) {
      if (n > id.length) continue;
      const tenant = this.byPrefix.get(id.slice(0, n));
      if (tenant !== undefined) return tenant;
    }
    return undefined;
  }
}
