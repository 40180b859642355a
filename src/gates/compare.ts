/**
 * Compare provider: the same workflow types on the source and on the target over the bake window, read
 * from visibility on each cluster (or from the SDK's worker metrics in Prometheus: see
 * compare-prometheus.ts). Two one-sided tests ask whether the target is worse:
 * - failure rate: a pooled two-proportion z-test on the counts of closed runs and failed ones (failed,
 *   timed out, terminated; continued-as-new runs are neither), from Count queries, so on every run;
 * - latency: Mann–Whitney U on the close − start time of completed runs, at most `maxSamples` per side
 *   and type (visibility on the dev server is SQLite: the lists stay bounded), with the source scaled by
 *   `1 + latencyTolerance` (Kayenta's tolerance: the target may be that much slower).
 * A test with fewer than `minSamples` runs on a side is inconclusive (pauses for a human); a test whose
 * p-value is below `alpha` failed. The measurement carries every number as evidence.
 */
import { literal, unitQuery, type UnitScope } from '../clusters/queries';
import type { CompareGate } from '../config/types';
import { binnedMedian, mannWhitneyBinnedGreater, mannWhitneyGreater, median, twoProportionTest, type BinnedSample } from './stats';
import { FAILED_STATUSES } from './temporal';
import type { Measurement } from './types';

/** The plan's compare gate (resolved: defaults applied). */
export interface CompareSettings {
  /** Workflow types compared, each on its own. */
  workflowTypes: string[];
  /** Least runs per side for a test to conclude. */
  minSamples: number;
  /** Most completed runs listed per side and type for the latency test. */
  maxSamples: number;
  /** Significance level of both one-sided tests. */
  alpha: number;
  /** How much slower (relative) the target may be before it counts as worse: 0.1 = 10 %. */
  latencyTolerance: number;
  /** The source's window starts this much (ms) before the step: a baseline once the source runs little or nothing. */
  baselineLookback?: number;
  /**
   * Where both sides' runs are read: visibility, or the SDK's worker metrics in Prometheus. Absent means
   * visibility (campaigns planned before the field carry specs without it).
   */
  source?: CompareSource;
  /** The Prometheus scraping the application's workers (with source `prometheus`). */
  prometheus?: ComparePrometheus;
}

/** Where the compare gate reads runs. */
export type CompareSource = 'visibility' | 'prometheus';

/** The Prometheus of a compare gate reading the SDK's worker metrics: the plan's, as parsed. */
export type ComparePrometheus = NonNullable<CompareGate['prometheus']>;

/** Both sides' windows: the target's is the bake; the source's starts `baselineLookback` earlier. */
export function compareWindows(settings: Pick<CompareSettings, 'baselineLookback'>, stepStartedAt: string, now: Date): CompareWindows {
  const to = now.toISOString();
  const from = new Date(Date.parse(stepStartedAt) - (settings.baselineLookback ?? 0)).toISOString();
  return { source: { from, to }, target: { from: stepStartedAt, to } };
}

/** The window compared: closed runs with CloseTime in [from, to] (ISO times). */
export interface CompareWindow {
  from: string;
  to: string;
}

/** The windows of both sides. */
export type CompareWindows = { source: CompareWindow; target: CompareWindow };

/** One side's observations of one workflow type. */
export interface SideObservation {
  /** Closed runs in the window (continued-as-new excluded). */
  closed: number;
  /** Failed, timed out or terminated among them. */
  failed: number;
  /** Latencies (ms) of completed runs, at most `maxSamples`. */
  latenciesMs: number[];
  /** True when the listing stopped at `maxSamples` with more pages offered: more completed runs may have matched. */
  truncated: boolean;
  /** Latencies as histogram buckets (Prometheus): when both sides have them the latency test is binned. */
  latencyBins?: BinnedSample;
}

/** What one cluster's runs of a workflow type showed over its window (plain JSON). */
export type SideEvidence = {
  closed: number;
  failed: number;
  failureRate: number | null;
  latencySamples: number;
  medianMs: number | null;
  truncated: boolean;
};

/** The evidence of one workflow type's comparison (plain JSON). */
export type TypeEvidence = {
  workflowType: string;
  result: 'successful' | 'failed' | 'inconclusive';
  source: SideEvidence;
  target: SideEvidence;
  /** null when a side has fewer than minSamples closed runs. */
  failureTest: { z: number; p: number; worse: boolean } | null;
  /** null when a side has fewer than minSamples completed runs. */
  latencyTest: { u: number; z: number; p: number; worse: boolean } | null;
  /** Prometheus: both sides' latency histograms (ms bounds, counts per bucket) the binned test ranked. */
  latencyBuckets?: { source: BinnedSample; target: BinnedSample };
};

/** The compare gate's evidence (kept with the measurement). */
export type CompareEvidence = {
  /** Where the runs were read. */
  dataSource: CompareSource;
  /** What the numbers are when they are not plain run counts and latencies (Prometheus). */
  note?: string;
  windows: CompareWindows;
  alpha: number;
  latencyTolerance: number;
  minSamples: number;
  maxSamples: number;
  types: TypeEvidence[];
};

