/**
 * The cutover worker's own metrics, end to end: the worker runs as a child process
 * (`node bin/cutover.js worker --metrics …`), entity workflows move on the real control cluster,
 * the cutover_* metrics appear beside the SDK's on the worker's endpoint and in the test stack's
 * real Prometheus; the dashboard's queries run on that Prometheus; the alert rules pass promtool. With the
 * worker stopped, a collector still builds the metrics, from the units' memos in one visibility listing.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { unitInputFromPlan } from '../../src/campaign/unit-input';
import { loadPlan, type Plan } from '../../src/config';
import { METRIC, startCutoverMetrics } from '../../src/metrics';
import { resolvePrometheusTool } from '../../src/stack/prometheus-binary';
import { parseUnitName, unitWorkflowId } from '../../src/domain/ids';
import * as messages from '../../src/workflows/unit-migration.messages';
import { unitStartOptions } from '../../src/domain/unit-input';
import { testStack, uniqueId } from '../harness';
import { until } from '../harness/wait';
import { recordingMeter } from '../harness/recording-meter';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'cutover.js');
const ALERTS = path.join(ROOT, 'deploy', 'prometheus', 'alerts.yml');
const ALERT_TESTS = path.join(ROOT, 'deploy', 'prometheus', 'alerts.test.yml');
const DASHBOARD = path.join(ROOT, 'deploy', 'grafana', 'cutover-dashboard.json');

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Samples of the Prometheus text format: name, labels, value. */
function parseExposition(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m || line.startsWith('#')) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

