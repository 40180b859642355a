/**
 * The gate providers against the real stack: Prometheus (scraping both dev servers and an
 * application metrics endpoint registered by the test) and visibility on the target dev server.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createGateActivities, type GateUnitScope } from '../../src/activities/gates';
import type { GateSpec } from '../../src/campaign/types';
import { measurePrometheus } from '../../src/gates/prometheus';
import type { Measurement } from '../../src/gates/types';
import { entityAppJob } from '../workflows/entity-app';
import { testStack, uniqueId, workflowBundle } from '../harness';
import { until } from '../harness/wait';

/** Measures until the result is `want`, bounded (Prometheus scrapes every second; visibility lags ~1 s). */
async function measureUntil(measure: () => Promise<Measurement>, want: Measurement['result'], timeoutMs = 20_000): Promise<Measurement> {
  let last: Measurement | undefined;
  return await until(
    `a ${want} measurement`,
    async () => {
      last = await measure();
      return last.result === want && last;
    },
    { timeoutMs, everyMs: 250, detail: () => `last measurement: ${JSON.stringify(last)}` },
  );
}

/** A tiny application metrics endpoint: one counter per test, labelled with the test's own ID. */
class AppMetrics {
  failures = 0;
  private server?: http.Server;
  constructor(readonly app: string) {}
  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(`# TYPE gate_test_failures_total counter\ngate_test_failures_total{test="${this.app}"} ${this.failures}\n`);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

describe('gates: prometheus provider against a real Prometheus', function () {
  this.timeout(60_000);

  it("judges a query over the dev servers' own metrics: pass, fail, inconclusive, error", async () => {
    const url = testStack().prometheusUrl;
    // Both dev servers are scraped as job "temporal": wait until both are up.
    const up = await measureUntil(() => measurePrometheus({ url, query: 'sum(up{job="temporal"})', min: 2 }), 'successful');
    assert.equal(up.result, 'successful');
    assert.equal(up.value, 2);
    assert.equal((await measurePrometheus({ url, query: 'sum(up{job="temporal"})', max: 1 })).result, 'failed');
    // Two series (one per cluster) cannot be judged as one number.
    assert.equal((await measurePrometheus({ url, query: 'up{job="temporal"}', min: 1 })).result, 'inconclusive');
    // Bad PromQL is Prometheus refusing the query: an error measurement.
    assert.equal((await measurePrometheus({ url, query: 'sum(up{job=', min: 1 })).result, 'error');
  });

  it('no data is a failed measurement', async () => {
    const m = await measurePrometheus({
      url: testStack().prometheusUrl,
      query: `sum(metric_that_does_not_exist_${uniqueId('m').replace(/-/g, '_')})`,
      max: 1,
    });
    assert.equal(m.result, 'failed');
    assert.equal(m.value, undefined);
  });

  it('an unreachable Prometheus is an error measurement', async () => {
    const dead = http.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const m = await measurePrometheus({ url: `http://127.0.0.1:${port}`, query: 'up', max: 1, timeoutMs: 2000 });
    assert.equal(m.result, 'error');
  });

  it('follows an application metric registered as a scrape target: passes, then fails when the app fails', async () => {
    const app = new AppMetrics(uniqueId('gt'));
    try {
      const address = await app.start();
      await testStack().addScrapeTarget(address, app.app);
      const gate = { url: testStack().prometheusUrl, query: `sum(gate_test_failures_total{test="${app.app}"})`, max: 0 };
      const ok = await measureUntil(() => measurePrometheus(gate), 'successful');
      assert.equal(ok.result, 'successful');
      app.failures = 5;
      const bad = await measureUntil(() => measurePrometheus(gate), 'failed');
      assert.equal(bad.result, 'failed');
      assert.equal(bad.value, 5);
    } finally {
      await app.stop();
    }
  });
});

describe('gates: temporal provider against visibility on the target', function () {
  this.timeout(90_000);
  let connection: Connection;
  let native: NativeConnection;

  before(async () => {
    connection = await Connection.connect({ address: testStack().target.address });
    native = await NativeConnection.connect({ address: testStack().target.address });
  });
  after(async () => {
    await connection?.close();
    await native?.close();
  });

  it("counts the unit's failed runs since the step began; no closed run is no data", async () => {
    const namespace = 'default';
    const taskQueue = uniqueId('gates-tq');
    const client = new Client({ connection, namespace });
    const acts = createGateActivities({ target: { connection } });
    const unit: GateUnitScope = {
      unit: 'namespace/default',
      sourceNamespace: namespace,
      targetNamespace: namespace,
      taskQueues: [taskQueue],
    };
    const gate: GateSpec = {
      name: 'failures',
      kind: 'temporal',
      temporal: { maxFailed: 0 },
      summary: '',
      policy: { interval: 1000, count: 1, failureLimit: 0, consecutiveErrorLimit: 0 },
    };
    const stepStartedAt = new Date(Date.now() - 1000).toISOString();
    const measure = () => acts.measureGate({ gate, units: [unit], stepStartedAt, measurementId: 'm1' });

    // Nothing ran yet: no data.
    const none = await measure();
    assert.equal(none.result, 'failed');
    assert.equal(none.value, 0);

    const worker = await Worker.create({
      connection: native,
      namespace,
      taskQueue,
      workflowBundle: await workflowBundle({
        workflowsPath: require.resolve('../workflows/entity-app'),
        logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
      }),
    });
    await worker.runUntil(async () => {
      await Promise.all(
        [1, 2, 3].map((i) => client.workflow.execute(entityAppJob, { taskQueue, workflowId: `${taskQueue}-ok-${i}`, args: [10] })),
      );
    });
    const ok = await measureUntil(measure, 'successful');
    assert.equal(ok.result, 'successful');
    assert.equal(ok.value, 0);

    // A run that failed on the target (terminated counts as failed) breaks maxFailed 0.
    const h = await client.workflow.start(entityAppJob, { taskQueue, workflowId: `${taskQueue}-bad`, args: [10] });
    await h.terminate('made to fail by the test');
    const bad = await measureUntil(measure, 'failed');
    assert.equal(bad.result, 'failed');
    assert.equal(bad.value, 1);

    // As a ratio: 1 failed of 4 closed.
    const ratio = await acts.measureGate({
      gate: { ...gate, temporal: { maxFailureRatio: 0.2 } },
      units: [unit],
      stepStartedAt,
      measurementId: 'm2',
    });
    assert.equal(ratio.result, 'failed');
    assert.equal(ratio.value, 0.25);
    assert.equal(
      (await acts.measureGate({ gate: { ...gate, temporal: { maxFailureRatio: 0.3 } }, units: [unit], stepStartedAt, measurementId: 'm3' }))
        .result,
      'successful',
    );

    // Runs closed before the step began are not counted: a later step has no data yet.
    const later = await acts.measureGate({
      gate,
      units: [unit],
      stepStartedAt: new Date(Date.now() + 1000).toISOString(),
      measurementId: 'm4',
    });
    assert.equal(later.result, 'failed');
    assert.equal(later.value, 0);
  });
});
