/**
 * The cutover worker's own Prometheus metrics, exported through the SDK runtime's `metricMeter` so
 * they appear on the same endpoint as the SDK's (`cutover worker --metrics host:port`). Every interval a
 * collector lists the entity workflows from visibility (one `ListWorkflowExecutions` per 1,000 runs) and
 * reads each unit's metrics memo (`cutoverMetrics`, src/domain/unit-metrics.ts), which the unit publishes
 * whenever its figures change; it sets units per phase, gate results, route changes, drain remaining,
 * approvals pending; given the plan's name, also the campaign's progress and ETAs (one `status` query of
 * the campaign per interval). Only a run whose memo predates that memo (begun on older code, or not past its first
 * task) is asked its `status` by query, which makes a worker load the run; a closed one is asked once.
 * Reading what the workflows publish (rather than instrumenting them) keeps the workflow sandbox free of
 * side effects and gives the same numbers after a worker restart.
 */
import { Client } from '@temporalio/client';
import { decodeOptionalSinglePayload } from '@temporalio/common/lib/internal-non-workflow';
import { optionalTsToDate } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import type { MetricCounter, MetricGauge, MetricMeter } from '@temporalio/common';
import { NAMESPACE_MIGRATION_WORKFLOW_TYPE, PHASES, TENANT_MIGRATION_WORKFLOW_TYPE, UNIT_METRICS_MEMO } from '../domain/constants';
import { campaignWorkflowId, parseUnitName, unitWorkflowId } from '../domain/ids';
import type { UnitStatus } from '../domain/migration';
import { parseUnitMetrics, unitMetricsOf, type UnitMetrics } from '../domain/unit-metrics';
import type { Eta } from '../campaign/progress';
import type { CampaignStatus } from '../campaign/types';
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
  /** Gate results counted so far, by `unit`, gate and result (keys joined by NUL). */
  gatesSeen: Record<string, number>;
  epochSeen: Record<string, number>;
  rejectedSeen: Record<string, number>;
}

/**
 * One unit as observed this round: its metrics memo, its status (the fallback for runs without the memo, and
 * what tests give), or why it has neither (not started, or it could not be read).
 */
export type UnitObservation =
  | { unit: string; metrics: UnitMetrics; status?: undefined }
  | { unit: string; status: UnitStatus; metrics?: undefined }
  | { unit: string; status?: undefined; metrics?: undefined; notStarted: boolean };

/** The phase label of a unit that has no status. */
export const NOT_STARTED = 'not-started';

