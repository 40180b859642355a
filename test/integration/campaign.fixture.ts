/**
 * Test rig of the campaign workflow on the real stack (two dev-server clusters, Redis, Prometheus):
 * each rig builds its own plan (own tenants, task queues, Redis prefix, campaign name), runs the
 * cutover worker (entity + campaign workflows and activities), a probe worker per target namespace,
 * dual application workers and a routed workload, and tears everything down. Used by the campaign
 * integration test and by the recorder of the campaign's replay histories.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { createActivities, createCampaignActivities, createGateActivities } from '../../src/activities';
import { buildCampaignInput, startCampaign } from '../../src/campaign/input';
import type { CampaignInput, CampaignStatus } from '../../src/campaign/types';
import { campaignUnits, unitWorkflowIdOf } from '../../src/campaign/units';
import { loadPlan, type Plan } from '../../src/config';
import { DualWorkers, RoutedClient, RoutingStore } from '../../src/routing';
import { ScheduleFence } from '../../src/schedules';
import * as cmsg from '../../src/workflows/campaign.messages';
import { CutoverPhase } from '../../src/domain/search-attributes';
import type { UnitStatus } from '../../src/domain/migration';
import * as umsg from '../../src/workflows/unit-migration.messages';
import { entityAppJob } from '../workflows/entity-app';
import { testStack, uniqueId } from '../harness';
import { childReady, until } from '../harness/wait';
import { sharedRig, type Shared } from './entity.fixture';
import { AuditStream } from '../../src/audit/stream';
import type { OperatorSecret } from '../../src/operators/keys';

export const CONTROL_NAMESPACE = 'cutover';
/** Who starts the campaigns: the requester of their approvals. */
export const STARTER = 'campaign-starter';
export const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An application metrics endpoint scraped by the harness's Prometheus (job `apps`). */
export class AppMetrics {
  /** Series served: label value → counter value. */
  series: Record<string, number> = { main: 0 };
  private server?: http.Server;
  constructor(readonly test: string) {}
  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      res.writeHead(req.url === '/metrics' ? 200 : 404, { 'content-type': 'text/plain; version=0.0.4' });
      const lines = Object.entries(this.series).map(([k, v]) => `campaign_test_failures_total{test="${this.test}",series="${k}"} ${v}`);
      res.end(req.url === '/metrics' ? `# TYPE campaign_test_failures_total counter\n${lines.join('\n')}\n` : '');
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    await testStack().addScrapeTarget(`127.0.0.1:${(this.server.address() as AddressInfo).port}`, this.test);
  }
  /** The PromQL of the test's failures: one series per served label, aggregated by `series`. */
  get query(): string {
    return `sum by (series) (campaign_test_failures_total{test="${this.test}"})`;
  }
  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

export interface RigOptions {
  /** Plan pieces: gates, rings (unit names use the placeholders PAY, A, B, C), defaults. */
  gates: (rig: Rig) => Record<string, unknown>;
  rings: { name: string; units: string[]; gates: string[]; batchSize?: number; approval?: 'two-person' }[];
  defaults?: Record<string, unknown>;
  approvalTtlMs?: number;
  /** Run the cutover worker in a child process (so the test can SIGKILL it). */
  childWorker?: boolean;
  /** Build the campaign as a drill. */
  drill?: boolean;
  /** The campaign continues as new past this many history events. */
  maxHistoryEvents?: number;
  /** The plan's operators (signed commands). */
  operators?: Record<string, { publicKey: string; roles: ('operator' | 'approver' | 'controller')[] }>;
  /** The cutover worker's controller key (signs the campaign's commands to its units). */
  signer?: OperatorSecret;
}

/** One campaign with its workers and workload. */
export class Rig {
  readonly tag = uniqueId('cmp');
  readonly keyPrefix = `${this.tag}:`;
  readonly controlQueue = `${this.tag}-cutover`;
  readonly probeQueue = `${this.tag}-probe`;
  readonly payQueue = `${this.tag}-pay`;
  readonly detQueue = `${this.tag}-det`;
  readonly tenants: Record<'A' | 'B' | 'C', string>;
  readonly metrics = new AppMetrics(this.tag.replace(/-/g, '_'));
  plan!: Plan;
  input!: CampaignInput;
  sh!: Shared;
  control!: Client;
  private store!: RoutingStore;
  private workers: { worker: Worker; run: Promise<void> }[] = [];
  private cutover?: { worker: Worker; run: Promise<void> };
  private child?: ChildProcess;
  private dual: { workers: DualWorkers; run: Promise<void> }[] = [];
  private routed: RoutedClient[] = [];
  private workload?: { stop: boolean; done: Promise<void> };
  readonly accepted: { id: string; ns: string }[] = [];

