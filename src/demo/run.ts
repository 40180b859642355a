/**
 * `npm run demo`: the whole story on the local stack. Two clusters (`legacy`, a self-hosted source, and
 * `cloud`, a Cloud-shaped target: TLS only, API keys, namespaces with the account suffix, no operator API
 * for cutover's key), Redis and Prometheus; the cutover worker; the sample application in
 * ./app (payments, and detections with three tenants) under a steady load through the
 * multi-cluster client, with dual workers and a schedule per unit; then the example campaign of
 * examples/cloud-plan.yaml with short bakes, shown live; at the end the placement check and reconcile summary.
 * The plan's codec encrypts every payload cutover and the application write; the demo runs the plan's codec
 * server (the UI's codec endpoint) and ends by reading histories raw to show they hold no plaintext.
 *
 * `--quick`: the same story with minimal bakes and no UI; the result says whether the campaign
 * completed with nothing lost, duplicated or stranded (the CLI exits 0 only then).
 *
 * The terminal gets the story; the SDK's own log goes to sdk.log in the run directory, which is removed
 * at the end unless the demo failed.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { Client, type Connection, isGrpcServiceError, ScheduleOverlapPolicy } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { bundleWorkflowCode, Runtime } from '@temporalio/worker';
import { parseDocument } from 'yaml';
import { sendCampaignCommand, startCampaignFromPlan, queryCampaign } from '../cockpit/campaign';
import { reconcileUnit } from '../cockpit/reconcile';
import { renderStatus } from '../cockpit/render';
import { getStatus } from '../cockpit/status';
import { planUnitNames } from '../cockpit/target';
import { openControl, workflowUrl } from '../cockpit/control';
import { CockpitInputError, CommandRejectedError, CommandUnconfirmedError } from '../cockpit/errors';
import { connectCluster, namespaceOn } from '../clusters/connect';
import { GrpcStatus } from '../clusters/grpc';
import { loadPlan, type Plan } from '../config';
import { startCutoverMetrics } from '../metrics';
import { DualWorkers, RoutedClient } from '../routing';
import { CloudServer } from '../stack/cloud-server';
import { planClusterSpecs } from '../stack/dev';
import { PROJECT_ROOT } from '../stack/paths';
import { freePort } from '../stack/ports';
import { LocalStack } from '../stack/stack';
import type { ProgressFn } from '../stack/types';
import { createCutoverWorker } from '../worker';
import { codecKeySources, planCodec, planDataConverter } from '../security';
import { startPlanCodecServer, type PlanCodecServer } from '../security/plan-codec-server';
import { ensureCodecToken, writeMissingKeyFiles } from '../stack/codec-files';
import { checkCiphertext, type CiphertextCheck } from './ciphertext';
import { parseUnitName } from '../domain/ids';
import type { Side, ReconcileResult, ScheduleReconcileResult } from '../domain/migration';
import { ScheduleFence } from '../schedules/fence';
import { connectRedis } from '../routing/connect-redis';
import { SteadyLoad, verifyPlacements, type LoadStart, type PlacementReport } from './load';
import { campaignQuietLine, campaignStoryLine, createSdkLog, withoutLinksTo } from './story';
import { planCampaign } from '../campaign/plan';
import * as appActivities from './app/activities';
import { loadOperatorKey, newOperatorKey, type OperatorSecret } from '../operators/keys';

/** Options of `runDemo`. */
export interface DemoOptions {
  /** Minimal bakes, no UI, no waiting for Ctrl-C at the end. */
  quick: boolean;
  /** Web UIs of the dev servers (default: on unless quick). */
  ui?: boolean;
  /** Run `legacy` as a self-hosted temporal-server on PostgreSQL, as examples/plan.yaml says (default: a dev server). */
  selfHosted?: boolean;
  /** Application starts per second across all units (default 5 quick, 20 otherwise). */
  rate?: number;
  /** The run directory (default `.cutover/demo-<time>` under the working directory). */
  runDir?: string;
  /** Lines of the story (stderr in the CLI). */
  onLine: ProgressFn;
  /** Where the live view is drawn (a terminal redraws in place; anything else gets story lines only). */
  out: { write(s: string): unknown; isTTY?: boolean };
  /** Aborts the demo (Ctrl-C); everything started is stopped. */
  signal?: AbortSignal;
  /** Longest the campaign may take before the demo gives up (default 10 min, 20 min self-hosted). */
  timeoutMs?: number;
  /** Called with the result while everything still runs (the CLI waits here for Ctrl-C so the UIs can be explored). */
  beforeTeardown?: (result: DemoResult) => Promise<void>;
}

/** What the demo measured. */
export interface DemoResult {
  ok: boolean;
  campaignPhase: string;
  seconds: number;
  placements: PlacementReport;
  /** Starts the application gave up on (non-retryable refusals; never acknowledged, so never lost). */
  refused: number;
  reconcile: Record<string, Pick<ReconcileResult, 'clean' | 'duplicates' | 'stranded'> & { schedules?: ScheduleReconcileResult }>;
  problems: string[];
  /** Histories read raw (no codec) and searched for the plaintext of an input: none may hold it. */
  ciphertext: (CiphertextCheck & { what: string })[];
  /** What stays up to explore until Ctrl-C (none in quick mode: everything stops at once); UI pages only with the UI on. */
  links: { name: string; url: string }[];
}

