/**
 * The campaign's units, compactly. A campaign input that carried every unit's entity input whole
 * (~800 bytes each) could not start at 3,000 units: the server's default payload limit is 2 MiB and
 * a request may be 4 MiB. Units of one ring and one namespace have the same entity input except
 * for the unit itself and its tenant filter, so the input carries each group's fields once, the
 * fields every group shares once more, and the tenant selector; a unit's entity input is rebuilt
 * from its name and ring when it is needed. Pure (no Temporal, no config, no clock): the campaign
 * workflow and its activities both call it.
 */
import { expandTenantPrefix } from '../domain/tenant-prefix';
import type { TenantSelector } from '../config/types';
import { NAMESPACE_MIGRATION_WORKFLOW_TYPE, TENANT_MIGRATION_WORKFLOW_TYPE } from '../domain/constants';
import { parseUnitName, unitWorkflowId, type UnitRef } from '../domain/ids';
import type { TenantFilter, UnitMigrationInput } from '../domain/migration';
import type { CampaignUnit } from './types';

/** The entity input without the unit's own fields. */
export type SharedEntityFields = Omit<UnitMigrationInput, 'unit' | 'tenant'>;

/** The entity inputs of a campaign's units, factored (see the file comment). */
export interface CampaignEntities {
  /** Fields with the same value in every group. */
  common: Partial<SharedEntityFields>;
  /** Keyed by `groupKey`: the rest of the fields of that group's units, and how a tenant's filter is built. */
  groups: Record<string, { fields: Partial<SharedEntityFields>; tenantSelector?: TenantSelector }>;
  /** Entity workflow IDs that differ from the contract's `cutover/<unit>` (tests sharing a namespace). */
  workflowIds?: Record<string, string>;
}

/** The group of a unit: its ring, its kind and its namespace. */
export function groupKey(ring: string, ref: UnitRef): string {
  return `${ring}|${ref.kind}|${ref.namespace}`;
}

/**
 * A tenant's filter from its namespace's selector (`{tenant}` in a prefix is the tenant ID). The
 * prefix is what the visibility queries (drain, reconcile, gates) and the schedules select by.
 */
export function tenantFilterOf(selector: TenantSelector, tenant: string): TenantFilter {
  return 'searchAttribute' in selector
    ? { searchAttribute: selector.searchAttribute, value: tenant }
    : { workflowIdPrefix: expandTenantPrefix(selector.workflowIdPrefix, tenant) };
}

/**
 * A unit's entity workflow ID (an override, else the contract's `cutover/<unit>`), without rebuilding
 * its input. The name must parse (`unitProblem`).
 */
export function unitWorkflowIdOf(entities: CampaignEntities, name: string): string {
  return entities.workflowIds?.[name] ?? unitWorkflowId(parseUnitName(name)!);
}

/** Why a unit of a ring cannot be rebuilt from `entities` (undefined when it can). */
export function unitProblem(entities: CampaignEntities, ring: string, name: string): string | undefined {
  const ref = parseUnitName(name);
  if (!ref) return `units: "${name}" is not a unit name (namespace/<ns> or tenant/<ns>/<tenant>)`;
  const g = entities.groups[groupKey(ring, ref)];
  if (!g) return `entities.groups["${groupKey(ring, ref)}"]: missing for unit ${name}; build the input with buildCampaignInput(plan)`;
  if (ref.kind === 'tenant' && !g.tenantSelector)
    return `entities.groups["${groupKey(ring, ref)}"].tenantSelector: missing for tenant unit ${name}`;
  return undefined;
}

/** A unit of a ring, whole: its entity workflow's ID, type and input, and its visibility scope. Throws when `unitProblem` would say why. */
export function campaignUnit(entities: CampaignEntities, ring: string, name: string): CampaignUnit {
  const problem = unitProblem(entities, ring, name);
  if (problem) throw new Error(problem);
  const ref = parseUnitName(name)!;
  const g = entities.groups[groupKey(ring, ref)]!;
  const tenant = ref.kind === 'tenant' ? tenantFilterOf(g.tenantSelector!, ref.tenant) : undefined;
  const input = { unit: ref, ...entities.common, ...g.fields, ...(tenant ? { tenant } : {}) } as UnitMigrationInput;
  return {
    unit: name,
    workflowId: unitWorkflowIdOf(entities, name),
    workflowType: ref.kind === 'namespace' ? NAMESPACE_MIGRATION_WORKFLOW_TYPE : TENANT_MIGRATION_WORKFLOW_TYPE,
    input,
    scope: {
      sourceNamespace: input.sourceNamespace,
      targetNamespace: input.targetNamespace,
      taskQueues: input.taskQueues,
      ...(tenant ? { tenant } : {}),
    },
  };
}

