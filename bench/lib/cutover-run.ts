/**
 * A live cutover under sustained load and injected faults, checked by a ledger (bench/lib/ledger.ts):
 * the scenario of `npm run bench:cutover`.
 *
 * On the harness's stack (test/harness: dev servers `legacy` and `cloud`, Redis), with the entity rigs of
 * the integration tests (test/integration/entity.fixture.ts: the cutover worker in a child process that can
 * be SIGKILLed, dual application workers, a routed client per unit):
 *   1. the direct client's saturation rate (closed loop, starts on the source in a namespace of its own);
 *   2. open-loop starts through the routed clients at `fraction` of it, split between a namespace unit
 *      (payments) and a tenant unit (detections, with a schedule firing every second);
 *   3. meanwhile: the namespace's entity workflow steps 10 → 25 → 50 → 100 %; the tenant is moved to
 *      `draining` (its schedule switched to the target), rolled back (switched back), and moved again;
 *      and the faults of `faultSchedule` run one after another, each recorded in the ledger's timeline;
 *   4. after `minutes`, the load stops, the runs drain, and the ledger is reconciled against both clusters.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Redis } from 'ioredis';
import { RoutedClient, RoutingStore } from '../../src/routing';
import type { Side } from '../../src/routing/types';
import { testStack, uniqueId } from '../../test/harness';
import { FaultProxy } from '../../test/harness/fault-proxy';
import { childReady } from '../../test/harness/wait';
import { driveTo, Rig, sharedRig } from '../../test/integration/entity.fixture';
import { entityAppJob } from '../../test/workflows/entity-app';
import { settledFiresOn } from '../../test/workflows/schedule-test-kit';
import { Ledger, OpenLoop, flipFigures, reconcileLedger, runFaults, type Fault, type FlipFigures, type Reconciliation } from './ledger';
import type { AppWorkerConfig } from './app-worker-process';
import { closedLoop } from './load';

export interface CutoverRunOptions {
  /** How long the load runs (the migrations and faults happen in its first part). */
  minutes: number;
  /** Share of the direct knee to run at (0 < f ≤ 1). */
  fraction: number;
  /** A fixed rate instead (starts/s): the knee is then not measured (the test's short run counts, it does not time). */
  ratePerSec?: number;
  /** Short blocks and bakes (the test, trial runs). */
  quick: boolean;
  log: (line: string) => void;
}

export interface CutoverRunResult {
  reconciliation: Reconciliation;
  flips: FlipFigures;
  /** Undefined when the run was given its rate ({@link CutoverRunOptions.ratePerSec}). */
  directKneePerSec?: number;
  ratePerSec: number;
  minutes: number;
  schedule: { fires: number; doubleFires: number; lostFires: number };
  faults: string[];
  faultFailures: string[];
  phases: { namespace: string; tenant: string };
  ledger: Ledger;
}

/** How long the application waits for a start normally; the client-timeout fault shortens it to nothing. */
const GIVE_UP_MS = 30_000;
const JOB_MS = 200;

/**
 * The knee of a plain SDK client on the source, for the load's own workload: the best closed-loop rate of
 * jobs started and run to completion by as many plain workers as the load has application workers (one
 * per unit). Bare starts on a queue no worker polls would measure a cheaper thing: a load at half that rate
 * outruns the workers and the server (each job is also two workflow tasks and a timer), its backlog grows
 * for the whole run, and the drains and rollbacks then wait on the backlog rather than on cutover.
 */