const TENANT_ID = defineSearchAttributeKey('TenantId', SearchAttributeType.KEYWORD);
const DEMO_ACTOR = 'demo-operator';
/** Lines of the story the live view shows under the status. */
const STORY_TAIL = 10;
/** How long the campaign's story may stay quiet before the demo says what the campaign waits on (and again after as long). */
const QUIET_MS = 30_000;
/** The two approvers of the ring that asks for a two-person approval (neither is the requester). */
const APPROVERS = ['alice', 'bob'] as const;

/**
 * The run's operator keys, as a team would hold them: the operator who starts the campaign, the two
 * approvers, and the worker's controller key. Written with `cutover keys new`'s code into the run directory.
 */
function demoKeys(dir: string): {
  keys: Record<string, OperatorSecret>;
  operators: Record<string, { publicKey: string; roles: string[] }>;
} {
  const roles: Record<string, string[]> = { [DEMO_ACTOR]: ['operator'], alice: ['approver'], bob: ['approver'], worker: ['controller'] };
  fs.rmSync(dir, { recursive: true, force: true });
  const keys: Record<string, OperatorSecret> = {};
  const operators: Record<string, { publicKey: string; roles: string[] }> = {};
  for (const [name, r] of Object.entries(roles)) {
    keys[name] = loadOperatorKey(newOperatorKey({ name, dir }).keyFile);
    operators[name] = { publicKey: keys[name].publicKey, roles: r };
  }
  return { keys, operators };
}
/** The `app` label of the demo application's scrape target. */
const DEMO_APP = 'demo-app';

/**
 * The example plan to a Cloud-shaped target, rewritten for this run: local addresses, this stack's CA,
 * Redis and Prometheus, short bakes.
 */
async function writeDemoPlan(
  file: string,
  opts: {
    quick: boolean;
    selfHosted: boolean;
    redisUrl?: string;
    prometheusUrl?: string;
    caPath?: string;
    ports: number[];
    codecPort: number;
    /** The operators' public keys the demo generated, with their roles. */
    operators: Record<string, { publicKey: string; roles: string[] }>;
  },
): Promise<void> {
  const doc = parseDocument(fs.readFileSync(path.join(PROJECT_ROOT, 'examples', 'cloud-plan.yaml'), 'utf8'));
  doc.setIn(['clusters', 'legacy', 'address'], `127.0.0.1:${opts.ports[0]}`);
  doc.setIn(['clusters', 'cloud', 'address'], `127.0.0.1:${opts.ports[1]}`);
  if (!opts.selfHosted) doc.deleteIn(['clusters', 'legacy', 'local']);
  // The CA the stack minted for the Cloud-shaped cluster (its API key goes in the environment, never in the plan).
  if (opts.caPath) doc.setIn(['clusters', 'cloud', 'tls', 'serverRootCACertPath'], opts.caPath);
  // The codec server on a port of this run; its key file stays relative: the demo writes it beside this plan.
  if (doc.hasIn(['codec', 'server'])) doc.setIn(['codec', 'server', 'listen'], `127.0.0.1:${opts.codecPort}`);
  doc.setIn(['redis', 'url'], opts.redisUrl ?? 'redis://127.0.0.1:6379');
  doc.setIn(['redis', 'keyPrefix'], `cutover-demo-${Date.now()}:`);
  // The application's routed clients take their staleness bound from here, and each drain waits it out.
  doc.setIn(['redis', 'clientStaleness'], opts.quick ? '2s' : '5s');
  doc.setIn(['gates', 'errors', 'prometheus', 'url'], opts.prometheusUrl ?? 'http://127.0.0.1:9090');
  // The demo application exports `service_errors` (starts refused for good); Prometheus scrapes it every second.
  // Only its series: the Temporal servers export a `service_errors` counter of their own.
  doc.setIn(['gates', 'errors', 'prometheus', 'query'], `sum(rate(service_errors{app="${DEMO_APP}"}[30s]))`);
  // Gates read visibility and start probes on the clusters the application uses: every 5 s is enough to
  // watch; the quick run measures every second (its bakes are 1 s, so the gates' counts set its pace).
  for (const gate of ['errors', 'probe', 'clean']) doc.setIn(['gates', gate, 'interval'], opts.quick ? '1s' : '5s');
  doc.setIn(['gates', 'errors', 'count'], opts.quick ? 2 : 3);
  doc.setIn(['gates', 'probe', 'synthetic', 'workflows'], opts.quick ? 5 : 10);
  // Everything shares 2 cores here (two clusters, Prometheus, the worker, the application and its load):
  // a probe's round trip is slower than on a real cluster, so the local p99 bound is looser. The quick run
  // is also what CI runs beside another shard of integration tests, where one stalled workflow task took a
  // 10 ms probe past 5 s (and rolled the demo's campaign back): there the bound is 10 s.
  doc.setIn(['gates', 'probe', 'synthetic', 'maxP99'], opts.quick ? '10s' : '5s');
  doc.setIn(['defaults', 'bake'], opts.quick ? '1s' : '15s');
  doc.setIn(['defaults', 'percentSteps'], opts.quick ? [50] : [10, 50]);
  doc.setIn(['defaults', 'drainDeadline'], opts.quick ? '1m' : '3m');
  // The keys generated for this run: forward commands are signed, and each two-person step takes two keys.
  doc.set('operators', doc.createNode(opts.operators));
  fs.writeFileSync(file, `# Written by \`npm run demo\` from examples/cloud-plan.yaml for this run's stack.\n${doc.toString()}`);
}

