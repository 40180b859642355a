/**
 * The compare and schedule-to-start gates against the real stack: the same workflow type run on the
 * source and on the target dev server, judged by the gate activity the campaign workflow calls
 * (`measureGate`, built by `createGateActivities` over both clusters' connections), read from visibility
 * and from the SDK's worker metrics in the stack's Prometheus, and the target's task-queue backlog with
 * and without a worker.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import { createGateActivities, describeBacklog, type GateUnitScope } from '../../src/activities/gates';
import { gateSpec } from '../../src/campaign/plan';
import type { GateConfig } from '../../src/config';
import type { BacklogEvidence } from '../../src/gates/backlog';
import type { CompareEvidence } from '../../src/gates/compare';
import { prometheusInstantQuery } from '../../src/gates/compare-prometheus';
import { freePort } from '../../src/stack/ports';
import type { Measurement } from '../../src/gates/types';
import { compareAppJob } from '../workflows/compare-app';
import { testStack, uniqueId, workflowBundle } from '../harness';
import { childReady, until } from '../harness/wait';

const NAMESPACE = 'default';
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const LIMITS = { interval: 1000, count: 1, failureLimit: 0, consecutiveErrorLimit: 0 };

/** A run of the app job: how long it takes and whether it fails. */
type Job = { ms: number; fail: boolean };
const jobs = (n: number, ms: number, fail = false): Job[] => Array.from({ length: n }, () => ({ ms, fail }));

