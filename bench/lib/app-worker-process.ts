/**
 * An application's dual workers (src/routing/dual-workers.ts) in a process of their own, so bench:cutover
 * can SIGKILL the application's worker mid-move and start it again. Configured by one JSON environment
 * variable (`BENCH_APP_WORKER`, see `AppWorkerConfig`); prints READY once both workers poll.
 */
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { Redis } from 'ioredis';
import { DualWorkers, RoutingStore } from '../../src/routing';

/** What the parent passes in `BENCH_APP_WORKER` (JSON). */
export interface AppWorkerConfig {
  sourceAddress: string;
  targetAddress: string;
  sourceNamespace: string;
  targetNamespace: string;
  redisUrl: string;
  keyPrefix: string;
  units: string[];
  taskQueue: string;
  /** A pre-built workflow bundle (file) of the application's workflows. */
  bundlePath: string;
  /**
   * A plain worker on the source alone, no routing (the direct client's knee is measured against it); the
   * target and Redis fields are then unused.
   */
  plain?: boolean;
}

async function main(): Promise<void> {
  const raw = process.env.BENCH_APP_WORKER;
  if (!raw) throw new Error('BENCH_APP_WORKER is not set: the benchmark passes this process its configuration as JSON');
  const cfg = JSON.parse(raw) as AppWorkerConfig;
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  if (cfg.plain) {
    const worker = await Worker.create({
      connection: await NativeConnection.connect({ address: cfg.sourceAddress }),
      namespace: cfg.sourceNamespace,
      taskQueue: cfg.taskQueue,
      workflowBundle: { codePath: cfg.bundlePath },
    });
    const running = worker.run();
    process.stdout.write('READY\n');
    process.once('SIGTERM', () => worker.shutdown());
    await running;
    return;
  }
  const redis = new Redis(cfg.redisUrl, { maxRetriesPerRequest: 2 });
  redis.on('error', () => undefined); // a Redis restart is one of the faults: the records' staleness covers it
  const workers = await DualWorkers.fromParts({
    workflowBundle: { codePath: cfg.bundlePath },
    sourceConnection: await NativeConnection.connect({ address: cfg.sourceAddress }),
    targetConnection: await NativeConnection.connect({ address: cfg.targetAddress }),
    sourceNamespace: cfg.sourceNamespace,
    targetNamespace: cfg.targetNamespace,
    store: new RoutingStore({ redis, keyPrefix: cfg.keyPrefix }),
    units: cfg.units,
    taskQueue: cfg.taskQueue,
    refreshMs: 250,
  });
  const run = workers.run();
  process.stdout.write('READY\n');
  process.once('SIGTERM', () => void workers.shutdown());
  await run;
  redis.disconnect();
}

main().catch((err: unknown) => {
  process.stderr.write(`bench app worker process: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
