/**
 * The gate activity: one measurement of one gate for one step, returned rather than thrown. Built by a
 * factory that takes its dependencies: the target cluster's connection (visibility),
 * an HTTP fetch for Prometheus, and the cluster and schedule activities that run probes and
 * reconcile. It returns a measurement; a provider that is down is an `error` measurement, never a
 * thrown error, so the campaign's `consecutiveErrorLimit` sees it.
 */
import { Client, type ConnectionLike } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { optionalTsToDate } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { measureBacklog, type QueueStats } from '../gates/backlog';
import { compareWindows, measureCompare, measureCompareWith, type CompareVisibility } from '../gates/compare';
import { prometheusInstantQuery, prometheusSides } from '../gates/compare-prometheus';
import type { GateSpec } from '../campaign/types';
import { clusterUnavailableIn } from '../clusters/late-connection';
import { measurePrometheus, type FetchLike } from '../gates/prometheus';
import { judgeReconcile } from '../gates/reconcile';
import { judgeSynthetic } from '../gates/synthetic';
import { measureTemporal } from '../gates/temporal';
import type { Measurement } from '../gates/types';
import type { RunProbesArgs } from './cluster';
import type { ProbeResult, ReconcileResult, ReconcileRoute, ScheduleReconcileResult, TenantFilter } from '../domain/migration';

/** Where the unit's workflows live, for the providers that look at them. */
export interface GateUnitScope {
  /** Unit name, for messages and probe IDs. */
  unit: string;
  sourceNamespace: string;
  targetNamespace: string;
  taskQueues: string[];
  tenant?: TenantFilter;
}

/** One measurement request. */
export interface MeasureGateArgs {
  gate: GateSpec;
  units: GateUnitScope[];
  /** ISO time the step began: the temporal provider counts runs closed since then. */
  stepStartedAt: string;
  /** ISO time the batch's move began (reconcile looks for runs on both sides since then). */
  moveStartedAt?: string;
  /** Unique per measurement (probe workflow IDs derive from it, so a retried activity reuses them). */
  measurementId: string;
  /** Probe task queue on the target (default: the probe constant). */
  probeTaskQueue?: string;
}

/** Dependencies of the gate activity. */
export interface GateActivityDeps {
  target: { connection: ConnectionLike };
  /** The source cluster (compare gate: the same workflow types on both sides). */
  source?: { connection: ConnectionLike };
  /** Clock of the compare gate's window end (tests may pin it; default: the activity's clock). */
  now?: () => Date;
  fetch?: FetchLike;
  /** Looks up a secret by the environment variable the plan names (a Prometheus gate's `tokenEnv`); the worker passes its environment. */
  secret?: (envName: string) => string | undefined;
  /** The cluster activities' `runProbes` (synthetic gate). */
  runProbes?: (args: RunProbesArgs) => Promise<ProbeResult>;
  /** The cluster activities' `reconcile` (reconcile gate). */
  reconcile?: (args: {
    sourceNamespace: string;
    targetNamespace: string;
    taskQueues: string[];
    tenant?: TenantFilter;
    since?: string;
    route?: ReconcileRoute;
  }) => Promise<ReconcileResult>;
  /** A unit's route as reconcile judges starts by (its routing record); with it the reconcile gate counts misrouted runs. */
  routeOf?: (unit: string) => Promise<ReconcileRoute | undefined>;
  /** The schedule activities' `reconcileSchedules` (reconcile gate: schedules active on both clusters). */
  reconcileSchedules?: (args: {
    unit: string;
    sourceNamespace: string;
    targetNamespace: string;
    tenant?: TenantFilter;
  }) => Promise<ScheduleReconcileResult>;
}

/** The worst of several units' measurements: failed, then inconclusive, then error, then successful. */
export function worstOf(ms: Measurement[]): Measurement {
  const rank: Record<Measurement['result'], number> = { successful: 0, error: 1, inconclusive: 2, failed: 3 };
  let worst = ms[0];
  for (const m of ms) if (!worst || rank[m.result] > rank[worst.result]) worst = m;
  return worst ?? { result: 'failed', message: 'no data: the step has no unit to measure' };
}

/**
 * The error to report: a cluster the worker has not connected to yet is named as such, not hidden behind
 * the SDK client's wrapper around it.
 */
const unwrapped = (err: unknown): Error => clusterUnavailableIn(err) ?? (err as Error);

/** Most runs a visibility page asks for (the dev server's SQLite visibility answers large pages slowly). */
const VISIBILITY_PAGE_SIZE = 500;