describe('gates: compare provider on both dev servers', function () {
  this.timeout(120_000);
  const conn: Partial<Record<'source' | 'target', Connection>> = {};
  const native: Partial<Record<'source' | 'target', NativeConnection>> = {};
  let bundle: WorkflowBundle;

  before(async () => {
    for (const side of ['source', 'target'] as const) {
      conn[side] = await Connection.connect({ address: testStack()[side].address });
      native[side] = await NativeConnection.connect({ address: testStack()[side].address });
    }
    bundle = await workflowBundle({ workflowsPath: require.resolve('../workflows/compare-app'), logger: quiet });
  });
  after(async () => {
    for (const side of ['source', 'target'] as const) {
      await conn[side]?.close();
      await native[side]?.close();
    }
  });

  /** Runs `jobs` of the app's workflow type on one side's task queue, each to its end, with a worker of its own. */
  async function run(side: 'source' | 'target', taskQueue: string, list: Job[]): Promise<void> {
    const client = new Client({ connection: conn[side]!, namespace: NAMESPACE });
    const worker = await Worker.create({ connection: native[side]!, namespace: NAMESPACE, taskQueue, workflowBundle: bundle });
    await worker.runUntil(async () => {
      // Start the runs once the worker polls: a run started before would count the worker's start-up as its latency.
      await until(
        `a worker polling ${taskQueue} on the ${side}`,
        async () => (await describeBacklog(conn[side]!, NAMESPACE, taskQueue, 'workflow')).pollers > 0,
        { timeoutMs: 20_000, everyMs: 100 },
      );
      const ends = await Promise.allSettled(
        list.map((j, i) =>
          client.workflow.execute(compareAppJob, { taskQueue, workflowId: `${taskQueue}-${side}-${i}`, args: [j.ms, j.fail] }),
        ),
      );
      assert.equal(ends.filter((e) => e.status === 'rejected').length, list.filter((j) => j.fail).length);
    });
    // Visibility lags the close by about a second: wait until every run is listed as closed.
    await until(
      `${list.length} closed runs on the ${side}`,
      async () => (await client.workflow.count(`TaskQueue = "${taskQueue}" AND ExecutionStatus != "Running"`)).count === list.length,
      { timeoutMs: 20_000, everyMs: 250 },
    );
  }

  /** Runs both sides, then takes one measurement of a compare gate over the unit's task queue since `stepStartedAt`. */
  async function compare(source: Job[], target: Job[], settings: Partial<NonNullable<GateConfig['compare']>> = {}) {
    const taskQueue = uniqueId('compare-tq');
    const stepStartedAt = new Date(Date.now() - 1000).toISOString();
    await Promise.all([run('source', taskQueue, source), run('target', taskQueue, target)]);
    const config = {
      compare: {
        workflowTypes: ['compareAppJob'],
        minSamples: 10,
        maxSamples: 500,
        alpha: 0.05,
        latencyTolerance: 0.2,
        ...settings,
      },
      ...LIMITS,
    } as GateConfig;
    const gate = gateSpec('same-as-source', config);
    const unit: GateUnitScope = {
      unit: 'namespace/default',
      sourceNamespace: NAMESPACE,
      targetNamespace: NAMESPACE,
      taskQueues: [taskQueue],
    };
    const acts = createGateActivities({ source: { connection: conn.source! }, target: { connection: conn.target! } });
    const m = await acts.measureGate({ gate, units: [unit], stepStartedAt, measurementId: 'm1' });
    return { m, evidence: m.evidence as CompareEvidence | undefined, acts, gate, unit, stepStartedAt };
  }

  it('the same behaviour on both sides is successful, with counts, rates, tests and medians as evidence', async () => {
    const { m, evidence } = await compare(jobs(15, 500), jobs(15, 500), { latencyTolerance: 0.3 });
    assert.equal(m.result, 'successful', m.message);
    const t = evidence!.types[0]!;
    assert.equal(t.workflowType, 'compareAppJob');
    assert.deepEqual([t.source.closed, t.source.failed, t.target.closed, t.target.failed], [15, 0, 15, 0]);
    assert.deepEqual([t.source.latencySamples, t.target.latencySamples], [15, 15]);
    assert.equal(t.failureTest!.p, 1);
    assert.ok(t.latencyTest!.p >= 0.05, `latency p ${t.latencyTest!.p}`);
    assert.ok(t.source.medianMs! >= 500 && t.target.medianMs! >= 500, 'a run lasts at least its timer');
    assert.equal(evidence!.latencyTolerance, 0.3);
    assert.equal(evidence!.maxSamples, 500);
    assert.equal(t.source.truncated, false);
  });

  it('failures on the target only: failed by the proportion test', async () => {
    const { m, evidence } = await compare(jobs(15, 100), [...jobs(10, 100), ...jobs(6, 100, true)]);
    assert.equal(m.result, 'failed', m.message);
    const t = evidence!.types[0]!;
    assert.deepEqual([t.source.failed, t.source.closed, t.target.failed, t.target.closed], [0, 15, 6, 16]);
    assert.equal(t.failureTest!.worse, true);
    assert.ok(t.failureTest!.z > 2 && t.failureTest!.p < 0.05, JSON.stringify(t.failureTest));
    assert.equal(m.value, Math.min(t.failureTest!.p, t.latencyTest!.p));
  });

  it('a target slower than the tolerance allows: failed by Mann–Whitney; a sample capped by maxSamples says so', async () => {
    const { m, evidence } = await compare(jobs(12, 200), jobs(12, 3000), { maxSamples: 11, latencyTolerance: 0.1 });
    assert.equal(m.result, 'failed', m.message);
    const t = evidence!.types[0]!;
    assert.equal(t.failureTest!.worse, false);
    assert.equal(t.latencyTest!.worse, true);
    assert.ok(t.target.medianMs! > t.source.medianMs! * 1.1);
    // A run on the dev server takes its timer plus about a second (measured here: 200 ms and 1 s timers both
    // closed 1.2–1.5 s after the start), so the target's 3 s runs are slower in every pair: U = 11 · 11.
    assert.equal(t.latencyTest!.u, 121, m.message);
    assert.deepEqual([t.source.latencySamples, t.target.latencySamples, t.source.truncated, t.target.truncated], [11, 11, true, true]);
    assert.deepEqual([t.source.closed, t.target.closed], [12, 12], 'the counts are not capped');
  });

  it('too few runs is inconclusive; runs closed before the window do not count', async () => {
    const { m, evidence, acts, gate, unit } = await compare(jobs(3, 100), jobs(3, 100));
    assert.equal(m.result, 'inconclusive', m.message);
    assert.equal(evidence!.types[0]!.failureTest, null);
    assert.equal(evidence!.types[0]!.source.closed, 3);
    const later = await acts.measureGate({
      gate,
      units: [unit],
      stepStartedAt: new Date(Date.now() + 1000).toISOString(),
      measurementId: 'm2',
    });
    assert.equal(later.result, 'inconclusive');
    assert.equal((later.evidence as CompareEvidence).types[0]!.source.closed, 0);
  });

  it('a worker without the source connection errors the measurement instead of passing', async () => {
    const acts = createGateActivities({ target: { connection: conn.target! } });
    const gate = gateSpec('same', {
      compare: { workflowTypes: ['x'], minSamples: 1, maxSamples: 1, alpha: 0.05, latencyTolerance: 0 },
      ...LIMITS,
    });
    const unit: GateUnitScope = { unit: 'namespace/default', sourceNamespace: NAMESPACE, targetNamespace: NAMESPACE, taskQueues: ['none'] };
    const m = await acts.measureGate({ gate, units: [unit], stepStartedAt: new Date().toISOString(), measurementId: 'm' });
    assert.equal(m.result, 'error');
  });
});

