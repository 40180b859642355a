/**
 * Test rig of the entity-workflow integration tests: real clusters and Redis from the harness, the
 * cutover worker (entity workflows + activities) on the control namespace of the target cluster, a
 * probe worker in the target namespace, and an application workload started through the routed
 * multi-cluster client onto dual workers. Each rig has its own task queues, IDs and Redis prefix.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  Client,
  Connection,
  WorkflowNotFoundError,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import { Redis } from 'ioredis';
import { createActivities } from '../../src/activities';
import { CONTROL_BUNDLE_OPTIONS } from '../../src/worker-options';
import { DualWorkers, RoutedClient, RoutingStore } from '../../src/routing';
import type { Side } from '../../src/routing/types';
import { listSelected, ScheduleFence, type SidedEndpoint } from '../../src/schedules';
import type { UnitMigrationInput, UnitStatus } from '../../src/domain/migration';
import type { CommandName } from '../../src/domain/migration';
import { unitStartOptions } from '../../src/domain/unit-input';
import * as msgs from '../../src/workflows/unit-migration.messages';
import { entityAppJob } from '../workflows/entity-app';
import { createRawSchedule, deleteOnSides, dur, jsonPayload } from '../workflows/schedule-test-kit';
import type { ClusterEndpoint } from '../../src/stack/types';
import { SELF_HOSTED_NAME, testStack, uniqueId, workflowBundle } from '../harness';
import { childReady, until } from '../harness/wait';
import { AuditStream } from '../../src/audit/stream';

/** The control namespace (on the target cluster, the default control cluster). */
export const CONTROL_NAMESPACE = 'cutover';

/** Bundles and connections shared by every rig of a suite (entity and campaign tests alike). */
export interface Shared {
  cutoverBundle: WorkflowBundle;
  appBundle: WorkflowBundle;
  conn: { source: Connection; target: Connection };
  native: { source: NativeConnection; target: NativeConnection };
  redis: Redis;
}

let shared: Promise<Shared> | undefined;
// Bundling takes seconds and the code does not change within a run: every suite reuses the bundles,
// while connections are per suite (closed in its after()).
let bundles: Promise<[WorkflowBundle, WorkflowBundle]> | undefined;

/** Bundles and connections shared by the rigs of one suite (built once). */
export function sharedRig(): Promise<Shared> {
  shared ??= (async () => {
    const s = testStack();
    const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: (m: string) => process.stderr.write(`[bundle] ${m}\n`) };
    bundles ??= Promise.all([
      workflowBundle({ ...CONTROL_BUNDLE_OPTIONS, logger: quiet }),
      workflowBundle({ workflowsPath: require.resolve('../workflows/entity-app'), logger: quiet }),
    ]);
    const [cutoverBundle, appBundle] = await bundles.catch((err: unknown) => {
      bundles = undefined; // a later suite may try again
      throw err;
    });
    return {
      cutoverBundle,
      appBundle,
      conn: {
        source: await Connection.connect({ address: s.source.address }),
        target: await Connection.connect({ address: s.target.address }),
      },
      native: {
        source: await NativeConnection.connect({ address: s.source.address }),
        target: await NativeConnection.connect({ address: s.target.address }),
      },
      redis: new Redis(s.redisUrl, { maxRetriesPerRequest: 2 }),
    };
  })();
  return shared;
}

/** The cluster a rig moves off: its endpoint, connections and kind (as the cluster activities see it). */
interface SourceSide {
  endpoint: ClusterEndpoint;
  conn: Connection;
  native: NativeConnection;
  kind: 'dev' | 'self-hosted';
}

let selfHostedSource: Promise<SourceSide> | undefined;

/** Connections to the harness's self-hosted cluster (started on first use), shared like `sharedRig`'s. */
function selfHostedSide(): Promise<SourceSide> {
  selfHostedSource ??= (async () => {
    const { endpoint } = await testStack().selfHosted();
    return {
      endpoint,
      kind: 'self-hosted' as const,
      conn: await Connection.connect({ address: endpoint.address }),
      native: await NativeConnection.connect({ address: endpoint.address }),
    };
  })();
  return selfHostedSource;
}

