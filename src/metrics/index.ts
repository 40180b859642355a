/**
 * The cutover worker's own Prometheus metrics, exported through the SDK runtime's `metricMeter` so
 * they appear on the same endpoint as the SDK's (`cutover worker --metrics host:port`). A collector
 * reads the plan's units every interval — `describe` and the `status` query of each entity
 * workflow — and sets: units per phase, gate results, route changes, drain remaining, approvals
 * pending. Reading status (rather than instrumenting the workflows) keeps the workflow sandbox free
 * of side effects and gives the same numbers after a worker restart.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { MetricCounter, MetricGauge, MetricMeter } from '@temporalio/common';
import { PHASES } from '../domain/constants';
import { parseUnitName, unitWorkflowId } from '../domain/ids';
import type { UnitStatus } from '../domain/migration';
import * as messages from '../workflows/unit-migration.messages';

/** Metric names (the dashboard and alert rules use these; a test checks they stay in step). */
export const METRIC = {
  units: 'cutover_units',
  unitPhase: 'cutover_unit_phase',
  unitPaused: 'cutover_unit_paused',
  gateResults: 'cutover_gate_results_total',
  gateValue: 'cutover_gate_value',
  routeChanges: 'cutover_route_changes_total',
  routeEpoch: 'cutover_route_epoch',
  routeTargetPercent: 'cutover_route_target_percent',
  drainRemaining: 'cutover_drain_remaining',
  drainForecast: 'cutover_drain_forecast_seconds',
  drainForecastKnown: 'cutover_drain_forecast_known',
  approvalsPending: 'cutover_approvals_pending',
  commandsRejected: 'cutover_commands_rejected_total',
  duplicates: 'cutover_duplicates',
  stranded: 'cutover_stranded',
  collectErrors: 'cutover_metrics_collect_errors_total',
  lastCollect: 'cutover_metrics_last_collect_timestamp_seconds',
} as const;

/** The instruments, created once on a meter. */
export interface CutoverInstruments {
  units: MetricGauge;
  unitPhase: MetricGauge;
  unitPaused: MetricGauge;
  gateResults: MetricCounter;
  gateValue: MetricGauge;
  routeChanges: MetricCounter;
  routeEpoch: MetricGauge;
  routeTargetPercent: MetricGauge;
  drainRemaining: MetricGauge;
  drainForecast: MetricGauge;
  drainForecastKnown: MetricGauge;
  approvalsPending: MetricGauge;
  commandsRejected: MetricCounter;
  duplicates: MetricGauge;
  stranded: MetricGauge;
  collectErrors: MetricCounter;
  lastCollect: MetricGauge;
}

/** Creates the instruments on `meter` (the SDK runtime's, or any `MetricMeter`). */
export function createCutoverInstruments(meter: MetricMeter): CutoverInstruments {
  return {
    units: meter.createGauge(METRIC.units, 'int', '', 'Units of the plan in each phase (not-started included)'),
    unitPhase: meter.createGauge(METRIC.unitPhase, 'int', '', '1 for the phase each unit is in, 0 for the others'),
    unitPaused: meter.createGauge(METRIC.unitPaused, 'int', '', '1 while the unit is paused'),
    gateResults: meter.createCounter(METRIC.gateResults, '', 'Gate measurements recorded by the units, by gate and result'),
    gateValue: meter.createGauge(METRIC.gateValue, 'float', '', 'Value of the last measurement of each gate of each unit'),
    routeChanges: meter.createCounter(METRIC.routeChanges, '', 'Routing record changes (epoch increments) seen per unit'),
    routeEpoch: meter.createGauge(METRIC.routeEpoch, 'int', '', "Epoch of the unit's routing record"),
    routeTargetPercent: meter.createGauge(METRIC.routeTargetPercent, 'float', '', 'Share of new starts routed to the target, in percent'),
    drainRemaining: meter.createGauge(METRIC.drainRemaining, 'int', '', 'Open runs left on the side being drained'),
    drainForecast: meter.createGauge(
      METRIC.drainForecast,
      'float',
      's',
      'Seconds until the drain is forecast to finish (0 when cutover_drain_forecast_known is 0)',
    ),
    // The SDK's gauges refuse negative values, so "no forecast" (no drain, or a count not falling) is its own gauge.
    drainForecastKnown: meter.createGauge(METRIC.drainForecastKnown, 'int', '', '1 while a drain forecast exists, 0 otherwise'),
    approvalsPending: meter.createGauge(METRIC.approvalsPending, 'int', '', '1 while the unit waits for a human approval'),
    commandsRejected: meter.createCounter(METRIC.commandsRejected, '', 'Operator commands the units refused'),
    duplicates: meter.createGauge(METRIC.duplicates, 'int', '', "Duplicate workflow IDs in the unit's last reconcile"),
    stranded: meter.createGauge(METRIC.stranded, 'int', '', "Stranded runs in the unit's last reconcile"),
    collectErrors: meter.createCounter(METRIC.collectErrors, '', 'Units whose status could not be read'),
    lastCollect: meter.createGauge(METRIC.lastCollect, 'float', 's', 'Unix time of the last completed collection'),
  };
}

/** What the collector remembers between rounds, to turn totals into counter increments. */
export interface CollectorMemory {
  gatesSeen: Record<string, number>;
  epochSeen: Record<string, number>;
  rejectedSeen: Record<string, number>;
}

