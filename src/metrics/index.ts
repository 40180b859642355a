/**
 * The cutover worker's own Prometheus metrics, exported through the SDK runtime's `metricMeter` so
 * they appear on the same endpoint as the SDK's (`cutover worker --metrics host:port`). A collector
 * reads the plan's units every interval — `describe` and the `status` query of each entity
 * workflow — and sets: units per phase, gate results, route changes, drain remaining, rate and
 * forecast, approvals pending; given the plan's name, also the campaign's progress and ETAs (from its
 * `status` query). Reading status (rather than instrumenting the workflows) keeps the workflow sandbox
 * free of side effects and gives the same numbers after a worker restart.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { MetricCounter, MetricGauge, MetricMeter } from '@temporalio/common';
import { PHASES } from '../domain/constants';
import type { Eta } from '../campaign/progress';
import type { CampaignStatus } from '../campaign/types';
import { campaignWorkflowId, parseUnitName, unitWorkflowId } from '../domain/ids';
import type { UnitStatus } from '../domain/migration';
import * as campaignMessages from '../workflows/campaign.messages';
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
  drainRate: 'cutover_drain_rate_per_minute',
  sourceOpen: 'cutover_source_open',
  campaignUnitsDone: 'cutover_campaign_units_done',
  campaignUnitsRemaining: 'cutover_campaign_units_remaining',
  campaignUnitsFailed: 'cutover_campaign_units_failed',
  campaignRingEta: 'cutover_campaign_ring_eta_seconds',
  campaignRingEtaKnown: 'cutover_campaign_ring_eta_known',
  campaignEta: 'cutover_campaign_eta_seconds',
  campaignEtaKnown: 'cutover_campaign_eta_known',
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
  drainRate: MetricGauge;
  sourceOpen: MetricGauge;
  campaignUnitsDone: MetricGauge;
  campaignUnitsRemaining: MetricGauge;
  campaignUnitsFailed: MetricGauge;
  campaignRingEta: MetricGauge;
  campaignRingEtaKnown: MetricGauge;
  campaignEta: MetricGauge;
  campaignEtaKnown: MetricGauge;
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
    drainRate: meter.createGauge(
      METRIC.drainRate,
      'float',
      '',
      'Open runs drained per minute over the last ten samples of the drain (0 while the count is not falling)',
    ),
    sourceOpen: meter.createGauge(METRIC.sourceOpen, 'int', '', "Open runs of the unit on the source at the unit's last count"),
    campaignUnitsDone: meter.createGauge(METRIC.campaignUnitsDone, 'int', '', 'Units of each ring of the campaign that are done'),
    campaignUnitsRemaining: meter.createGauge(
      METRIC.campaignUnitsRemaining,
      'int',
      '',
      'Units of each ring of the campaign not done yet (failed and rolled back included)',
    ),
    campaignUnitsFailed: meter.createGauge(METRIC.campaignUnitsFailed, 'int', '', 'Units of each ring of the campaign that failed'),
    campaignRingEta: meter.createGauge(
      METRIC.campaignRingEta,
      'float',
      's',
      'Seconds until each ring is forecast to be done, from measured step durations (0 when cutover_campaign_ring_eta_known is 0)',
    ),
    campaignRingEtaKnown: meter.createGauge(METRIC.campaignRingEtaKnown, 'int', '', "1 while the ring's ETA is known, 0 otherwise"),
    campaignEta: meter.createGauge(
      METRIC.campaignEta,
      'float',
      's',
      'Seconds until the campaign is forecast to be done (0 when cutover_campaign_eta_known is 0)',
    ),
    campaignEtaKnown: meter.createGauge(METRIC.campaignEtaKnown, 'int', '', "1 while the campaign's ETA is known, 0 otherwise"),
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
    // Gauges refuse negative values: a growing count reads 0 here (status shows the sign).
    m.drainRate.set(Math.max(0, s.drain?.ratePerMin ?? 0), { unit });
    m.sourceOpen.set(s.counts.sourceOpen, { unit });
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

/**
 * Applies the campaign's progress to the instruments (per ring: units done, remaining, failed, ETA; the
 * campaign's ETA). A status without progress (a worker older than it) sets nothing.
 */
export function recordCampaign(m: CutoverInstruments, campaign: string, status: CampaignStatus | undefined, nowMs: number): void {
  const p = status?.progress;
  if (!p) return;
  const seconds = (eta: Eta) => (eta.known ? Math.max(0, (Date.parse(eta.at) - nowMs) / 1000) : 0);
  for (const r of p.rings) {
    const tags = { campaign, ring: r.name };
    m.campaignUnitsDone.set(r.done, tags);
    m.campaignUnitsRemaining.set(r.remaining, tags);
    m.campaignUnitsFailed.set(r.failed, tags);
    m.campaignRingEta.set(seconds(r.eta), tags);
    m.campaignRingEtaKnown.set(r.eta.known ? 1 : 0, tags);
  }
  m.campaignEta.set(seconds(p.eta), { campaign });
  m.campaignEtaKnown.set(p.eta.known ? 1 : 0, { campaign });
}

/** Options of `startCutoverMetrics`. */
export interface CutoverMetricsOptions {
  /** A client on the control namespace. */
  client: Client;
  /** The plan's unit names (`namespace/<ns>`, `tenant/<ns>/<tenant>`). */
  units: string[];
  /** The plan's name: its campaign's progress is read too (absent: units only). */
  campaign?: string;
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

/** A closed campaign's last status, by run: it cannot change, and each query of a closed run costs a replay. */
type ClosedCampaigns = Map<string, CampaignStatus>;

/** Reads the campaign's status; undefined when it was never started or did not answer (nothing to show). */
async function observeCampaign(
  client: Client,
  name: string,
  timeoutMs: number,
  closed: ClosedCampaigns,
): Promise<CampaignStatus | undefined> {
  const handle = client.workflow.getHandle(campaignWorkflowId(name));
  try {
    const d = await handle.describe();
    const running = d.status.name === 'RUNNING';
    const kept = running ? undefined : closed.get(d.runId);
    if (kept) return kept;
    const status = await client.withDeadline(Date.now() + timeoutMs, () => handle.query(campaignMessages.status));
    closed.clear();
    if (!running) closed.set(d.runId, status);
    return status;
  } catch {
    return undefined;
  }
}

/** Starts collecting every interval; the first collection runs at once. */
export function startCutoverMetrics(opts: CutoverMetricsOptions): CutoverMetrics {
  const instruments = createCutoverInstruments(opts.meter);
  const memory: CollectorMemory = { gatesSeen: {}, epochSeen: {}, rejectedSeen: {} };
  const closedCampaigns: ClosedCampaigns = new Map();
  const interval = opts.intervalMs ?? 5_000;
  let stopped = false;
  let inFlight: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;

  const collect = async (): Promise<void> => {
    const timeout = opts.queryTimeoutMs ?? 3_000;
    const [observations, campaign] = await Promise.all([
      Promise.all(opts.units.map((u) => observe(opts.client, u, timeout))),
      opts.campaign !== undefined ? observeCampaign(opts.client, opts.campaign, timeout, closedCampaigns) : undefined,
    ]);
    const now = Date.now();
    recordObservations(instruments, memory, observations, now);
    if (opts.campaign !== undefined) recordCampaign(instruments, opts.campaign, campaign, now);
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