/** The visibility queries of one side and type. */
export function compareQueries(
  scope: UnitScope,
  workflowType: string,
  window: CompareWindow,
): { closed: string; failed: string; completed: string } {
  const closed = unitQuery(
    scope,
    `WorkflowType = ${literal(workflowType)}`,
    `CloseTime >= ${literal(window.from)}`,
    `CloseTime <= ${literal(window.to)}`,
    'ExecutionStatus != "Running"',
    'ExecutionStatus != "ContinuedAsNew"',
  );
  const failed = `${closed} AND (${FAILED_STATUSES.map((s) => `ExecutionStatus = ${literal(s)}`).join(' OR ')})`;
  const completed = `${closed} AND ExecutionStatus = "Completed"`;
  return { closed, failed, completed };
}

const rate = (failed: number, closed: number) => (closed > 0 ? failed / closed : null);
const latencyCount = (o: SideObservation) => (o.latencyBins ? o.latencyBins.counts.reduce((a, b) => a + b, 0) : o.latenciesMs.length);
/** A binned median is its bucket's upper bound; the +Inf bucket has none to give (null, as JSON would make it). */
const sideMedian = (o: SideObservation) => {
  const m = o.latencyBins ? binnedMedian(o.latencyBins) : median(o.latenciesMs);
  return m === undefined || !Number.isFinite(m) ? null : m;
};
const side = (o: SideObservation): SideEvidence => ({
  closed: o.closed,
  failed: o.failed,
  failureRate: rate(o.failed, o.closed),
  latencySamples: latencyCount(o),
  medianMs: sideMedian(o),
  truncated: o.truncated,
});

/** What the evidence of a Prometheus comparison says its numbers are. */
export const PROMETHEUS_NOTE =
  "from the SDK's worker metrics: counts are Prometheus increase() estimates, rounded; runs timed out or " +
  'terminated by the server are not counted as failed (no worker sees them); latency is binned (the ' +
  'workflow_endtoend_latency histogram of every run that ended on a worker, each bucket one tie group, a ' +
  "median is its bucket's upper bound)";

/** Compares one workflow type's observations on both sides. Pure. */
export function judgeCompareType(
  settings: CompareSettings,
  workflowType: string,
  source: SideObservation,
  target: SideObservation,
): TypeEvidence {
  const enough = (n: number) => n >= Math.max(1, settings.minSamples);
  let failureTest: TypeEvidence['failureTest'] = null;
  if (enough(source.closed) && enough(target.closed)) {
    const t = twoProportionTest({ n: source.closed, failed: source.failed }, { n: target.closed, failed: target.failed });
    failureTest = { z: t.z, p: t.p, worse: t.p < settings.alpha };
  }
  let latencyTest: TypeEvidence['latencyTest'] = null;
  const bins = source.latencyBins && target.latencyBins ? { source: source.latencyBins, target: target.latencyBins } : undefined;
  if (enough(latencyCount(source)) && enough(latencyCount(target))) {
    const t = bins
      ? mannWhitneyBinnedGreater(bins.source, bins.target, settings.latencyTolerance)
      : mannWhitneyGreater(source.latenciesMs, target.latenciesMs, settings.latencyTolerance);
    latencyTest = { u: t.u, z: t.z, p: t.p, worse: t.p < settings.alpha };
  }
  // A conclusive test that finds the target worse fails the type even when the other could not conclude.
  const result = failureTest?.worse || latencyTest?.worse ? 'failed' : failureTest && latencyTest ? 'successful' : 'inconclusive';
  return {
    workflowType,
    result,
    source: side(source),
    target: side(target),
    failureTest,
    latencyTest,
    ...(bins ? { latencyBuckets: bins } : {}),
  };
}

const fmt = (v: number | null, digits = 3) => (v === null ? '-' : Number(v.toFixed(digits)).toString());
/** p-values in three significant digits: a tiny p must not print as 0. */
const fmtP = (p: number) => Number(p.toPrecision(3)).toString();

/** One line per type for the message (the audit trail keeps the message, the bake the evidence). */
function describe(e: TypeEvidence, settings: CompareSettings): string {
  const counts = `failures ${e.source.failed}/${e.source.closed} → ${e.target.failed}/${e.target.closed}`;
  const f = e.failureTest
    ? `${counts} (z ${fmt(e.failureTest.z)}, p ${fmtP(e.failureTest.p)})`
    : `${counts} (fewer than ${settings.minSamples} runs)`;
  const medians = e.latencyBuckets
    ? `median ≤ ${fmt(e.source.medianMs, 0)} → ≤ ${fmt(e.target.medianMs, 0)} ms (binned)`
    : `median ${fmt(e.source.medianMs, 0)} → ${fmt(e.target.medianMs, 0)} ms`;
  const l = e.latencyTest
    ? `${medians} (U ${fmt(e.latencyTest.u, 1)}, z ${fmt(e.latencyTest.z)}, p ${fmtP(e.latencyTest.p)})`
    : `latency samples ${e.source.latencySamples} → ${e.target.latencySamples} (fewer than ${settings.minSamples})`;
  return `${e.workflowType} ${e.result}: ${f}; ${l}`;
}