  constructor(private readonly opts: RigOptions) {
    const t = this.tag.replace(/^cmp-/, '');
    this.tenants = { A: `a${t}`, B: `b${t}`, C: `c${t}` };
  }

  unitName(placeholder: string): string {
    if (placeholder === 'PAY') return 'namespace/payments';
    return `tenant/detections/${this.tenants[placeholder as 'A' | 'B' | 'C']}`;
  }

  get workflowId(): string {
    return this.input.plan.workflowId;
  }

  async setUp(): Promise<this> {
    const s = testStack();
    this.sh = await sharedRig();
    await this.metrics.start();
    this.plan = loadPlan({
      name: this.tag,
      clusters: { [s.source.name]: { address: s.source.address }, [s.target.name]: { address: s.target.address } },
      source: s.source.name,
      target: s.target.name,
      control: { cluster: s.target.name, namespace: CONTROL_NAMESPACE, taskQueue: this.controlQueue },
      redis: { url: s.redisUrl, keyPrefix: this.keyPrefix, clientStaleness: '1s' },
      namespaces: {
        payments: { strategy: 'dual-workers', taskQueues: [this.payQueue] },
        detections: {
          strategy: 'dual-workers',
          taskQueues: [this.detQueue],
          tenants: { selector: { workflowIdPrefix: '{tenant}-' }, ids: Object.values(this.tenants) },
        },
      },
      gates: this.opts.gates(this),
      defaults: { bake: '1500ms', percentSteps: [50], onGateFailure: 'rollback', drainDeadline: '20s', ...this.opts.defaults },
      rings: this.opts.rings.map((r) => ({ ...r, units: r.units.map((u) => this.unitName(u)) })),
      ...(this.opts.operators ? { operators: this.opts.operators } : {}),
    });
    this.input = buildCampaignInput(this.plan, {
      actor: STARTER,
      drill: this.opts.drill === true,
      pollMs: 250,
      drainPollMs: 250,
      probeTaskQueue: this.probeQueue,
      approvalTtlMs: this.opts.approvalTtlMs ?? 120_000,
      ...(this.opts.maxHistoryEvents !== undefined ? { maxHistoryEvents: this.opts.maxHistoryEvents } : {}),
      // The namespace unit's contract ID would be shared by every test of the run.
      workflowIds: { 'namespace/payments': `cutover/namespace/payments/${this.tag}` },
    });
    this.store = new RoutingStore({ redis: this.sh.redis, keyPrefix: this.keyPrefix });
    this.control = new Client({ connection: this.sh.conn.target, namespace: CONTROL_NAMESPACE });
    await this.startCutoverWorker();
    for (const ns of ['payments', 'detections']) {
      const probe = await Worker.create({
        connection: this.sh.native.target,
        namespace: ns,
        taskQueue: this.probeQueue,
        workflowBundle: this.sh.cutoverBundle,
      });
      this.workers.push({ worker: probe, run: probe.run() });
    }
    for (const [ns, queue, units] of [
      ['payments', this.payQueue, ['namespace/payments']],
      ['detections', this.detQueue, Object.values(this.tenants).map((t) => `tenant/detections/${t}`)],
    ] as const) {
      const workers = await DualWorkers.fromParts({
        workflowBundle: this.sh.appBundle,
        sourceConnection: this.sh.native.source,
        targetConnection: this.sh.native.target,
        sourceNamespace: ns,
        targetNamespace: ns,
        store: this.store,
        units: [...units],
        taskQueue: queue,
        refreshMs: 250,
      });
      this.dual.push({ workers, run: workers.run() });
      this.routed.push(
        await RoutedClient.create({
          source: new Client({ connection: this.sh.conn.source, namespace: ns }),
          target: new Client({ connection: this.sh.conn.target, namespace: ns }),
          store: this.store,
          namespace: ns,
          ...(ns === 'detections' ? { tenantSelector: { workflowIdPrefix: '{tenant}-' }, tenants: Object.values(this.tenants) } : {}),
          holdTimeoutMs: 30_000,
          refreshMs: 250,
          stalenessMs: 1_000, // the plan's redis.clientStaleness: drains wait this long after a route change
        }),
      );
    }
    return this;
  }

