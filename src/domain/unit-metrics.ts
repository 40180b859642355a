/**
 * What an entity publishes for the metrics collector in its memo (`cutoverMetrics`), beside the view the
 * campaign reads (`cutoverView`): every figure the cutover_* metrics need, so the collector builds them from
 * one visibility listing instead of a `status` query per unit (a query makes a worker load the run).
 * Kept apart from `cutoverView` because the campaign copies that view of every unit into its own state and
 * history on every poll. Pure, no imports beyond types: safe in the workflow sandbox.
 */
import type { GateMeasurement, Phase, UnitStatus } from './migration';

/**
 * Gates a memo keeps, the most recently measured staying longest (a unit has a handful: preflight, probe, a bake
 * per canary step, reconcile).
 */
export const UNIT_METRICS_GATES = 16;
/** A gate's name as the memo keeps it (names come from the plan and the steps, never from signals; clipped anyway). */
export const UNIT_METRICS_GATE_NAME_MAX = 64;
/**
 * The most a metrics memo weighs as JSON: 16 gates of a 64-character name, four result counts and a value
 * each, plus the fixed fields. Checked by test/unit/unit-metrics.test.ts.
 */
export const UNIT_METRICS_MAX_BYTES = 4096;

/** The memo's shape version: a collector falls back to the `status` query for a shape it does not know. */
export const UNIT_METRICS_VERSION = 1;

/** One gate's measurements so far: how many of each result, and the value of the last one that had one. */
export interface GateTally {
  name: string;
  n: Partial<Record<GateMeasurement['result'], number>>;
  value?: number;
}

/** The metrics memo (docs/design.md, "Status query and memo"). */
export interface UnitMetrics {
  v: typeof UNIT_METRICS_VERSION;
  phase: Phase;
  paused: boolean;
  /** Epoch of the unit's routing record. */
  epoch: number;
  /** Share of new starts routed to the target, in percent (100 for a route all on the target, 0 held or on the source). */
  targetPercent: number;
  gates: GateTally[];
  /**
   * While a drain is (or was last) under way: open runs at the last sample, runs drained per minute over the
   * recent samples (negative while the count grows), and when the count is forecast to reach 0 (ms).
   */
  drain?: { open?: number; ratePerMin?: number; forecastAt?: number };
  /** Open runs of the unit on the source at the last count. */
  sourceOpen?: number;
  approvalPending: boolean;
  /** Commands refused in all (those `status.rejected` keeps and those the bound dropped). */
  rejected: number;
  duplicates: number;
  stranded: number;
}

const RESULTS: readonly GateMeasurement['result'][] = ['successful', 'failed', 'inconclusive', 'error'];

/** The metrics memo of a unit, from its status (the workflow publishes it; the collector's fallback computes it from a query). */
export function unitMetricsOf(s: UnitStatus): UnitMetrics {
  const tallies = new Map<string, GateTally>();
  for (const g of s.gates) {
    const name = g.name.length > UNIT_METRICS_GATE_NAME_MAX ? g.name.slice(0, UNIT_METRICS_GATE_NAME_MAX) : g.name;
    const t = tallies.get(name) ?? { name, n: {} };
    // Re-inserted: the map's order is then by last measurement, and the oldest measured go first below.
    tallies.delete(name);
    tallies.set(name, t);
    t.n[g.result] = (t.n[g.result] ?? 0) + 1;
    if (g.value !== undefined && Number.isFinite(g.value)) t.value = g.value;
  }
  const gates = [...tallies.values()].slice(-UNIT_METRICS_GATES);
  const forecastAt = s.drain?.forecastAt !== undefined ? Date.parse(s.drain.forecastAt) : undefined;
  return {
    v: UNIT_METRICS_VERSION,
    phase: s.phase,
    paused: s.paused,
    epoch: s.route.epoch,
    targetPercent: s.route.percent ?? (s.route.side === 'target' ? 100 : 0),
    gates,
    ...(s.drain
      ? {
          drain: {
            ...(s.drain.lastOpen !== undefined ? { open: s.drain.lastOpen } : {}),
            ...(s.drain.ratePerMin !== undefined && Number.isFinite(s.drain.ratePerMin) ? { ratePerMin: s.drain.ratePerMin } : {}),
            ...(forecastAt !== undefined && Number.isFinite(forecastAt) ? { forecastAt } : {}),
          },
        }
      : {}),
    ...(Number.isFinite(s.counts.sourceOpen) ? { sourceOpen: s.counts.sourceOpen } : {}),
    approvalPending: !!s.approval && !s.approval.approvedBy,
    rejected: s.rejected.length + (s.truncated?.rejected ?? 0),
    duplicates: s.counts.duplicates,
    stranded: s.counts.stranded,
  };
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/**
 * A memo value read back as a metrics memo, or undefined when it is none (absent: a run begun before the memo
 * existed, or one that has not run its first task; another version; malformed).
 */
export function parseUnitMetrics(v: unknown): UnitMetrics | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (o.v !== UNIT_METRICS_VERSION || typeof o.phase !== 'string' || typeof o.paused !== 'boolean') return undefined;
  if (![o.epoch, o.targetPercent, o.rejected, o.duplicates, o.stranded].every(isCount)) return undefined;
  if (typeof o.approvalPending !== 'boolean' || !Array.isArray(o.gates)) return undefined;
  for (const g of o.gates as unknown[]) {
    if (typeof g !== 'object' || g === null) return undefined;
    const t = g as Record<string, unknown>;
    if (typeof t.name !== 'string' || typeof t.n !== 'object' || t.n === null) return undefined;
    if (!Object.entries(t.n).every(([k, n]) => RESULTS.includes(k as GateMeasurement['result']) && isCount(n))) return undefined;
    if (t.value !== undefined && typeof t.value !== 'number') return undefined;
  }
  if (o.sourceOpen !== undefined && !isCount(o.sourceOpen)) return undefined;
  if (o.drain !== undefined) {
    if (typeof o.drain !== 'object' || o.drain === null) return undefined;
    const d = o.drain as Record<string, unknown>;
    if ((d.open !== undefined && !isCount(d.open)) || (d.forecastAt !== undefined && !isCount(d.forecastAt))) return undefined;
    if (d.ratePerMin !== undefined && !(typeof d.ratePerMin === 'number' && Number.isFinite(d.ratePerMin))) return undefined;
  }
  return v as UnitMetrics;
}
