/**
 * What an operator names on the command line: a campaign (the plan's name), `namespace/<ns>` or
 * `tenant/<ns>/<tenant>` — resolved against the plan to a workflow ID on the control cluster.
 */
import type { Plan } from '../config/types';
import { ringOfUnit } from '../config/units';
import { campaignWorkflowId, parseUnitName, unitName, unitWorkflowId, type UnitRef } from '../domain/ids';
import { CockpitInputError } from './errors';

/** A resolved command-line target. */
export type CockpitTarget =
  { kind: 'campaign'; name: string; workflowId: string } | { kind: 'unit'; name: string; ref: UnitRef; ring: string; workflowId: string };

/** Every unit name of the plan, in ring order. */
export function planUnitNames(plan: Plan): string[] {
  return plan.rings.flatMap((r) => r.units);
}

/** Resolves `<unit>`; throws `CockpitInputError` naming the plan's units when it is not one of them. */
export function resolveTarget(plan: Plan, arg: string): CockpitTarget {
  const text = arg.trim();
  if (text === plan.name) return { kind: 'campaign', name: plan.name, workflowId: campaignWorkflowId(plan.name) };
  const ref = parseUnitName(text);
  const known = planUnitNames(plan);
  const choices = `one of: ${plan.name} (the campaign), ${known.join(', ')}`;
  if (!ref) {
    throw new CockpitInputError('<unit>', `"${arg}" is not a campaign name, namespace/<ns> or tenant/<ns>/<tenant>`, `name ${choices}`);
  }
  const name = unitName(ref);
  const ring = ringOfUnit(plan, name);
  if (!ring) throw new CockpitInputError('<unit>', `"${name}" is not a unit of plan "${plan.name}"`, `name ${choices}`);
  return { kind: 'unit', name, ref, ring: ring.name, workflowId: unitWorkflowId(ref) };
}
