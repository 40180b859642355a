/** Questions about a validated plan that several modules ask. */
import { parseUnitName, type UnitRef } from '../domain/ids';
import type { GateConfig, GateKind, NamespaceConfig, Plan, RingConfig } from './types';

/** Every unit the plan moves, in ring order. */
export function planUnits(plan: Plan): UnitRef[] {
  return plan.rings.flatMap((ring) => ring.units.map((name) => parseUnitName(name) as UnitRef));
}

const ringIndex = new WeakMap<Plan, Map<string, RingConfig>>();

/** The ring that lists a unit name, if any (indexed once per plan: a campaign asks for each of 10,000 units). */
export function ringOfUnit(plan: Plan, unit: string): RingConfig | undefined {
  let index = ringIndex.get(plan);
  if (!index) {
    index = new Map();
    for (const ring of plan.rings) for (const u of ring.units) if (!index.has(u)) index.set(u, ring);
    ringIndex.set(plan, index);
  }
  return index.get(unit);
}

/** The namespace configuration a unit belongs to. */
export function namespaceOfUnit(plan: Plan, unit: UnitRef): NamespaceConfig | undefined {
  return Object.prototype.hasOwnProperty.call(plan.namespaces, unit.namespace) ? plan.namespaces[unit.namespace] : undefined;
}

/** Which provider a gate uses. */
export function gateKind(gate: GateConfig): GateKind {
  if (gate.prometheus) return 'prometheus';
  if (gate.temporal) return 'temporal';
  if (gate.synthetic) return 'synthetic';
  if (gate.compare) return 'compare';
  if (gate.scheduleToStart) return 'scheduleToStart';
  return 'reconcile';
}
