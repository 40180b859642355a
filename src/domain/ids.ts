/**
 * The one place workflow IDs and unit names are built and parsed (docs/design.md, "Workflow IDs").
 * Pure: imported by workflows, activities and scripts alike.
 */

/** A unit is routed on its own: a whole namespace, or one tenant inside a namespace. */
export type UnitRef = { kind: 'namespace'; namespace: string } | { kind: 'tenant'; namespace: string; tenant: string };

/** `namespace/<ns>` or `tenant/<ns>/<tenant>`: the name operators type and the plan's rings list. */
export function unitName(unit: UnitRef): string {
  return unit.kind === 'namespace' ? `namespace/${unit.namespace}` : `tenant/${unit.namespace}/${unit.tenant}`;
}

/** Parses a unit name; returns undefined when it is not of either form. */
export function parseUnitName(name: string): UnitRef | undefined {
  const parts = name.split('/');
  if (parts[0] === 'namespace' && parts.length === 2 && parts[1]) return { kind: 'namespace', namespace: parts[1] };
  if (parts[0] === 'tenant' && parts.length === 3 && parts[1] && parts[2]) {
    return { kind: 'tenant', namespace: parts[1], tenant: parts[2] };
  }
  return undefined;
}

/** The entity workflow ID of a unit on the control cluster. */
export function unitWorkflowId(unit: UnitRef): string {
  return `cutover/${unitName(unit)}`;
}

/** The campaign workflow ID of a plan. */
export function campaignWorkflowId(name: string): string {
  return `cutover/campaign/${name}`;
}
