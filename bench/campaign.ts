/**
 * `npm run bench:campaign`: how close cutover's orchestration comes to what the server can do.
 *
 * On a fresh local stack (two dev servers, Redis, Prometheus), in one run:
 * 1. the app namespaces (default 300) registered on both clusters, timed on their own;
 * 2. the bound: the control cluster completing trivial workflows with one activity (closed loop),
 *    measured before and after the campaign, in the same kind of worker process;
 * 3. the campaign: 3,000 tenants (default; `--tenants 10000` scales it) in three rings, through the
 *    real `campaign` and `tenantMigration` workflows and every activity `createCutoverActivities`
 *    composes, run by a cutover worker in its own process (RSS sampled), zero bake, one trivial
 *    Prometheus gate (`vector(0) <= 0`);
 * 4. the cost: workflow, activity and query tasks from the control server's own request counters,
 *    the worker's activity and workflow-task counts by type (SDK metrics), the longest history of any
 *    campaign or entity run (visibility), and the RPCs of the metrics collector (`startCutoverMetrics`, run
 *    at the product's interval beside the campaign, as `cutover worker --metrics` runs it).
 * Prints a table, replaces its section of docs/benchmarks.md, writes bench/results/campaign.json (another
 * size: campaign-<tenants>x<namespaces>.json). Targets are reported beside the figures, never asserted.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from '@temporalio/client';
import { noopMetricMeter } from '@temporalio/common';
import { msToTs } from '@temporalio/common/lib/time';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { connectCluster } from '../src/clusters/connect';
import { buildCampaignInput, DEFAULT_CAMPAIGN_POLL_MS, startCampaign } from '../src/campaign/input';
import { planUnitNames } from '../src/cockpit/target';
import { startCutoverMetrics } from '../src/metrics';
import type { CampaignStatus } from '../src/campaign/types';
import { loadPlan, type Plan } from '../src/config';
import { freePort } from '../src/stack/ports';
import { PrometheusServer } from '../src/stack/prometheus';
import { LocalStack } from '../src/stack/stack';
import { CONTROL_BUNDLE_OPTIONS } from '../src/worker-options';
import { BenchArgsError, parseFlags, runBench, usageOf, type FlagSpec } from './lib/args';
import { closedLoop } from './lib/load';
import { firstError, mapPool } from './lib/pool';
import { headerLine, writeBenchmarkDoc } from './lib/report';
import { sampleRss } from './lib/rss';
import {
  ACTIVITY_TASK_OPS,
  byOperation,
  diffCounts,
  QUERY_TASK_OPS,
  scrapeByLabel,
  scrapeRequests,
  sumOps,
  WORKFLOW_TASK_OPS,
} from './lib/server-metrics';
import { markdownTable, round, writeResults } from './lib/stats';
import { startWorkerProcess, type WorkerChild } from './lib/worker-handle';

const ROOT = path.resolve(__dirname, '..');
const CONTROL_NS = 'cutover';
const CONTROL_QUEUE = 'cutover-bench';
const TRIVIAL_QUEUE = 'bench-trivial';
const CAMPAIGN = 'bench';
/** The server's default `limit.blobSize.error` (2 MiB; Temporal Cloud's limit is the same order). */
const DEFAULT_BLOB_LIMIT = 2 * 1024 * 1024;
/** Trivial workflows in flight during the bound: two levels, the better one is the bound. */
const TRIVIAL_CONCURRENCY = [16, 64];
/** Longest wait for one campaign run's history (read for its timer time). */
const HISTORY_FETCH_MS = 60_000;
/** No unit completed and the campaign's history did not grow for this long: stalled, stop and report why. */
const STALL_MS = 180_000;
/** A campaign that continued-as-new this often is not moving (a run per loop turn): stop and report. */
const MAX_CAMPAIGN_RUNS = 300;
/** The metrics collector's interval during the campaign: the product's default (`cutover worker --metrics-interval`). */
const COLLECT_MS = 5_000;

const FLAGS: Record<string, FlagSpec> = {
  quick: { kind: 'boolean', help: 'smoke run: 10 namespaces, 30 tenants, 5 s bound' },
  namespaces: { kind: 'int', help: 'app namespaces, registered on both clusters (default 300)' },
  tenants: { kind: 'int', help: 'tenant units spread over the namespaces (default 3000; 10000 for the large run)' },
  'batch-size': { kind: 'int', help: 'batch size of rings 1 and 2 (default 100)' },
  'poll-ms': { kind: 'int', help: `how often the campaign polls its units (default ${DEFAULT_CAMPAIGN_POLL_MS}, the product default)` },
  'bound-seconds': { kind: 'int', help: 'length of each bound measurement (default 20; --quick 5)' },
  'timeout-min': { kind: 'int', help: 'give up on the campaign after this long (default 60)' },
  'no-write': { kind: 'boolean', help: 'print only: do not touch docs/benchmarks.md or bench/results' },
};
const USAGE = usageOf('npm run bench:campaign --', FLAGS);