  /** The cutover worker: entity and campaign workflows with all their activities. */
  async startCutoverWorker(): Promise<void> {
    const s = testStack();
    if (this.opts.childWorker) {
      this.child = await spawnCutoverWorker({
        source: s.source,
        target: s.target,
        redisUrl: s.redisUrl,
        keyPrefix: this.keyPrefix,
        taskQueue: this.controlQueue,
      });
      return;
    }
    const entity = createActivities({
      source: { name: s.source.name, connection: this.sh.conn.source, kind: 'dev' },
      target: { name: s.target.name, connection: this.sh.conn.target, kind: 'dev' },
      routing: this.store,
      scheduleFence: new ScheduleFence({ redis: this.sh.redis, keyPrefix: this.keyPrefix }),
      audit: new AuditStream({ redis: this.sh.redis, keyPrefix: this.keyPrefix }),
    });
    const activities = {
      ...entity,
      ...createGateActivities({
        target: { connection: this.sh.conn.target },
        source: { connection: this.sh.conn.source },
        runProbes: entity.runProbes,
        reconcile: entity.reconcile,
        reconcileSchedules: entity.reconcileSchedules,
      }),
      ...createCampaignActivities({ control: this.control, ...(this.opts.signer ? { signer: this.opts.signer } : {}) }),
    };
    const worker = await Worker.create({
      connection: this.sh.native.target,
      namespace: CONTROL_NAMESPACE,
      taskQueue: this.controlQueue,
      workflowBundle: this.sh.cutoverBundle,
      activities,
    });
    this.cutover = { worker, run: worker.run() };
  }

  async killCutoverWorker(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = once(c, 'exit');
    c.kill('SIGKILL');
    await gone;
    this.child = undefined;
  }

  async start(): Promise<{ runId: string; started: boolean }> {
    return await startCampaign(this.control, this.input, { taskQueue: this.controlQueue });
  }

  /** Switches the rig's campaign input to a real campaign (or a drill) of the same plan and unit IDs. */
  rebuild(drill: boolean): void {
    this.input = { ...this.input, plan: { ...buildCampaignInput(this.plan, { actor: STARTER, drill }).plan } };
  }

  async status(): Promise<CampaignStatus> {
    return await this.control.workflow.getHandle(this.workflowId).query(cmsg.status);
  }

  /**
   * The campaign's phase as its history records it. A status query can be answered by a workflow task
   * that is still in flight (the server hands the query to the worker along with the task), so a worker
   * SIGKILLed right after shows state that never became durable; a search attribute upsert counts only
   * once its task completes.
   */
  async durablePhase(): Promise<string | undefined> {
    const d = await this.control.workflow.getHandle(this.workflowId).describe();
    return d.typedSearchAttributes.get(CutoverPhase);
  }

  async unitStatus(placeholder: string): Promise<UnitStatus> {
    return await this.control.workflow.getHandle(unitWorkflowIdOf(this.input.entities, this.unitName(placeholder))).query(umsg.status);
  }

  /** Polls the campaign's status until `pred` holds (bounded). */
  async waitFor(pred: (s: CampaignStatus) => boolean, what: string, timeoutMs = 90_000): Promise<CampaignStatus> {
    let last: CampaignStatus | undefined;
    return await until(
      what,
      async () => {
        last = await this.status();
        return pred(last) && last;
      },
      {
        timeoutMs,
        everyMs: 150,
        detail: () => {
          const brief = last && {
            phase: last.phase,
            hold: last.hold,
            step: last.step && { n: last.step.n, kind: last.step.kind },
            gates: last.gates,
            rejected: last.rejected,
            history: last.history.slice(-5),
            units: last.rings.flatMap((r) => r.units),
          };
          return `last: ${JSON.stringify(brief)}`;
        },
      },
    );
  }

  async signal(name: 'advance' | 'pause' | 'resume' | 'rollback', actor = 'operator', reason?: string): Promise<void> {
    await this.control.workflow
      .getHandle(this.workflowId)
      .signal(cmsg[name], { actor, commandId: uniqueId('cmd'), ...(reason ? { reason } : {}) });
  }

  async approve(actor: string, binding: { ring: string; step: number; epoch: number }): Promise<void> {
    await this.control.workflow.getHandle(this.workflowId).signal(cmsg.approve, { actor, commandId: uniqueId('cmd'), ...binding });
  }

  /** Starts jobs through the routed clients, round-robin over payments and the three tenants. */
  startWorkload(everyMs = 80, jobMs = 200): void {
    const w = { stop: false, done: Promise.resolve() };
    let seq = 0;
    w.done = (async () => {
      while (!w.stop) {
        const pick = seq % 4;
        const ns = pick === 0 ? 'payments' : 'detections';
        const id = pick === 0 ? `${this.tag}-pay-${seq}` : `${Object.values(this.tenants)[pick - 1]}-${seq}`;
        seq++;
        try {
          await this.routed[pick === 0 ? 0 : 1]!.workflow.start(entityAppJob, {
            taskQueue: pick === 0 ? this.payQueue : this.detQueue,
            workflowId: id,
            args: [jobMs],
          });
          this.accepted.push({ id, ns });
        } catch {
          // refused (e.g. a held start that timed out): never accepted, so never lost
        }
        await delay(everyMs);
      }
    })();
    this.workload = w;
  }

  async stopWorkload(): Promise<void> {
    if (!this.workload) return;
    this.workload.stop = true;
    await this.workload.done;
  }

