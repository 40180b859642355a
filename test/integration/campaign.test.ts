/**
 * The campaign workflow on the real stack: two dev-server clusters, Redis, Prometheus. Each test
 * builds its own plan (own tenants, task queues, Redis prefix, campaign name), runs the cutover
 * worker (entity + campaign workflows and activities), a probe worker per target namespace, dual
 * application workers and a routed workload, and tears everything down.
 */
import assert from 'node:assert/strict';
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
import { CutoverPhase } from '../../src/workflows/search-attributes';
import type { UnitStatus } from '../../src/workflows/migration-types';
import * as umsg from '../../src/workflows/unit-migration.messages';
import { entityAppJob } from '../workflows/entity-app';
import { testStack, uniqueId } from '../harness';
import { childReady, until as waitUntil } from '../harness/wait';
import { closeShared, sharedRig, type Shared } from './entity.fixture';

const CONTROL_NAMESPACE = 'cutover';
const STARTER = 'campaign-starter';
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An application metrics endpoint scraped by the harness's Prometheus (job `apps`). */
class AppMetrics {
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

interface RigOptions {
  /** Plan pieces: gates, rings (unit names use the placeholders PAY, A, B, C), defaults. */
  gates: (rig: Rig) => Record<string, unknown>;
  rings: { name: string; units: string[]; gates: string[]; batchSize?: number; approval?: 'two-person' }[];
  defaults?: Record<string, unknown>;
  approvalTtlMs?: number;
  /** Run the cutover worker in a child process (so the test can SIGKILL it). */
  childWorker?: boolean;
  /** Build the campaign as a drill. */
  drill?: boolean;
}

/** One campaign with its workers and workload. */
class Rig {
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
    });
    this.input = buildCampaignInput(this.plan, {
      actor: STARTER,
      drill: this.opts.drill === true,
      pollMs: 250,
      drainPollMs: 250,
      probeTaskQueue: this.probeQueue,
      approvalTtlMs: this.opts.approvalTtlMs ?? 120_000,
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
    });
    const activities = {
      ...entity,
      ...createGateActivities({
        target: { connection: this.sh.conn.target },
        runProbes: entity.runProbes,
        reconcile: entity.reconcile,
        reconcileSchedules: entity.reconcileSchedules,
      }),
      ...createCampaignActivities({ control: this.control }),
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
    return await waitUntil(
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
      });
      const activities = { ...entity,
        ...acts.createGateActivities({
          target: { connection: target },
          runProbes: entity.runProbes,
          reconcile: entity.reconcile,
          reconcileSchedules: entity.reconcileSchedules,
        }),
        ...acts.createCampaignActivities({
          control: new Client({ connection: target, namespace: ${JSON.stringify(CONTROL_NAMESPACE)} }),
        }),
      };
      const { CONTROL_BUNDLE_OPTIONS: b } = require(${JSON.stringify(path.join(root, 'src/worker-options'))});
      const worker = await Worker.create({
        connection: native,
        namespace: ${JSON.stringify(CONTROL_NAMESPACE)},
        taskQueue: o.taskQueue,
        workflowsPath: b.workflowsPath,
        interceptors: { workflowModules: b.workflowInterceptorModules },
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

const fast = { interval: '400ms', count: 1, consecutiveErrorLimit: 2 };

describe('campaign workflow (real clusters, Redis, Prometheus)', function () {
  this.timeout(240_000);
  let rig: Rig | undefined;

  afterEach(async () => {
    await rig?.tearDown();
    rig = undefined;
  });

  after(closeShared);

  it('three rings over two namespaces and three tenants complete; self-approval refused, two approvers accepted', async () => {
    rig = await new Rig({
      gates: (r) => ({
        probe: { synthetic: { workflows: 2, minSuccess: 1, maxP99: '10s' }, ...fast },
        errors: {
          prometheus: { url: testStack().prometheusUrl, query: `sum(campaign_test_failures_total{test="${r.metrics.test}"})`, max: 0 },
          ...fast,
        },
        clean: { reconcile: { maxDuplicates: 0, maxStranded: 0 }, ...fast },
      }),
      rings: [
        { name: 'ring0', units: ['PAY'], gates: ['probe'] },
        { name: 'ring1', units: ['A'], gates: ['probe', 'errors', 'clean'] },
        { name: 'ring2', units: ['B', 'C'], gates: ['errors', 'clean'], batchSize: 1, approval: 'two-person' },
      ],
    }).setUp();
    rig.startWorkload();
    await rig.start();
    for (const batch of [1, 2]) {
      const s = await rig.waitFor(
        (x) => x.approval !== undefined && x.approval.binding.step === x.step?.n && x.step.batch === batch,
        `ring2 batch ${batch} approval request`,
        150_000,
      );
      const binding = { ring: s.approval!.binding.ring, step: s.approval!.binding.step, epoch: s.approval!.binding.epoch };
      assert.equal(s.phase, 'awaiting-approval');
      assert.equal(s.rings[2]!.status, 'active');
      // The requester may not approve their own step.
      await rig.approve(STARTER, binding);
      const refused = await rig.waitFor(
        (x) => x.rejected.some((r) => r.command === 'approve' && r.actor === STARTER && r.code === 'self-approval'),
        'self-approval refused',
      );
      assert.equal(refused.approval!.approvals.length, 0);
      await rig.approve('bob', binding);
      // The same approver twice does not count as two.
      await rig.approve('bob', binding);
      await rig.waitFor((x) => x.rejected.some((r) => r.actor === 'bob' && r.code === 'duplicate-approver'), 'duplicate approver refused');
      await rig.approve('carol', binding);
      await rig.waitFor((x) => x.approvals.length === batch, `approval ${batch} used`);
    }
    const done = await rig.waitFor((x) => x.phase === 'completed', 'campaign completed', 150_000);
    await rig.stopWorkload();
    assert.deepEqual(
      done.rings.map((r) => r.status),
      ['done', 'done', 'done'],
    );
    for (const r of done.rings) for (const u of r.units) assert.equal(u.phase, 'completed', `${u.unit}`);
    for (const u of ['PAY', 'A', 'B', 'C']) {
      const st = await rig.unitStatus(u);
      assert.equal(st.phase, 'completed');
      assert.equal(st.route.side, 'target');
    }
    // Every baking step passed its gates: each gate was measured and none failed.
    assert.deepEqual(done.gates.map((g) => g.name).sort(), ['clean', 'errors', 'probe']);
    assert.ok(
      done.gates.every((g) => g.status === 'successful'),
      JSON.stringify(done.gates),
    );
    // Approvals are recorded with the two approvers and the evidence shown at the time.
    assert.equal(done.approvals.length, 2);
    for (const a of done.approvals) {
      assert.deepEqual(
        a.approvals.map((x) => x.actor),
        ['bob', 'carol'],
      );
      assert.ok(a.consumedAt !== undefined);
      assert.ok('gates' in a.approvals[0]!.evidence);
    }
    assert.ok(rig.accepted.length > 0);
  });

  it("a gate failing on the target's failed runs rolls the ring back at once; no later start lands there", async () => {
    rig = await new Rig({
      gates: () => ({ failures: { temporal: { maxFailed: 0 }, interval: '500ms', count: 3, failureLimit: 0, consecutiveErrorLimit: 2 } }),
      rings: [{ name: 'ring0', units: ['A'], gates: ['failures'] }],
      defaults: { bake: '20s' },
    }).setUp();
    rig.startWorkload(40, 150);
    await rig.start();
    await rig.waitFor((x) => x.phase === 'baking', 'canary bake');
    // Fault injection: the tenant's application runs on the target fail (terminated) while the canary bakes.
    const target = new Client({ connection: rig.sh.conn.target, namespace: 'detections' });
    let injecting = true;
    const injector = (async () => {
      while (injecting) {
        for await (const w of target.workflow.list({ query: `TaskQueue = "${rig!.detQueue}" AND ExecutionStatus = "Running"` })) {
          await target.workflow
            .getHandle(w.workflowId)
            .terminate('made to fail by the test')
            .catch(() => undefined);
        }
        await delay(100);
      }
    })();
    try {
      const rolled = await rig.waitFor((x) => x.phase === 'rolled-back', 'ring rolled back', 120_000);
      injecting = false;
      await injector;
      const failed = rolled.history.find((h) => h.event === 'gate failures failed');
      assert.ok(failed, JSON.stringify(rolled.history));
      // The failing measurement was the last one taken: the rollback began without another interval's measurement.
      const ms = (failed.evidence as { measurements: { result: string }[] }).measurements;
      assert.equal(ms[ms.length - 1]!.result, 'failed');
      const a = await rig.unitStatus('A');
      assert.equal(a.phase, 'rolled-back');
      assert.equal(a.route.side, 'source');
      // Afterwards, starts keep coming and none lands on the target.
      const after = new Date().toISOString();
      const before = rig.accepted.length;
      await delay(2500);
      await rig.stopWorkload();
      assert.ok(rig.accepted.length > before);
      await delay(1500); // visibility lags writes by about a second
      assert.equal(await rig.targetStartsSince(after), 0);
    } finally {
      injecting = false;
      await injector;
    }
  });

  it('no data is a failure: with onGateFailure hold the campaign holds on the gate', async () => {
    rig = await new Rig({
      gates: (r) => ({
        nodata: { prometheus: { url: testStack().prometheusUrl, query: `sum(metric_absent_${r.metrics.test})`, max: 1 }, ...fast },
      }),
      rings: [{ name: 'ring0', units: ['A'], gates: ['nodata'] }],
      defaults: { onGateFailure: 'hold' },
    }).setUp();
    await rig.start();
    const held = await rig.waitFor((x) => x.phase === 'held', 'held on the gate');
    assert.equal(held.hold!.gate, 'nodata');
    assert.equal(held.gates.find((g) => g.name === 'nodata')!.status, 'failed');
    assert.equal(held.step!.kind, 'canary');
    // Held means held: the unit stays at its canary step.
    const a = await rig.unitStatus('A');
    assert.equal(a.phase, 'canary');
    await rig.signal('rollback', 'operator', 'no data');
    const rolled = await rig.waitFor((x) => x.phase === 'rolled-back', 'rolled back by the operator');
    assert.equal(rolled.rings[0]!.units[0]!.phase, 'rolled-back');
  });

  it('an inconclusive gate pauses the campaign until resume', async () => {
    rig = await new Rig({
      gates: (r) => ({ ambiguous: { prometheus: { url: testStack().prometheusUrl, query: r.metrics.query, max: 0 }, ...fast } }),
      rings: [{ name: 'ring0', units: ['A'], gates: ['ambiguous'] }],
    }).setUp();
    // Two series: the query cannot be judged as one number.
    rig.metrics.series = { one: 0, two: 0 };
    await rig.start();
    const held = await rig.waitFor((x) => x.phase === 'held', 'held on an inconclusive gate');
    assert.equal(held.gates.find((g) => g.name === 'ambiguous')!.status, 'inconclusive');
    // Nothing moves while held.
    await delay(1500);
    const still = await rig.status();
    assert.equal(still.phase, 'held');
    assert.equal(still.step!.n, held.step!.n);
    // A human fixes the query's input and resumes.
    rig.metrics.series = { one: 0 };
    await delay(2500); // Prometheus scrapes every second; the stale series goes away after its next scrape
    await rig.signal('resume');
    const done = await rig.waitFor((x) => x.phase === 'completed', 'completed after resume', 120_000);
    assert.ok(done.history.some((h) => h.event.startsWith('resume by')));
  });

  it('refuses an expired approval; after resume a fresh request is approved by two others', async () => {
    rig = await new Rig({
      gates: () => ({}),
      rings: [{ name: 'ring0', units: ['A'], gates: [], approval: 'two-person' }],
      approvalTtlMs: 1500,
    }).setUp();
    await rig.start();
    const held = await rig.waitFor((x) => x.phase === 'held' && x.approval !== undefined, 'approval expired');
    const old = held.approval!.binding;
    await rig.approve('bob', { ring: old.ring, step: old.step, epoch: old.epoch });
    await rig.waitFor((x) => x.rejected.some((r) => r.actor === 'bob' && r.code === 'expired'), 'expired approval refused');
    await rig.signal('resume');
    const fresh = await rig.waitFor(
      (x) => x.phase === 'awaiting-approval' && x.approval !== undefined && x.approval.requestedAt > held.approval!.requestedAt,
      'a fresh request',
    );
    // Approve quickly: the fresh request also lives 1.5 s.
    const b = fresh.approval!.binding;
    await rig.approve('bob', b);
    await rig.approve('carol', b);
    const passed = await rig.waitFor((x) => x.approvals.length === 1, 'approval used');
    assert.deepEqual(
      passed.approvals[0]!.approvals.map((a) => a.actor),
      ['bob', 'carol'],
    );
  });

  it("carries on with the bake's remaining time after the cutover worker is killed mid-bake", async () => {
    rig = await new Rig({
      gates: () => ({ clean: { reconcile: { maxDuplicates: 0, maxStranded: 0 }, interval: '1s', count: 1, consecutiveErrorLimit: 5 } }),
      rings: [{ name: 'ring0', units: ['A'], gates: ['clean'] }],
      defaults: { bake: '6s' },
      childWorker: true,
    }).setUp();
    await rig.start();
    await rig.waitFor((x) => x.phase === 'baking' && x.step?.kind === 'canary', 'canary bake');
    // Read the bake only once the task that started it has completed: killing the worker while that
    // task is in flight makes the retried task start the bake, ~10 s (the task timeout) later.
    await waitUntil('the bake recorded in history', async () => ((await rig!.durablePhase()) === 'baking' ? true : undefined));
    const baking = await rig.status();
    assert.equal(baking.step?.kind, 'canary');
    const until = Date.parse(baking.step!.bakeUntil!);
    await rig.killCutoverWorker();
    await delay(1500);
    await rig.startCutoverWorker();
    // Same bake (same end), not a restarted one.
    const resumed = await rig.waitFor(
      (x) => x.step?.n !== baking.step!.n || x.phase !== 'baking' || x.step?.bakeUntil !== undefined,
      'status after restart',
    );
    if (resumed.step?.n === baking.step!.n && resumed.step.bakeUntil) assert.equal(Date.parse(resumed.step.bakeUntil), until);
    const next = await rig.waitFor((x) => x.step !== undefined && x.step.n > baking.step!.n, 'the step after the bake', 60_000);
    const passed = next.history.find((h) => h.step === baking.step!.n && h.event.includes('passed its bake'));
    assert.ok(passed, JSON.stringify(next.history));
    // It passed once the original bake was over (the bake clock never restarted).
    assert.ok(Date.parse(passed.at) >= until);
    assert.ok(!next.history.some((h) => h.event.startsWith('bake restarted')));
    await rig.waitFor((x) => x.phase === 'completed', 'completed', 90_000);
  });

  it('a drill takes each unit to cutover and rolls it back; the real campaign of the same plan then moves them for good', async () => {
    rig = await new Rig({
      gates: () => ({}),
      rings: [
        { name: 'ring0', units: ['A'], gates: [] },
        { name: 'ring1', units: ['B'], gates: [] },
      ],
      defaults: { bake: '500ms' },
      drill: true,
    }).setUp();
    rig.startWorkload(120);
    const first = await rig.start();
    const drill = await rig.waitFor((x) => x.phase === 'completed', 'the drill to complete', 120_000);
    assert.equal(drill.drill, true);
    assert.ok(
      drill.history.some((h) => h.event.includes('cutover')),
      JSON.stringify(drill.history),
    );
    for (const u of ['A', 'B']) {
      const st = await rig.unitStatus(u);
      assert.equal(st.phase, 'rolled-back', u);
      assert.equal(st.route.side, 'source', u);
      // The rehearsal went all the way to cutover before rolling back.
      assert.ok(
        st.history.some((h) => h.phase === 'cutover'),
        `${u}: ${JSON.stringify(st.history.map((h) => h.phase))}`,
      );
    }
    // The real campaign: a new run of the same campaign ID; the units rolled back by the drill start again.
    rig.rebuild(false);
    const real = await rig.start();
    assert.equal(real.started, true);
    assert.notEqual(real.runId, first.runId);
    const done = await rig.waitFor((x) => x.phase === 'completed' && !x.drill, 'the real campaign to complete', 150_000);
    await rig.stopWorkload();
    for (const u of ['A', 'B']) {
      const st = await rig.unitStatus(u);
      assert.equal(st.phase, 'completed', u);
      assert.equal(st.route.side, 'target', u);
    }
    assert.ok(done.rings.every((r) => r.status === 'done'));
    assert.ok(rig.accepted.length > 0);
  });
});
