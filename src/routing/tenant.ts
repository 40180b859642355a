/**
 * Which unit a start belongs to: a tenant (from the `tenant` start option, or the plan's selector —
 * a workflow ID prefix or a search attribute), else the whole namespace.
 */
import { TypedSearchAttributes } from '@temporalio/common';
import type { SearchAttributePair, SearchAttributes } from '@temporalio/common';
import { TENANT_PLACEHOLDER, TenantPrefixIndex } from '../domain/tenant-prefix';
import { unitName } from '../domain/ids';
import { RoutingInputError } from './errors';

import type { TenantSelector } from '../domain/selectors';

export type { TenantSelector };

/** What a start carries that can name its tenant. */
export interface TenantSource {
  workflowId: string;
  tenant?: string;
  typedSearchAttributes?: SearchAttributePair[] | TypedSearchAttributes;
  /** @deprecated in the SDK, still honoured. */
  searchAttributes?: SearchAttributes;
}

/**
 * Resolves the unit of a start from the selector and the known tenant IDs. A workflow-ID prefix
 * selector needs the tenant list: a tenant ID may contain the prefix's separator (`t-red` under
 * `"{tenant}-"`), so the tenant is the listed one with the longest prefix the ID starts with.
 */
export class UnitResolver {
  private readonly namespaceUnit: string;
  private readonly tenants: ReadonlySet<string> | undefined;
  private readonly prefixes: TenantPrefixIndex | undefined;
  private readonly attribute: string | undefined;

  constructor(
    readonly namespace: string,
    selector: TenantSelector | undefined,
    tenants: readonly string[] | undefined,
  ) {
    this.namespaceUnit = unitName({ kind: 'namespace', namespace });
    this.tenants = tenants && tenants.length > 0 ? new Set(tenants) : undefined;
    if (selector && 'workflowIdPrefix' in selector) {
      const p = selector.workflowIdPrefix;
      if (typeof p !== 'string' || !p.includes(TENANT_PLACEHOLDER)) {
        throw new RoutingInputError('tenantSelector.workflowIdPrefix', 'must contain "{tenant}", e.g. "{tenant}-"');
      }
      if (!this.tenants) {
        throw new RoutingInputError(
          'tenants',
          "list the tenant IDs (the plan's namespaces.<ns>.tenants.ids): a workflow ID is matched against the listed tenants' prefixes",
        );
      }
      this.prefixes = new TenantPrefixIndex(p, [...this.tenants]);
    } else if (selector && 'searchAttribute' in selector) {
      if (typeof selector.searchAttribute !== 'string' || selector.searchAttribute === '') {
        throw new RoutingInputError('tenantSelector.searchAttribute', 'name a Keyword search attribute, e.g. TenantId');
      }
      this.attribute = selector.searchAttribute;
    }
  }

  /** The tenant of a start, or undefined for the namespace route. */
  tenantOf(src: TenantSource): string | undefined {
    if (src.tenant !== undefined) {
      if (typeof src.tenant !== 'string' || src.tenant === '' || src.tenant.includes('/')) {
        throw new RoutingInputError('tenant', 'must be a non-empty tenant ID without "/" (one of the plan\'s tenants.ids)');
      }
      return src.tenant;
    }
    // Only listed tenants have a prefix in the index: anything else is routed with its namespace.
    if (this.prefixes) return typeof src.workflowId === 'string' ? this.prefixes.tenantOf(src.workflowId) : undefined;
    let t: string | undefined;
    if (this.attribute !== undefined) t = this.fromAttributes(src);
    if (t === undefined || t === '') return undefined;
    // A tenant outside the plan's list is routed with its namespace.
    if (this.tenants && !this.tenants.has(t)) return undefined;
    return t;
  }

  /** The unit name of a start. */
  /** True when tenants are selected by a search attribute: then a unit is not a function of the workflow ID. */
  get byAttribute(): boolean {
    return this.attribute !== undefined;
  }

  unitOf(src: TenantSource): string {
    const tenant = this.tenantOf(src);
    return tenant === undefined ? this.namespaceUnit : unitName({ kind: 'tenant', namespace: this.namespace, tenant });
  }

  /** Every unit known up front: the namespace and each listed tenant. */
  knownUnits(): string[] {
    const units = [this.namespaceUnit];
    for (const t of this.tenants ?? []) units.push(unitName({ kind: 'tenant', namespace: this.namespace, tenant: t }));
    return units;
  }

  private fromAttributes(src: TenantSource): string | undefined {
    const name = this.attribute as string;
    const typed = src.typedSearchAttributes;
    if (typed) {
      const pairs = typed instanceof TypedSearchAttributes ? typed.getAll() : typed;
      for (const pair of pairs) {
        if (pair.key.name === name) return typeof pair.value === 'string' ? pair.value : undefined;
      }
    }
    const legacy = src.searchAttributes?.[name];
    if (Array.isArray(legacy) && typeof legacy[0] === 'string') return legacy[0];
    return undefined;
  }
}