  /** Runs of this test's task queues started on the target since `sinceIso`. */
  async targetStartsSince(sinceIso: string): Promise<number> {
    let n = 0;
    for (const [ns, q] of [
      ['payments', this.payQueue],
      ['detections', this.detQueue],
    ] as const) {
      const c = new Client({ connection: this.sh.conn.target, namespace: ns });
      n += (await c.workflow.count(`TaskQueue = "${q}" AND StartTime >= "${sinceIso}"`)).count;
    }
    return n;
  }

  async tearDown(): Promise<void> {
    await this.stopWorkload().catch(() => undefined);
    const ids = this.input ? [this.workflowId, ...campaignUnits(this.input).map((u) => u.workflowId)] : [];
    for (const id of ids) {
      try {
        const d = await this.control.workflow.getHandle(id).describe();
        if (d.status.name === 'RUNNING') await this.control.workflow.getHandle(id).terminate('test teardown');
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) process.stderr.write(`teardown ${id}: ${String(err)}\n`);
      }
    }
    for (const r of this.routed) await r.close().catch(() => undefined);
    for (const d of this.dual) {
      await d.workers.shutdown().catch(() => undefined);
      await d.run.catch(() => undefined);
    }
    for (const w of [...this.workers, ...(this.cutover ? [this.cutover] : [])]) {
      if (w.worker.getState() === 'RUNNING') w.worker.shutdown();
      await w.run.catch(() => undefined);
    }
    await this.killCutoverWorker().catch(() => undefined);
    await this.metrics.stop();
    if (this.sh) {
      const keys = await this.sh.redis.keys(`${this.keyPrefix}*`);
      if (keys.length) await this.sh.redis.del(...keys);
    }
  }
}

/**
 * The cutover worker in a child process (a test SIGKILLs it mid-bake). The script is inline so the
 * test owns it; it composes the same activities as the in-process worker and prints READY.
 */
async function spawnCutoverWorker(o: {
  source: { name: string; address: string };
  target: { name: string; address: string };
  redisUrl: string;
  keyPrefix: string;
  taskQueue: string;
}): Promise<ChildProcess> {
  const root = path.join(__dirname, '..', '..');
  const script = `
    const { Client, Connection } = require('@temporalio/client');
    const { DefaultLogger, NativeConnection, Runtime, Worker } = require('@temporalio/worker');
    const { Redis } = require('ioredis');
    const acts = require(${JSON.stringify(path.join(root, 'src/activities'))});
    const { RoutingStore } = require(${JSON.stringify(path.join(root, 'src/routing'))});
    const { ScheduleFence } = require(${JSON.stringify(path.join(root, 'src/schedules'))});
    const { AuditStream } = require(${JSON.stringify(path.join(root, 'src/audit/stream'))});
    const o = ${JSON.stringify(o)};
    (async () => {
      Runtime.install({ logger: new DefaultLogger('ERROR') });
      const source = await Connection.connect({ address: o.source.address });
      const target = await Connection.connect({ address: o.target.address });
      const native = await NativeConnection.connect({ address: o.target.address });
      const redis = new Redis(o.redisUrl, { maxRetriesPerRequest: 2 });
      const entity = acts.createActivities({
        source: { name: o.source.name, connection: source, kind: 'dev' },
        target: { name: o.target.name, connection: target, kind: 'dev' },
        routing: new RoutingStore({ redis, keyPrefix: o.keyPrefix }),
        scheduleFence: new ScheduleFence({ redis, keyPrefix: o.keyPrefix }),
        audit: new AuditStream({ redis, keyPrefix: o.keyPrefix }),
      });
      const activities = { ...entity,
        ...acts.createGateActivities({
          target: { connection: target },
          source: { connection: source },
          runProbes: entity.runProbes,
          reconcile: entity.reconcile,
          reconcileSchedules: entity.reconcileSchedules,
        }),
        ...acts.createCampaignActivities({
          control: new Client({ connection: target, namespace: ${JSON.stringify(CONTROL_NAMESPACE)} }),
        }),
      };
      const { CONTROL_BUNDLE_OPTIONS: b } = require(${JSON.stringify(path.join(root, 'src/worker-options'))});
      const { cachedWorkflowBundle } = require(${JSON.stringify(path.join(root, 'src/workflow-bundle-cache'))});
      // From the bundle cache: each restart of this process would otherwise bundle for seconds.
      const { bundle } = await cachedWorkflowBundle({ ...b, logger: new DefaultLogger('ERROR') });
      const worker = await Worker.create({
        connection: native,
        namespace: ${JSON.stringify(CONTROL_NAMESPACE)},
        taskQueue: o.taskQueue,
        workflowBundle: bundle,
        activities,
      });
      const run = worker.run();
      process.stdout.write('READY\\n');
      await run;
    })().catch((e) => { console.error(e); process.exit(1); });
  `;
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', script], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  await childReady(child, 'cutover worker process');
  return child;
}
