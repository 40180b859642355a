/**
 * Test rig of the secured e2e suite: plans whose clusters are the harness's self-hosted and
 * Cloud-shaped clusters with their real credentials, driven the way a user drives cutover — the
 * cutover worker from `createCutoverWorker({ plan })`, the application through `RoutedClient.connect`
 * and `DualWorkers.create` from the same plan, units started, commanded and read through the
 * cockpit's functions (or the CLI itself). Each role holds its own credentials (a plan per role that
 * differs only in where the Cloud-shaped cluster's API key comes from), so a test can revoke one.
 * Also here: the list of secrets the suite handed out and a tap on everything it logged, so the last
 * test can grep both.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, type Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { type WorkflowBundle } from '@temporalio/worker';
import { unitInputFromPlan } from '../../src/campaign/unit-input';
import { connectCluster, namespaceOn } from '../../src/clusters/connect';
import { sendCommand } from '../../src/cockpit/commands';
import { resolveTarget } from '../../src/cockpit/target';
import { loadPlan, type Plan } from '../../src/config';
import type { CommandName, UnitStatus } from '../../src/domain/migration';
import { parseUnitName, unitWorkflowId } from '../../src/domain/ids';
import { unitStartOptions } from '../../src/domain/unit-input';
import { DualWorkers, RoutedClient, RoutingStore } from '../../src/routing';
import type { RoutingRecord } from '../../src/routing';
import { connectRedis } from '../../src/routing/connect-redis';
import type { SidedEndpoint } from '../../src/schedules';
import { createCutoverWorker, type CutoverWorker } from '../../src/worker';
import * as messages from '../../src/workflows/unit-migration.messages';
import { entityAppJob } from '../workflows/entity-app';
import { createRawSchedule, dur, jsonPayload } from '../workflows/schedule-test-kit';
import { CLOUD_JWKS_REFRESH_MS, uniqueId, type CloudShapedCluster, workflowBundle } from '../harness';
import { until } from '../harness/wait';
import { settleRuns, type RunTally } from './entity.fixture';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'cutover.js');
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ── Secrets and logs ──────────────────────────────────────────────────────────────────────────────

/** Every secret the suite handed to cutover, and where a text shows one. */
export class Secrets {
  private readonly items: { label: string; needle: string }[] = [];

  /** An API key (a JWT): the whole token, and its signature alone (what makes it a credential) for partial prints. */
  token(label: string, token: string): void {
    this.items.push({ label, needle: token });
    const signature = token.split('.')[2];
    if (signature && signature.length >= 20) this.items.push({ label: `${label} (signature)`, needle: signature });
  }

  /** A PEM private key file: each line of its base64 body (a leak of any part of the key counts). */
  pemKey(label: string, file: string): void {
    const body = fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('-----'));
    if (body.length === 0) throw new Error(`${file} holds no PEM body`);
    body.forEach((line, i) => this.items.push({ label: `${label} line ${i + 1}`, needle: line }));
  }

  /** Labels of the secrets found in `text`. */
  foundIn(text: string): string[] {
    return [...new Set(this.items.filter((s) => text.includes(s.needle)).map((s) => s.label))];
  }
}

/**
 * Everything the suite logged: this process's stderr as Node writes it (the SDK runtime's logger of the
 * root hooks), progress lines, child processes' output, errors. The SDK core's own lines in this process
 * go straight to file descriptor 2 and are not seen here; the CLI worker child's are (its whole output).
 */
export class LogTap {
  private readonly parts: string[] = [];
  private original?: typeof process.stderr.write;

  start(): void {
    if (this.original) return;
    const original = process.stderr.write.bind(process.stderr) as typeof process.stderr.write;
    this.original = original;
    process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => {
      this.parts.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stderr.write;
  }

  stop(): void {
    if (this.original) process.stderr.write = this.original;
    this.original = undefined;
  }

  add(source: string, text: string): void {
    this.parts.push(`[${source}] ${text}\n`);
  }

  /** An error with its causes and stacks, as a log line would print it. */
  addError(source: string, err: unknown): void {
    for (let e: unknown = err, n = 0; e && n < 6; e = (e as { cause?: unknown }).cause, n++) {
      this.add(source, e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e));
      // The SDK's gRPC errors carry the call's metadata: a logger printing the whole object would show it.
      this.add(source, safeJson(e));
    }
  }