/** Compare-gate visibility on one cluster and namespace, raw (the application's memos are never decoded). */
export function compareVisibility(connection: ConnectionLike, namespace: string): CompareVisibility {
  return {
    async count(query) {
      const res = await connection.workflowService.countWorkflowExecutions({ namespace, query });
      return Number(res.count ?? 0);
    },
    async latencies(query, limit) {
      const out: number[] = [];
      let nextPageToken: Uint8Array | undefined;
      do {
        const res = await connection.workflowService.listWorkflowExecutions({
          namespace,
          query,
          pageSize: Math.min(VISIBILITY_PAGE_SIZE, limit - out.length),
          nextPageToken,
        });
        for (const info of res.executions ?? []) {
          const start = optionalTsToDate(info.startTime);
          const close = optionalTsToDate(info.closeTime);
          if (start && close) out.push(close.getTime() - start.getTime());
          if (out.length >= limit) break;
        }
        nextPageToken = res.nextPageToken?.length ? res.nextPageToken : undefined;
      } while (nextPageToken && out.length < limit);
      // A page token after `limit` runs: visibility may hold more than the sample took (SQL visibility gives one whenever a page is full).
      return { latenciesMs: out, truncated: nextPageToken !== undefined };
    },
  };
}

const { TaskQueueType, TaskQueueKind } = temporal.api.enums.v1;

/** Durations as the API gives them (seconds and nanos) in ms. */
const durationMs = (d: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  d ? Number(d.seconds ?? 0) * 1000 + Math.round((d.nanos ?? 0) / 1e6) : 0;

/** One task queue's backlog on a cluster: DescribeTaskQueue with `reportStats` (the classic mode; the dev server 1.29 answers it). */
export async function describeBacklog(
  connection: ConnectionLike,
  namespace: string,
  taskQueue: string,
  type: 'workflow' | 'activity',
): Promise<QueueStats> {
  const res = await connection.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: taskQueue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: type === 'workflow' ? TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW : TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    reportStats: true,
  });
  const s = res.stats;
  return {
    taskQueue,
    type,
    backlogCount: Number(s?.approximateBacklogCount ?? 0),
    backlogAgeMs: durationMs(s?.approximateBacklogAge),
    addRate: s?.tasksAddRate ?? 0,
    dispatchRate: s?.tasksDispatchRate ?? 0,
    pollers: res.pollers?.length ?? 0,
  };
}