const log = (line: string) => process.stderr.write(`[bench:campaign] ${line}\n`);
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Shape {
  namespaces: number;
  tenants: number;
  batchSize: number;
  pollMs: number;
}

/** The benchmark's plan: tenants round-robin over the namespaces, three rings (1 %, 9 %, the rest; rings 1 and 2 in batches). */
function benchPlan(shape: Shape, where: { legacy: string; cloud: string; redisUrl: string; prometheusUrl: string }): Plan {
  const nsName = (i: number) => `bench-ns-${String(i).padStart(String(shape.namespaces - 1).length, '0')}`;
  const namespaces: Record<string, unknown> = {};
  const ids: string[][] = Array.from({ length: shape.namespaces }, () => []);
  const units: string[] = [];
  for (let j = 0; j < shape.tenants; j++) {
    const ns = j % shape.namespaces;
    ids[ns]!.push(`t${j}`);
    units.push(`tenant/${nsName(ns)}/t${j}`);
  }
  for (let i = 0; i < shape.namespaces; i++) {
    if (ids[i]!.length === 0) continue;
    // drain-and-switch: no canary steps and no target pollers to stand up for 300 namespaces.
    namespaces[nsName(i)] = {
      strategy: 'drain-and-switch',
      taskQueues: ['app'],
      tenants: { selector: { workflowIdPrefix: '{tenant}-' }, ids: ids[i] },
    };
  }
  const r0 = Math.max(1, Math.round(shape.tenants * 0.01));
  const r1 = Math.max(1, Math.round(shape.tenants * 0.1)) - r0;
  const rings = [
    { name: 'ring0-canary', units: units.slice(0, r0), gates: ['trivial'] },
    ...(r1 > 0 ? [{ name: 'ring1-early', units: units.slice(r0, r0 + r1), gates: ['trivial'], batchSize: shape.batchSize }] : []),
    ...(units.length > r0 + Math.max(0, r1)
      ? [{ name: 'ring2-rest', units: units.slice(r0 + Math.max(0, r1)), gates: ['trivial'], batchSize: shape.batchSize }]
      : []),
  ];
  return loadPlan({
    name: CAMPAIGN,
    clusters: { legacy: { address: where.legacy }, cloud: { address: where.cloud } },
    source: 'legacy',
    target: 'cloud',
    control: { cluster: 'cloud', namespace: CONTROL_NS, taskQueue: CONTROL_QUEUE },
    // No routed client reads this plan's routes (the benchmark has no application), so no drain needs to wait for stale ones.
    redis: { url: where.redisUrl, keyPrefix: 'bench:', clientStaleness: '1ms' },
    namespaces,
    gates: { trivial: { prometheus: { url: where.prometheusUrl, query: 'vector(0)', max: 0 }, interval: '100ms', count: 1 } },
    // Final on completion: the benchmark counts entity runs that closed completed.
    defaults: { bake: '0s', drainDeadline: '1m', finalizeAfter: '0s' },
    rings,
  });
}

/** Distinct app namespace names of a plan. */
function appNamespaces(plan: Plan): string[] {
  return Object.keys(plan.namespaces);
}

interface BoundResult {
  workflowsPerSec: number;
  tasksPerSec: number;
  completed: number;
  seconds: number;
  inFlight: number;
}

