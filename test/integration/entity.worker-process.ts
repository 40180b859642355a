/**
 * The cutover worker as a separate process, so the entity tests can SIGKILL it mid-phase.
 * Configured by ENTITY_* environment variables set by the rig; prints READY once polling.
 */
import { Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { Redis } from 'ioredis';
import { createActivities } from '../../src/activities';
import { RoutingStore } from '../../src/routing';
import { ScheduleFence } from '../../src/schedules';
import { AuditStream } from '../../src/audit/stream';

async function main(): Promise<void> {
  const env = (k: string): string => {
    const v = process.env[k];
    if (!v) throw new Error(`${k} is not set`);
    return v;
  };
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const [sourceName, targetName] = env('ENTITY_NAMES').split(',');
  const source = await Connection.connect({ address: env('ENTITY_SOURCE') });
  const target = await Connection.connect({ address: env('ENTITY_TARGET') });
  const native = await NativeConnection.connect({ address: env('ENTITY_TARGET') });
  const redis = new Redis(env('ENTITY_REDIS'), { maxRetriesPerRequest: 2 });
  // It reconnects by itself; a Redis restart (a fault some tests and bench:cutover inject) reaches the activities as errors.
  redis.on('error', () => undefined);
  const worker = await Worker.create({
    connection: native,
    namespace: env('ENTITY_NAMESPACE'),
    taskQueue: env('ENTITY_QUEUE'),
    workflowBundle: { codePath: env('ENTITY_BUNDLE') },
    // A killed worker's sticky queue is abandoned quickly, so its successor picks the workflow up at once.
    stickyQueueScheduleToStartTimeout: '1 second',
    activities: createActivities({
      source: { name: sourceName!, connection: source, kind: process.env.ENTITY_SOURCE_KIND === 'self-hosted' ? 'self-hosted' : 'dev' },
      target: { name: targetName!, connection: target, kind: 'dev' },
      routing: new RoutingStore({ redis, keyPrefix: env('ENTITY_PREFIX') }),
      scheduleFence: new ScheduleFence({ redis, keyPrefix: env('ENTITY_PREFIX') }),
      audit: new AuditStream({ redis, keyPrefix: env('ENTITY_PREFIX') }),
    }),
  });
  const run = worker.run();
  process.stdout.write('READY\n');
  await run;
  await native.close();
  await source.close();
  await target.close();
  redis.disconnect();
}

main().catch((err) => {
  process.stderr.write(`entity worker process: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