/** Judges every type: failed if any failed, else inconclusive if any was, else successful. Pure. */
export function judgeCompare(
  settings: CompareSettings,
  windows: CompareWindows,
  observations: { workflowType: string; source: SideObservation; target: SideObservation }[],
): Measurement & { evidence: CompareEvidence } {
  const types = observations.map((o) => judgeCompareType(settings, o.workflowType, o.source, o.target));
  const dataSource = settings.source ?? 'visibility';
  const evidence: CompareEvidence = {
    dataSource,
    ...(dataSource === 'prometheus' ? { note: PROMETHEUS_NOTE } : {}),
    windows,
    alpha: settings.alpha,
    latencyTolerance: settings.latencyTolerance,
    minSamples: settings.minSamples,
    maxSamples: settings.maxSamples,
    types,
  };
  const result = types.some((t) => t.result === 'failed')
    ? 'failed'
    : types.some((t) => t.result === 'inconclusive') || types.length === 0
      ? 'inconclusive'
      : 'successful';
  // The value is the smallest p-value seen: how close the target came to counting as worse.
  const ps = types.flatMap((t) => [t.failureTest?.p, t.latencyTest?.p]).filter((p): p is number => p !== undefined);
  const head =
    result === 'failed'
      ? `target worse than source (alpha ${settings.alpha}, latency tolerance ${settings.latencyTolerance})`
      : result === 'inconclusive'
        ? `too few runs to compare (minSamples ${settings.minSamples} per side)`
        : `target no worse than source (alpha ${settings.alpha}, latency tolerance ${settings.latencyTolerance})`;
  return {
    result,
    ...(ps.length > 0 ? { value: Math.min(...ps) } : {}),
    message: `${head}${dataSource === 'prometheus' ? ' from prometheus' : ''}: ${types.map((t) => describe(t, settings)).join('; ')}`,
    evidence,
  };
}

/** Reads one side of one type from visibility (the activity gives it a cluster). */
export interface CompareVisibility {
  count(query: string): Promise<number>;
  /** Latencies (ms) of at most `limit` runs matching `query`, and whether more matched. */
  latencies(query: string, limit: number): Promise<{ latenciesMs: number[]; truncated: boolean }>;
}

/** Observes one side for one type. */
export async function observeSide(
  vis: CompareVisibility,
  scope: UnitScope,
  workflowType: string,
  window: CompareWindow,
  maxSamples: number,
): Promise<SideObservation> {
  const q = compareQueries(scope, workflowType, window);
  const [closed, failed, sample] = await Promise.all([vis.count(q.closed), vis.count(q.failed), vis.latencies(q.completed, maxSamples)]);
  return { closed, failed, latenciesMs: sample.latenciesMs, truncated: sample.truncated };
}

/** Observes one side's runs of one type over its window (visibility or Prometheus). */
export type ObserveSide = (workflowType: string, window: CompareWindow) => Promise<SideObservation>;

/** Measures the gate on both sides with the given readers; a fault reading either is an `error` measurement naming `what`. */
export async function measureCompareWith(
  settings: CompareSettings,
  windows: CompareWindows,
  what: string,
  observe: { source: ObserveSide; target: ObserveSide },
): Promise<Measurement> {
  const observations: { workflowType: string; source: SideObservation; target: SideObservation }[] = [];
  for (const workflowType of settings.workflowTypes) {
    // One type at a time: visibility on the dev server is capped at 100 requests a second per namespace.
    let source: SideObservation;
    let target: SideObservation;
    try {
      source = await observe.source(workflowType, windows.source);
    } catch (err) {
      return { result: 'error', message: `${what} on the source failed: ${(err as Error).message}` };
    }
    try {
      target = await observe.target(workflowType, windows.target);
    } catch (err) {
      return { result: 'error', message: `${what} on the target failed: ${(err as Error).message}` };
    }
    observations.push({ workflowType, source, target });
  }
  return judgeCompare(settings, windows, observations);
}

/** Measures the gate on both sides from visibility; a visibility fault on either is an `error` measurement. */
export async function measureCompare(
  settings: CompareSettings,
  windows: CompareWindows,
  sides: { source: { vis: CompareVisibility; scope: UnitScope }; target: { vis: CompareVisibility; scope: UnitScope } },
): Promise<Measurement> {
  const reader =
    (s: { vis: CompareVisibility; scope: UnitScope }): ObserveSide =>
    (workflowType, window) =>
      observeSide(s.vis, s.scope, workflowType, window, settings.maxSamples);
  return measureCompareWith(settings, windows, 'visibility', { source: reader(sides.source), target: reader(sides.target) });
}