/** A counter the application exports for the demo's Prometheus gate. */
function startAppMetrics(errors: () => number): Promise<{ address: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    res.end(`# HELP service_errors Application starts refused for good.\n# TYPE service_errors counter\nservice_errors ${errors()}\n`);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ address: `127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) });
    });
  });
}

/** Sleeps `ms`, or less when `signal` aborts (the listener is removed either way). */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Runs the demo; stops everything it started before returning (or throwing). */
export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const started = Date.now();
  const elapsed = () => `+${Math.round((Date.now() - started) / 1000)}s`.padStart(5);
  // The live view redraws the screen every second: it shows the story's last lines under the status.
  const tail: string[] = [];
  const say = (line: string) => {
    const told = `${elapsed()} ${line}`;
    tail.push(told);
    if (tail.length > STORY_TAIL) tail.shift();
    opts.onLine(told);
  };
  const quick = opts.quick;
  const ui = opts.ui ?? !quick;
  const selfHosted = opts.selfHosted ?? false;
  const runDir = path.resolve(
    opts.runDir ?? path.join(process.cwd(), '.cutover', `demo-${new Date().toISOString().replace(/[:.]/g, '-')}`),
  );
  fs.mkdirSync(runDir, { recursive: true });
  const planFile = path.join(runDir, 'plan.yaml');
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    cleanups.length = 0;
  };
  // The run directory goes when the demo succeeds or is interrupted; after a failure it stays, with the logs.
  let keepRunDir = true;

  try {
    // The SDK's own log (worker lifecycle, retried activities, warnings) goes to a file, not into the story.
    const sdkLogFile = path.join(runDir, 'sdk.log');
    const sdkLog = createSdkLog(sdkLogFile, (l) => say(`[sdk] error: ${l} (details in ${sdkLogFile})`));
    cleanups.push(async () => sdkLog.close());

    // 1. The stack, on the example plan's clusters.
    const ports = [await freePort(), await freePort()];
    const codecPort = await freePort();
    const { keys, operators } = demoKeys(path.join(runDir, 'keys'));
    say(`[keys] operator keys in ${path.join(runDir, 'keys')}: ${Object.keys(keys).join(', ')} (mode 0600; public keys in the plan)`);
    await writeDemoPlan(planFile, { quick, selfHosted, ports, codecPort, operators });
    const firstPlan = loadPlan(planFile);
    const stack = await LocalStack.start({
      runDir,
      clusters: planClusterSpecs(firstPlan),
      ui,
      // The dev server's UI decodes through the plan's codec server, which starts once the UI's origin is known.
      codecEndpoint: firstPlan.codec?.server ? `http://127.0.0.1:${codecPort}` : undefined,
      prometheus: 'always',
      onProgress: (l) => say(`[stack] ${l}`),
    });
    cleanups.push(() => stack.stop({ dropData: true }));
    const cloud = stack.cluster('cloud');
    if (!(cloud instanceof CloudServer)) throw new Error('the demo plan must run `cloud` as a Cloud-shaped cluster (local.server: cloud)');
    await writeDemoPlan(planFile, {
      quick,
      selfHosted,
      ports,
      redisUrl: stack.redisUrl,
      prometheusUrl: stack.prometheus!.url,
      caPath: cloud.pki.ca.certPath,
      codecPort,
      operators,
    });
    const plan: Plan = loadPlan(planFile);
    // The codec's key file, written beside the plan as `dev up` does (removed with the run directory).
    for (const k of writeMissingKeyFiles(plan)) say(`[codec] wrote key ${k.id} → ${k.file} (mode 0600)`);
    // As a user would `export` it (\`cutover dev env\` prints the line): every connection reads the key from there.
    const apiKeyEnv = plan.clusters.cloud!.apiKeyEnv!;
    process.env[apiKeyEnv] = await cloud.cutoverApiKey();
    for (const [name, c] of Object.entries(stack.clusters)) {
      const shape =
        c instanceof CloudServer
          ? `   Cloud-shaped: TLS, API key in $${apiKeyEnv}, namespaces *${plan.clusters[name]!.namespaceSuffix ?? ''}`
          : '';
      say(`cluster ${name.padEnd(7)} ${c.endpoint.address}${c.endpoint.uiUrl ? `   UI ${c.endpoint.uiUrl}` : ''}${shape}`);
    }
    say(`redis          ${stack.redisUrl}`);
    say(`prometheus     ${stack.prometheus!.url}`);
    say(`plan           ${planFile}`);
    say(`logs           ${runDir} (sdk.log and the stack's; kept only if the demo fails)`);
    const codecServer = plan.codec?.server ? await startDemoCodecServer(plan, stack, runDir, ui, say) : undefined;
    if (codecServer) cleanups.push(() => codecServer.close().then(() => say('[codec] codec server stopped')));
    if (opts.signal?.aborted) throw new Error('interrupted');

    // 2. The cutover worker, with its metrics scraped by the stack's Prometheus. The demo installs the SDK
    // runtime itself so that core's log is forwarded to the file too, and Ctrl-C stops things in its order.
    const metricsAddress = `127.0.0.1:${await freePort()}`;
    Runtime.install({
      logger: sdkLog.logger,
      shutdownSignals: [],
      telemetryOptions: {
        logging: { filter: { core: 'WARN', other: 'WARN' }, forward: {} },
        metrics: { prometheus: { bindAddress: metricsAddress } },
      },
    });
    say(`[worker] metrics: http://${metricsAddress}/metrics`);
    const worker = await createCutoverWorker({ plan, onProgress: (l) => say(`[worker] ${l}`), signer: keys.worker! });
    const workerRun = worker.run();
    cleanups.push(async () => {
      worker.shutdown();
      await workerRun;
    });
    // Through the same connection path as the CLI: TLS with the stack's CA, the API key from the environment.
    const control = await openControl(plan);
    cleanups.push(() => control.close());
    const controlClient = control.client;
    const metrics = startCutoverMetrics({
      client: controlClient,
      units: planUnitNames(plan),
      campaign: plan.name,
      taskQueue: plan.control.taskQueue,
      meter: Runtime.instance().metricMeter,
      intervalMs: 2_000,
    });
    cleanups.push(() => metrics.stop());
    await stack.prometheus!.addScrapeTarget({ address: metricsAddress, name: 'cutover-worker' });

    // 3. The application: dual workers and a routed client per namespace, one schedule per unit, steady load.
    const activities = { ...appActivities };
    // The sample application encrypts with the plan's keys when it has a codec (a real one brings its own converter).
    const dataConverter = planDataConverter(plan);
    // One bundle for every worker of the application (bundling is the slow part of a worker's start).
    const workflowBundle = await bundleWorkflowCode({
      workflowsPath: require.resolve('./app/workflows'),
      ...(dataConverter?.failureConverterPath ? { failureConverterPath: dataConverter.failureConverterPath } : {}),
      logger: sdkLog.logger,
    });
    const routed: Record<string, RoutedClient> = {};
    for (const [ns, cfg] of Object.entries(plan.namespaces)) {
      const dual = await DualWorkers.create({
        plan,
        namespace: ns,
        taskQueue: cfg.taskQueues[0]!,
        workflowBundle,
        activities,
        dataConverter,
      });
      const run = dual.run();
      cleanups.push(async () => {
        await dual.shutdown();
        await run;
      });
      routed[ns] = await RoutedClient.connect({ plan, namespace: ns, dataConverter });
      cleanups.push(() => routed[ns]!.close());
      say(`[app] ${ns}: workers polling ${cfg.taskQueues[0]} on both clusters; routed client ready`);
    }
    const tenants = plan.namespaces.detections?.tenants?.ids ?? [];
    const every = quick ? '5s' : '10s';
    await routed.payments!.schedule.create({
      scheduleId: 'payments-report',
      spec: { intervals: [{ every }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'dailyReport',
        taskQueue: plan.namespaces.payments!.taskQueues[0]!,
        args: ['payments'],
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
    for (const t of tenants) {
      await routed.detections!.schedule.create({
        scheduleId: `${t}-report`,
        spec: { intervals: [{ every }] },
        action: {
          type: 'startWorkflow',
          workflowType: 'dailyReport',
          taskQueue: plan.namespaces.detections!.taskQueues[0]!,
          args: [`detections/${t}`],
          typedSearchAttributes: [{ key: TENANT_ID, value: t }],
        },
        typedSearchAttributes: [{ key: TENANT_ID, value: t }],
        policies: { overlap: ScheduleOverlapPolicy.SKIP },
        tenant: t,
      } as Parameters<RoutedClient['schedule']['create']>[0]);
    }
    say(
      `[app] schedules: payments-report and ${tenants.map((t) => `${t}-report`).join(', ')} every ${every} ` +
        '(active on the routed side, paused copy on the other)',
    );
    const rate = opts.rate ?? (quick ? 5 : 20);
    const load = new SteadyLoad({
      rate,
      next: (seq): LoadStart => {
        // Half payments, half detections spread over the tenants.
        if (seq % 2 === 0 || tenants.length === 0) {
          return {
            client: routed.payments!,
            namespace: 'payments',
            workflowType: 'chargePayment',
            workflowId: `pay-${seq}`,
            taskQueue: plan.namespaces.payments!.taskQueues[0]!,
            args: [`pay-${seq}`, 100 + (seq % 900)],
          };
        }
        const t = tenants[(seq >> 1) % tenants.length]!;
        return {
          client: routed.detections!,
          namespace: 'detections',
          workflowType: 'scanAccount',
          workflowId: `${t}-scan-${seq}`,
          taskQueue: plan.namespaces.detections!.taskQueues[0]!,
          args: [scanInput(t, seq), 3],
          options: { typedSearchAttributes: [{ key: TENANT_ID, value: t }] },
        };
      },
    });
    const app = await startAppMetrics(() => load.failed);
    cleanups.push(() => app.close());
    await stack.prometheus!.addScrapeTarget({ address: app.address, name: DEMO_APP });
    load.start();
    let loadStopped = false;
    cleanups.push(async () => {
      if (!loadStopped) await load.stop(5_000);
      // Before the routed clients close (cleanups run last first): a start still retrying would throw on a closed channel.
      await load.settle(120_000);
      if (load.inFlightCount) say(`[app] ${load.inFlightCount} start(s) still unsettled after 120 s; closing their clients anyway`);
    });
    say(`[app] steady load: ${rate} starts/s through the multi-cluster client (open loop)`);

    // 4. The campaign, shown live.
    const start = await startCampaignFromPlan(controlClient, plan, {
      actor: DEMO_ACTOR,
      signer: keys[DEMO_ACTOR]!,
      ...(quick ? { pollMs: 1_000, drainPollMs: 1_000 } : {}),
    });
    const steps = planCampaign(plan).steps;
    say(`[campaign] workflow ${start.workflowId}: ${start.units} units in ${plan.rings.length} rings, ${start.steps} steps`);
    // Links to the control cluster's UI only when it runs one.
    const uiBase = stack.clusters[plan.control.cluster]?.endpoint.uiUrl;
    const handle = controlClient.workflow.getHandle(start.workflowId);
    const limitMs = opts.timeoutMs ?? (selfHosted ? 20 : 10) * 60_000;
    const deadline = Date.now() + limitMs;
    let told = 0;
    let lastNews = Date.now();
    let lastSaid = lastNews;
    let phase = 'running';
    // Each unit's last phase as the campaign saw it: a campaign that did not finish is judged unit by unit.
    const unitPhases = new Map<string, string | undefined>();
    const approved = new Set<string>();
    const signalled = new Set<string>();
    const announced = new Set<string>();
    const live = !quick && opts.out.isTTY === true;
    while (!opts.signal?.aborted) {
      const c = await queryCampaign(controlClient, handle, 5_000).catch(() => undefined);
      if (c) {
        phase = c.phase;
        for (const r of c.rings) for (const u of r.units) unitPhases.set(u.unit, u.phase);
        // The story: every new line of the campaign's history.
        for (let i = told; i < c.history.length; i++) say(`[campaign] ${campaignStoryLine(c.history[i]!, steps, c.history[i - 1])}`);
        if (c.history.length > told) lastNews = lastSaid = Date.now();
        told = c.history.length;
        if (Date.now() - lastSaid >= QUIET_MS && c.phase !== 'completed' && c.phase !== 'rolled-back') {
          say(`[campaign] ${campaignQuietLine(c, Math.round((Date.now() - lastNews) / 1000))}`);
          lastSaid = Date.now();
        }
        const a = c.approval;
        const key = a ? `${a.binding.ring}/${a.binding.step}/${a.binding.epoch}` : '';
        if (a && a.approvals.length < a.required && !approved.has(key)) {
          // Two people approve; the demo plays them (the requester, demo-operator, may not approve).
          // Told once per request, however many tries its approvals take.
          if (!announced.has(key))
            say(
              `[demo] playing the two approvers of ${a.binding.ring}: ${APPROVERS.join(' and ')}, each signing with their own key ` +
                '(the requester may not approve)',
            );
          approved.add(key);
          announced.add(key);
          for (const actor of APPROVERS) {
            // Approved on an earlier try, or signalled and not confirmed yet (sent again, it would count twice).
            if (a.approvals.some((r) => r.actor === actor) || signalled.has(`${key}/${actor}`)) continue;
            try {
              await sendCampaignCommand(controlClient, {
                target: { kind: 'campaign', name: plan.name, workflowId: start.workflowId },
                command: 'approve',
                actor,
                signer: keys[actor]!,
                reason: 'demo: gates green',
              });
              signalled.add(`${key}/${actor}`);
            } catch (err) {
              // A refusal is the demo's bug and ends it; a signal sent but not yet applied is awaited; a
              // worker too busy to answer the read before it is asked again.
              if (err instanceof CommandUnconfirmedError) {
                signalled.add(`${key}/${actor}`);
                continue;
              }
              if (err instanceof CommandRejectedError || err instanceof CockpitInputError) throw err;
              say(`[demo] ${actor}'s approval got no answer (${(err as Error).message}); asking again`);
              approved.delete(key);
              break;
            }
          }
        }
        if (c.phase === 'completed' || c.phase === 'rolled-back') break;
        if (c.hold && quick) {
          say(`[campaign] held: ${c.hold.reason}`);
          break;
        }
      }
      if (live) {
        const view = await getStatus(controlClient, plan, { namespace: control.namespace, uiBase: uiBase ?? NO_UI }).catch(() => undefined);
        if (view) opts.out.write(`\x1b[H\x1b[J${withoutLinksTo(renderStatus(view, { now: new Date() }), NO_UI)}\n\n${tail.join('\n')}\n`);
      }
      if (Date.now() > deadline) {
        say(`[campaign] still ${phase} after the demo's limit of ${Math.round(limitMs / 60_000)} min: giving up, checking what ran so far`);
        break;
      }
      await sleep(1_000, opts.signal);
    }
    if (opts.signal?.aborted) throw new Error('interrupted');

    // 5. The evidence: every acknowledged start on exactly one cluster; every unit reconciled.
    await load.stop(30_000);
    loadStopped = true;
    say(
      `[app] load stopped: ${load.accepted.length} starts acknowledged, ${load.retried} retried after a typed refusal, ` +
        `${load.failed} refused for good`,
    );
    say('[check] waiting for the last runs to finish, then looking up every acknowledged start on both clusters');
    const sdk: Record<string, { source: Client; target: Client }> = {};
    const conns = {
      source: await connectCluster(plan.source, plan.clusters[plan.source]!),
      target: await connectCluster(plan.target, plan.clusters[plan.target]!),
    };
    cleanups.push(() => conns.source.close());
    cleanups.push(() => conns.target.close());
    for (const [ns, cfg] of Object.entries(plan.namespaces)) {
      sdk[ns] = {
        source: new Client({ connection: conns.source, namespace: namespaceOn(plan.clusters[plan.source]!, ns), dataConverter }),
        target: new Client({ connection: conns.target, namespace: namespaceOn(plan.clusters[plan.target]!, cfg.target), dataConverter }),
      };
    }
    // Let the last acknowledged runs finish on whichever side they were routed to before judging.
    await waitForOpen(sdk, quick ? 60_000 : 120_000, say, opts.signal);
    const placements = await verifyPlacements(load.accepted, sdk);
    const redis = await connectRedis(plan.redis, { maxRetriesPerRequest: 2 });
    cleanups.push(async () => void redis.disconnect());
    const fence = new ScheduleFence({ redis, keyPrefix: plan.redis.keyPrefix });
    say(`[check] placements: ${placements.onSource} on the source, ${placements.onTarget} on the target; reconciling every unit`);
    // The units side by side: each reconcile mostly waits for visibility to catch up with the last starts.
    const reconcile: DemoResult['reconcile'] = {};
    const units = planUnitNames(plan);
    const results = await Promise.all(
      units.map((unit) =>
        reconcileUnit(plan, parseUnitName(unit)!, {
          source: conns.source,
          target: conns.target,
          fence,
          ...settledSides(phase === 'completed' ? 'completed' : unitPhases.get(unit)),
        }),
      ),
    );
    units.forEach((unit, i) => {
      const r = results[i]!;
      reconcile[unit] = {
        clean: r.clean,
        duplicates: r.duplicates,
        stranded: r.stranded,
        ...(r.schedules ? { schedules: r.schedules } : {}),
      };
    });
    // The codec's evidence: the campaign's input (cutover's worker and CLI encrypt) and one application run's
    // input (the application encrypts) read raw hold no plaintext, and the codec opens them.
    const ciphertext: DemoResult['ciphertext'] = [];
    const codec = planCodec(plan);
    if (codec) {
      const campaignCheck = await checkCiphertext({
        connection: controlClient.connection,
        namespace: control.namespace,
        workflowId: start.workflowId,
        plaintext: DEMO_ACTOR,
        codec,
      });
      ciphertext.push({ ...campaignCheck, what: `the campaign's input (actor "${DEMO_ACTOR}")` });
      const scan = load.accepted.map((a) => /^(.+)-scan-(\d+)$/.exec(a.workflowId)).find((m) => m !== null);
      if (scan) {
        const input = scanInput(scan[1]!, Number(scan[2]));
        const appCheck = await appCiphertext(conns, plan, scan[0], input, codec);
        if (appCheck) ciphertext.push({ ...appCheck, what: `scanAccount's input ("${input}")` });
      }
      for (const c of ciphertext) {
        say(
          `[check] raw history of ${c.workflowId} without the codec: ${c.inRawHistory ? 'HOLDS' : 'no'} plaintext of ${c.what}; ` +
            `${c.encrypted} payloads sealed with key ${c.keyIds.join(', ') || '(none)'}; ` +
            (c.inDecoded ? 'the codec opens them' : 'the codec does NOT open them'),
        );
      }
    }
    const problems: string[] = [];
    for (const c of ciphertext) {
      if (c.inRawHistory) problems.push(`the raw history of ${c.workflowId} holds the plaintext of ${c.what}`);
      if (!c.inDecoded) problems.push(`the decoded history of ${c.workflowId} lacks ${c.what}: the check looked in the wrong place`);
    }
    if (phase !== 'completed') problems.push(`campaign not completed (${phase === 'rolled-back' ? 'rolled back' : `still ${phase}`})`);
    if (placements.lost.length)
      problems.push(`${placements.lost.length} acknowledged start(s) on neither cluster: ${placements.lost.slice(0, 5).join(', ')}`);
    if (placements.duplicated.length)
      problems.push(`${placements.duplicated.length} start(s) on both clusters: ${placements.duplicated.slice(0, 5).join(', ')}`);
    for (const [u, r] of Object.entries(reconcile))
      if (!r.clean) {
        const sc = r.schedules && r.schedules.doubleActive + r.schedules.wrongSide > 0;
        problems.push(
          `${u}: reconcile not clean (${r.duplicates.length} duplicate(s), ${r.stranded.length} stranded` +
            `${sc ? `, ${r.schedules!.doubleActive + r.schedules!.wrongSide} schedule(s) active on both or the wrong side` : ''})`,
        );
      }
    const links = quick
      ? []
      : [
          ...(uiBase
            ? [
                { name: 'campaign', url: workflowUrl(uiBase, control.namespace, start.workflowId) },
                {
                  name: 'all cutover workflows',
                  url: `${uiBase}/namespaces/${control.namespace}/workflows?query=${encodeURIComponent('CutoverKind IS NOT NULL')}`,
                },
              ]
            : []),
          ...Object.entries(stack.clusters).flatMap(([n, c]) => (c.endpoint.uiUrl ? [{ name: `${n} UI`, url: c.endpoint.uiUrl }] : [])),
          ...(codecServer?.signInUrl && ui ? [{ name: 'codec sign-in', url: codecServer.signInUrl }] : []),
          ...(stack.prometheus!.hasUi
            ? [{ name: 'prometheus', url: `${stack.prometheus!.url}/graph?g0.expr=${encodeURIComponent('cutover_units')}` }]
            : []),
        ];
    const result: DemoResult = {
      ok: problems.length === 0,
      campaignPhase: phase,
      seconds: Math.round((Date.now() - started) / 1000),
      placements,
      refused: load.failed,
      reconcile,
      problems,
      ciphertext,
      links,
    };
    keepRunDir = !result.ok;
    await opts.beforeTeardown?.(result);
    return result;
  } catch (err) {
    if (opts.signal?.aborted) keepRunDir = false;
    throw err;
  } finally {
    say('stopping everything the demo started…');
    await cleanup();
    if (keepRunDir) say(`kept ${runDir} for a look: sdk.log, the stack's logs and the clusters' data`);
    else fs.rmSync(runDir, { recursive: true, force: true });
  }
}

/** The first argument of the application's `scanAccount` runs: the account, in plaintext only inside the payload. */
function scanInput(tenant: string, seq: number): string {
  return `${tenant}/account-${seq % 97}`;
}

/**
 * The plan's codec server, in this process, with the UIs' origins added. Its token is the run's own, kept
 * in a file of the run directory (mode 0600) for an operator to sign in with, and never printed; its
 * request log goes to codec-server.log there.
 */
async function startDemoCodecServer(plan: Plan, stack: LocalStack, runDir: string, ui: boolean, say: ProgressFn): Promise<PlanCodecServer> {
  const settings = plan.codec!.server!;
  const env: NodeJS.ProcessEnv = { ...process.env };
  let tokenFile: string | undefined;
  if (settings.tokenEnv) {
    tokenFile = path.join(runDir, 'codec-token');
    env[settings.tokenEnv] = ensureCodecToken(tokenFile).token;
  }
  const logFile = path.join(runDir, 'codec-server.log');
  const origins = Object.values(stack.clusters).flatMap((c) => (c.endpoint.uiUrl ? [c.endpoint.uiUrl] : []));
  const server = await startPlanCodecServer(plan, {
    extraOrigins: origins,
    env,
    log: (line) => fs.appendFileSync(logFile, `${line}\n`),
    logger: { warn: (message: string) => say(`[codec] ${message}`) },
  });
  const keys = codecKeySources(plan.codec!)
    .map((k) => `${k.id}${k.current ? ' (current)' : ''} from ${k.source}`)
    .join(', ');
  const auth =
    server.auth.kind === 'token' ? `bearer token in $${server.auth.tokenEnv} (file ${tokenFile})` : `JWTs from ${server.auth.jwksUrl}`;
  say(`codec server   ${server.url}   started: ${auth}; keys ${keys}; requests logged to ${logFile}`);
  if (ui && origins.length) {
    say(
      `codec          decoded payloads in the UI: sign in at ${server.signInUrl ?? `${server.url} (no sign-in page)`} with the token ` +
        `in ${tokenFile ?? 'the JWT'}, open ${origins.join(' or ')}, and in its Data Encoder settings use the browser's setting ` +
        `with ${server.url} and "include cross-origin credentials" on; without it the UI shows ciphertext`,
    );
  }
  return server;
}

/** {@link checkCiphertext} of an application run on whichever cluster it ran (undefined when on neither). */
async function appCiphertext(
  conns: { source: Connection; target: Connection },
  plan: Plan,
  workflowId: string,
  plaintext: string,
  codec: NonNullable<ReturnType<typeof planCodec>>,
): Promise<CiphertextCheck | undefined> {
  const sides = [
    { connection: conns.source, namespace: namespaceOn(plan.clusters[plan.source]!, 'detections') },
    { connection: conns.target, namespace: namespaceOn(plan.clusters[plan.target]!, plan.namespaces.detections!.target) },
  ];
  for (const side of sides) {
    const check = await checkCiphertext({ ...side, workflowId, plaintext, codec }).catch((err: unknown) => {
      if (isGrpcServiceError(err) && err.code === GrpcStatus.NOT_FOUND) return undefined;
      throw err;
    });
    if (check) return check;
  }
  return undefined;
}

/**
 * Where a unit's runs and schedules belong once it stopped in `phase`: moved (source drained, schedules on
 * the target), not started or rolled back (schedules on the source), or mid-move (only "on one cluster").
 */
function settledSides(phase: string | undefined): { drainedSide?: Side; expectedScheduleSide?: Side } {
  if (phase === 'completed') return { drainedSide: 'source', expectedScheduleSide: 'target' };
  if (phase === undefined || phase === 'pending' || phase === 'rolled-back') return { expectedScheduleSide: 'source' };
  return {};
}

/** The UI base given to the live view when no UI runs; its links are dropped from the view. */
const NO_UI = 'http://no-ui.invalid';

/** Waits (bounded) until no on-demand application run is open on either cluster (scheduled reports keep firing). */
async function waitForOpen(
  sdk: Record<string, { source: Client; target: Client }>,
  timeoutMs: number,
  onLine: ProgressFn,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let open = 0;
    for (const c of Object.values(sdk)) {
      for (const side of [c.source, c.target])
        open += (await side.workflow.count('ExecutionStatus = "Running" AND WorkflowType != "dailyReport"')).count;
    }
    if (open === 0 || signal?.aborted) return;
    if (Date.now() > deadline) {
      onLine(`[app] ${open} on-demand run(s) still open after ${Math.round(timeoutMs / 1000)} s; checking placements anyway`);
      return;
    }
    await sleep(1_000, signal);
  }
}

/** The demo's closing summary: the guarantees as numbers, then the links. */
export function formatDemoResult(r: DemoResult): string {
  const dup = Object.values(r.reconcile).reduce((n, x) => n + x.duplicates.length, 0);
  const stranded = Object.values(r.reconcile).reduce((n, x) => n + x.stranded.length, 0);
  const lines = [
    '',
    r.campaignPhase === 'completed' || r.campaignPhase === 'rolled-back'
      ? `campaign ${r.campaignPhase.replace('-', ' ')} in ${r.seconds} s`
      : `campaign still ${r.campaignPhase} when the demo stopped after ${r.seconds} s`,
    `starts acknowledged ${r.placements.total}: ${r.placements.onSource} ran on the source, ${r.placements.onTarget} on the target`,
    `lost ${r.placements.lost.length} · duplicated ${r.placements.duplicated.length + dup} · stranded ${stranded}` +
      (r.refused ? ` · refused for good ${r.refused}` : ''),
    ...Object.entries(r.reconcile).map(([u, x]) => {
      const sc = x.schedules
        ? `; schedules ${x.schedules.schedules}: ${x.schedules.doubleActive} active on both, ${x.schedules.wrongSide} on the wrong side` +
          (x.schedules.runsChecked ? `, ${x.schedules.duplicateFires} fired twice` : '')
        : '';
      const verdict = x.clean ? 'clean' : `NOT CLEAN (${x.duplicates.length} duplicate(s), ${x.stranded.length} stranded)`;
      return `  reconcile ${u.padEnd(32)} ${verdict}${sc}`;
    }),
    ...(r.ciphertext.length && r.ciphertext.every((c) => !c.inRawHistory && c.inDecoded)
      ? [
          `encrypted: raw histories read without the codec hold no plaintext of ${r.ciphertext.map((c) => c.what).join(' or ')}; ` +
            `sealed with key ${[...new Set(r.ciphertext.flatMap((c) => c.keyIds))].join(', ')}`,
        ]
      : []),
    ...(r.problems.length
      ? ['problems:', ...r.problems.map((p) => `  - ${p}`)]
      : ['all guarantees held: nothing lost, nothing duplicated, nothing stranded']),
    '',
    ...r.links.map((l) => `${l.name.padEnd(22)} ${l.url}`),
    '',
  ];
  return lines.join('\n');
}