/** One unit as observed this round: its status (running or closed workflow), or why it has none. */
export type UnitObservation = { unit: string; status: UnitStatus } | { unit: string; status?: undefined; notStarted: boolean };

/** The phase label of a unit that has no status. */
export const NOT_STARTED = 'not-started';

/** Applies one round of observations to the instruments. Pure apart from the instruments. */
export function recordObservations(m: CutoverInstruments, memory: CollectorMemory, observations: UnitObservation[], nowMs: number): void {
  const perPhase: Record<string, number> = Object.fromEntries([...PHASES, NOT_STARTED].map((p) => [p, 0]));
  for (const o of observations) {
    const unit = o.unit;
    if (!o.status) {
      if (o.notStarted) perPhase[NOT_STARTED]!++;
      else m.collectErrors.add(1, { unit });
      continue;
    }
    const s = o.status;
    perPhase[s.phase] = (perPhase[s.phase] ?? 0) + 1;
    for (const p of PHASES) m.unitPhase.set(p === s.phase ? 1 : 0, { unit, phase: p });
    m.unitPaused.set(s.paused ? 1 : 0, { unit });
    // Gates: count the entries recorded since the last round.
    const seen = memory.gatesSeen[unit] ?? 0;
    const fresh = s.gates.length >= seen ? s.gates.slice(seen) : s.gates; // fewer than before: a new run
    for (const g of fresh) m.gateResults.add(1, { unit, gate: g.name, result: g.result });
    memory.gatesSeen[unit] = s.gates.length;
    const lastByGate = new Map<string, number>();
    for (const g of s.gates) if (g.value !== undefined) lastByGate.set(g.name, g.value);
    for (const [gate, value] of lastByGate) m.gateValue.set(value, { unit, gate });
    // Route: every epoch increment is one change of the routing record.
    const epoch = s.route.epoch;
    const before = memory.epochSeen[unit];
    if (epoch > (before ?? 0)) m.routeChanges.add(epoch - (before ?? 0), { unit });
    memory.epochSeen[unit] = epoch;
    m.routeEpoch.set(epoch, { unit });
    m.routeTargetPercent.set(s.route.percent ?? (s.route.side === 'target' ? 100 : 0), { unit });
    // Drain.
    m.drainRemaining.set(s.drain?.lastOpen ?? 0, { unit });
    const forecastAt = s.drain?.forecastAt ? Date.parse(s.drain.forecastAt) : undefined;
    m.drainForecast.set(forecastAt !== undefined ? Math.max(0, (forecastAt - nowMs) / 1000) : 0, { unit });
    m.drainForecastKnown.set(forecastAt !== undefined ? 1 : 0, { unit });
    m.approvalsPending.set(s.approval && !s.approval.approvedBy ? 1 : 0, { unit });
    // Refusals written in all: `rejected` keeps the newest, `truncated.rejected` counts the rest.
    const rejectedNow = s.rejected.length + (s.truncated?.rejected ?? 0);
    const rejectedBefore = memory.rejectedSeen[unit] ?? 0;
    if (rejectedNow > rejectedBefore) m.commandsRejected.add(rejectedNow - rejectedBefore, { unit });
    memory.rejectedSeen[unit] = rejectedNow;
    m.duplicates.set(s.counts.duplicates, { unit });
    m.stranded.set(s.counts.stranded, { unit });
  }
  for (const [phase, n] of Object.entries(perPhase)) m.units.set(n, { phase });
  m.lastCollect.set(nowMs / 1000);
}

/** Options of `startCutoverMetrics`. */
export interface CutoverMetricsOptions {
  /** A client on the control namespace. */
  client: Client;
  /** The plan's unit names (`namespace/<ns>`, `tenant/<ns>/<tenant>`). */
  units: string[];
  meter: MetricMeter;
  /** How often to collect (default 5 s). */
  intervalMs?: number;
  /** Per status query (default 3 s). */
  queryTimeoutMs?: number;
  onError?: (err: unknown) => void;
}

/** A running collector. */
export interface CutoverMetrics {
  /** Collects once now (also what the timer does). */
  collect(): Promise<void>;
  stop(): Promise<void>;
}

/** Reads one unit: its status (running or closed), not started, or undefined when it did not answer. */
async function observe(client: Client, unit: string, timeoutMs: number): Promise<UnitObservation> {
  const handle = client.workflow.getHandle(unitWorkflowId(parseUnitName(unit)!));
  try {
    await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { unit, notStarted: true };
    return { unit, notStarted: false };
  }
  try {
    return { unit, status: await client.withDeadline(Date.now() + timeoutMs, () => handle.query(messages.status)) };
  } catch {
    return { unit, notStarted: false };
  }
}

/** Starts collecting every interval; the first collection runs at once. */
export function startCutoverMetrics(opts: CutoverMetricsOptions): CutoverMetrics {
  const instruments = createCutoverInstruments(opts.meter);
  const memory: CollectorMemory = { gatesSeen: {}, epochSeen: {}, rejectedSeen: {} };
  const interval = opts.intervalMs ?? 5_000;
  let stopped = false;
  let inFlight: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;

  const collect = async (): Promise<void> => {
    const observations = await Promise.all(opts.units.map((u) => observe(opts.client, u, opts.queryTimeoutMs ?? 3_000)));
    recordObservations(instruments, memory, observations, Date.now());
  };
  const tick = () => {
    inFlight = collect()
      .catch((err) => opts.onError?.(err))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, interval);
      });
  };
  tick();
  return {
    collect,
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await inFlight;
    },
  };
}
