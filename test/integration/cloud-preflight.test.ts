/**
 * Temporal Cloud's rule on a Cloud-shaped target: cutover never calls the operator API there. Preflight
 * reports a missing namespace or search attribute with the exact `tcld` commands, provision only verifies,
 * and the worker verifies its control namespace instead of registering attributes. The proof that no
 * RegisterNamespace / AddSearchAttributes / UpdateNamespace call was made is the server's own request
 * counters, read from its metrics endpoint (the same counters show the describe calls that were made).
 */
import * as assert from 'node:assert/strict';
import { ApplicationFailure, type Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { createClusterActivities } from '../../src/activities/cluster';
import { CloudSetupError } from '../../src/clusters/cloud-setup';
import { connectCluster } from '../../src/clusters/connect';
import { GrpcStatus, grpcCode } from '../../src/clusters/grpc';
import { loadPlan } from '../../src/config';
import { createCutoverWorker } from '../../src/worker';
import { scrapeRequests } from '../../bench/lib/server-metrics';
import { CLOUD_SUFFIX, testStack, uniqueId, type CloudShapedCluster } from '../harness';
import { until } from '../harness/wait';

const OPERATOR_WRITES = /\|(RegisterNamespace|UpdateNamespace|DeleteNamespace|AddSearchAttributes|RemoveSearchAttributes)$/;
/** An attribute only the source has: what preflight must find missing on the target. */
const SOURCE_ONLY = 'CutoverPreflightAmount';

/** Sums the frontend request counters whose `namespace|operation` key matches. */
async function countOps(metricsUrl: string, match: (key: string) => boolean): Promise<number> {
  const counts = await scrapeRequests(metricsUrl);
  return Object.entries(counts)
    .filter(([k]) => match(k))
    .reduce((n, [, v]) => n + v, 0);
}

/** The same sum once two reads 1.5 s apart agree (the server flushes its counters every second or so). */
async function settledCount(metricsUrl: string, match: (key: string) => boolean): Promise<number> {
  let last = -1;
  return until(
    'request counters settle',
    async () => {
      const n = await countOps(metricsUrl, match);
      return n === last ? n : ((last = n), undefined);
    },
    { timeoutMs: 30_000, everyMs: 1_500 },
  );
}

describe('Cloud-shaped target: preflight and provision only verify, and print the tcld commands', function () {
  this.timeout(300_000);
  let c: CloudShapedCluster;
  let source: Connection;
  let target: Connection;
  let writesBefore: number;
  let describesBefore: number;

  before(async () => {
    c = await testStack().cloudShaped('api-key');
    source = await connectCluster('legacy', { address: testStack().source.address });
    target = await connectCluster('cloud', c.clusterConfig());
    try {
      await source.operatorService.addSearchAttributes({
        namespace: 'default',
        searchAttributes: { [SOURCE_ONLY]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT },
      });
    } catch (err) {
      if (grpcCode(err) !== GrpcStatus.ALREADY_EXISTS) throw err;
    }
    writesBefore = await settledCount(c.metricsUrl, (k) => OPERATOR_WRITES.test(k));
    describesBefore = await countOps(c.metricsUrl, (k) => k.endsWith('|DescribeNamespace'));
  });

  after(async () => {
    await source?.operatorService.removeSearchAttributes({ namespace: 'default', searchAttributes: [SOURCE_ONLY] }).catch(() => undefined);
    await source?.close();
    await target?.close();
  });

  const activities = () =>
    createClusterActivities({
      source: { name: 'legacy', connection: source, kind: 'self-hosted' },
      target: { name: 'cloud', connection: target, kind: 'cloud', cloudAuth: 'api-key' },
    });

  it('a missing target namespace: preflight fails with `tcld namespace create`, carrying the source attributes', async () => {
    const ghost = `${uniqueId('ghost')}${CLOUD_SUFFIX}`;
    const r = await activities().preflight({
      sourceNamespace: 'payments',
      targetNamespace: ghost,
      taskQueues: ['payments'],
      requirePollers: false,
    });
    assert.equal(r.ok, false);
    assert.deepEqual(r.clusterKinds, { source: 'self-hosted', target: 'cloud' });
    const problem = r.problems.find((p) => p.field === 'targetNamespace');
    assert.ok(problem, JSON.stringify(r.problems));
    assert.match(
      problem.message,
      new RegExp(
        `tcld namespace create --namespace ${ghost.replace(/\./g, '\\.')} --region <region> --retention-days \\d+ --auth-method api_key`,
      ),
    );
    assert.match(problem.message, /--search-attribute "TenantId=Keyword"/);
    assert.match(problem.message, /--search-attribute "CutoverUnit=Keyword"/);
  });

  it('a missing search attribute: preflight fails with `tcld namespace search-attributes add`', async () => {
    const r = await activities().preflight({
      sourceNamespace: 'default',
      targetNamespace: `default${CLOUD_SUFFIX}`,
      taskQueues: ['q'],
      requirePollers: false,
    });
    assert.equal(r.ok, false);
    assert.deepEqual(r.missingSearchAttributes, [SOURCE_ONLY]);
    const problem = r.problems.find((p) => p.field === 'searchAttributes');
    assert.ok(problem, JSON.stringify(r.problems));
    assert.ok(
      problem.message.includes(
        `tcld namespace search-attributes add --namespace default${CLOUD_SUFFIX} --search-attribute "${SOURCE_ONLY}=Int"`,
      ),
      problem.message,
    );
  });

  it('provision only verifies: NamespaceNotCreatable and SearchAttributesMissing, each with its tcld command', async () => {
    const ghost = `${uniqueId('ghost')}${CLOUD_SUFFIX}`;
    await assert.rejects(
      activities().provision({ sourceNamespace: 'payments', targetNamespace: ghost }),
      (e: unknown) =>
        e instanceof ApplicationFailure &&
        e.type === 'NamespaceNotCreatable' &&
        e.message.includes(`tcld namespace create --namespace ${ghost}`),
    );
    await assert.rejects(
      activities().provision({ sourceNamespace: 'default', targetNamespace: `default${CLOUD_SUFFIX}` }),
      (e: unknown) =>
        e instanceof ApplicationFailure &&
        e.type === 'SearchAttributesMissing' &&
        e.message.includes('tcld namespace search-attributes add'),
    );
  });

  it('the worker verifies a cloud control namespace instead of creating it (CloudSetupError with the tcld command)', async () => {
    const s = testStack();
    const planOf = (namespace: string) =>
      loadPlan({
        name: uniqueId('cloud-worker'),
        clusters: { legacy: { address: s.source.address }, cloud: c.clusterConfig() },
        source: 'legacy',
        target: 'cloud',
        control: { cluster: 'cloud', namespace },
        redis: { url: s.redisUrl, keyPrefix: `${uniqueId('cloud-worker')}:` },
        namespaces: { payments: { strategy: 'drain-and-switch' } },
        rings: [{ name: 'r', units: ['namespace/payments'] }],
      });
    const ghost = uniqueId('ghostctl');
    await assert.rejects(
      createCutoverWorker({ plan: planOf(ghost) }),
      (e: unknown) =>
        e instanceof CloudSetupError &&
        e.namespace === `${ghost}${CLOUD_SUFFIX}` &&
        e.commands.some((cmd) => cmd.startsWith(`tcld namespace create --namespace ${ghost}${CLOUD_SUFFIX} `)),
    );
    // The control namespace the stack created, with cutover's attributes: the worker starts and registers nothing.
    const worker = await createCutoverWorker({ plan: planOf('cutover') });
    const running = worker.run();
    try {
      await until('the worker to poll the cloud control namespace', () =>
        worker.workers.every((w) => w.getState() === 'RUNNING') ? true : undefined,
      );
    } finally {
      worker.shutdown();
      await running;
    }
  });

  it('no operator API call reached the Cloud-shaped server, while the describes did', async () => {
    // Counters reach the metrics endpoint a moment after the calls: wait for the describes to show.
    await until('the describe calls to show in the counters', async () =>
      (await countOps(c.metricsUrl, (k) => k.endsWith('|DescribeNamespace'))) > describesBefore ? true : undefined,
    );
    assert.equal(await settledCount(c.metricsUrl, (k) => OPERATOR_WRITES.test(k)), writesBefore);
  });
});