/** Closes what `sharedRig` opened (suite `after`). Workers must be shut down first. */
export async function closeShared(): Promise<void> {
  const sh = selfHostedSource;
  selfHostedSource = undefined;
  if (sh) {
    const side = await sh;
    await side.conn.close();
    await side.native.close();
  }
  const p = shared;
  shared = undefined;
  if (!p) return;
  const s = await p;
  await s.conn.source.close();
  await s.conn.target.close();
  await s.native.source.close();
  await s.native.target.close();
  s.redis.disconnect();
}

export interface RigOptions {
  kind: 'tenant' | 'namespace';
  /** The app namespace (default: detections for tenants, payments for namespaces). */
  namespace?: string;
  input?: Partial<UnitMigrationInput>;
  /** How long each application job runs. */
  jobMs?: number;
  /** Run the cutover worker in a child process (so a test can SIGKILL it). */
  childWorker?: boolean;
  /** The test runs the cutover workers itself, on `controlQueue` (e.g. `cutover worker` processes): setUp starts none. */
  externalCutoverWorker?: boolean;
  /**
   * The cluster whose `cutover` namespace holds the unit's workflow (default the target, the plan's default
   * control cluster); `source` with `externalCutoverWorker`, for a worker whose plan names the source as control.
   */
  control?: 'source' | 'target';
  /** The test runs the application's workers itself (e.g. in processes it can SIGKILL): setUp starts no dual workers. */
  externalAppWorkers?: boolean;
  /** Start the probe worker only when the test calls `startProbeWorker()`: until then the unit's probes wait (and its step with them). */
  deferProbeWorker?: boolean;
  /** How long the unit's probes may take (default 15 s). */
  probeTimeoutMs?: number;
  /**
   * The cluster moved off: `dev` (default) the harness's dev server `legacy`; `selfhosted` its
   * temporal-server on PostgreSQL (4 shards), as users' clusters are. The target is always `cloud`.
   */
  source?: 'dev' | 'selfhosted';
  /**
   * Schedules to create on the source for the unit before it moves: IDs under the unit's workflow-ID
   * prefix (so a tenant's selector picks them), each starting `entityAppJob` on the app task queue
   * every second.
   */
  schedules?: number;
  /** The tenant's ID (default: a fresh one from the rig's tag). */
  tenant?: string;
  /** Every tenant of the namespace, as the routed client lists them (default: only the rig's). */
  tenants?: string[];
  /** What the workload's IDs carry between the unit's prefix and their number (default: nothing). */
  jobPrefix?: string;
  /**
   * Redis connections of the rig's own in place of the harness's Redis (e.g. through Sentinel): the
   * cutover worker's, and the applications' (routed client and dual workers), as separate processes
   * would have. Not with `childWorker`.
   */
  redis?: { cutover: Redis; apps: Redis };
}

/** Where the routed client sent an acknowledged start, and the side its route gave the ID just before and after. */
export interface StartDecision {
  placed: Side;
  /** `routeOf` right before the start and right after its acknowledgement (undefined: the routes were stale). */
  routeSaid: (Side | 'hold' | undefined)[];
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The routed client's staleness bound, and the entity's (plan redis.clientStaleness): short, so drains stay quick. */
const CLIENT_STALENESS_MS = 1_500;

/** One unit's migration with its workload. */
export class Rig {
  readonly tag = uniqueId('ent');
  readonly keyPrefix = `${this.tag}:`;
  readonly controlQueue = `${this.tag}-cutover`;
  readonly probeQueue = `${this.tag}-probe`;
  readonly appQueue = `${this.tag}-app`;
  readonly workflowId: string;
  readonly input: UnitMigrationInput;
  /** IDs of every start the routed client accepted. */
  readonly accepted: string[] = [];
  /** For each accepted start: where it went, and what the route said (see {@link StartDecision}). */
  readonly decisions = new Map<string, StartDecision>();
  /** Starts the routed client refused (e.g. a hold that timed out): never accepted, so never "lost". */
  readonly refused: string[] = [];
  /** The schedules created for the unit (option `schedules`). */
  readonly scheduleIds: string[] = [];
  private readonly idPrefix: string;
  private sh!: Shared;
  private src!: SourceSide;
  private store!: RoutingStore;
  private control!: Client;
  private cutoverWorker?: { worker: Worker; run: Promise<void> };
  private child?: ChildProcess;
  private probeWorker?: { worker: Worker; run: Promise<void> };
  private dual?: { workers: DualWorkers; run: Promise<void> };
  private routed?: RoutedClient;
  private workload?: { stop: boolean; done: Promise<void> };
  private seq = 0;
  private commands = 0;