/** Applies one round of observations to the instruments. Pure apart from the instruments. */
export function recordObservations(m: CutoverInstruments, memory: CollectorMemory, observations: UnitObservation[], nowMs: number): void {
  const perPhase: Record<string, number> = Object.fromEntries([...PHASES, NOT_STARTED].map((p) => [p, 0]));
  for (const o of observations) {
    const unit = o.unit;
    const s = o.metrics ?? (o.status ? unitMetricsOf(o.status) : undefined);
    if (!s) {
      if ('notStarted' in o && o.notStarted) perPhase[NOT_STARTED]!++;
      else m.collectErrors.add(1, { unit });
      continue;
    }
    perPhase[s.phase] = (perPhase[s.phase] ?? 0) + 1;
    for (const p of PHASES) m.unitPhase.set(p === s.phase ? 1 : 0, { unit, phase: p });
    m.unitPaused.set(s.paused ? 1 : 0, { unit });
    // Gates: count the results recorded since the last round (fewer than before: a new migration of the unit).
    for (const g of s.gates) {
      for (const [result, total] of Object.entries(g.n)) {
        const key = `${unit}\u0000${g.name}\u0000${result}`;
        const before = memory.gatesSeen[key] ?? 0;
        const fresh = total >= before ? total - before : total;
        if (fresh > 0) m.gateResults.add(fresh, { unit, gate: g.name, result });
        memory.gatesSeen[key] = total;
      }
      // The SDK's gauges refuse negative values (one would abort the round): such a value is not shown.
      if (g.value !== undefined && g.value >= 0) m.gateValue.set(g.value, { unit, gate: g.name });
    }
    // Route: every epoch increment is one change of the routing record.
    const before = memory.epochSeen[unit];
    if (s.epoch > (before ?? 0)) m.routeChanges.add(s.epoch - (before ?? 0), { unit });
    memory.epochSeen[unit] = s.epoch;
    m.routeEpoch.set(s.epoch, { unit });
    m.routeTargetPercent.set(s.targetPercent, { unit });
    // Drain.
    m.drainRemaining.set(s.drain?.open ?? 0, { unit });
    const forecastAt = s.drain?.forecastAt;
    m.drainForecast.set(forecastAt !== undefined ? Math.max(0, (forecastAt - nowMs) / 1000) : 0, { unit });
    m.drainForecastKnown.set(forecastAt !== undefined ? 1 : 0, { unit });
    // Gauges refuse negative values: a growing count reads 0 here (status shows the sign).
    m.drainRate.set(Math.max(0, s.drain?.ratePerMin ?? 0), { unit });
    m.sourceOpen.set(s.sourceOpen ?? 0, { unit });
    m.approvalsPending.set(s.approvalPending ? 1 : 0, { unit });
    // Refusals written in all (the memo counts those the status keeps and those its bound dropped).
    const rejectedBefore = memory.rejectedSeen[unit] ?? 0;
    if (s.rejected > rejectedBefore) m.commandsRejected.add(s.rejected - rejectedBefore, { unit });
    memory.rejectedSeen[unit] = s.rejected;
    m.duplicates.set(s.duplicates, { unit });
    m.stranded.set(s.stranded, { unit });
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
  /**
   * The plan's control task queue: the listing is kept to the runs on it, so other plans' and old migrations'
   * runs in the namespace cost nothing (absent: every entity run in the namespace is listed).
   */
  taskQueue?: string;
  meter: MetricMeter;
  /** How often to collect (default 5 s). */
  intervalMs?: number;
  /** Per status query of the fallback, and per page of the listing (default 3 s). */
  queryTimeoutMs?: number;
  onError?: (err: unknown) => void;
}

/** What a collection cost and where its figures came from. */
export interface CollectStats {
  /** RPCs to the control cluster: listing pages plus fallback queries (counted on the wire). */
  rpcs: number;
  /** Runs the listing returned (the plan's units' and any other entity runs in the namespace). */
  listed: number;
  /** Units read from their metrics memo in the listing. */
  fromMemo: number;
  /** Units asked their status by query (no metrics memo on their run). */
  fromQuery: number;
  /** Closed runs without the memo, answered from what their one query returned. */
  fromCache: number;
  /**
   * Units whose run is new (continued as new, or just started) and has not published its memo yet: shown as the
   * last round saw them, without a query.
   */
  fromLast: number;
  notStarted: number;
  /** Units whose figures could not be read. */
  errors: number;
}

/** A collection's counts before it begins. */
function noCounts(): CollectStats {
  return { rpcs: 0, listed: 0, fromMemo: 0, fromQuery: 0, fromCache: 0, fromLast: 0, notStarted: 0, errors: 0 };
}

/** The collector's counts since it started. */
export interface CollectorStats extends CollectStats {
  /** Collections completed. */
  collects: number;
  /** Units of the plan. */
  units: number;
  /** When the first collection began (ms since the epoch). */
  since: number;
  /** The last collection alone. */
  last?: CollectStats;
}

/** A running collector. */
export interface CutoverMetrics {
  /** Collects once now (also what the timer does). */
  collect(): Promise<CollectStats>;
  /** What the collections cost so far (RPCs per unit per minute: `rpcs / units / minutes since`). */
  stats(): CollectorStats;
  stop(): Promise<void>;
}

/** The visibility query of the entity workflows' runs (runs that continued as new are done with: their successor holds the memo). */
export const UNIT_LIST_QUERY =
  `(WorkflowType = '${TENANT_MIGRATION_WORKFLOW_TYPE}' OR WorkflowType = '${NAMESPACE_MIGRATION_WORKFLOW_TYPE}') ` +
  `AND ExecutionStatus != 'ContinuedAsNew'`;
/** Page size of the listing (the server's `frontend.visibilityMaxPageSize` default). */
const LIST_PAGE_SIZE = 1000;
/** Status queries of the fallback in flight at once (each is a workflow task on the cutover worker). */
const QUERY_CONCURRENCY = 16;

/** A client sharing `client`'s connection, converter and namespace whose every RPC calls `count` (the collector's own bill). */
function countingClient(client: Client, count: () => void): Client {
  const conn = client.connection;
  const service = new Proxy(conn.workflowService, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        count();
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  const connection = new Proxy(conn, {
    get(target, prop) {
      if (prop === 'workflowService') return service;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return new Client({
    connection,
    namespace: client.options.namespace,
    dataConverter: client.options.loadedDataConverter,
    interceptors: client.options.interceptors,
    identity: client.options.identity,
  });
}

/** A run as the listing shows it: its memo stays encoded until the run proves to be one of the plan's units. */
interface ListedRun {
  workflowId: string;
  runId: string;
  running: boolean;
  startMs: number;
  metricsMemo?: temporal.api.common.v1.IPayload | null;
}

const RUNNING = temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING;

function listedRun(raw: temporal.api.workflow.v1.IWorkflowExecutionInfo): ListedRun | undefined {
  const workflowId = raw.execution?.workflowId;
  const runId = raw.execution?.runId;
  if (!workflowId || !runId) return undefined;
  return {
    workflowId,
    runId,
    running: raw.status === RUNNING,
    startMs: optionalTsToDate(raw.startTime)?.getTime() ?? 0,
    metricsMemo: raw.memo?.fields?.[UNIT_METRICS_MEMO],
  };
}

/** Of several runs of one workflow ID: the open one, else the newest. */
function newer(a: ListedRun | undefined, b: ListedRun): ListedRun {
  if (!a) return b;
  if (a.running !== b.running) return a.running ? a : b;
  return b.startMs > a.startMs ? b : a;
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
  const timeoutMs = opts.queryTimeoutMs ?? 3_000;
  const listQuery =
    opts.taskQueue === undefined ? UNIT_LIST_QUERY : `${UNIT_LIST_QUERY} AND TaskQueue = '${opts.taskQueue.replace(/'/g, "\\'")}'`;
  let rpcs = 0;
  const client = countingClient(opts.client, () => rpcs++);
  const byWorkflowId = new Map<string, string>();
  for (const u of opts.units) {
    const ref = parseUnitName(u);
    if (ref) byWorkflowId.set(unitWorkflowId(ref), u);
  }
  /** Closed runs without the memo, by run ID: a closed run never changes, so its one query is enough. */
  const closedCache = new Map<string, UnitMetrics>();
  /** What each unit showed last (from any source), for a run too new to have published its memo. */
  const lastSeen = new Map<string, UnitMetrics>();
  /**
   * A run without the memo younger than this is taken to be about to publish it (its first task, or visibility
   * catching up): shown as last seen. Older, it began on code without the memo and is queried.
   */
  const youngMs = Math.max(3 * interval, 30_000);
  const totals: CollectorStats = { collects: 0, units: opts.units.length, since: Date.now(), ...noCounts() };
  let stopped = false;
  let inFlight: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;

  const collectOnce = async (): Promise<CollectStats> => {
    const rpcsBefore = rpcs;
    const stats = noCounts();
    const runs = new Map<string, ListedRun>();
    try {
      // Raw pages, not the SDK's list(): it decodes every run's memo, and one it cannot decode (another plan's
      // codec key, another application's converter) would fail the round for every unit. Only the plan's units'
      // memos are decoded, each on its own, below.
      let nextPageToken: Uint8Array | undefined;
      do {
        const page = await client.withDeadline(Date.now() + timeoutMs, () =>
          client.workflowService.listWorkflowExecutions({
            namespace: client.options.namespace,
            query: listQuery,
            pageSize: LIST_PAGE_SIZE,
            nextPageToken,
          }),
        );
        for (const raw of page.executions ?? []) {
          stats.listed++;
          const run = listedRun(raw);
          if (run && byWorkflowId.has(run.workflowId)) runs.set(run.workflowId, newer(runs.get(run.workflowId), run));
        }
        nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
      } while (nextPageToken);
    } catch (err) {
      // Visibility did not answer: no unit could be read this round. The gauges stay as they were (and so does
      // the last collection's time, which shows the metrics are stale).
      for (const unit of opts.units) instruments.collectErrors.add(1, { unit });
      stats.errors = opts.units.length;
      stats.rpcs = rpcs - rpcsBefore;
      totals.rpcs += stats.rpcs;
      totals.errors += stats.errors;
      throw err;
    }
    const observations: UnitObservation[] = [];
    const toQuery: { unit: string; run: ListedRun; at: number }[] = [];
    for (const [workflowId, unit] of byWorkflowId) {
      const run = runs.get(workflowId);
      let metrics: UnitMetrics | undefined;
      if (run?.metricsMemo) {
        try {
          metrics = parseUnitMetrics(await decodeOptionalSinglePayload(client.options.loadedDataConverter, run.metricsMemo));
        } catch {
          // Not decodable with this worker's converter (a key it lacks): the unit's status query answers instead.
        }
      }
      const cached = run && closedCache.get(run.runId);
      const last = lastSeen.get(unit);
      if (!run) {
        // Not listed: never started (or started a moment ago, and visibility has not caught up).
        observations.push({ unit, notStarted: true });
        stats.notStarted++;
      } else if (metrics) {
        observations.push({ unit, metrics });
        stats.fromMemo++;
      } else if (cached) {
        observations.push({ unit, metrics: cached });
        stats.fromCache++;
      } else if (last && run.running && Date.now() - run.startMs < youngMs) {
        observations.push({ unit, metrics: last });
        stats.fromLast++;
      } else {
        toQuery.push({ unit, run, at: observations.length });
        observations.push({ unit, notStarted: false }); // replaced by the query's answer
      }
    }
    // The fallback: runs begun before the metrics memo (or not past their first task) answer the status query.
    let next = 0;
    const worker = async () => {
      while (next < toQuery.length) {
        const q = toQuery[next++]!;
        try {
          const handle = client.workflow.getHandle(q.run.workflowId, q.run.runId);
          const status = await client.withDeadline(Date.now() + timeoutMs, () => handle.query(messages.status));
          const metrics = unitMetricsOf(status);
          if (!q.run.running) closedCache.set(q.run.runId, metrics);
          observations[q.at] = { unit: q.unit, metrics };
          stats.fromQuery++;
        } catch {
          stats.errors++;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(QUERY_CONCURRENCY, toQuery.length) }, worker));
    const now = Date.now();
    recordObservations(instruments, memory, observations, now);
    // The campaign's progress: one query of the campaign per interval (a closed one's is kept).
    if (opts.campaign !== undefined) {
      recordCampaign(instruments, opts.campaign, await observeCampaign(client, opts.campaign, timeoutMs, closedCampaigns), now);
    }
    for (const o of observations) if (o.metrics) lastSeen.set(o.unit, o.metrics);
    const listed = new Set([...runs.values()].map((r) => r.runId));
    for (const runId of closedCache.keys()) if (!listed.has(runId)) closedCache.delete(runId);
    stats.rpcs = rpcs - rpcsBefore;
    totals.collects++;
    totals.last = stats;
    for (const k of Object.keys(stats) as (keyof CollectStats)[]) totals[k] += stats[k];
    return stats;
  };
  // One collection at a time (the timer's and a caller's): each counts the RPCs made while it runs.
  let chain: Promise<unknown> = Promise.resolve();
  const collect = (): Promise<CollectStats> => {
    const run = chain.then(collectOnce);
    chain = run.catch(() => undefined);
    return run;
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
    stats: () => ({ ...totals, ...(totals.last ? { last: { ...totals.last } } : {}) }),
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await inFlight;
    },
  };
}
