/**
 * Dual workers: the application's worker on both clusters from one workflow bundle, for the length
 * of the move. The source worker stops when the routing records say the source has drained
 * (`sourceWorkersMayStop` on the namespace unit and on every listed tenant) — never on a guess: while
 * Redis is unreachable, or a unit's record is invalid, both keep running. Only records read from the
 * store count: a message on the routes channel merely makes the table read again (src/routing/route-table.ts).
 */
import type { DataConverter } from '@temporalio/common';
import { type NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import type { WorkerOptions } from '@temporalio/worker';
import type { Redis } from 'ioredis';
import { connectNativeCluster } from '../clusters/connect';
import { connectRedis } from './connect-redis';
import type { Plan } from '../config';
import { RoutingInputError } from './errors';
import { checkPlanNamespace, planNamespace } from './plan-namespace';
import { RouteTable } from './route-table';
import { RoutingStore } from './store';
import { UnitResolver } from './tenant';
import type { RoutingRecord, Side } from './types';

type WorkflowCode =
  | { workflowsPath: string; workflowBundle?: never }
  | { workflowBundle: NonNullable<WorkerOptions['workflowBundle']>; workflowsPath?: never };

/** Worker options passed through to both workers (the data converter has an option of its own: it shapes the bundle too). */
export type SharedWorkerOptions = Omit<
  WorkerOptions,
  'connection' | 'namespace' | 'taskQueue' | 'workflowsPath' | 'workflowBundle' | 'activities' | 'dataConverter'
>;

/** Explicit parts (tests): the caller owns the connections and the Redis connection. */
export type DualWorkersParts = WorkflowCode & {
  sourceConnection: NativeConnection;
  targetConnection: NativeConnection;
  sourceNamespace: string;
  targetNamespace?: string;
  store: RoutingStore | { redis: Redis; keyPrefix: string };
  /** Units whose records must all say `sourceWorkersMayStop` before the source worker stops. */
  units: string[];
  taskQueue: string;
  activities?: object;
  workerOptions?: SharedWorkerOptions;
  /**
   * The application's data converter, used by both workers. With `workflowsPath` its
   * `payloadConverterPath` and `failureConverterPath` are bundled in; a `workflowBundle` must have been
   * built with them (`bundleWorkflowCode({ ..., payloadConverterPath, failureConverterPath })`).
   */
  dataConverter?: DataConverter;
  /** Timer refresh of the records (pub/sub pushes changes at once). Default 1 s. */
  refreshMs?: number;
};

/** Options of {@link DualWorkers.create}. */
export type DualWorkersOptions = WorkflowCode & {
  plan: string | Plan;
  /** Source namespace, as keyed in the plan. */
  namespace: string;
  taskQueue: string;
  activities?: object;
  workerOptions?: SharedWorkerOptions;
  /** The application's data converter, for both workers (see {@link DualWorkersParts}); the plan's `codec` is cutover's, not used here. */
  dataConverter?: DataConverter;
  refreshMs?: number;
};

/** True when every unit has a record and each says the source workers may stop. */
export function sourceMayStop(records: readonly (RoutingRecord | undefined)[]): boolean {
  return records.length > 0 && records.every((r) => r?.sourceWorkersMayStop === true);
}

/** The application's workers on both clusters. `run()` like `Worker.run()`, until `shutdown()`. */
export class DualWorkers {
  private readonly table: RouteTable;
  private readonly units: string[];
  private readonly owned: (() => Promise<void>)[] = [];
  private sourceStopping: Promise<void> | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  private constructor(
    /** The worker polling the source cluster. */
    readonly source: Worker,
    /** The worker polling the target cluster. */
    readonly target: Worker,
    store: RoutingStore,
    units: string[],
    refreshMs: number,
  ) {
    this.units = units;
    // Staleness does not matter here (the workers never fail closed): only fresh records stop the source.
    this.table = new RouteTable({ store, units, refreshMs, stalenessMs: Number.MAX_SAFE_INTEGER });
  }

  /** Workers from a plan: connects to its source and target clusters and Redis; `shutdown()` releases them. */
  static async create(opts: DualWorkersOptions): Promise<DualWorkers> {
    const { plan, config: ns, sides } = planNamespace(opts.plan, opts.namespace);
    const cleanups: (() => Promise<void>)[] = [];
    try {
      const sourceConnection = await connectNativeCluster(sides.source.name, sides.source.cluster, {
        namespaces: [sides.source.namespace],
      });
      cleanups.push(() => sourceConnection.close());
      const targetConnection = await connectNativeCluster(sides.target.name, sides.target.cluster);
      cleanups.push(() => targetConnection.close());
      await checkPlanNamespace(targetConnection, sides.target);
      // Redis down at start-up is an outage the workers ride out (as later); refused credentials are not.
      const redis = await connectRedis(plan.redis, { maxRetriesPerRequest: 1 }, { tolerateUnreachable: true });
      redis.on('error', () => undefined);
      cleanups.push(async () => void redis.disconnect());
      const code: WorkflowCode =
        opts.workflowsPath !== undefined ? { workflowsPath: opts.workflowsPath } : { workflowBundle: opts.workflowBundle };
      const workers = await DualWorkers.fromParts({
        ...code,
        sourceConnection,
        targetConnection,
        sourceNamespace: sides.source.namespace,
        targetNamespace: sides.target.namespace,
        store: { redis, keyPrefix: plan.redis.keyPrefix },
        units: new UnitResolver(opts.namespace, ns.tenants?.selector, ns.tenants?.ids).knownUnits(),
        taskQueue: opts.taskQueue,
        activities: opts.activities,
        workerOptions: opts.workerOptions,
        dataConverter: opts.dataConverter,
        refreshMs: opts.refreshMs,
      });
      // Workers hold the connections: close them only after both workers stopped.
      workers.owned.push(...cleanups.reverse());
      return workers;
    } catch (err) {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
      throw err;
    }
  }

  /** Workers from explicit parts; the workflow code is bundled once and shared by both. */
  static async fromParts(parts: DualWorkersParts): Promise<DualWorkers> {
    if (!parts.units || parts.units.length === 0)
      throw new RoutingInputError('units', 'name at least the namespace unit, e.g. namespace/<ns>');
    if (!parts.taskQueue) throw new RoutingInputError('taskQueue', "pass the application's task queue");
    const converter = parts.dataConverter;
    // The SDK forwards the converters' paths only when a worker bundles for itself: one shared bundle needs them here.
    const workflowBundle =
      parts.workflowsPath !== undefined
        ? {
            code: (
              await bundleWorkflowCode({
                workflowsPath: parts.workflowsPath,
                ...(converter?.payloadConverterPath ? { payloadConverterPath: converter.payloadConverterPath } : {}),
                ...(converter?.failureConverterPath ? { failureConverterPath: converter.failureConverterPath } : {}),
                ...(parts.workerOptions?.interceptors?.workflowModules
                  ? { workflowInterceptorModules: parts.workerOptions.interceptors.workflowModules }
                  : {}),
                logger: quietLogger,
              })
            ).code,
          }
        : parts.workflowBundle;
    if (!workflowBundle)
      throw new RoutingInputError('workflowsPath', 'pass workflowsPath (require.resolve of your workflows) or workflowBundle');
    const store = parts.store instanceof RoutingStore ? parts.store : new RoutingStore(parts.store);
    // Workflow interceptor modules bundled above: a worker given a bundle would only warn that it ignores them.
    const interceptors = parts.workerOptions?.interceptors;
    const bundled =
      parts.workflowsPath !== undefined && interceptors ? { interceptors: { ...interceptors, workflowModules: undefined } } : {};
    const common = {
      ...parts.workerOptions,
      ...bundled,
      taskQueue: parts.taskQueue,
      activities: parts.activities,
      workflowBundle,
      dataConverter: converter,
    };
    const source = await Worker.create({ ...common, connection: parts.sourceConnection, namespace: parts.sourceNamespace });
    const target = await Worker.create({
      ...common,
      connection: parts.targetConnection,
      namespace: parts.targetNamespace ?? parts.sourceNamespace,
    });
    return new DualWorkers(source, target, store, parts.units, parts.refreshMs ?? 1_000);
  }

  /** Sides whose worker is still running. */
  runningSides(): Side[] {
    const sides: Side[] = [];
    if (this.source.getState() === 'RUNNING') sides.push('source');
    if (this.target.getState() === 'RUNNING') sides.push('target');
    return sides;
  }

  /** Runs both workers until {@link shutdown}; stops the source worker when the records allow it. */
  run(): Promise<void> {
    if (this.running) return this.running;
    this.running = (async () => {
      const runs = Promise.all([this.source.run(), this.target.run()]);
      runs.catch(() => undefined); // observed below; avoid an unhandled rejection while starting the table
      try {
        this.table.onChange(() => this.check());
        await this.table.start().catch(() => undefined); // Redis down: both keep running, the timer retries
        this.check();
        await runs;
      } finally {
        await this.table.close();
        for (const c of this.owned) await c().catch(() => undefined);
      }
    })();
    return this.running;
  }

  /** Stops both workers (waits for in-flight tasks per the workers' grace time) and releases resources. */
  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const w of [this.source, this.target]) {
      if (w.getState() === 'RUNNING') w.shutdown();
    }
    await this.running?.catch(() => undefined);
    if (!this.running) {
      await this.table.close();
      for (const c of this.owned) await c().catch(() => undefined);
    }
  }

  private check(): void {
    if (this.sourceStopping || this.stopped) return;
    let records: (RoutingRecord | undefined)[];
    try {
      records = this.units.map((u) => this.table.lookup(u));
    } catch {
      return;
    }
    if (!sourceMayStop(records)) return;
    if (this.source.getState() !== 'RUNNING') return;
    this.sourceStopping = Promise.resolve(this.source.shutdown());
  }
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (msg: string, meta?: Record<string, unknown>) => process.stderr.write(`[bundler] ${msg} ${meta ? JSON.stringify(meta) : ''}\n`),
  error: (msg: string, meta?: Record<string, unknown>) => process.stderr.write(`[bundler] ${msg} ${meta ? JSON.stringify(meta) : ''}\n`),
};