describe('gates: compare provider on Prometheus (the SDK worker metrics of both sides)', function () {
  this.timeout(180_000);
  const conn: Partial<Record<'source' | 'target', Connection>> = {};
  const children: ChildProcess[] = [];
  // One task queue per test: each test's runs are told apart by the task_queue label.
  const queues = { same: uniqueId('promcmp-same'), failing: uniqueId('promcmp-failing') };
  const apps = { source: uniqueId('promcmp-src'), target: uniqueId('promcmp-tgt') };
  const query = () => prometheusInstantQuery({ url: testStack().prometheusUrl });
  /** Runs that ended on a side's worker for a queue, as Prometheus has scraped them (completed + failed). */
  /** The label selector of one side's worker metrics for a queue. */
  const selector = (side: 'source' | 'target', taskQueue: string) => `{app="${apps[side]}",task_queue="${taskQueue}"}`;
  const ended = async (side: 'source' | 'target', taskQueue: string) => {
    const sel = selector(side, taskQueue);
    const r = await query()(`sum(temporal_workflow_completed${sel}) + sum(temporal_workflow_failed${sel})`, Date.now());
    return r[0]?.value ?? 0;
  };
  /** The fewest samples any of a side's run counters for a queue has since the window began. */
  const samplesInWindow = async (side: 'source' | 'target', taskQueue: string) => {
    const sel = selector(side, taskQueue);
    const secs = Math.max(1, Math.ceil((Date.now() - Date.parse(stepStartedAt)) / 1000));
    const counts = await Promise.all(
      ['temporal_workflow_completed', 'temporal_workflow_failed'].map(
        async (m) => (await query()(`min(count_over_time(${m}${sel}[${secs}s]))`, Date.now()))[0]?.value ?? 0,
      ),
    );
    return Math.min(...counts);
  };
  let tmp: string;
  /** Where the windows start: after the warm-up runs were scraped (see before). */
  let stepStartedAt: string;

  /** Runs `list` on one side's queue (its child worker polls it), each to its end. */
  async function run(side: 'source' | 'target', taskQueue: string, list: Job[], tag: string): Promise<void> {
    const client = new Client({ connection: conn[side]!, namespace: NAMESPACE });
    const ends = await Promise.allSettled(
      list.map((j, i) =>
        client.workflow.execute(compareAppJob, { taskQueue, workflowId: `${taskQueue}-${side}-${tag}-${i}`, args: [j.ms, j.fail] }),
      ),
    );
    assert.equal(ends.filter((e) => e.status === 'rejected').length, list.filter((j) => j.fail).length);
  }

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'promcmp-'));
    const bundle = await workflowBundle({ workflowsPath: require.resolve('../workflows/compare-app'), logger: quiet });
    const bundlePath = path.join(tmp, 'compare-app.js');
    fs.writeFileSync(bundlePath, bundle.code);
    for (const side of ['source', 'target'] as const) {
      conn[side] = await Connection.connect({ address: testStack()[side].address });
      // The SDK's Runtime (its metrics exporter) installs once per process: each side's worker is a child of its own.
      const address = `127.0.0.1:${await freePort()}`;
      const child = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(__dirname, 'compare-metrics.worker-process.ts')], {
        cwd: path.join(__dirname, '..', '..'),
        env: {
          ...process.env,
          COMPARE_METRICS_BIND: address,
          COMPARE_METRICS_ADDRESS: testStack()[side].address,
          COMPARE_METRICS_NAMESPACE: NAMESPACE,
          COMPARE_METRICS_QUEUES: `${queues.same},${queues.failing}`,
          COMPARE_METRICS_BUNDLE: bundlePath,
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(child);
      await childReady(child, `${side} app worker process`);
      await testStack().addScrapeTarget(address, apps[side]);
    }
    // A counter's series appears with its first increment, and increase() cannot count the step from
    // nothing to that first value: one run completed and one failed per side and queue, scraped before the
    // windows start, so every run the tests judge is an increase Prometheus sees.
    await Promise.all(
      (['source', 'target'] as const).flatMap((side) =>
        Object.values(queues).map((q) => run(side, q, [...jobs(1, 10), ...jobs(1, 10, true)], 'warmup')),
      ),
    );
    for (const side of ['source', 'target'] as const) {
      for (const q of Object.values(queues)) {
        await until(`the warm-up runs on the ${side}'s ${q} scraped`, async () => (await ended(side, q)) === 2, {
          timeoutMs: 30_000,
          everyMs: 250,
        });
      }
    }
    stepStartedAt = new Date().toISOString();
  });
  after(async () => {
    for (const child of children) {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    }
    for (const side of ['source', 'target'] as const) await conn[side]?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** Runs both sides on `taskQueue`, waits until Prometheus has every run, then takes one measurement. */
  async function compare(taskQueue: string, source: Job[], target: Job[]) {
    await Promise.all([run('source', taskQueue, source, 'judged'), run('target', taskQueue, target, 'judged')]);
    for (const [side, list] of [
      ['source', source],
      ['target', target],
    ] as const) {
      await until(`${list.length} judged runs on the ${side} scraped`, async () => (await ended(side, taskQueue)) === 2 + list.length, {
        timeoutMs: 30_000,
        everyMs: 250,
      });
      // increase() extrapolates to the window's edges by up to ~1.1 scrape intervals each side: with few
      // samples in the window (a loaded machine scrapes late) that alone lifts 15 runs past 22. Ten samples
      // of each counter since the window began keep the count within the bound `about` allows.
      await until(`ten samples of the ${side}'s counters in the window`, async () => (await samplesInWindow(side, taskQueue)) >= 10, {
        timeoutMs: 30_000,
        everyMs: 250,
      });
    }
    const gate = gateSpec('same-as-source', {
      compare: {
        workflowTypes: ['compareAppJob'],
        source: 'prometheus',
        prometheus: { url: testStack().prometheusUrl, sourceLabels: { app: apps.source }, targetLabels: { app: apps.target } },
        minSamples: 10,
        maxSamples: 500,
        alpha: 0.05,
        latencyTolerance: 0.2,
      },
      ...LIMITS,
    });
    // Both clusters name the namespace `default`: the side labels alone tell their workers apart.
    const unit: GateUnitScope = {
      unit: 'namespace/default',
      sourceNamespace: NAMESPACE,
      targetNamespace: NAMESPACE,
      taskQueues: [taskQueue],
    };
    // No cluster connection: this source reads Prometheus only.
    const acts = createGateActivities({ target: { connection: conn.target! } });
    const m = await acts.measureGate({ gate, units: [unit], stepStartedAt, measurementId: 'm1' });
    return { m, evidence: m.evidence as CompareEvidence };
  }

  /**
   * increase() extrapolates the first and last samples in the window to its edges: a count comes out above
   * the runs by up to the window over the time its samples span (measured here: 17 for 15 runs in a 5 s
   * window scraped each second), never below them (the window holds every judged run and no other).
   */
  const about = (actual: number, runs: number, what: string) =>
    assert.ok(actual >= runs && actual <= Math.ceil(runs * 1.5), `${what}: ${actual} for ${runs} runs`);

  it('the same behaviour on both sides is successful, with the counts and latency buckets as evidence', async () => {
    const { m, evidence } = await compare(queues.same, jobs(15, 200), jobs(15, 200));
    assert.equal(m.result, 'successful', m.message);
    assert.equal(evidence.dataSource, 'prometheus');
    assert.match(evidence.note!, /latency is binned/);
    assert.match(m.message, /from prometheus/);
    const t = evidence.types[0]!;
    about(t.source.closed, 15, 'source closed');
    about(t.target.closed, 15, 'target closed');
    assert.deepEqual([t.source.failed, t.target.failed], [0, 0]);
    assert.equal(t.failureTest!.p, 1);
    assert.equal(t.latencyTest!.worse, false);
    // The histogram's buckets carry the same runs: every judged run is in one bucket on each side.
    about(t.source.latencySamples, 15, 'source latency samples');
    assert.deepEqual(t.latencyBuckets!.source.bounds, t.latencyBuckets!.target.bounds);
    assert.ok(t.latencyBuckets!.source.bounds.includes(Infinity), 'the +Inf bucket is read');
    assert.ok(t.source.medianMs! >= 200, `a run lasts at least its timer: median bucket ≤ ${t.source.medianMs}`);
  });

  it('failures on the target only: failed by the proportion test on the counters', async () => {
    const { m, evidence } = await compare(queues.failing, jobs(15, 200), [...jobs(10, 200), ...jobs(6, 200, true)]);
    assert.equal(m.result, 'failed', m.message);
    const t = evidence.types[0]!;
    assert.equal(t.source.failed, 0);
    about(t.target.failed, 6, 'target failed');
    about(t.target.closed, 16, 'target closed');
    assert.equal(t.failureTest!.worse, true);
    assert.ok(t.failureTest!.z > 2 && t.failureTest!.p < 0.05, JSON.stringify(t.failureTest));
    assert.match(m.message, /from prometheus: compareAppJob failed: failures 0\/\d+ → \d+\/\d+/);
  });
});