  constructor(private readonly opts: RigOptions) {
    if (opts.redis && opts.childWorker)
      throw new Error('RigOptions: redis and childWorker do not go together (the child opens the harness Redis)');
    if (opts.control === 'source' && !opts.externalCutoverWorker)
      throw new Error("RigOptions: control 'source' needs externalCutoverWorker (the rig's own worker polls the target)");
    const s = testStack();
    const ns = opts.namespace ?? (opts.kind === 'tenant' ? 'detections' : 'payments');
    const tenant = opts.tenant ?? this.tag.replace(/^ent-/, 't');
    this.idPrefix = opts.kind === 'tenant' ? `${tenant}-` : `${this.tag}-job-`;
    this.input = {
      unit: opts.kind === 'tenant' ? { kind: 'tenant', namespace: ns, tenant } : { kind: 'namespace', namespace: ns },
      sourceCluster: opts.source === 'selfhosted' ? SELF_HOSTED_NAME : s.source.name,
      targetCluster: s.target.name,
      sourceNamespace: ns,
      targetNamespace: ns,
      strategy: 'dual-workers',
      taskQueues: [this.appQueue],
      ...(opts.kind === 'tenant' ? { tenant: { workflowIdPrefix: `${tenant}-` } } : {}),
      percentSteps: [20, 50],
      bakeMs: 300,
      drainDeadlineMs: 20_000,
      drainPollMs: 250,
      holdTimeoutMs: 10_000,
      clientStalenessMs: CLIENT_STALENESS_MS,
      stragglers: 'report',
      onGateFailure: 'rollback',
      probe: { workflows: 3, minSuccess: 1, taskQueue: this.probeQueue, timeoutMs: opts.probeTimeoutMs ?? 15_000 },
      advanceMode: 'auto',
      actor: 'entity-test',
      ...opts.input,
    };
    // Tenant units have unique IDs by construction; namespace units share the namespace, so the test takes its own ID.
    this.workflowId =
      opts.kind === 'tenant' ? unitStartOptions(this.input, this.controlQueue).workflowId : `cutover/namespace/${ns}/${this.tag}`;
  }

  /** The unit's routing-record name. */
  get unit(): string {
    return this.opts.kind === 'tenant'
      ? `tenant/${this.input.unit.namespace}/${(this.input.unit as { tenant: string }).tenant}`
      : `namespace/${this.input.unit.namespace}`;
  }

  /** Starts workers (cutover, probe, dual app workers) and the routed client; no migration yet. */
  async setUp(): Promise<this> {
    this.sh = await sharedRig();
    const s = testStack();
    this.src =
      this.opts.source === 'selfhosted'
        ? await selfHostedSide()
        : { endpoint: s.source, conn: this.sh.conn.source, native: this.sh.native.source, kind: 'dev' };
    this.store = new RoutingStore({ redis: this.opts.redis?.cutover ?? this.sh.redis, keyPrefix: this.keyPrefix });
    const appStore = this.opts.redis ? new RoutingStore({ redis: this.opts.redis.apps, keyPrefix: this.keyPrefix }) : this.store;
    this.control = new Client({
      connection: this.opts.control === 'source' ? this.src.conn : this.sh.conn.target,
      namespace: CONTROL_NAMESPACE,
    });
    if (!this.opts.externalCutoverWorker) await this.startCutoverWorker();
    if (!this.opts.deferProbeWorker) await this.startProbeWorker();
    const workers = this.opts.externalAppWorkers
      ? undefined
      : await DualWorkers.fromParts({
          workflowBundle: this.sh.appBundle,
          sourceConnection: this.src.native,
          targetConnection: this.sh.native.target,
          sourceNamespace: this.input.sourceNamespace,
          targetNamespace: this.input.targetNamespace,
          store: appStore,
          units: [this.unit],
          taskQueue: this.appQueue,
          refreshMs: 250,
        });
    if (workers) this.dual = { workers, run: workers.run() };
    const ns = this.input.unit.namespace;
    this.routed = await RoutedClient.create({
      source: new Client({ connection: this.src.conn, namespace: this.input.sourceNamespace }),
      target: new Client({ connection: this.sh.conn.target, namespace: this.input.targetNamespace }),
      store: appStore,
      namespace: ns,
      targetNamespace: this.input.targetNamespace,
      ...(this.opts.kind === 'tenant'
        ? {
            tenantSelector: { workflowIdPrefix: '{tenant}-' },
            tenants: this.opts.tenants ?? [(this.input.unit as { tenant: string }).tenant],
          }
        : {}),
      holdTimeoutMs: 30_000,
      refreshMs: 250,
      // The entity's drains wait this bound after each route change (input clientStalenessMs).
      stalenessMs: CLIENT_STALENESS_MS,
    });
    void s;
    if (this.opts.schedules) await this.createSchedules(this.opts.schedules);
    return this;
  }

