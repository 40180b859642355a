/**
 * A worker in a process of its own, so a benchmark can sample its RSS and give it the same footing
 * in every phase. Configured by one JSON environment variable (`BENCH_WORKER`, see `WorkerProcessConfig`),
 * prints READY once it polls, exposes the SDK's metrics on `metricsAddress`, and stops on SIGTERM.
 *
 * - `cutover`: the cutover task queue as `cutover worker` runs it (entity and campaign workflows,
 *   every activity composed by `createCutoverActivities`), without the per-namespace probe workers
 *   (the benchmark's plan has no synthetic gate).
 * - `trivial`: `benchTrivial` (one activity) on its own task queue: the server-bound workload.
 */
import { Client } from '@temporalio/client';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { Redis } from 'ioredis';
import { createCutoverActivities } from '../../src/activities';
import { connectCluster, connectNativeCluster } from '../../src/clusters/connect';
import { RoutingStore } from '../../src/routing/store';
import { ScheduleFence } from '../../src/schedules';
import { AuditStream } from '../../src/audit/stream';

/** What the parent passes in `BENCH_WORKER` (JSON). */
export interface WorkerProcessConfig {
  mode: 'cutover' | 'trivial';
  /** Address of the cluster the worker polls (the control cluster). */
  address: string;
  namespace: string;
  taskQueue: string;
  /** A pre-built workflow bundle (file). */
  bundlePath: string;
  /** `host:port` of the SDK's Prometheus endpoint. */
  metricsAddress: string;
  /** cutover mode: both clusters, Redis and the routing key prefix. */
  source?: { name: string; address: string };
  target?: { name: string; address: string };
  redisUrl?: string;
  keyPrefix?: string;
}

async function main(): Promise<void> {
  const raw = process.env.BENCH_WORKER;
  if (!raw) throw new Error('BENCH_WORKER is not set: the benchmark passes this process its configuration as JSON');
  const cfg = JSON.parse(raw) as WorkerProcessConfig;
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { metrics: { prometheus: { bindAddress: cfg.metricsAddress } } },
  });
  const closers: (() => Promise<unknown> | void)[] = [];
  const native = await connectNativeCluster('control', { address: cfg.address });
  closers.push(() => native.close());
  let activities: object;
  if (cfg.mode === 'cutover') {
    if (!cfg.source || !cfg.target || !cfg.redisUrl || cfg.keyPrefix === undefined)
      throw new Error('cutover mode needs source, target, redisUrl and keyPrefix');
    const source = await connectCluster(cfg.source.name, cfg.source);
    const target = await connectCluster(cfg.target.name, cfg.target);
    closers.push(
      () => source.close(),
      () => target.close(),
    );
    const redis = new Redis(cfg.redisUrl, { maxRetriesPerRequest: 2 });
    closers.push(() => redis.disconnect());
    activities = createCutoverActivities({
      source: { name: cfg.source.name, connection: source, kind: 'dev' },
      target: { name: cfg.target.name, connection: target, kind: 'dev' },
      routing: new RoutingStore({ redis, keyPrefix: cfg.keyPrefix }),
      scheduleFence: new ScheduleFence({ redis, keyPrefix: cfg.keyPrefix }),
      audit: new AuditStream({ redis, keyPrefix: cfg.keyPrefix }),
      control: new Client({ connection: target, namespace: cfg.namespace }),
    });
  } else {
    activities = { benchNoop: async () => 'ok' };
  }
  // Both keep the SDK's worker defaults, as `cutover worker` does (src/worker.ts); the cutover bundle
  // carries the clock guard (CONTROL_BUNDLE_OPTIONS).
  const worker = await Worker.create({
    connection: native,
    namespace: cfg.namespace,
    taskQueue: cfg.taskQueue,
    workflowBundle: { codePath: cfg.bundlePath },
    activities,
  });
  const run = worker.run();
  process.stdout.write('READY\n');
  await run;
  for (const c of closers.reverse()) await c();
}

main().catch((err: unknown) => {
  process.stderr.write(`bench worker process: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