/** Every unit of the campaign's rings, whole, in ring order. */
export function campaignUnits(input: {
  plan: { rings: readonly { name: string; units: readonly string[] }[] };
  entities: CampaignEntities;
}): CampaignUnit[] {
  return input.plan.rings.flatMap((r) => r.units.map((u) => campaignUnit(input.entities, r.name, u)));
}

/** The part of `entities` that the given units need (what a `startUnits` activity is handed). */
export function pickEntities(entities: CampaignEntities, units: readonly { unit: string; ring: string }[]): CampaignEntities {
  const groups: CampaignEntities['groups'] = {};
  const workflowIds: Record<string, string> = {};
  for (const { unit, ring } of units) {
    const ref = parseUnitName(unit);
    if (!ref) continue;
    const k = groupKey(ring, ref);
    if (entities.groups[k]) groups[k] = entities.groups[k];
    const id = entities.workflowIds?.[unit];
    if (id !== undefined) workflowIds[unit] = id;
  }
  return { common: entities.common, groups, ...(Object.keys(workflowIds).length > 0 ? { workflowIds } : {}) };
}

/**
 * Factors whole units into `CampaignEntities`. Each unit brings its ring, its entity input and, for
 * a tenant, its namespace's selector. Throws when two units of a group differ in a shared field: the
 * factoring would then change an input, and a campaign must start exactly what the plan says.
 */
export function factorEntities(
  units: readonly { ring: string; name: string; input: UnitMigrationInput; workflowId: string; tenantSelector?: TenantSelector }[],
): CampaignEntities {
  const groups: Record<string, { fields: Record<string, unknown>; json: string; tenantSelector?: TenantSelector }> = {};
  const workflowIds: Record<string, string> = {};
  for (const u of units) {
    const { unit: ref, tenant, ...rest } = u.input;
    const k = groupKey(u.ring, ref);
    const json = JSON.stringify(rest);
    const g = groups[k];
    if (!g) groups[k] = { fields: rest, json, ...(u.tenantSelector ? { tenantSelector: u.tenantSelector } : {}) };
    else if (g.json !== json)
      throw new Error(
        `units of group ${k} differ in their shared entity fields (${u.name}); every unit of a ring and namespace must share them`,
      );
    if (ref.kind === 'tenant') {
      const expected = u.tenantSelector ? JSON.stringify(tenantFilterOf(u.tenantSelector, ref.tenant)) : undefined;
      if (expected === undefined || JSON.stringify(tenant) !== expected)
        throw new Error(`unit ${u.name}: its tenant filter is not its namespace selector's`);
    }
    if (u.workflowId !== unitWorkflowId(ref)) workflowIds[u.name] = u.workflowId;
  }
  const all = Object.values(groups);
  const keys = new Set(all.flatMap((g) => Object.keys(g.fields)));
  const common: Record<string, unknown> = {};
  for (const key of keys) {
    const first = JSON.stringify(all[0]!.fields[key]);
    if (all.every((g) => key in g.fields && JSON.stringify(g.fields[key]) === first)) common[key] = all[0]!.fields[key];
  }
  const out: CampaignEntities['groups'] = {};
  for (const [k, g] of Object.entries(groups)) {
    const fields: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(g.fields)) if (!(key in common)) fields[key] = v;
    out[k] = { fields: fields as Partial<SharedEntityFields>, ...(g.tenantSelector ? { tenantSelector: g.tenantSelector } : {}) };
  }
  return { common: common as Partial<SharedEntityFields>, groups: out, ...(Object.keys(workflowIds).length > 0 ? { workflowIds } : {}) };
}