  text(): string {
    return this.parts.join('');
  }
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) =>
      typeof x === 'bigint' ? String(x) : x instanceof Uint8Array ? Buffer.from(x).toString() : x,
    );
  } catch {
    return '';
  }
}

// ── The CLI as a child process ───────────────────────────────────────────────────────────────────

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/cutover.js <args>` in an empty directory with `env` added; never rejects (the exit code is the result). */
export function cli(args: string[], env: NodeJS.ProcessEnv, cwd: string, tap?: LogTap): Promise<CliRun> {
  return new Promise((resolve) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    delete childEnv.CUTOVER_PLAN;
    execFile(process.execPath, [BIN, ...args], { cwd, env: childEnv, timeout: 60_000 }, (err, stdout, stderr) => {
      tap?.add(`cutover ${args[0]} stdout`, stdout);
      tap?.add(`cutover ${args[0]} stderr`, stderr);
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

// ── Plans ────────────────────────────────────────────────────────────────────────────────────────

/** The plan's document before validation (what a user writes). */
export type PlanDoc = Record<string, unknown> & { clusters: Record<string, Record<string, unknown>> };

/**
 * Writes the document to `<dir>/<file>` and loads it the way the CLI does (`loadPlan(path)`: validated,
 * paths resolved against the file's directory). Returns the plan and its file.
 */
export function writePlan(dir: string, file: string, doc: PlanDoc): { plan: Plan; file: string } {
  const at = path.join(dir, file);
  fs.writeFileSync(at, JSON.stringify(doc, null, 2));
  return { plan: loadPlan(at), file: at };
}

/** The same document with one cluster's credentials replaced (each role's plan). */
export function withCredentials(doc: PlanDoc, cluster: string, creds: Record<string, unknown>, drop: string[] = []): PlanDoc {
  const c = { ...doc.clusters[cluster]! };
  for (const k of drop) delete c[k];
  return { ...doc, clusters: { ...doc.clusters, [cluster]: { ...c, ...creds } } };
}

// ── API keys ─────────────────────────────────────────────────────────────────────────────────────

/**
 * Whether the Cloud-shaped cluster accepts `token` now (a connection's first call). The server learns a
 * new key only when it re-reads the JWKS, and forgets a revoked one the same way: tests wait on this.
 */
export async function keyAccepted(cloud: CloudShapedCluster, token: string): Promise<boolean> {
  const env = `CUTOVER_E2E_PROBE_${uniqueId('k').replace(/-/g, '_')}`;
  process.env[env] = token;
  try {
    await (await connectCluster('probe', cloud.clusterConfig({ apiKeyEnv: env }))).close();
    return true;
  } catch {
    return false;
  } finally {
    delete process.env[env];
  }
}

/** Waits (bounded) until the server accepts the key, or (`accepted: false`) refuses it. */
export async function untilKey(cloud: CloudShapedCluster, token: string, accepted: boolean): Promise<void> {
  await until(
    accepted ? 'the server to load the new key' : 'the server to refuse the revoked key',
    async () => (await keyAccepted(cloud, token)) === accepted,
    { timeoutMs: 20 * CLOUD_JWKS_REFRESH_MS + 30_000, everyMs: CLOUD_JWKS_REFRESH_MS / 2 },
  );
}

// ── Units through the cockpit's functions ────────────────────────────────────────────────────────

/** The control namespace of a plan, as a client (the cockpit's `openControl`, kept open for the suite). */
export async function controlClient(plan: Plan): Promise<{ client: Client; connection: Connection }> {
  const cluster = plan.clusters[plan.control.cluster]!;
  const connection = await connectCluster(plan.control.cluster, cluster);
  return { connection, client: new Client({ connection, namespace: namespaceOn(cluster, plan.control.namespace) }) };
}

/** One unit of a plan, driven as an operator would: started from the plan, commanded with confirmation, read by query. */
export class Unit {
  readonly workflowId: string;
  constructor(
    readonly plan: Plan,
    readonly control: Client,
    readonly name: string,
  ) {
    this.workflowId = unitWorkflowId(parseUnitName(name)!);
  }

  /** Starts the entity workflow with the plan's input (drains sampled every 250 ms: the plan's default is 5 s). */
  async start(opts: { advanceMode?: 'auto' | 'manual'; actor?: string } = {}): Promise<void> {
    const ref = parseUnitName(this.name)!;
    const input = {
      ...unitInputFromPlan(this.plan, ref, { actor: opts.actor ?? 'secured-test', advanceMode: opts.advanceMode }),
      drainPollMs: 250,
    };
    const type = ref.kind === 'tenant' ? 'tenantMigration' : 'namespaceMigration';
    await this.control.workflow.start(type, unitStartOptions(input, this.plan.control.taskQueue));
  }

  async status(): Promise<UnitStatus> {
    return await this.control.workflow.getHandle(this.workflowId).query(messages.status);
  }

  /** Polls the status until `pred` holds (bounded); returns that status. */
  async waitFor(pred: (s: UnitStatus) => boolean, what: string, timeoutMs = 60_000): Promise<UnitStatus> {
    let last: UnitStatus | undefined;
    return await until(
      `${this.name}: ${what}`,
      async () => {
        last = await this.status();
        return pred(last) && last;
      },
      {
        timeoutMs,
        everyMs: 200,
        detail: async () => `last status: ${JSON.stringify(last && brief(last))}; ${await this.pendingActivities()}`,
      },
    );
  }

  /** The unit's pending activities and their last failures (for a timeout's message). */
  private async pendingActivities(): Promise<string> {
    try {
      const d = await this.control.workflow.getHandle(this.workflowId).describe();
      const pending = (d.raw.pendingActivities ?? []).map(
        (a) => `${a.activityType?.name} attempt ${a.attempt}: ${a.lastFailure?.message ?? 'no failure'}`,
      );
      return `pending activities: ${pending.join('; ') || 'none'}`;
    } catch (err) {
      return `describe failed: ${(err as Error).message}`;
    }
  }

  waitPhase(phase: UnitStatus['phase'], timeoutMs?: number): Promise<UnitStatus> {
    return this.waitFor((s) => s.phase === phase, `phase ${phase}`, timeoutMs);
  }

  /** An operator command, confirmed by the workflow (the CLI's `sendCommand`). */
  async command(command: CommandName, reason?: string, actor = 'oncall', timeoutMs = 20_000): Promise<UnitStatus> {
    const target = resolveTarget(this.plan, this.name);
    const out = await sendCommand(this.control, { target, command, actor, ...(reason ? { reason } : {}), timeoutMs });
    return out.status;
  }

  /** Manual mode: sends `advance` whenever the unit waits for one, until it is in `phase` (in canary: once a step is routed). */
  async driveTo(phase: UnitStatus['phase'], timeoutMs = 60_000): Promise<UnitStatus> {
    let advancedIn: string | undefined;
    return await this.waitFor(
      (s) => {
        if (s.phase === phase && (phase !== 'canary' || s.route.percent !== undefined)) return true;
        if (s.waitingOn === 'advance' && advancedIn !== s.phase) {
          advancedIn = s.phase;
          void this.command('advance').catch(() => (advancedIn = undefined)); // tried again on the next poll
        }
        return false;
      },
      `driven to ${phase}`,
      timeoutMs,
    );
  }
}

/** What a timeout message shows of a unit's status. */
function brief(s: UnitStatus) {
  return { phase: s.phase, waitingFor: s.waitingFor, route: s.route, failure: s.failure, rejected: s.rejected, reconcile: s.reconcile };
}

/** The routing record of a unit, read from the plan's Redis. */
export async function routingRecord(plan: Plan, unit: string): Promise<RoutingRecord | undefined> {
  const redis = await connectRedis(plan.redis, { maxRetriesPerRequest: 1 });
  try {
    return await new RoutingStore({ redis, keyPrefix: plan.redis.keyPrefix }).get(unit);
  } finally {
    redis.disconnect();
  }
}

// ── The application: routed client + dual workers from the plan ────────────────────────────────

let appBundle: Promise<WorkflowBundle> | undefined;
/** The application's workflows, bundled once per run (both clusters' workers share it). */
export function appWorkflowBundle(): Promise<WorkflowBundle> {
  const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: (m: string) => process.stderr.write(`[bundle] ${m}\n`) };
  appBundle ??= workflowBundle({ workflowsPath: require.resolve('../workflows/entity-app'), logger: quiet });
  return appBundle;
}

/**
 * One namespace's application, as its team would run it during the move: `DualWorkers.create` and
 * `RoutedClient.connect` from the plan, and a workload starting short jobs whose IDs carry the tenant
 * (or any prefix, for a namespace unit). Starts the client refused are never accepted, so never lost.
 */
export class App {
  /** Accepted starts, by ID prefix (tenant or job prefix). */
  readonly accepted = new Map<string, string[]>();
  readonly refused = new Map<string, string[]>();
  private prefixes: string[] = [];
  private loop?: { stop: boolean; done: Promise<void> };
  private seq = 0;
  private constructor(
    readonly namespace: string,
    readonly taskQueue: string,
    readonly routed: RoutedClient,
    readonly workers: DualWorkers,
    private readonly running: Promise<void>,
  ) {}

  static async start(plan: Plan, namespace: string, taskQueue: string): Promise<App> {
    const workers = await DualWorkers.create({ plan, namespace, taskQueue, workflowBundle: await appWorkflowBundle(), refreshMs: 250 });
    const running = workers.run();
    try {
      const routed = await RoutedClient.connect({ plan, namespace, refreshMs: 250 });
      return new App(namespace, taskQueue, routed, workers, running);
    } catch (err) {
      await workers.shutdown();
      await running.catch(() => undefined);
      throw err;
    }
  }

  /** Adds an ID prefix to the workload (a tenant's `<tenant>-`, or a namespace job prefix). */
  include(prefix: string): void {
    if (!this.prefixes.includes(prefix)) this.prefixes.push(prefix);
    if (!this.loop) this.run();
  }

  /** Stops starting jobs under the prefix (a unit whose journey is over). */
  exclude(prefix: string): void {
    this.prefixes = this.prefixes.filter((p) => p !== prefix);
  }

  private run(everyMs = 60, jobMs = 300): void {
    const loop = { stop: false, done: Promise.resolve() };
    loop.done = (async () => {
      while (!loop.stop) {
        const batch = [...this.prefixes];
        await Promise.all(
          batch.map(async (prefix) => {
            const id = `${prefix}${++this.seq}`;
            try {
              await this.routed.workflow.start(entityAppJob, { taskQueue: this.taskQueue, workflowId: id, args: [jobMs] });
              push(this.accepted, prefix, id);
            } catch {
              push(this.refused, prefix, id);
            }
          }),
        );
        await delay(everyMs);
      }
    })();
    this.loop = loop;
  }

  /** Waits until the prefix has at least `n` more accepted starts than now (bounded). */
  async moreAccepted(prefix: string, n: number, timeoutMs = 20_000): Promise<void> {
    const from = this.accepted.get(prefix)?.length ?? 0;
    await until(`${n} more accepted starts under ${prefix}`, () => (this.accepted.get(prefix)?.length ?? 0) >= from + n, timeoutMs);
  }

  /** Stops the prefix's starts and says where each of its accepted starts ran, once all closed. */
  async settle(prefix: string, sides: { source: Client; target: Client }, timeoutMs = 45_000): Promise<RunTally & { accepted: number }> {
    this.exclude(prefix);
    const ids = this.accepted.get(prefix) ?? [];
    return { ...(await settleRuns(sides, ids, timeoutMs)), accepted: ids.length };
  }

  async close(): Promise<void> {
    if (this.loop) {
      this.loop.stop = true;
      await this.loop.done;
    }
    await this.routed.close().catch(() => undefined);
    await this.workers.shutdown().catch(() => undefined);
    await this.running.catch(() => undefined);
  }
}

function push(m: Map<string, string[]>, k: string, v: string): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

/** A schedule on the source firing `entityAppJob` every second (ALLOW_ALL: every nominal time must run somewhere). */
export async function createSourceSchedule(source: SidedEndpoint, scheduleId: string, taskQueue: string): Promise<void> {
  await createRawSchedule(source, scheduleId, {
    spec: { interval: [{ interval: dur(1000) }] },
    taskQueue,
    workflowType: 'entityAppJob',
    input: [jsonPayload(50)],
    overlap: 6,
  });
}

// ── The cutover worker ───────────────────────────────────────────────────────────────────────────

/** A running cutover worker of a plan; its end (a failure included) is kept for the test to read. */
export class RunningWorker {
  /** Set when `run()` ended: `undefined` error for a clean stop. */
  ended?: { error?: unknown };
  private constructor(
    readonly worker: CutoverWorker,
    readonly done: Promise<void>,
  ) {}

  static async start(plan: Plan, tap: LogTap, label: string): Promise<RunningWorker> {
    const worker = await createCutoverWorker({ plan, onProgress: (line) => tap.add(label, line) });
    let self: RunningWorker | undefined = undefined;
    const done = worker.run().then(
      () => {
        if (self) self.ended = {};
      },
      (error: unknown) => {
        tap.addError(label, error);
        if (self) self.ended = { error };
      },
    );
    self = new RunningWorker(worker, done);
    return self;
  }

  async stop(): Promise<void> {
    this.worker.shutdown();
    await this.done;
  }
}

/**
 * `cutover worker --plan <file>` as a child process, the way an operator runs it: its output (the SDK
 * runtime's logs at INFO and the progress lines) goes to the tap; ready once it says it is running.
 */
export class CliWorker {
  private constructor(private readonly child: ChildProcess) {}

  static async start(planFile: string, env: NodeJS.ProcessEnv, cwd: string, tap: LogTap, label: string): Promise<CliWorker> {
    const metrics = await freeLoopbackPort();
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    delete childEnv.CUTOVER_PLAN;
    const child = spawn(process.execPath, [BIN, 'worker', '--plan', planFile, '--metrics', `127.0.0.1:${metrics}`], {
      cwd,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stdout!.on('data', (b: Buffer) => tap.add(`${label} stdout`, b.toString()));
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      tap.add(`${label} stderr`, b.toString());
    });
    const worker = new CliWorker(child);
    try {
      await until(
        `${label} to run`,
        () => {
          if (child.exitCode !== null) throw new Error(`${label} exited (${child.exitCode}): ${err}`);
          return err.includes('cutover worker running');
        },
        { timeoutMs: 180_000, everyMs: 200, detail: () => err },
      );
    } catch (e) {
      await worker.stop();
      throw e;
    }
    return worker;
  }

  /** Ctrl-C, then the exit (SIGKILL after 20 s). */
  async stop(): Promise<void> {
    const c = this.child;
    if (c.exitCode !== null || c.signalCode !== null) return;
    const gone = once(c, 'exit');
    c.kill('SIGINT');
    const timer = setTimeout(() => c.kill('SIGKILL'), 20_000);
    await gone;
    clearTimeout(timer);
  }
}

/** A free TCP port on loopback (for the worker's metrics endpoint). */
function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

// ── Histories ────────────────────────────────────────────────────────────────────────────────────

/** The raw history (JSON) of every run of every workflow on the control task queue of the plan. */
export async function controlHistories(client: Client, taskQueue: string): Promise<{ id: string; json: string }[]> {
  const out: { id: string; json: string }[] = [];
  for await (const wf of client.workflow.list({ query: `TaskQueue = "${taskQueue}"` })) {
    const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    out.push({ id: `${wf.workflowId}/${wf.runId}`, json: historyToJSON(history) });
  }
  return out;
}

/** A fresh temp directory for the suite's plan files and credentials (removed by the caller). */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
}

export { uniqueId };