/** Builds the gate activity. */
export function createGateActivities(deps: GateActivityDeps) {
  const clients = new Map<string, Client>();
  const target = (namespace: string) => {
    let c = clients.get(namespace);
    if (!c) clients.set(namespace, (c = new Client({ connection: deps.target.connection, namespace })));
    return c;
  };

  /**
   * A gate's bearer token from the worker's environment: undefined when the gate names none, an `error`
   * measurement when the variable is unset (the gate's error limit decides), never an unauthenticated query.
   */
  function bearerToken(field: string, tokenEnv: string | undefined): string | undefined | Measurement {
    if (tokenEnv === undefined) return undefined;
    const token = deps.secret?.(tokenEnv);
    if (token) return token;
    return {
      result: 'error',
      message: `${field}: environment variable ${tokenEnv} is not set on the worker; export it with the bearer token`,
    };
  }

  async function perUnit(args: MeasureGateArgs, one: (u: GateUnitScope) => Promise<Measurement>): Promise<Measurement> {
    const ms = await Promise.all(
      args.units.map(async (u) => {
        const m = await one(u);
        return args.units.length > 1 ? { ...m, message: `${u.unit}: ${m.message}` } : m;
      }),
    );
    return worstOf(ms);
  }

  return {
    /** Takes one measurement of a gate over the step's units. */
    async measureGate(args: MeasureGateArgs): Promise<Measurement> {
      const g = args.gate;
      switch (g.kind) {
        case 'prometheus': {
          const { tokenEnv, ...query } = g.prometheus;
          const token = bearerToken('prometheus.tokenEnv', tokenEnv);
          if (typeof token === 'object') return token;
          return measurePrometheus({ ...query, ...(token ? { bearerToken: token } : {}) }, deps.fetch);
        }
        case 'temporal':
          return perUnit(args, (u) =>
            measureTemporal(
              g.temporal,
              { taskQueues: u.taskQueues, ...(u.tenant ? { tenant: u.tenant } : {}) },
              args.stepStartedAt,
              async (query) => {
                try {
                  return (await target(u.targetNamespace).workflow.count(query)).count;
                } catch (err) {
                  throw unwrapped(err);
                }
              },
            ),
          );
        case 'synthetic': {
          const run = deps.runProbes;
          if (!run) return { result: 'error', message: 'synthetic gate: this worker has no probe runner' };
          return perUnit(args, async (u) => {
            try {
              const r = await run({
                namespace: u.targetNamespace,
                count: g.synthetic.workflows,
                idPrefix: `cutover-gate/${g.name}/${u.unit}/${args.measurementId}`,
                ...(args.probeTaskQueue ? { taskQueue: args.probeTaskQueue } : {}),
                timeoutMs: Math.max(g.synthetic.maxP99 * 5, 10_000),
                minSuccess: g.synthetic.minSuccess,
                maxP99Ms: g.synthetic.maxP99,
              });
              // The runner reports successes and p99, not each latency: judge on what it gives.
              const lat = r.p99Ms === undefined ? [] : Array.from({ length: r.succeeded }, () => r.p99Ms!);
              return judgeSynthetic(g.synthetic, { started: r.started, succeededLatenciesMs: lat, failed: r.started - r.succeeded });
            } catch (err) {
              // A cancelled activity (its worker shutting down) is retried, not measured.
              if (err instanceof CancelledFailure) throw err;
              return { result: 'error', message: `probes on the target failed to run: ${unwrapped(err).message}` };
            }
          });
        }
        case 'compare': {
          if (g.compare.source === 'prometheus') {
            const prom = g.compare.prometheus;
            // The plan refuses this; a spec built by hand may still lack it.
            if (!prom) {
              return {
                result: 'error',
                message: 'compare gate: source prometheus without compare.prometheus; add prometheus: { url: … } to the gate',
              };
            }
            const token = bearerToken('compare.prometheus.tokenEnv', prom.tokenEnv);
            if (typeof token === 'object') return token;
            const query = prometheusInstantQuery({ url: prom.url, ...(token ? { bearerToken: token } : {}) }, deps.fetch);
            const windows = compareWindows(g.compare, args.stepStartedAt, deps.now?.() ?? new Date());
            return perUnit(args, async (u) => {
              // The SDK's metrics carry no tenant: a tenant's runs cannot be told from its namespace's other runs.
              if (u.tenant) {
                return {
                  result: 'error',
                  message:
                    `compare gate on prometheus cannot select tenant unit ${u.unit} (the SDK worker metrics have no tenant label); ` +
                    'use source: visibility for tenant units',
                };
              }
              return measureCompareWith(
                g.compare,
                windows,
                'prometheus',
                prometheusSides(query, {
                  source: {
                    namespace: u.sourceNamespace,
                    taskQueues: u.taskQueues,
                    ...(prom.sourceLabels ? { labels: prom.sourceLabels } : {}),
                  },
                  target: {
                    namespace: u.targetNamespace,
                    taskQueues: u.taskQueues,
                    ...(prom.targetLabels ? { labels: prom.targetLabels } : {}),
                  },
                }),
              );
            });
          }
          const source = deps.source;
          if (!source) return { result: 'error', message: 'compare gate: this worker has no source cluster connection' };
          // The bake window: from the step's start (the source's from `baselineLookback` before it) to now.
          const windows = compareWindows(g.compare, args.stepStartedAt, deps.now?.() ?? new Date());
          return perUnit(args, async (u) => {
            // The same selection on both sides: the unit's task queues (and tenant) are the same names there.
            const scope = { taskQueues: u.taskQueues, ...(u.tenant ? { tenant: u.tenant } : {}) };
            try {
              return await measureCompare(g.compare, windows, {
                source: { vis: compareVisibility(source.connection, u.sourceNamespace), scope },
                target: { vis: compareVisibility(deps.target.connection, u.targetNamespace), scope },
              });
            } catch (err) {
              return { result: 'error', message: `compare gate failed to run: ${unwrapped(err).message}` };
            }
          });
        }
        case 'scheduleToStart':
          return perUnit(args, (u) =>
            measureBacklog(g.scheduleToStart, u.taskQueues, async (taskQueue, type) => {
              try {
                return await describeBacklog(deps.target.connection, u.targetNamespace, taskQueue, type);
              } catch (err) {
                throw unwrapped(err);
              }
            }),
          );
        case 'reconcile': {
          const rec = deps.reconcile;
          const recSchedules = deps.reconcileSchedules;
          if (!rec) return { result: 'error', message: 'reconcile gate: this worker has no reconcile' };
          // Missing data is never a pass: without the schedules' check the gate cannot say none is double-active.
          if (!recSchedules) return { result: 'error', message: 'reconcile gate: this worker has no schedule reconcile' };
          return perUnit(args, async (u) => {
            try {
              const route = await deps.routeOf?.(u.unit);
              const r = await rec({
                sourceNamespace: u.sourceNamespace,
                targetNamespace: u.targetNamespace,
                taskQueues: u.taskQueues,
                ...(u.tenant ? { tenant: u.tenant } : {}),
                ...(args.moveStartedAt ? { since: args.moveStartedAt } : {}),
                ...(route ? { route } : {}),
              });
              const s = await recSchedules({
                unit: u.unit,
                sourceNamespace: u.sourceNamespace,
                targetNamespace: u.targetNamespace,
                ...(u.tenant ? { tenant: u.tenant } : {}),
              });
              return judgeReconcile(g.reconcile, {
                duplicates: r.duplicates.length,
                stranded: r.stranded.length,
                schedulesDoubleActive: s.doubleActive,
                ...(r.misrouted ? { misrouted: r.misrouted.length } : {}),
              });
            } catch (err) {
              return { result: 'error', message: `reconcile failed to run: ${unwrapped(err).message}` };
            }
          });
        }
      }
    },
  };
}

/** The gate activity's type, for `proxyActivities` (import type only). */
export type GateActivities = ReturnType<typeof createGateActivities>;
