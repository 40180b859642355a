/**
 * An application worker in a process of its own that exports the SDK's worker metrics to Prometheus: the
 * SDK's Runtime (and so its telemetry) can be installed once per process, and the test process has one
 * already. Runs the compare-app workflows on one cluster and namespace, one worker per task queue (a
 * comma-separated list), given by the COMPARE_METRICS_* environment variables; prints `READY` once the
 * workers run.
 */
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';

async function main(): Promise<void> {
  const env = (k: string): string => {
    const v = process.env[k];
    if (!v) throw new Error(`${k} is not set`);
    return v;
  };
  const metricsAddress = env('COMPARE_METRICS_BIND');
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { metrics: { prometheus: { bindAddress: metricsAddress } } },
  });
  const connection = await NativeConnection.connect({ address: env('COMPARE_METRICS_ADDRESS') });
  const workers = await Promise.all(
    env('COMPARE_METRICS_QUEUES')
      .split(',')
      .map((taskQueue) =>
        Worker.create({
          connection,
          namespace: env('COMPARE_METRICS_NAMESPACE'),
          taskQueue,
          workflowBundle: { codePath: env('COMPARE_METRICS_BUNDLE') },
        }),
      ),
  );
  process.once('SIGTERM', () => workers.forEach((w) => w.shutdown()));
  const runs = Promise.all(workers.map((w) => w.run()));
  process.stdout.write('READY\n');
  await runs;
  await connection.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`compare metrics worker process: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