describe('gates: schedule-to-start provider on the target dev server', function () {
  this.timeout(120_000);
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

  it('a queue no worker polls builds a backlog and fails; with a worker it drains and passes', async () => {
    const taskQueue = uniqueId('backlog-tq');
    const client = new Client({ connection, namespace: NAMESPACE });
    const acts = createGateActivities({ target: { connection } });
    const gate = gateSpec('keep-up', { scheduleToStart: { maxBacklogAge: 1000 }, ...LIMITS });
    const unit: GateUnitScope = {
      unit: 'namespace/default',
      sourceNamespace: NAMESPACE,
      targetNamespace: NAMESPACE,
      taskQueues: [taskQueue],
    };
    let last: Measurement | undefined;
    const measure = async () =>
      (last = await acts.measureGate({ gate, units: [unit], stepStartedAt: new Date().toISOString(), measurementId: 'm' }));
    const stats = (m: Measurement) => (m.evidence as BacklogEvidence).queues.find((q) => q.type === 'workflow')!;

    // Five starts and no worker: the workflow tasks wait; the oldest passes maxBacklogAge.
    await Promise.all(
      [0, 1, 2, 3, 4].map((i) => client.workflow.start(compareAppJob, { taskQueue, workflowId: `${taskQueue}-${i}`, args: [10, false] })),
    );
    const behind = await until(
      'a backlog older than maxBacklogAge',
      async () => {
        const m = await measure();
        return stats(m).backlogAgeMs > 1000 && m;
      },
      { timeoutMs: 30_000, everyMs: 500, detail: () => JSON.stringify(last) },
    );
    assert.equal(behind.result, 'failed', behind.message);
    assert.equal(stats(behind).backlogCount, 5);
    assert.equal(stats(behind).pollers, 0);
    assert.ok(behind.value! > 1000);
    assert.match(behind.message, /oldest task waited/);

    // A worker on the queue: the backlog drains, and the gate passes.
    const worker = await Worker.create({
      connection: native,
      namespace: NAMESPACE,
      taskQueue,
      workflowBundle: await workflowBundle({ workflowsPath: require.resolve('../workflows/compare-app'), logger: quiet }),
    });
    await worker.runUntil(async () => {
      const caughtUp = await until(
        'the backlog drained with a worker polling',
        async () => {
          const m = await measure();
          return m.result === 'successful' && m;
        },
        { timeoutMs: 30_000, everyMs: 500, detail: () => JSON.stringify(last) },
      );
      assert.equal(stats(caughtUp).backlogCount, 0);
      assert.ok(stats(caughtUp).pollers >= 1);
      assert.ok(caughtUp.value! <= 1000);
    });
  });
});