  /** The probe worker in the target namespace (setUp starts it unless `deferProbeWorker`). */
  async startProbeWorker(): Promise<void> {
    if (this.probeWorker) return;
    const probe = await Worker.create({
      connection: this.sh.native.target,
      namespace: this.input.targetNamespace,
      taskQueue: this.probeQueue,
      workflowBundle: this.sh.cutoverBundle,
    });
    this.probeWorker = { worker: probe, run: probe.run() };
  }

  /** Clients of both clusters on the unit's namespaces, as the schedules library takes them. */
  scheduleSides(): { source: SidedEndpoint; target: SidedEndpoint } {
    const { sourceNamespace: sns, targetNamespace: tns } = this.input;
    return {
      source: { client: new Client({ connection: this.src.conn, namespace: sns }), namespace: sns, side: 'source' },
      target: { client: new Client({ connection: this.sh.conn.target, namespace: tns }), namespace: tns, side: 'target' },
    };
  }

  /** Creates `n` schedules on the source firing every second, and waits until the source lists them (visibility). */
  private async createSchedules(n: number): Promise<void> {
    const source = this.scheduleSides().source;
    for (let i = 1; i <= n; i++) {
      const id = `${this.idPrefix}sched-${i}`;
      await createRawSchedule(source, id, {
        spec: { interval: [{ interval: dur(1000) }] },
        taskQueue: this.appQueue,
        workflowType: 'entityAppJob',
        input: [jsonPayload(50)],
        // ALLOW_ALL: a fire is never skipped because the previous run is still open, so every
        // nominal time must run somewhere — what the tests count.
        overlap: 6,
      });
      this.scheduleIds.push(id);
    }
    await until("the source to list the unit's schedules", async () => {
      const listed = await listSelected(source, { kind: 'idPrefix', prefix: this.idPrefix });
      return this.scheduleIds.every((id) => listed.includes(id)) ? true : undefined;
    });
  }