describe('metrics: alert rules and dashboard', () => {
  let promtool: string;
  before(async function () {
    // The first run on a bare machine builds promtool into the project cache (minutes, with progress).
    this.timeout(30 * 60_000);
    promtool = await resolvePrometheusTool('promtool', { onProgress: (line) => process.stderr.write(`[promtool] ${line}\n`) });
  });

  it('promtool accepts the alert rules and their unit tests pass', async () => {
    const check = await run(promtool, ['check', 'rules', ALERTS]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    const test = await run(promtool, ['test', 'rules', ALERT_TESTS]);
    assert.equal(test.code, 0, test.stdout + test.stderr);
  });

  it('promtool rejects a rule file with a broken expression (the check can fail)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alerts-'));
    try {
      const bad = path.join(dir, 'bad.yml');
      fs.writeFileSync(
        bad,
        fs.readFileSync(ALERTS, 'utf8').replace('max by (unit) (cutover_duplicates) > 0', 'max by (unit) (cutover_duplicates > 0'),
      );
      const check = await run(promtool, ['check', 'rules', bad]);
      assert.notEqual(check.code, 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every dashboard query runs on a real Prometheus', async () => {
    const s = testStack();
    const dash = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as {
      uid: string;
      panels: { title: string; targets?: { expr: string }[] }[];
      templating: { list: { name: string }[] };
    };
    assert.equal(dash.uid, 'cutover-migrations');
    assert.deepEqual(
      dash.templating.list.map((v) => v.name),
      ['datasource', 'unit'],
    );
    const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
    assert.ok(exprs.length >= 12);
    for (const { panel, expr } of exprs) {
      const q = expr.replace(/\$unit/g, '.*').replace(/\$__rate_interval/g, '1m');
      const res = await fetch(`${s.prometheusUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await res.json()) as { status: string; error?: string };
      assert.equal(body.status, 'success', `${panel}: ${q}: ${body.error}`);
    }
  });
});

describe("metrics: the cutover worker exports its own metrics beside the SDK's", function () {
  this.timeout(180_000);
  const tenants = [uniqueId('m'), uniqueId('m'), uniqueId('m')];
  const unit = (i: number) => `tenant/detections/${tenants[i]}`;
  let dir: string;
  let plan: Plan;
  let child: ChildProcess | undefined;
  let exited: Promise<number | null>;
  let stderr = '';
  let address: string;
  let connection: Connection;
  let client: Client;
  const started: string[] = [];

  before(async () => {
    const s = testStack();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metrics-'));
    const planFile = path.join(dir, 'plan.json');
    fs.writeFileSync(
      planFile,
      JSON.stringify({
        name: uniqueId('metrics-campaign'),
        clusters: { legacy: { address: s.source.address }, cloud: { address: s.target.address } },
        source: 'legacy',
        target: 'cloud',
        control: { cluster: 'cloud', namespace: 'cutover', taskQueue: uniqueId('metrics-control') },
        redis: { url: s.redisUrl, keyPrefix: `${uniqueId('metrics')}:`, clientStaleness: '1s' },
        namespaces: {
          detections: {
            strategy: 'dual-workers',
            taskQueues: [uniqueId('det')],
            tenants: { selector: { workflowIdPrefix: '{tenant}-' }, ids: tenants },
          },
        },
        gates: {},
        defaults: { bake: '1s', percentSteps: [50] },
        rings: [{ name: 'ring0', units: tenants.map((t) => `tenant/detections/${t}`), gates: [] }],
      }),
    );
    plan = loadPlan(planFile);
    address = `127.0.0.1:${await freePort()}`;
    child = spawn(process.execPath, [BIN, 'worker', '--plan', planFile, '--metrics', address, '--metrics-interval', '0.5'], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    exited = new Promise((resolve) => child!.on('exit', (code) => resolve(code)));
    await until('the worker to run', async () => (stderr.includes('cutover worker running') ? true : undefined), 90_000).catch(
      (err: Error) => {
        throw new Error(`${err.message}\n${stderr}`);
      },
    );
    connection = await Connection.connect({ address: s.target.address });
    client = new Client({ connection, namespace: 'cutover' });
  });

  after(async () => {
    for (const id of started)
      await client?.workflow
        .getHandle(id)
        .terminate('test teardown')
        .catch(() => undefined);
    if (child && child.exitCode === null) {
      child.kill('SIGINT');
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
      if (code === 'timeout') child.kill('SIGKILL');
    }
    await connection?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function startUnit(i: number): Promise<void> {
    const opts = unitStartOptions(
      unitInputFromPlan(plan, parseUnitName(unit(i))!, { actor: 'test', advanceMode: 'manual' }),
      plan.control.taskQueue,
    );
    await client.workflow.start('tenantMigration', opts);
    started.push(opts.workflowId);
  }
  const handle = (i: number) => client.workflow.getHandle(unitWorkflowId(parseUnitName(unit(i))!));

  it("units per phase, pause and failure show on the worker's endpoint and in Prometheus", async () => {
    // Unit 0 paused in pending; unit 1 advanced into preflight, which fails (nobody polls its task queue
    // on the target); unit 2 never started.
    await startUnit(0);
    await startUnit(1);
    await handle(0).signal(messages.pause, { actor: 'test', commandId: uniqueId('c'), reason: 'metrics test' });
    await handle(1).signal(messages.advance, { actor: 'test', commandId: uniqueId('c') });
    const sample = (all: ReturnType<typeof parseExposition>, name: string, labels: Record<string, string>) =>
      all.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;
    const samples = await until(
      'the metrics to show the paused and the failed unit',
      async () => {
        const all = parseExposition(await (await fetch(`http://${address}/metrics`)).text());
        // Every figure asserted below, from one scrape: a collection round may show one unit's new state
        // before another's (each unit's memo is published by its own workflow task).
        const ok =
          sample(all, METRIC.unitPaused, { unit: unit(0) }) === 1 &&
          sample(all, METRIC.unitPhase, { unit: unit(1), phase: 'failed' }) === 1 &&
          sample(all, METRIC.units, { phase: 'not-started' }) === 1 &&
          sample(all, METRIC.units, { phase: 'pending' }) === 1 &&
          sample(all, METRIC.units, { phase: 'failed' }) === 1 &&
          sample(all, METRIC.unitPhase, { unit: unit(0), phase: 'pending' }) === 1 &&
          sample(all, METRIC.gateResults, { unit: unit(1), gate: 'preflight', result: 'failed' }) === 1;
        return ok ? all : undefined;
      },
      60_000,
    ).catch(async (err: Error) => {
      // Say where the units stood, so a failure here is diagnosable from the report alone.
      const where = await Promise.all(
        [0, 1].map((i) =>
          handle(i)
            .query(messages.status)
            .then(
              (st) => `${unit(i)}: ${st.phase} ${st.waitingFor ?? ''} ${JSON.stringify(st.failure ?? st.gates.at(-1) ?? {})}`,
              (e: Error) => `${unit(i)}: ${e.message}`,
            ),
        ),
      );
      const text = await (await fetch(`http://${address}/metrics`)).text().catch(() => '');
      throw new Error(
        `${err.message}\n${where.join('\n')}\n${text
          .split('\n')
          .filter((l) => l.startsWith('cutover_unit'))
          .join('\n')}\n${stderr.slice(-2000)}`,
      );
    });
    assert.equal(sample(samples, METRIC.units, { phase: 'pending' }), 1);
    assert.equal(sample(samples, METRIC.units, { phase: 'failed' }), 1);
    assert.equal(sample(samples, METRIC.unitPhase, { unit: unit(0), phase: 'pending' }), 1);
    assert.equal(sample(samples, METRIC.approvalsPending, { unit: unit(0) }), 0);
    assert.equal(sample(samples, METRIC.gateResults, { unit: unit(1), gate: 'preflight', result: 'failed' }), 1);
    assert.equal(sample(samples, METRIC.routeEpoch, { unit: unit(0) }), 0);
    assert.ok((sample(samples, METRIC.lastCollect, {}) ?? 0) > Date.now() / 1000 - 60);
    // The SDK's own metrics are on the same endpoint.
    assert.ok(
      samples.some((x) => x.name.startsWith('temporal_workflow_task_schedule_to_start_latency')),
      "SDK metrics beside cutover's",
    );

    const s = testStack();
    const job = uniqueId('cutover-worker');
    await s.addScrapeTarget(address, job);
    const q = `cutover_unit_phase{unit="${unit(1)}",phase="failed"}`;
    await until(
      'Prometheus to scrape the worker',
      async () => {
        const body = (await (await fetch(`${s.prometheusUrl}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as {
          data: { result: { value: [number, string] }[] };
        };
        return body.data.result.some((r) => r.value[1] === '1') ? true : undefined;
      },
      60_000,
    );
  });

  it('the worker stops cleanly on Ctrl-C', async () => {
    child!.kill('SIGINT');
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
    assert.equal(code, 0, stderr);
  });

  it('with no worker left to answer a query, the metrics come from the memos: one listing, no query per unit', async () => {
    assert.notEqual(child!.exitCode, null, 'the worker has stopped');
    // Another plan's entity run in the namespace, its memo sealed with a key this client lacks: the collector
    // never decodes a memo that is not one of its units', so the round still reads every unit.
    const foreign = uniqueId('foreign-unit');
    await client.workflowService.startWorkflowExecution({
      namespace: 'cutover',
      workflowId: foreign,
      workflowType: { name: 'tenantMigration' },
      taskQueue: { name: uniqueId('nobody-polls') },
      requestId: randomUUID(),
      memo: { fields: { cutoverMetrics: { metadata: { encoding: Buffer.from('binary/encrypted') }, data: Buffer.from('sealed') } } },
    });
    started.push(foreign);
    await until('visibility to list the foreign run', async () => {
      const { count } = await client.workflowService.countWorkflowExecutions({ namespace: 'cutover', query: `WorkflowId = '${foreign}'` });
      return Number(count) > 0 ? true : undefined;
    });
    const r = recordingMeter();
    // A query now would wait for a worker that is gone (and count as an error): the memo is all there is.
    const metrics = startCutoverMetrics({
      client,
      units: [0, 1, 2].map(unit),
      meter: r.meter,
      intervalMs: 3_600_000,
      queryTimeoutMs: 2_000,
    });
    try {
      // Visibility takes a moment to show the last memo a unit wrote.
      const stats = await until(
        'the collector to read both units from their memo',
        async () => {
          const st = await metrics.collect();
          return st.fromMemo === 2 && r.get(METRIC.unitPhase, { unit: unit(1), phase: 'failed' }) === 1 ? st : undefined;
        },
        30_000,
      );
      assert.equal(stats.fromQuery, 0);
      assert.equal(stats.errors, 0);
      assert.equal(stats.notStarted, 1);
      // The listing's pages (1,000 runs each) are its only RPCs: none per unit.
      assert.ok(stats.rpcs >= 1 && stats.rpcs <= Math.floor(stats.listed / 1000) + 1, JSON.stringify(stats));
      assert.equal(r.get(METRIC.unitPaused, { unit: unit(0) }), 1);
      assert.equal(r.get(METRIC.unitPhase, { unit: unit(0), phase: 'pending' }), 1);
      assert.equal(r.get(METRIC.gateResults, { unit: unit(1), gate: 'preflight', result: 'failed' }), 1);
      assert.equal(r.get(METRIC.units, { phase: 'not-started' }), 1);
      assert.equal(r.get(METRIC.units, { phase: 'failed' }), 1);
      assert.equal(r.get(METRIC.collectErrors, { unit: unit(0) }), undefined);
      // Every collection so far (the timer's first one too) made no query either.
      const total = metrics.stats();
      assert.equal(total.fromQuery, 0);
      assert.ok(total.collects >= 1 && total.rpcs <= total.collects * (Math.floor(stats.listed / 1000) + 1), JSON.stringify(total));
    } finally {
      await metrics.stop();
    }
  });
});