async function directKnee(bundlePath: string, quick: boolean, log: (l: string) => void): Promise<number> {
  const sh = await sharedRig();
  const s = testStack();
  // Its own namespace and queue: the jobs touch neither unit.
  const direct = new Client({ connection: sh.conn.source, namespace: 'default' });
  const tq = uniqueId('bench-knee');
  const workers = [1, 2].map(
    () =>
      new AppWorkerChild(() => ({
        sourceAddress: s.source.address,
        targetAddress: s.target.address,
        sourceNamespace: 'default',
        targetNamespace: 'default',
        redisUrl: s.redisUrl,
        keyPrefix: '',
        units: [],
        taskQueue: tq,
        bundlePath,
        plain: true,
      })),
  );
  let seq = 0;
  const job = () => direct.workflow.execute(entityAppJob, { taskQueue: tq, workflowId: `${tq}-${seq++}`, args: [JOB_MS] });
  try {
    for (const w of workers) await w.start();
    await closedLoop(job, 16, 1_000);
    let best = 0;
    for (const c of quick ? [16, 32, 64] : [16, 32, 64, 128]) {
      const r = await closedLoop(job, c, quick ? 2_000 : 5_000);
      const tput = (r.completed * 1000) / r.elapsedMs;
      log(`direct knee: ${c} jobs in flight → ${Math.round(tput)} jobs/s run to completion (${r.errors} errors)`);
      best = Math.max(best, tput);
    }
    return best;
  } finally {
    for (const w of workers) await w.kill();
  }
}

/** The last events of a unit's latest run and its failed workflow tasks, in a line (a stuck story's evidence). */
async function lastEvents(rig: Rig): Promise<string> {
  const events = (await rig.historyOf()).events ?? [];
  const failures = await rig.workflowTaskFailures();
  const kind = (e: object) =>
    Object.entries(e)
      .find(([k, v]) => k.endsWith('EventAttributes') && v)?.[0]
      .replace('EventAttributes', '') ?? '?';
  const tail = events.slice(-12).map((e) => `${String(e.eventId)} ${kind(e)}`);
  const failed = failures.length ? failures.slice(0, 3).join(' | ') : 'none';
  return `${events.length} events, last: ${tail.join(', ')}; failed workflow tasks: ${failed}`;
}

/** The application's dual workers of one rig (as a child's configuration). */
function dualWorkersOf(r: Rig): () => AppWorkerConfig {
  return () => {
    const s = testStack();
    return {
      sourceAddress: s.source.address,
      targetAddress: s.target.address,
      sourceNamespace: r.input.sourceNamespace,
      targetNamespace: r.input.targetNamespace,
      redisUrl: s.redisUrl,
      keyPrefix: r.keyPrefix,
      units: [r.unit],
      taskQueue: r.appQueue,
      bundlePath: r.appBundlePath(),
    };
  };
}

/** An application worker in a child process (SIGKILL-able), and how to start it again. */
class AppWorkerChild {
  private child: ChildProcess | undefined;

  constructor(private readonly config: () => AppWorkerConfig) {}

