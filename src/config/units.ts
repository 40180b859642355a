/** Questions about a validated plan that several modules ask. */
import { parseUnitName, type UnitRef } from '../workflows/ids';
import type { GateConfig, GateKind, NamespaceConfig, Plan, RingConfig } from './types';

/** Every unit the plan moves, in ring order. */
export function planUnits(plan: Plan): UnitRef[] {
  return plan.rings.flatMap((ring) => ring.units.map((name) => parseUnitName(name) as UnitRef));
}

/** The ring that lists a unit name, if any. */
export function ringOfUnit(plan: Plan, unit: string): RingConfig | undefined {
  return plan.rings.find((ring) => ring.units.includes(unit));
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
  return 'reconcile';
}