/** `campaign` for the default shape (300 namespaces, 3,000 tenants), else `campaign-<tenants>x<namespaces>`. */
function resultsName(shape: Pick<Shape, 'tenants' | 'namespaces'>): string {
  return shape.tenants === 3_000 && shape.namespaces === 300 ? 'campaign' : `campaign-${shape.tenants}x${shape.namespaces}`;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), FLAGS, USAGE);
  const quick = flags.quick === true;
  const shape: Shape = {
    namespaces: (flags.namespaces as number | undefined) ?? (quick ? 10 : 300),
    tenants: (flags.tenants as number | undefined) ?? (quick ? 30 : 3_000),
    batchSize: (flags['batch-size'] as number | undefined) ?? 100,
    pollMs: (flags['poll-ms'] as number | undefined) ?? DEFAULT_CAMPAIGN_POLL_MS,
  };
  if (shape.tenants < shape.namespaces)
    throw new BenchArgsError(
      `--tenants: ${shape.tenants} is fewer than --namespaces ${shape.namespaces}; give every namespace at least one tenant`,
    );
  const boundMs = ((flags['bound-seconds'] as number | undefined) ?? (quick ? 5 : 20)) * 1000;
  const timeoutMs = ((flags['timeout-min'] as number | undefined) ?? 60) * 60_000;
  const write = flags['no-write'] !== true;

  // The campaign carries every unit's input: measure it first, since it decides whether the server's
  // default payload limit lets the campaign start at all.
  let t = performance.now();
  const probePlan = benchPlan(shape, {
    legacy: '127.0.0.1:1',
    cloud: '127.0.0.1:2',
    redisUrl: 'redis://127.0.0.1:1',
    prometheusUrl: 'http://127.0.0.1:1',
  });
  const planLoadMs = performance.now() - t;
  t = performance.now();
  const probeInput = buildCampaignInput(probePlan, { actor: 'bench', pollMs: shape.pollMs });
  const inputBuildMs = performance.now() - t;
  const inputBytes = Buffer.byteLength(JSON.stringify(probeInput));
  const blobLimitRaised = inputBytes > DEFAULT_BLOB_LIMIT;
  log(
    `${shape.tenants} tenants in ${shape.namespaces} namespaces: plan validated in ${round(planLoadMs, 0)} ms, ` +
      `campaign input ${(inputBytes / 2 ** 20).toFixed(2)} MiB built in ${round(inputBuildMs, 0)} ms`,
  );
  if (blobLimitRaised) {
    log(
      `the campaign input is over the server's default payload limit (${DEFAULT_BLOB_LIMIT / 2 ** 20} MiB): on a default server ` +
        "the campaign cannot start. Raising limit.blobSize.error on the benchmark's servers to measure the orchestration anyway.",
    );
  }

  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cutover-bench-campaign-'));
  log(`starting the local stack in ${runDir}`);
  const stack = await LocalStack.start({
    runDir,
    clusters: [
      { name: 'legacy', namespaces: [CONTROL_NS] },
      { name: 'cloud', namespaces: [CONTROL_NS] },
    ],
    // The gate's Prometheus is started below and scrapes nothing: one scraping two dev servers with
    // hundreds of namespaces every second took ~30 % of a core and 700 MB here, beside what is measured.
    prometheus: 'never',
    ...(blobLimitRaised ? { dynamicConfig: { 'limit.blobSize.error': 256 * 2 ** 20, 'limit.blobSize.warn': 256 * 2 ** 20 } } : {}),
    onProgress: (l) => log(l),
  });
  const closers: (() => Promise<unknown>)[] = [];
  const children: WorkerChild[] = [];
  try {
    const prometheus = new PrometheusServer({ runDir, clusters: [] });
    closers.push(() => prometheus.stop());
    await prometheus.start();
    const legacy = stack.cluster('legacy').endpoint;
    const cloud = stack.cluster('cloud').endpoint;
    const connS = await connectCluster(legacy.name, { address: legacy.address });
    closers.push(() => connS.close());
    const connT = await connectCluster(cloud.name, { address: cloud.address });
    closers.push(() => connT.close());
    const control = new Client({ connection: connT, namespace: CONTROL_NS });

    const plan = benchPlan(shape, {
      legacy: legacy.address,
      cloud: cloud.address,
      redisUrl: stack.redisUrl,
      prometheusUrl: prometheus.url,
    });
    const input = buildCampaignInput(plan, { actor: 'bench', pollMs: shape.pollMs });
    const units = input.plan.unitCount;

    // 1. Namespaces on both clusters, timed apart from the campaign.
    const names = appNamespaces(plan);
    t = performance.now();
    const reg = await mapPool(
      names.flatMap((ns) => [
        { conn: connS, ns },
        { conn: connT, ns },
      ]),
      4,
      ({ conn, ns }) => conn.workflowService.registerNamespace({ namespace: ns, workflowExecutionRetentionPeriod: msToTs('1 day') }),
    );
    const namespaceRegisterSeconds = (performance.now() - t) / 1000;
    if (firstError(reg)) throw new Error(`registering namespaces failed: ${firstError(reg)}`);
    // A new namespace serves requests once the frontend's namespace cache refreshed.
    const usable = await mapPool(
      names.flatMap((ns) => [new Client({ connection: connS, namespace: ns }), new Client({ connection: connT, namespace: ns })]),
      8,
      async (c) => {
        for (let i = 0; ; i++) {
          try {
            return await c.workflow.count('');
          } catch (err) {
            if (i > 120) throw err;
            await delay(250);
          }
        }
      },
    );
    const namespaceReadySeconds = (performance.now() - t) / 1000;
    if (firstError(usable)) throw new Error(`namespaces never became usable: ${firstError(usable)}`);
    log(
      `namespaces: ${names.length} × 2 clusters registered in ${round(namespaceRegisterSeconds, 1)} s, ` +
        `all usable after ${round(namespaceReadySeconds, 1)} s`,
    );

    // Bundles, once, as files for the worker processes.
    const quiet = new DefaultLogger('WARN');
    const [cutoverBundle, benchBundle] = await Promise.all([
      bundleWorkflowCode({ ...CONTROL_BUNDLE_OPTIONS, logger: quiet }),
      bundleWorkflowCode({ workflowsPath: require.resolve('./lib/workflows'), logger: quiet }),
    ]);
    const cutoverBundlePath = path.join(runDir, 'cutover-bundle.js');
    const benchBundlePath = path.join(runDir, 'bench-bundle.js');
    fs.writeFileSync(cutoverBundlePath, cutoverBundle.code);
    fs.writeFileSync(benchBundlePath, benchBundle.code);

    const bound = async (label: string): Promise<BoundResult> => {
      const child = await startWorkerProcess(
        {
          mode: 'trivial',
          address: cloud.address,
          namespace: CONTROL_NS,
          taskQueue: TRIVIAL_QUEUE,
          bundlePath: benchBundlePath,
          metricsAddress: `127.0.0.1:${await freePort()}`,
        },
        log,
      );
      children.push(child);
      try {
        let seq = 0;
        const one = () => control.workflow.execute('benchTrivial', { taskQueue: TRIVIAL_QUEUE, workflowId: `trivial-${label}-${seq++}` });
        await closedLoop(one, TRIVIAL_CONCURRENCY[0]!, 2_000); // warm-up: caches, pollers, JIT
        let best: BoundResult | undefined;
        for (const inFlight of TRIVIAL_CONCURRENCY) {
          const before = await scrapeRequests(cloud.metricsUrl);
          const r = await closedLoop(one, inFlight, boundMs);
          const ops = diffCounts(await scrapeRequests(cloud.metricsUrl), before);
          if (r.errors > 0) throw new Error(`bound (${label}): ${r.errors} trivial workflows failed: ${String(r.firstError)}`);
          const seconds = r.elapsedMs / 1000;
          const tasks = sumOps(ops, CONTROL_NS, WORKFLOW_TASK_OPS) + sumOps(ops, CONTROL_NS, ACTIVITY_TASK_OPS);
          const res = { workflowsPerSec: r.completed / seconds, tasksPerSec: tasks / seconds, completed: r.completed, seconds, inFlight };
          log(
            `bound (${label}): ${round(res.workflowsPerSec, 1)} trivial workflows/s = ` +
              `${round(res.tasksPerSec, 1)} workflow + activity tasks/s (${inFlight} in flight, ${round(seconds, 1)} s)`,
          );
          if (!best || res.tasksPerSec > best.tasksPerSec) best = res;
        }
        return best!;
      } finally {
        await child.stop();
      }
    };

    // 2. The bound, before the campaign.
    const boundBefore = await bound('before');

    // 3. The campaign.
    const worker = await startWorkerProcess(
      {
        mode: 'cutover',
        address: cloud.address,
        namespace: CONTROL_NS,
        taskQueue: CONTROL_QUEUE,
        bundlePath: cutoverBundlePath,
        metricsAddress: `127.0.0.1:${await freePort()}`,
        source: { name: 'legacy', address: legacy.address },
        target: { name: 'cloud', address: cloud.address },
        redisUrl: stack.redisUrl,
        keyPrefix: plan.redis.keyPrefix,
      },
      log,
    );
    children.push(worker);
    const rss = sampleRss(worker.pid);
    const [beforeT, beforeS] = await Promise.all([scrapeRequests(cloud.metricsUrl), scrapeRequests(legacy.metricsUrl)]);
    // The metrics collector, as the worker runs it beside the campaign: its RPCs are in the control server's
    // counts below, and counted on their own by the collector.
    let collectErrors = 0;
    const collector = startCutoverMetrics({
      client: control,
      units: planUnitNames(plan),
      taskQueue: plan.control.taskQueue,
      meter: noopMetricMeter,
      intervalMs: COLLECT_MS,
      onError: (err) => {
        if (collectErrors++ === 0) log(`metrics collector: ${(err as Error).message}`);
      },
    });
    closers.push(() => collector.stop());
    t = performance.now();
    let outcome: { status?: CampaignStatus; error?: string };
    let notStarted = false;
    try {
      const started = await startCampaign(control, input, { taskQueue: CONTROL_QUEUE });
      log(`campaign ${started.workflowId} started: ${units} units, ${input.plan.steps.length} steps, poll every ${shape.pollMs} ms`);
      outcome = await watchCampaign(control, started.workflowId, units, timeoutMs);
    } catch (err) {
      // Reported, not thrown: a campaign the server refuses at this size is the result.
      const causes: string[] = [];
      for (let e: unknown = err; e instanceof Error && causes.length < 4; e = e.cause) causes.push(e.message.split('\n')[0]!);
      outcome = { error: `the campaign could not start: ${causes.join(' ← ') || String(err)}` };
      notStarted = true;
      log(outcome.error!);
    }
    const campaignSeconds = (performance.now() - t) / 1000;
    await collector.stop();
    const collected = collector.stats();
    const collectorMinutes = (Date.now() - collected.since) / 60_000;
    const [afterT, afterS] = await Promise.all([scrapeRequests(cloud.metricsUrl), scrapeRequests(legacy.metricsUrl)]);
    const rssStats = rss.stop();
    const sdk = {
      activities: await scrapeByLabel(worker.metricsUrl, 'temporal_activity_execution_latency_count', 'activity_type'),
      workflowTasks: await scrapeByLabel(worker.metricsUrl, 'temporal_workflow_task_execution_latency_count', 'workflow_type'),
    };
    await worker.stop();
    const opsT = diffCounts(afterT, beforeT);
    const opsS = diffCounts(afterS, beforeS);
    const history = await historyStats(control);

    // 2'. The bound again, after the campaign (a server with more history behind it).
    const boundAfter = await bound('after');

    const wft = sumOps(opsT, CONTROL_NS, WORKFLOW_TASK_OPS);
    const at = sumOps(opsT, CONTROL_NS, ACTIVITY_TASK_OPS);
    const queryTasks = sumOps(opsT, CONTROL_NS, QUERY_TASK_OPS);
    const opCount = (op: string) => sumOps(opsT, CONTROL_NS, [op]);
    const boundTasksPerSec = Math.max(boundBefore.tasksPerSec, boundAfter.tasksPerSec);
    const campaignTasksPerSec = (wft + at) / campaignSeconds;
    const completedOk = outcome.status?.phase === 'completed';
    const results: Record<string, number | string> = {
      units,
      namespaces: names.length,
      completed: completedOk ? 1 : 0,
      entitiesCompleted: history.entitiesCompleted,
      seconds: round(campaignSeconds, 1),
      unitsPerSecond: round(history.entitiesCompleted / campaignSeconds, 2),
      // A run stopped early (timeout, stall) still says how long the whole campaign would take at its rate.
      secondsExtrapolated: round(completedOk ? campaignSeconds : (campaignSeconds * units) / Math.max(1, history.entitiesCompleted), 0),
      serverBoundRatio: round(campaignTasksPerSec / boundTasksPerSec),
      // Query tasks are dispatched to the worker too; counted here, they are not in the bound's workload.
      serverBoundRatioWithQueries: round((wft + at + queryTasks) / campaignSeconds / boundTasksPerSec),
      // Time the campaign spent waiting on its own timers (poll interval, bakes, gate intervals), from its histories.
      campaignTimerSeconds: round(history.campaignTimerMs / 1000, 1),
      unitViewsRounds: sdk.activities.unitViews ?? 0,
      campaignTasksPerSec: round(campaignTasksPerSec, 1),
      boundTasksPerSec: round(boundTasksPerSec, 1),
      boundWorkflowsPerSec: round(Math.max(boundBefore.workflowsPerSec, boundAfter.workflowsPerSec), 1),
      boundTasksPerSecBefore: round(boundBefore.tasksPerSec, 1),
      boundTasksPerSecAfter: round(boundAfter.tasksPerSec, 1),
      // What one unit moved costs the server, in trivial workflows: the bound's rate over the units' rate, same run.
      unitCostInTrivialWorkflows: round(
        Math.max(boundBefore.workflowsPerSec, boundAfter.workflowsPerSec) / Math.max(1e-9, history.entitiesCompleted / campaignSeconds),
        2,
      ),
      tasksPerUnit: round((wft + at) / units, 2),
      workflowTasksPerUnit: round(wft / units, 2),
      activityTasksPerUnit: round(at / units, 2),
      queryTasksPerUnit: round(queryTasks / units, 2),
      queriesPerUnit: round(opCount('QueryWorkflow') / units, 2),
      signalsPerUnit: round(opCount('SignalWorkflowExecution') / units, 2),
      // The collector's RPCs are among these (it runs on the control namespace).
      controlRpcsPerUnit: round(sumOps(opsT, CONTROL_NS) / units, 1),
      collectorRpcsPerUnitPerMinute: round(collected.rpcs / units / collectorMinutes, 4),
      collectorRpcs: collected.rpcs,
      collectorCollects: collected.collects,
      // Units the collector had to ask by query (runs without the metrics memo yet), summed over its collections.
      collectorQueries: collected.fromQuery,
      // Units shown as the round before saw them: their run was too new to have published its memo.
      collectorFromLast: collected.fromLast,
      collectorErrors: collected.errors + collectErrors,
      collectorIntervalMs: COLLECT_MS,
      sourceRpcsPerUnit: round(Object.values(opsS).reduce((a, b) => a + b, 0) / units, 1),
      maxRssMiB: round(rssStats.max, 0),
      maxHistoryEvents: history.maxHistoryEvents,
      campaignRuns: history.campaignRuns,
      entityRuns: history.entityRuns,
      campaignMaxHistoryEvents: history.campaignMaxHistoryEvents,
      entityMaxHistoryEvents: history.entityMaxHistoryEvents,
      maxHistoryMiB: round(history.maxHistoryBytes / 2 ** 20, 2),
      ...(history.historyFetchError ? { historyFetchError: history.historyFetchError } : {}),
      inputBytes,
      blobLimitRaised: blobLimitRaised ? 1 : 0,
      planLoadMs: round(planLoadMs, 0),
      inputBuildMs: round(inputBuildMs, 0),
      namespaceRegisterSeconds: round(namespaceRegisterSeconds, 1),
      namespacesPerSecond: round((names.length * 2) / namespaceRegisterSeconds, 1),
      namespaceReadySeconds: round(namespaceReadySeconds, 1),
      pollMs: shape.pollMs,
      batchSize: shape.batchSize,
      steps: input.plan.steps.length,
      ...(outcome.error ? { error: outcome.error } : {}),
    };
    const perType = (rec: Record<string, number>) =>
      Object.entries(rec)
        .filter(([, v]) => v > 0)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k || '?'} ${v} (${round(v / units, 2)}/unit)`)
        .join(', ');

    const mark = (v: number, op: '<=' | '>=', target: number) =>
      `${op === '<=' ? '≤' : '≥'} ${target} ${(op === '<=' ? v <= target : v >= target) ? '✓' : '✗ missed'}`;
    const table = markdownTable(
      ['measure', 'value', 'target'],
      [
        ['units (tenants) / namespaces / steps', `${units} / ${names.length} / ${input.plan.steps.length}`, ''],
        [
          'campaign completed, entities completed',
          `${completedOk ? 'yes' : `no (${outcome.status?.phase ?? outcome.error ?? '?'})`}, ${history.entitiesCompleted}`,
          '',
        ],
        ['seconds (start → campaign completed)', results.seconds as number, ''],
        [
          'units per second',
          `${results.unitsPerSecond}${completedOk ? '' : ` (stopped early: all ${units} would take ≈ ${results.secondsExtrapolated} s)`}`,
          '',
        ],
        [
          'serverBoundRatio (campaign wf + activity tasks/s ÷ trivial)',
          `${results.serverBoundRatio} (${round(campaignTasksPerSec, 1)} ÷ ${round(boundTasksPerSec, 1)})`,
          mark(Number(results.serverBoundRatio), '>=', 0.7),
        ],
        ['… counting query tasks too', results.serverBoundRatioWithQueries as number, ''],
        [
          'bound: trivial workflows/s before / after (best in-flight level)',
          `${round(boundBefore.workflowsPerSec, 1)} (${boundBefore.inFlight}) / ` +
            `${round(boundAfter.workflowsPerSec, 1)} (${boundAfter.inFlight})`,
          '',
        ],
        [
          'campaign waiting on its timers (poll interval, gate interval) / poll rounds',
          `${results.campaignTimerSeconds} s${history.historyFetchError ? ' (runs whose history could be fetched)' : ''} ` +
            `of ${results.seconds} s / ${results.unitViewsRounds} unitViews`,
          '',
        ],
        [
          'unit cost in trivial workflows (bound workflows/s ÷ units/s)',
          results.unitCostInTrivialWorkflows as number,
          mark(Number(results.unitCostInTrivialWorkflows), '<=', 6),
        ],
        [
          'tasks per unit (workflow + activity)',
          `${results.tasksPerUnit} (${results.workflowTasksPerUnit} + ${results.activityTasksPerUnit})`,
          mark(Number(results.tasksPerUnit), '<=', 14),
        ],
        [
          'query tasks / queries / signals per unit',
          `${results.queryTasksPerUnit} / ${results.queriesPerUnit} / ${results.signalsPerUnit}`,
          '',
        ],
        ['control-server RPCs per unit / source-server RPCs per unit', `${results.controlRpcsPerUnit} / ${results.sourceRpcsPerUnit}`, ''],
        [
          `metrics collector every ${COLLECT_MS / 1000} s: RPCs per unit per minute (RPCs; collections / units asked by query)`,
          `${results.collectorRpcsPerUnitPerMinute} ` +
            `(${results.collectorRpcs}; ${results.collectorCollects} / ${results.collectorQueries})`,
          '',
        ],
        ['cutover worker max RSS (MiB)', results.maxRssMiB as number, mark(Number(results.maxRssMiB), '<=', 1024)],
        [
          'max history events (any campaign/entity run)',
          `${history.maxHistoryEvents} (campaign ${history.campaignMaxHistoryEvents}, entity ${history.entityMaxHistoryEvents}; ` +
            `runs: campaign ${history.campaignRuns}, entities ${history.entityRuns})`,
          mark(history.maxHistoryEvents, '<=', 10_000),
        ],
        [
          'largest history (bytes)',
          `${round(history.maxHistoryBytes / 2 ** 20, 2)} MiB` +
            (history.historyFetchError ? ` — could not be fetched: ${history.historyFetchError}` : ''),
          '',
        ],
        [
          'campaign input',
          `${(inputBytes / 2 ** 20).toFixed(2)} MiB${blobLimitRaised ? ' — over the 2 MiB default payload limit (raised here)' : ''}`,
          `≤ 2 MiB ${blobLimitRaised ? '✗' : '✓'}`,
        ],
        [
          'namespaces: register (2 clusters) / all usable',
          `${round(namespaceRegisterSeconds, 1)} s (${results.namespacesPerSecond}/s) / ${round(namespaceReadySeconds, 1)} s`,
          'separate from the campaign',
        ],
      ],
    );
    const costTable = markdownTable(
      ['where', 'count'],
      [
        ['workflow tasks by type (worker)', perType(sdk.workflowTasks)],
        ['activities by type (worker)', perType(sdk.activities)],
        [
          'control server RPCs (cutover namespace), top 10',
          byOperation(opsT, CONTROL_NS)
            .slice(0, 10)
            .map(([op, c]) => `${op} ${round(c / units, 2)}/unit`)
            .join(', '),
        ],
      ],
    );
    const command = `npm run bench:campaign${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
    const section = `### ${units} tenants in ${names.length} namespaces — ${new Date().toISOString()}

${await headerLine(command)}

A campaign of ${units} tenants in ${names.length} namespaces (three rings: 1 %, 9 %, the rest; rings 1 and 2 in
batches of ${shape.batchSize}; strategy drain-and-switch; zero bake; one gate, Prometheus \`vector(0) <= 0\`, every 100 ms,
count 1; the campaign polls its units every ${shape.pollMs} ms) through the real \`campaign\` and
\`tenantMigration\` workflows and the activities of \`createCutoverActivities\`, on a fresh local stack, the
cutover worker (control task queue, the product's worker: the SDK's workflow cache, the clock guard) in its own
process. The bound: the same control server completing \`benchTrivial\` (one activity) with
${TRIVIAL_CONCURRENCY.join(' and ')} in flight, ${boundMs / 1000} s each, from a worker process of the same kind,
before and after the campaign; the best rate is the bound. The gate's Prometheus scrapes nothing (so its load is
not in the measurement). Tasks are the
control server's \`service_requests\` counters (RespondWorkflowTaskCompleted/Failed, RespondActivityTask*,
RespondQueryTaskCompleted) in the control namespace; RSS is the worker process's VmRSS sampled every second.

${table}

${costTable}
`;
    process.stdout.write(`\n${table}\n\n${costTable}\n\n${JSON.stringify(results)}\n`);
    // A campaign that never started measured nothing: the page and the JSON keep the last campaign that ran.
    if (write && notStarted) log('nothing was measured: docs/benchmarks.md and bench/results are left as they are');
    else if (write) {
      // The default size owns campaign.json and its section; another size (the 10,000-tenant run) gets its
      // own file and section, so one does not overwrite the other.
      const doc = writeBenchmarkDoc(ROOT, resultsName(shape), section);
      const file = writeResults(ROOT, resultsName(shape), results);
      log(`wrote ${path.relative(ROOT, doc)} and ${path.relative(ROOT, file)}`);
    }
    if (outcome.error) throw new Error(outcome.error);
  } finally {
    for (const c of children) await c.stop().catch(() => undefined);
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await stack.stop();
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

/**
 * Waits for the campaign to close, logging progress from visibility every 10 s (no query: the
 * status query of a 3,000-unit campaign is itself a large task). Stops early on a continue-as-new
 * storm or the timeout; returns the final status or why it stopped.
 */
async function watchCampaign(
  control: Client,
  workflowId: string,
  units: number,
  timeoutMs: number,
): Promise<{ status?: CampaignStatus; error?: string }> {
  const handle = control.workflow.getHandle(workflowId);
  const result = handle.result().then(
    (status) => ({ status: status as CampaignStatus }),
    (err: unknown) => ({ error: `campaign failed: ${err instanceof Error ? err.message : String(err)}` }),
  );
  const t0 = Date.now();
  let progress = { key: '', at: Date.now() };
  for (;;) {
    const done = await Promise.race([result, delay(10_000).then(() => undefined)]);
    if (done) return done;
    const q = (extra: string) => control.workflow.count(`WorkflowType = 'tenantMigration'${extra}`).then((r) => r.count);
    const [finished, open, runs] = await Promise.all([
      q(` AND CutoverPhase = 'completed' AND ExecutionStatus = 'Completed'`),
      q(` AND ExecutionStatus = 'Running'`),
      control.workflow.count(`WorkflowId = '${workflowId}'`).then((r) => r.count),
    ]).catch(() => [NaN, NaN, NaN]);
    const d = await handle.describe().catch(() => undefined);
    log(
      `${Math.round((Date.now() - t0) / 1000)} s: ${finished}/${units} units completed, ${open} entity runs open; ` +
        `campaign run ${runs}, history ${d?.historyLength ?? '?'} events`,
    );
    const key = `${finished}/${runs}/${d?.historyLength}`;
    if (key !== progress.key) progress = { key, at: Date.now() };
    else if (Date.now() - progress.at > STALL_MS) {
      const pending = d?.raw.pendingActivities?.[0];
      const why = pending
        ? `activity ${pending.activityType?.name ?? '?'} attempt ${pending.attempt}: ` +
          `${pending.lastFailure?.message ?? 'no failure recorded'}` +
          (pending.lastFailure?.cause?.message ? ` (${pending.lastFailure.cause.message})` : '')
        : 'no pending activity';
      await handle.terminate('bench: stalled').catch(() => undefined);
      return { error: `the campaign stalled: no unit completed and no history event for ${STALL_MS / 1000} s; ${why}; terminated` };
    }
    if (runs > MAX_CAMPAIGN_RUNS) {
      await handle.terminate('bench: continue-as-new storm').catch(() => undefined);
      return {
        error:
          `the campaign continued-as-new ${runs} times without finishing ` +
          '(a run per loop turn: its input and state outgrow the history-size suggestion); terminated',
      };
    }
    if (Date.now() - t0 > timeoutMs) {
      await handle.terminate('bench: timeout').catch(() => undefined);
      return { error: `the campaign did not finish within ${timeoutMs / 60_000} min; terminated` };
    }
  }
}

/** Longest history of any campaign or entity run (every run, closed or open), from visibility. */
async function historyStats(control: Client): Promise<{
  maxHistoryEvents: number;
  campaignMaxHistoryEvents: number;
  entityMaxHistoryEvents: number;
  maxHistoryBytes: number;
  campaignRuns: number;
  entityRuns: number;
  entitiesCompleted: number;
  campaignTimerMs: number;
  historyFetchError?: string;
}> {
  // Visibility lags the close of the last runs by a moment: wait (bounded) until every entity shows up closed.
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const open = (await control.workflow.count(`WorkflowType = 'tenantMigration' AND ExecutionStatus = 'Running'`)).count;
    if (open === 0) break;
    await delay(1_000);
  }
  let max = 0;
  let campaignMax = 0;
  let entityMax = 0;
  let campaignRuns = 0;
  let entityRuns = 0;
  let entitiesCompleted = 0;
  let campaignTimerMs = 0;
  let maxBytes = 0;
  let historyFetchError: string | undefined;
  let listed = 0;
  for await (const wf of control.workflow.list({
    query: `WorkflowType = 'campaign' OR WorkflowType = 'tenantMigration' OR WorkflowType = 'namespaceMigration'`,
    pageSize: 1000,
  })) {
    if (++listed % 5000 === 0) log(`histories: ${listed} runs listed`);
    const len = wf.historyLength ?? 0;
    max = Math.max(max, len);
    maxBytes = Math.max(maxBytes, wf.historySize ?? 0);
    if (wf.type === 'campaign') {
      campaignRuns++;
      campaignMax = Math.max(campaignMax, len);
      // One fetch that fails is enough to know: the rest would each retry until the same deadline
      // (38 runs at 10,000 tenants), so later runs are counted but not read.
      if (historyFetchError) continue;
      try {
        // Bounded: after the 10,000-tenant campaign (38 runs of ~4.5 MiB histories) the benchmark sat
        // here, receiving ~20 KB/s, for 15 minutes; a fetch that hangs is reported, not waited on.
        const t0 = Date.now();
        campaignTimerMs += await control.withDeadline(Date.now() + HISTORY_FETCH_MS, () => timerMs(control, wf.workflowId, wf.runId));
        log(
          `history of campaign run ${campaignRuns} (${((wf.historySize ?? 0) / 2 ** 20).toFixed(1)} MiB, ${len} events) ` +
            `read in ${Date.now() - t0} ms`,
        );
      } catch (err) {
        // A history the client cannot fetch is itself a finding: keep going. (connectCluster raises gRPC's
        // 4 MiB receive limit, which a campaign run's history page exceeds at 10,000 tenants.)
        const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
        historyFetchError ??= `${wf.workflowId} run ${wf.runId} (${((wf.historySize ?? 0) / 2 ** 20).toFixed(1)} MiB): ${why}`;
      }
    } else {
      entityRuns++;
      entityMax = Math.max(entityMax, len);
      if (wf.status.name === 'COMPLETED') entitiesCompleted++;
    }
  }
  return {
    maxHistoryEvents: max,
    campaignMaxHistoryEvents: campaignMax,
    entityMaxHistoryEvents: entityMax,
    maxHistoryBytes: maxBytes,
    campaignRuns,
    entityRuns,
    entitiesCompleted,
    campaignTimerMs,
    ...(historyFetchError ? { historyFetchError } : {}),
  };
}

/** Milliseconds one run spent with a timer pending (started → fired or cancelled). */
async function timerMs(control: Client, workflowId: string, runId: string): Promise<number> {
  const history = await control.workflow.getHandle(workflowId, runId).fetchHistory();
  const started = new Map<string, number>();
  let total = 0;
  const at = (e: { eventTime?: { seconds?: unknown; nanos?: number | null } | null }) =>
    Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
  for (const e of history.events ?? []) {
    if (e.timerStartedEventAttributes) started.set(e.timerStartedEventAttributes.timerId ?? '', at(e));
    const end = e.timerFiredEventAttributes ?? e.timerCanceledEventAttributes;
    const t0 = end ? started.get(end.timerId ?? '') : undefined;
    if (t0 !== undefined) total += at(e) - t0;
  }
  return total;
}

runBench('bench:campaign', main);