  async start(): Promise<void> {
    const cfg = this.config();
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(__dirname, 'app-worker-process.ts')], {
      cwd: path.resolve(__dirname, '..', '..'),
      env: { ...process.env, BENCH_APP_WORKER: JSON.stringify(cfg) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.child = child;
    await childReady(child, `the application worker of ${cfg.taskQueue}`);
  }

  /** SIGKILL; resolves once the process is gone. */
  async kill(): Promise<void> {
    const c = this.child;
    this.child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = once(c, 'exit');
    c.kill('SIGKILL');
    await gone;
  }
}

const ignoreError = (): void => undefined;

/** What the faults act on. */
interface FaultTargets {
  rigs: { ns: Rig; tenant: Rig };
  apps: AppWorkerChild[];
  /** The applications' links to the source and to the target. */
  proxies: { source: FaultProxy; target: FaultProxy };
}

/** The faults, in order. Each heals itself before the next; `rigs` are the units' rigs. */
function faultSchedule(t: FaultTargets, giveUp: { ms: number }, quick: boolean): Fault[] {
  const rigs = t.rigs;
  const s = testStack();
  const hold = quick ? 2_000 : 10_000;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  return [
    {
      // The application gives up at once while each start carries on to the server and succeeds there: its
      // outcome is unknown to the application, and the reconcile must settle it.
      name: 'client timeout (application gives up on each start; the server still runs it)',
      run: async () => {
        giveUp.ms = 0;
        await sleep(hold);
        giveUp.ms = GIVE_UP_MS;
      },
    },
    {
      // The harness's Redis runs without persistence; a production one keeps its data across a restart. So
      // the fault snapshots (SAVE) right before the SIGKILL and the restarted server loads the snapshot;
      // the file goes afterwards, so later restarts of the harness start empty as they expect.
      name: 'Redis SIGKILLed and restarted on its snapshot',
      run: async () => {
        const sh = await sharedRig();
        // The harness's connection reconnects by itself; its refused attempts meanwhile are this fault, not news.
        if (!sh.redis.listeners('error').includes(ignoreError)) sh.redis.on('error', ignoreError);
        const dir = ((await sh.redis.call('CONFIG', 'GET', 'dir')) as string[])[1]!;
        await sh.redis.call('SAVE');
        await s.killRedis();
        await sleep(Math.min(hold, 1_000));
        await s.restartRedis();
        fs.rmSync(path.join(dir, 'dump.rdb'), { force: true });
      },
    },
    {
      name: 'route subscription dropped (CLIENT KILL TYPE pubsub)',
      run: async () => {
        const sh = await sharedRig();
        await sh.redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      },
    },
    {
      name: 'cutover worker SIGKILLed and restarted',
      run: async () => {
        await rigs.ns.killCutoverWorker();
        await rigs.tenant.killCutoverWorker();
        await rigs.ns.startCutoverWorker();
        await rigs.tenant.startCutoverWorker();
      },
    },
    {
      name: 'application workers SIGKILLed and restarted',
      run: async () => {
        for (const a of t.apps) await a.kill();
        await sleep(Math.min(hold, 1_000));
        for (const a of t.apps) await a.start();
      },
    },
    {
      // Silent, not refused: the applications' connections to the source carry nothing for a while.
      name: `partition between the applications and the source (${hold / 1000} s, blackhole)`,
      run: async () => {
        t.proxies.source.blackhole();
        await sleep(hold);
        await t.proxies.source.heal();
      },
    },
    {
      name: `latency: +100 ms each way on the applications' link to the target (${hold / 1000} s)`,
      run: async () => {
        t.proxies.target.latency(100);
        await sleep(hold);
        await t.proxies.target.heal();
      },
    },
    {
      name: 'source SIGKILLed and restarted on its data',
      run: async () => {
        await s.kill('source');
        await s.restart('source');
      },
    },
    {
      name: 'target SIGKILLed and restarted on its data',
      run: async () => {
        await s.kill('target');
        await s.restart('target');
      },
    },
  ];
}

/**
 * Where each rig's unit ended, for the report. A unit whose status cannot be read (e.g. a workflow task
 * failing) has its history kept in the temporary directory, in the replayable form of test/replay.
 */
async function phaseOf(r: Rig, log: (l: string) => void): Promise<string> {
  return await r.status().then(
    (s) => `${s.phase} (route ${s.route.side ?? `${s.route.percent}%`}, epoch ${s.route.epoch})`,
    async (e: unknown) => {
      const file = path.join(os.tmpdir(), `${r.workflowId.replace(/[^\w.-]+/g, '_')}.history.json`);
      try {
        fs.writeFileSync(file, historyToJSON(await r.historyOf()));
        log(`status of ${r.unit} unreadable; its history is in ${file}`);
      } catch {
        // the history itself could not be read: the status error says enough
      }
      return `unknown (${String(e)})`;
    },
  );
}

/** Polls `fn` until true (bounded). */
async function until(what: string, fn: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await fn().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Runs the whole scenario on the harness's stack (started by the caller). */
export async function runCutoverUnderLoad(o: CutoverRunOptions): Promise<CutoverRunResult> {
  const log = o.log;
  // The tenant's moves take minutes. The namespace's move lasts the run: its three bakes (10, 25, 50 %) fill
  // all but its last four minutes (cutover, drain, reconcile), so each round of faults lands in a live canary.
  const bake = o.quick ? 3_000 : 30_000;
  const nsBake = o.quick ? bake : Math.max(bake, Math.floor((o.minutes * 60_000 - 240_000) / 3));
  const ns = new Rig({
    kind: 'namespace',
    childWorker: true,
    externalAppWorkers: true,
    jobMs: JOB_MS,
    input: { percentSteps: [10, 25, 50], bakeMs: nsBake, drainDeadlineMs: 60_000, finalizeAfterMs: 0 },
  });
  const tenant = new Rig({
    kind: 'tenant',
    childWorker: true,
    externalAppWorkers: true,
    jobMs: JOB_MS,
    schedules: 1,
    input: { percentSteps: [10, 25, 50], bakeMs: bake, advanceMode: 'manual', drainDeadlineMs: 60_000, finalizeAfterMs: 0 },
  });
  const rigs = { ns, tenant };
  const ledger = new Ledger((e) => log(`+${(e.atMs / 1000).toFixed(1)} s ${e.kind}: ${e.detail}`));
  const giveUp = { ms: GIVE_UP_MS };
  let load: OpenLoop | undefined;
  const closers: (() => Promise<unknown>)[] = [];
  const apps = [new AppWorkerChild(dualWorkersOf(ns)), new AppWorkerChild(dualWorkersOf(tenant))];
  try {
    await ns.setUp();
    await tenant.setUp();
    const knee = o.ratePerSec === undefined ? await directKnee(ns.appBundlePath(), o.quick, log) : undefined;
    const rate = knee === undefined ? o.ratePerSec! : Math.max(4, Math.ceil(knee * o.fraction));
    log(
      knee === undefined
        ? `running at ${rate} starts/s (given; the knee not measured)`
        : `direct knee ${Math.round(knee)} jobs/s; running at ${rate} starts/s (${Math.round(o.fraction * 100)}%)`,
    );
    for (const a of apps) await a.start();
    const s = testStack();
    // The applications reach the clusters through fault proxies (partition, latency), and Redis with a
    // connection of their own, as an application process would.
    const proxies = { source: await FaultProxy.start(s.source.address), target: await FaultProxy.start(s.target.address) };
    closers.push(
      () => proxies.source.close(),
      () => proxies.target.close(),
    );
    const conns = {
      source: await Connection.connect({ address: proxies.source.address }),
      target: await Connection.connect({ address: proxies.target.address }),
    };
    closers.push(
      () => conns.source.close(),
      () => conns.target.close(),
    );
    const appRedis = new Redis(s.redisUrl, { maxRetriesPerRequest: 1 });
    appRedis.on('error', () => undefined); // outages surface as staleness and typed errors
    closers.push(async () => appRedis.disconnect());
    const tenantId = (tenant.input.unit as { tenant: string }).tenant;
    const routedFor = async (r: Rig) => {
      const c = await RoutedClient.create({
        source: new Client({ connection: conns.source, namespace: r.input.sourceNamespace }),
        target: new Client({ connection: conns.target, namespace: r.input.targetNamespace }),
        store: new RoutingStore({ redis: appRedis, keyPrefix: r.keyPrefix }),
        namespace: r.input.unit.namespace,
        targetNamespace: r.input.targetNamespace,
        ...(r === tenant ? { tenantSelector: { workflowIdPrefix: '{tenant}-' }, tenants: [tenantId] } : {}),
        refreshMs: 250,
        // Within the entity's bound (its input's clientStalenessMs), which each drain waits out.
        stalenessMs: r.input.clientStalenessMs,
      });
      closers.push(() => c.close());
      return c;
    };
    const clients: Record<string, RoutedClient> = { [ns.unit]: await routedFor(ns), [tenant.unit]: await routedFor(tenant) };
    // The timeline's route changes: the moment this process's routed client saw each new record.
    for (const [unit, c] of Object.entries(clients))
      c.routes.onChange((u, rec) => {
        if (u !== unit || !rec) return;
        const side = rec.route.kind === 'side' ? rec.route.side : 'mixed';
        ledger.note({ kind: 'route', unit, epoch: rec.epoch, side, detail: `${unit} epoch ${rec.epoch}: ${JSON.stringify(rec.route)}` });
      });
    const nsPrefix = `${ns.workflowId.split('/').pop()}-load-`;
    const start = (r: Rig, workflowId: string) => async (): Promise<{ decided: Side; epoch: number }> => {
      const c = clients[r.unit]!;
      const epoch = c.routeOf({ workflowId }).epoch;
      const h = await c.workflow.start(entityAppJob, { taskQueue: r.appQueue, workflowId, args: [JOB_MS] });
      return { decided: await h.cluster(), epoch };
    };
    load = new OpenLoop(ledger, {
      ratePerSec: rate,
      giveUpMs: () => giveUp.ms,
      // Half the starts for each unit.
      next: (seq) => {
        const r = seq % 2 === 0 ? ns : tenant;
        const workflowId = r === ns ? `${nsPrefix}${seq}` : `${tenantId}-load-${seq}`;
        return { workflowId, unit: r.unit, start: start(r, workflowId) };
      },
    });
    load.start();
    const firesSince = Math.ceil(Date.now() / 1000) * 1000;
    const loadUntil = Date.now() + o.minutes * 60_000;
    log(`load started; ${o.minutes} min`);

    // The namespace steps through its percentages to cutover on its own (auto mode).
    await ns.start();
    ledger.note({ kind: 'signal', unit: ns.unit, command: 'start', detail: 'namespace unit started (auto: 10 → 25 → 50 → 100 %)' });
    // The tenant: moved to draining (its schedule switched to the target), rolled back, moved again.
    const tenantStory = (async () => {
      await tenant.start();
      ledger.note({ kind: 'signal', unit: tenant.unit, command: 'start', detail: 'tenant move 1 (manual)' });
      await driveTo(tenant, 'draining', 240_000);
      ledger.note({ kind: 'phase', unit: tenant.unit, detail: 'tenant draining (schedule on the target)' });
      ledger.note({ kind: 'signal', unit: tenant.unit, command: 'rollback', detail: 'tenant rollback from draining' });
      await tenant.command('rollback', { reason: 'bench:cutover rollback drill', actor: 'oncall' });
      await tenant.waitPhase('rolled-back', 240_000);
      ledger.note({ kind: 'phase', unit: tenant.unit, detail: 'tenant rolled back (schedule back on the source)' });
      // The rolled-back run mirrors its last audit records, then ends: a start before it has ended joins it
      // (unit starts use the existing run of their ID), and the second move would never begin.
      await tenant.handle().result();
      await tenant.start();
      ledger.note({ kind: 'signal', unit: tenant.unit, command: 'start', detail: 'tenant move 2' });
      await driveTo(tenant, 'completed', 300_000);
      ledger.note({ kind: 'phase', unit: tenant.unit, detail: 'tenant completed' });
    })();
    const nsStory = (async () => {
      await ns.waitPhase('completed', o.minutes * 60_000 + 300_000);
      ledger.note({ kind: 'phase', unit: ns.unit, detail: 'namespace completed' });
    })();
    const faults = faultSchedule({ rigs, apps, proxies }, giveUp, o.quick);
    // The quick run injects each fault once, however long that takes; the full run goes round the
    // schedule again while the load lasts.
    const faultsDone = (async () => {
      const failures: string[] = [];
      do failures.push(...(await runFaults(ledger, faults, o.quick ? 4_000 : 60_000, () => !o.quick && Date.now() > loadUntil)));
      while (!o.quick && Date.now() < loadUntil - 120_000);
      return failures;
    })();
    const [stories, faultFailures] = await Promise.all([Promise.allSettled([nsStory, tenantStory]), faultsDone]);
    for (const [i, s] of stories.entries()) {
      if (s.status !== 'rejected') continue;
      ledger.note({ kind: 'note', detail: `story failed: ${String(s.reason)}` });
      // What the unit's run did last, and why its workflow tasks failed (if they did): a stuck story says where.
      const rig = i === 0 ? ns : tenant;
      ledger.note({ kind: 'note', detail: `${rig.unit}: ${await lastEvents(rig).catch((err) => `history unreadable: ${String(err)}`)}` });
    }
    const left = loadUntil - Date.now();
    if (left > 0) {
      log(`migrations done; load continues ${Math.round(left / 1000)} s`);
      await new Promise((r) => setTimeout(r, left));
    }
    await load.stop();
    log(`load stopped: ${ledger.entries.length} starts issued`);

    // The schedule stops firing (both copies paused) so the drain and its fire count stand still.
    const sides = tenant.scheduleSides();
    const pausedAt = Date.now();
    for (const id of tenant.scheduleIds)
      for (const side of [sides.source, sides.target])
        await side.client.schedule
          .getHandle(id)
          .pause('bench over')
          .catch(() => undefined);
    // Drain: every run of the ledger closes (jobs are short), bounded.
    const sh = await sharedRig();
    const sideClients = (r: Rig) => {
      const sides = r.scheduleSides();
      return { source: sides.source.client, target: sides.target.client };
    };
    const byUnit: Record<string, Record<Side, Client>> = { [ns.unit]: sideClients(ns), [tenant.unit]: sideClients(tenant) };
    await until(
      'the load runs to close',
      async () => {
        let open = 0;
        for (const r of [ns, tenant])
          for (const conn of [sh.conn.source, sh.conn.target])
            open += (
              await new Client({ connection: conn, namespace: r.input.sourceNamespace }).workflow.count(
                `ExecutionStatus = "Running" AND TaskQueue = "${r.appQueue}"`,
              )
            ).count;
        return open === 0;
      },
      120_000,
    ).catch((e: unknown) => log(String(e)));
    log('reconciling the ledger against both clusters');
    // Each unit's starts all go to its own application task queue: listed once per side, not described per start.
    const queueOf: Record<string, string> = { [ns.unit]: ns.appQueue, [tenant.unit]: tenant.appQueue };
    const reconciliation = await reconcileLedger(
      ledger,
      (u) => byUnit[u]!,
      undefined,
      (u) => `TaskQueue = "${queueOf[u]!}"`,
    );
    log(`reconcile read ${reconciliation.reads.listedRuns} listed runs and made ${reconciliation.reads.describes} describes`);
    const flips = flipFigures(ledger);
    // The schedule's fires on both clusters, by nominal time, from the load's start until it was paused:
    // none on both (double), none of the spec's times on neither (lost; gaps of a switch are backfilled).
    let fires = 0;
    let dbl = 0;
    let lost = 0;
    for (const id of tenant.scheduleIds) {
      const f = await settledFiresOn(sides, id, firesSince, pausedAt - 1_000);
      fires += f.source.length + f.target.length;
      dbl += f.duplicates.length;
      lost += f.lost.length;
      if (f.lost.length)
        ledger.note({ kind: 'note', detail: `schedule ${id}: fires lost at ${f.lost.map((t) => new Date(t).toISOString()).join(', ')}` });
    }
    const phases = { namespace: await phaseOf(ns, log), tenant: await phaseOf(tenant, log) };
    return {
      reconciliation,
      flips,
      directKneePerSec: knee,
      ratePerSec: rate,
      minutes: o.minutes,
      schedule: { fires, doubleFires: dbl, lostFires: lost },
      faults: faults.map((f) => f.name),
      faultFailures,
      phases,
      ledger,
    };
  } finally {
    await load?.stop().catch(() => undefined);
    for (const c of closers.reverse()) await c().catch(() => undefined);
    for (const a of apps) await a.kill().catch(() => undefined);
    await ns.tearDown().catch(() => undefined);
    await tenant.tearDown().catch(() => undefined);
  }
}