  /** The cutover worker: in this process, or a child process that a test may SIGKILL. */
  async startCutoverWorker(): Promise<void> {
    const s = testStack();
    if (this.opts.childWorker) {
      const script = path.join(__dirname, 'entity.worker-process.ts');
      const child = spawn(process.execPath, ['--require', 'tsx/cjs', script], {
        cwd: path.join(__dirname, '..', '..'),
        env: {
          ...process.env,
          ENTITY_SOURCE: this.src.endpoint.address,
          ENTITY_TARGET: s.target.address,
          ENTITY_REDIS: s.redisUrl,
          ENTITY_PREFIX: this.keyPrefix,
          ENTITY_NAMESPACE: CONTROL_NAMESPACE,
          ENTITY_QUEUE: this.controlQueue,
          ENTITY_NAMES: `${this.src.endpoint.name},${s.target.name}`,
          ENTITY_SOURCE_KIND: this.src.kind,
          ENTITY_BUNDLE: this.bundlePath(),
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      this.child = child;
      // The child prints READY once its worker polls.
      await childReady(child, 'cutover worker process');
      return;
    }
    const activities = createActivities({
      source: { name: this.src.endpoint.name, connection: this.src.conn, kind: this.src.kind },
      target: { name: s.target.name, connection: this.sh.conn.target, kind: 'dev' },
      routing: this.store,
      scheduleFence: new ScheduleFence({ redis: this.store.redis, keyPrefix: this.keyPrefix }),
      audit: new AuditStream({ redis: this.store.redis, keyPrefix: this.keyPrefix }),
    });
    const worker = await Worker.create({
      connection: this.sh.native.target,
      namespace: CONTROL_NAMESPACE,
      taskQueue: this.controlQueue,
      workflowBundle: this.sh.cutoverBundle,
      activities,
    });
    this.cutoverWorker = { worker, run: worker.run() };
  }

  /** The application's workflow bundle as a file, for application workers in processes of their own. */
  appBundlePath(): string {
    const file = path.join(testStack().runDir, 'entity-app-bundle.js');
    if (!fs.existsSync(file)) fs.writeFileSync(file, this.sh.appBundle.code);
    return file;
  }

  /** The cutover bundle as a file, for the child worker (bundling there would cost seconds per restart). */
  private bundlePath(): string {
    const file = path.join(testStack().runDir, 'entity-cutover-bundle.js');
    if (!fs.existsSync(file)) fs.writeFileSync(file, this.sh.cutoverBundle.code);
    return file;
  }

  /** SIGKILLs the child cutover worker and waits until it is gone. */
  async killCutoverWorker(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = once(c, 'exit');
    c.kill('SIGKILL');
    await gone;
    this.child = undefined;
  }

  /** Starts the entity workflow (a second start with the same ID resumes it: USE_EXISTING). */
  async start(): Promise<WorkflowHandleWithFirstExecutionRunId> {
    const o = unitStartOptions(this.input, this.controlQueue);
    const type = this.opts.kind === 'tenant' ? 'tenantMigration' : 'namespaceMigration';
    return await this.control.workflow.start(type, { ...o, workflowId: this.workflowId });
  }

  handle(): WorkflowHandle {
    return this.control.workflow.getHandle(this.workflowId);
  }

  /** The routing store the cutover side writes (the rig's key prefix): route log, records. */
  routingStore(): RoutingStore {
    return this.store;
  }

  /** The client on the control namespace (visibility queries in tests). */
  controlClient(): Client {
    return this.control;
  }

  /** The event history of the latest run, or of `runId`. */
  async historyOf(runId?: string) {
    return await this.control.workflow.getHandle(this.workflowId, runId).fetchHistory();
  }

  /** The messages of every failed workflow task of the unit, over all its runs (newest run first). */
  async workflowTaskFailures(): Promise<string[]> {
    const out: string[] = [];
    for (let runId: string | undefined = undefined, n = 0; n < 1000; n++) {
      const h = await this.historyOf(runId);
      for (const e of h.events ?? [])
        if (e.workflowTaskFailedEventAttributes) out.push(e.workflowTaskFailedEventAttributes.failure?.message ?? '(no message)');
      runId = h.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId ?? undefined;
      if (!runId) return out;
    }
    return out;
  }

  async status(): Promise<UnitStatus> {
    return await this.handle().query(msgs.status);
  }

  /** Polls the status query until `pred` holds (bounded); returns that status. */
  async waitFor(pred: (s: UnitStatus) => boolean, what: string, timeoutMs = 40_000): Promise<UnitStatus> {
    let last: UnitStatus | undefined;
    return await until(
      what,
      async () => {
        last = await this.status();
        return pred(last) && last;
      },
      {
        timeoutMs,
        detail: async () => {
          const brief = last && {
            phase: last.phase,
            waitingFor: last.waitingFor,
            route: last.route,
            failure: last.failure,
            counts: last.counts,
            rejected: last.rejected,
            reconcile: last.reconcile,
          };
          return `last status: ${JSON.stringify(brief)}${await this.lastTaskFailure()}`;
        },
      },
    );
  }

  /** The last workflow task failure in the unit's history, for a timeout's message ('' when none). */
  private async lastTaskFailure(): Promise<string> {
    try {
      const history = await this.handle().fetchHistory();
      const failed = (history.events ?? []).filter((e) => e.workflowTaskFailedEventAttributes).at(-1)?.workflowTaskFailedEventAttributes;
      if (!failed) return '';
      // Keep the history (in the replayable JSON form of test/replay): a nondeterminism is diagnosed from it.
      const file = path.join(os.tmpdir(), `${this.workflowId.replace(/[^\w.-]+/g, '_')}.history.json`);
      fs.writeFileSync(file, historyToJSON(history));
      return `; last workflow task failure: ${failed.failure?.message ?? ''} ${failed.failure?.stackTrace ?? ''} (history in ${file})`;
    } catch {
      return '';
    }
  }

  /** Waits for a phase; in manual mode that is the phase waiting for `advance`. */
  async waitPhase(phase: UnitStatus['phase'], timeoutMs?: number): Promise<UnitStatus> {
    return this.waitFor((s) => s.phase === phase, `phase ${phase}`, timeoutMs);
  }

  /** Sends an operator command; returns its command ID. */
  async command(name: CommandName, extra: { reason?: string; actor?: string; commandId?: string } = {}): Promise<string> {
    const commandId = extra.commandId ?? `${this.tag}-cmd-${++this.commands}`;
    await this.handle().signal(msgs[name], {
      actor: extra.actor ?? 'tester',
      commandId,
      ...(extra.reason ? { reason: extra.reason } : {}),
    });
    return commandId;
  }

  /** Sends a raw signal payload (bad-input tests). */
  async rawSignal(name: CommandName, payload: unknown): Promise<void> {
    await this.handle().signal(name, payload);
  }

  /** Starts application jobs through the routed client every `everyMs` until `stopWorkload`. */
  startWorkload(everyMs = 60): void {
    const w = { stop: false, done: Promise.resolve() };
    w.done = (async () => {
      while (!w.stop) {
        const id = `${this.idPrefix}${this.opts.jobPrefix ?? ''}${++this.seq}`;
        try {
          const before = this.routeSaid(id);
          const h = await this.routed!.workflow.start(entityAppJob, {
            taskQueue: this.appQueue,
            workflowId: id,
            args: [this.opts.jobMs ?? 300],
          });
          this.accepted.push(id);
          this.decisions.set(id, { placed: await h.cluster(), routeSaid: [before, this.routeSaid(id)] });
        } catch {
          this.refused.push(id);
        }
        await delay(everyMs);
      }
    })();
    this.workload = w;
  }

  /** The side the routed client's current route gives `workflowId`; undefined while its routes are stale. */
  private routeSaid(workflowId: string): Side | 'hold' | undefined {
    try {
      return this.routed!.routeOf({ workflowId }).side;
    } catch {
      return undefined;
    }
  }

  /** How many workload starts have begun: a start numbered above this begins after the call. */
  startsSoFar(): number {
    return this.seq;
  }

  /** The rig's routed client (the application's view of both clusters). */
  routedClient(): RoutedClient {
    if (!this.routed) throw new Error('setUp() first');
    return this.routed;
  }

  /** Plain SDK clients on the unit's namespaces, one per cluster. */
  sdkClients(): Record<Side, Client> {
    return {
      source: new Client({ connection: this.src.conn, namespace: this.input.sourceNamespace }),
      target: new Client({ connection: this.sh.conn.target, namespace: this.input.targetNamespace }),
    };
  }

  /** The routed client's decision for a workflow ID: its unit, side and the epoch it decides under. */
  routeOf(workflowId: string): ReturnType<RoutedClient['routeOf']> {
    return this.routed!.routeOf({ workflowId });
  }

  /** Starts one application job through the routed client (IDs outside the workload). */
  async startJob(workflowId: string, ms = 50): Promise<void> {
    await this.routed!.workflow.start(entityAppJob, { taskQueue: this.appQueue, workflowId, args: [ms] });
  }

  async stopWorkload(): Promise<void> {
    if (!this.workload) return;
    this.workload.stop = true;
    await this.workload.done;
  }

  /**
   * Waits until every accepted job has closed, then checks where each ran: `lost` were found on
   * neither cluster, `duplicated` on both, `open` still running at the deadline.
   */
  async settleWorkload(timeoutMs = 30_000): Promise<RunTally> {
    await this.stopWorkload();
    return await settleRuns(
      {
        source: new Client({ connection: this.src.conn, namespace: this.input.sourceNamespace }),
        target: new Client({ connection: this.sh.conn.target, namespace: this.input.targetNamespace }),
      },
      this.accepted,
      timeoutMs,
    );
  }

  /** Stops everything this rig started and deletes its Redis keys. Safe after a failed test. */
  async tearDown(): Promise<void> {
    await this.stopWorkload().catch(() => undefined);
    if (this.scheduleIds.length) await deleteOnSides(this.scheduleSides(), this.scheduleIds).catch(() => undefined);
    try {
      const d = await this.handle().describe();
      if (d.status.name === 'RUNNING') await this.handle().terminate('test teardown');
    } catch {
      // never started
    }
    await this.routed?.close().catch(() => undefined);
    await this.dual?.workers.shutdown().catch(() => undefined);
    await this.dual?.run.catch(() => undefined);
    for (const w of [this.cutoverWorker, this.probeWorker]) {
      if (!w) continue;
      if (w.worker.getState() === 'RUNNING') w.worker.shutdown();
      await w.run.catch(() => undefined);
    }
    await this.killCutoverWorker().catch(() => undefined);
    if (this.sh) {
      const redis = this.store?.redis ?? this.sh.redis;
      const keys = await redis.keys(`${this.keyPrefix}*`);
      if (keys.length) await redis.del(...keys);
    }
  }
}

/**
 * Manual mode: sends `advance` whenever the unit waits for one, until it is in `phase` (and, for
 * `canary`, has routed its first step). Returns the status seen there.
 */
export async function driveTo(r: Rig, phase: UnitStatus['phase'], timeoutMs = 40_000): Promise<UnitStatus> {
  let advancedIn: string | undefined;
  let last: UnitStatus | undefined;
  return await until(
    `phase ${phase}`,
    async () => {
      const s = (last = await r.status());
      if (s.phase === phase && (phase !== 'canary' || s.route.percent !== undefined)) return s;
      if (s.waitingFor?.includes('send advance') && advancedIn !== s.phase) {
        advancedIn = s.phase;
        await r.command('advance');
      }
      return undefined;
    },
    { timeoutMs, everyMs: 50, detail: () => `at ${last?.phase} waiting for ${last?.waitingFor}` },
  );
}

/** Where a workload's accepted starts ran: see {@link settleRuns}. */
export interface RunTally {
  lost: string[];
  duplicated: string[];
  open: string[];
  onSource: number;
  onTarget: number;
  /** The clusters each ID was found on. */
  foundOn: Record<string, Side[]>;
}

/**
 * Waits (bounded) until every ID has closed on the cluster it ran on, then says where each ran:
 * `lost` were found on neither cluster, `duplicated` on both, `open` still running at the deadline.
 * The clients are bound to the unit's namespace on each side.
 */
export async function settleRuns(
  clients: { source: Client; target: Client },
  ids: readonly string[],
  timeoutMs = 30_000,
): Promise<RunTally> {
  const where = async (side: 'source' | 'target', id: string) => {
    try {
      return (await clients[side].workflow.getHandle(id).describe()).status.name;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  };
  const count = async (): Promise<RunTally> => {
    const t: RunTally = { lost: [], duplicated: [], open: [], onSource: 0, onTarget: 0, foundOn: {} };
    for (const id of ids) {
      const [s, d] = await Promise.all([where('source', id), where('target', id)]);
      t.foundOn[id] = [...(s ? ['source' as const] : []), ...(d ? ['target' as const] : [])];
      if (s && d) t.duplicated.push(id);
      else if (!s && !d) t.lost.push(id);
      if (s) t.onSource++;
      if (d) t.onTarget++;
      if (s === 'RUNNING' || d === 'RUNNING') t.open.push(id);
    }
    return t;
  };
  let last: RunTally | undefined;
  try {
    return await until(
      'the workload to settle',
      async () => {
        last = await count();
        return last.open.length === 0 && last;
      },
      { timeoutMs, everyMs: 250 },
    );
  } catch {
    // Runs still open at the bound: the caller asserts on them.
    return last ?? (await count());
  }
}
