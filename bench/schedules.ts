/**
 * `npm run bench:schedules`: what moving schedules with cutover costs, against what the same servers
 * do through the plain SDK client.
 *
 * For each size (default 1,000 and 10,000; `--quick`: 100), on a fresh local stack (two dev servers
 * and Redis), in one run:
 * 1. setup: N schedules created active on the source (plain SDK; a few of them fire every second);
 * 2. the bound: N schedules created on the target and N paused on the source through the plain SDK
 *    client (`schedule.create`, `handle.pause`), the least a hand-made move does; then undone, untimed;
 * 3. cutover: `copySchedules` (source → target, paused, byte-faithful) then `switchSchedule` on each
 *    (fenced on a Redis `ScheduleFence`, gap backfill on), same concurrency as the bound;
 * 4. double-active: every schedule described on both clusters after the switch;
 * 5. lost fires: the schedules firing every second are switched among the others; every nominal time
 *    of a window around the switch is looked up by its run's workflow ID on both clusters.
 * Prints a table, replaces its section of docs/benchmarks.md and writes bench/results/schedules.json. Targets
 * are reported beside the figures, never asserted.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection, ScheduleOverlapPolicy } from '@temporalio/client';
import type { ScheduleOptions } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { Redis } from 'ioredis';
import {
  copySchedules,
  describeRaw,
  deleteRaw,
  listSelected,
  scheduledRunId,
  ScheduleFence,
  SWITCH_STEPS,
  switchSchedule,
} from '../src/schedules';
import type { SidedEndpoint, SwitchReport } from '../src/schedules';
import { matchingTimes, peekRaw, runExists, stateOf } from '../src/schedules/raw';
import { LocalStack } from '../src/stack/stack';
import { parseFlags, runBench, usageOf, type FlagSpec } from './lib/args';
import { cpuMark, cpuSince, type CpuMark } from './lib/cpu';
import { firstError, mapPool, progressLogger } from './lib/pool';
import { headerLine, writeBenchmarkDoc } from './lib/report';
import { addCounts, byOperation, diffCounts, scrapeRequests, sumOps, type RequestCounts } from './lib/server-metrics';
import { markdownTable, round, writeResults } from './lib/stats';

const ROOT = path.resolve(__dirname, '..');
const NS = 'schedbench';
const TICK_QUEUE = 'bench-tick';
const MOVED_PREFIX = 'm-';
/** Seconds of firing kept on each side of the switch window. */
const WINDOW_MARGIN_MS = 5_000;
/** How long a nominal time may take to show up as a run (scheduler rate limit, backfill) before it counts as lost. */
const FIRE_SETTLE_MS = 30_000;
/**
 * Attempts per schedule, as the entity's activity retry would make them: a loaded dev server
 * sometimes refuses a DescribeSchedule (`FAILED_PRECONDITION: no poller seen for task queue
 * recently`, its own scheduler worker lagging); copy and switch are idempotent, so a re-run finishes.
 */
const ATTEMPTS = 3;

const FLAGS: Record<string, FlagSpec> = {
  quick: { kind: 'boolean', help: 'smoke run: 100 schedules, 5 of them firing' },
  sizes: { kind: 'ints', help: 'schedule counts to move, one fresh stack each (default 1000,10000)' },
  concurrency: { kind: 'int', help: 'operations in flight, for the bound and for cutover alike (default 16)' },
  firing: { kind: 'int', min: 0, help: 'schedules firing every second during the switch (default 20; --quick 5)' },
  'scheduler-pollers': {
    kind: 'int',
    min: 1,
    help:
      "workflow-task pollers of both servers' per-namespace (scheduler) workers, through worker.perNamespaceWorkerOptions " +
      "(default: the server's own, the SDK's 2)",
  },
  'no-write': { kind: 'boolean', help: 'print only: do not touch docs/benchmarks.md or bench/results' },
};
const USAGE = usageOf('npm run bench:schedules --', FLAGS);

const log = (line: string) => process.stderr.write(`[bench:schedules] ${line}\n`);

interface SizeResult {
  n: number;
  firing: number;
  sourceCreateSeconds: number;
  boundCreateSeconds: number;
  boundPauseSeconds: number;
  /** After the bound's last RPC returned, until the servers had applied every create and pause. */
  boundApplySeconds: number;
  copySeconds: number;
  switchSeconds: number;
  copied: number;
  copyFailed: number;
  copyRetried: number;
  copyFirstError?: string;
  switched: number;
  switchFailed: number;
  switchRetried: number;
  switchFirstError?: string;
  resumed: number;
  gapBackfilled: number;
  doubleActive: number;
  pausedOnBoth: number;
  activeOnTarget: number;
  firesExpected: number;
  lostFires: number;
  doubleFires: number;
  /** Plain SDK `describe()` per second on the source (the operation the switch repeats most). */
  describePerSec: number;
  /** Mean milliseconds each switch spent in each protocol step (wall time, \`onStep\`). */
  stepMs: Record<string, number>;
  ops: { bound: RequestCounts; copy: RequestCounts; switch: RequestCounts };
  /**
   * CPU seconds per phase: `watched` = both dev servers, `self` = the benchmark process (cutover's
   * calls and the two tick workers). The bound's run until the servers had applied it.
   */
  cpu: Record<(typeof CPU_PHASES)[number], CpuMark>;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), FLAGS, USAGE);
  const quick = flags.quick === true;
  const sizes = (flags.sizes as number[] | undefined) ?? (quick ? [100] : [1_000, 10_000]);
  const concurrency = (flags.concurrency as number | undefined) ?? 16;
  const firingWanted = (flags.firing as number | undefined) ?? (quick ? 5 : 20);
  const write = flags['no-write'] !== true;
  const schedulerPollers = flags['scheduler-pollers'] as number | undefined;
  // Every schedule operation is a signal or query that the namespace's scheduler worker (inside the
  // server) must poll for, so its pollers bound the describe rate; Temporal's tuning advice for
  // schedule-heavy namespaces is to raise them. Applied to both servers: the bound runs on them too.
  const dynamicConfig =
    schedulerPollers === undefined
      ? undefined
      : { 'worker.perNamespaceWorkerOptions': { MaxConcurrentWorkflowTaskPollers: schedulerPollers } };

  Runtime.install({ logger: new DefaultLogger('WARN') });
  const bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./lib/workflows'), logger: new DefaultLogger('WARN') });
  const results: SizeResult[] = [];
  for (const n of sizes) results.push(await runSize(n, Math.min(firingWanted, n), concurrency, bundle, dynamicConfig));

  // Top-level keys describe the largest size; per-size keys carry every size.
  const big = results[results.length - 1]!;
  const moveSeconds = (r: SizeResult) => r.copySeconds + r.switchSeconds;
  // The bound the target is defined over: the plain SDK's create and pause RPCs. They return once the
  // server has recorded a signal, before the schedule acts on it; the time until the servers have
  // applied them is reported beside it (`…Applied`), not used for the ratio.
  const boundSeconds = (r: SizeResult) => r.boundCreateSeconds + r.boundPauseSeconds;
  const appliedSeconds = (r: SizeResult) => r.boundCreateSeconds + r.boundPauseSeconds + r.boundApplySeconds;
  const ten = results.find((r) => r.n === 10_000);
  const json: Record<string, number | string> = {
    copied: big.copied,
    switched: big.switched,
    size: big.n,
    secondsFor10k: round(ten ? moveSeconds(ten) : (moveSeconds(big) * 10_000) / big.n, 1),
    secondsFor10kMeasured: ten ? 1 : 0,
    serverBoundRatio: round(boundSeconds(big) / moveSeconds(big)),
    serverBoundRatioApplied: round(appliedSeconds(big) / moveSeconds(big)),
    doubleActive: results.reduce((a, r) => a + r.doubleActive, 0),
    lostFires: results.reduce((a, r) => a + r.lostFires, 0),
    doubleFires: results.reduce((a, r) => a + r.doubleFires, 0),
    firesChecked: results.reduce((a, r) => a + r.firesExpected, 0),
    concurrency,
    schedulerPollers: schedulerPollers ?? 'server default',
  };
  for (const r of results) {
    const k = String(r.n);
    Object.assign(json, {
      [`copied${k}`]: r.copied,
      [`switched${k}`]: r.switched,
      [`copyRetried${k}`]: r.copyRetried,
      [`switchRetried${k}`]: r.switchRetried,
      [`copySeconds${k}`]: round(r.copySeconds, 2),
      [`switchSeconds${k}`]: round(r.switchSeconds, 2),
      [`movedPerSec${k}`]: round(r.n / moveSeconds(r), 1),
      [`boundPerSec${k}`]: round(r.n / boundSeconds(r), 1),
      [`serverBoundRatio${k}`]: round(boundSeconds(r) / moveSeconds(r)),
      [`serverBoundRatioApplied${k}`]: round(appliedSeconds(r) / moveSeconds(r)),
      [`boundApplySeconds${k}`]: round(r.boundApplySeconds, 2),
      [`doubleActive${k}`]: r.doubleActive,
      [`pausedOnBoth${k}`]: r.pausedOnBoth,
      [`lostFires${k}`]: r.lostFires,
      [`doubleFires${k}`]: r.doubleFires,
      [`firesChecked${k}`]: r.firesExpected,
      [`copyRpcsPerSchedule${k}`]: round(total(r.ops.copy) / r.n, 2),
      [`switchRpcsPerSchedule${k}`]: round(total(r.ops.switch) / r.n, 2),
      [`boundRpcsPerSchedule${k}`]: round(total(r.ops.bound) / r.n, 2),
      [`describeSchedulePerSchedule${k}`]: round(opCount(r.ops.switch, 'DescribeSchedule') / r.n, 2),
      [`plainDescribePerSec${k}`]: round(r.describePerSec, 1),
      [`switchMsPerSchedule${k}`]: round(
        Object.values(r.stepMs).reduce((a, b) => a + b, 0),
        0,
      ),
      ...Object.fromEntries(
        CPU_PHASES.map((phase) => [
          `serverCpuMsPerSchedule${phase[0]!.toUpperCase()}${phase.slice(1)}${k}`,
          msPerSchedule(r.cpu[phase].watched, r.n),
        ]),
      ),
      [`serverCpuRatio${k}`]: round(cpuRatio(r)),
    });
  }

  const mark = (v: number, op: '<=' | '>=', t: number) =>
    `${op === '<=' ? '≤' : '≥'} ${t} ${(op === '<=' ? v <= t : v >= t) ? '✓' : '✗ missed'}`;
  const rows: (string | number)[][] = [];
  for (const r of results) {
    rows.push([
      r.n,
      `${r.copied} / ${r.switched}`,
      `${round(r.copySeconds, 1)} + ${round(r.switchSeconds, 1)} = ${round(moveSeconds(r), 1)}`,
      round(r.n / moveSeconds(r), 1),
      `${round(r.boundCreateSeconds, 1)} + ${round(r.boundPauseSeconds, 1)} = ${round(boundSeconds(r), 1)} ` +
        `(applied after ${round(appliedSeconds(r), 1)})`,
      round(r.n / boundSeconds(r), 1),
      `${round(boundSeconds(r) / moveSeconds(r))} (${mark(boundSeconds(r) / moveSeconds(r), '>=', 0.8)}); ` +
        `to applied: ${round(appliedSeconds(r) / moveSeconds(r))}`,
      `${r.doubleActive} (${mark(r.doubleActive, '<=', 0)})`,
      `${r.lostFires} of ${r.firesExpected} (${mark(r.lostFires, '<=', 0)})`,
      r.doubleFires,
    ]);
  }
  const table = markdownTable(
    [
      'schedules',
      'copied / switched',
      'cutover s (copy + switch)',
      'moved/s',
      'bound s (create + pause RPCs)',
      'bound/s',
      'serverBoundRatio',
      'doubleActive',
      'lostFires',
      'doubleFires',
    ],
    rows,
  );
  const opsRows = results.flatMap((r) =>
    (['bound', 'copy', 'switch'] as const).map((phase) => [
      r.n,
      phase,
      round(total(r.ops[phase]) / r.n, 2),
      byOperation(r.ops[phase], NS)
        .slice(0, 8)
        .map(([op, c]) => `${op} ${round(c / r.n, 2)}`)
        .join(', '),
    ]),
  );
  const opsTable = markdownTable(['schedules', 'phase', 'RPCs per schedule (both servers)', 'by operation, per schedule'], opsRows);
  const detailRows = results.map((r) => [
    r.n,
    round(r.n / r.sourceCreateSeconds, 1),
    round(r.describePerSec, 1),
    `copy ${r.copyFailed}, switch ${r.switchFailed}`,
    r.copyRetried + r.switchRetried
      ? `copy ${r.copyRetried}, switch ${r.switchRetried} — ${r.switchFirstError ?? r.copyFirstError ?? ''}`
      : '0',
    r.resumed,
    r.gapBackfilled,
    r.pausedOnBoth,
    r.activeOnTarget,
    r.firing,
  ]);
  const cpuRows = results.flatMap((r) =>
    CPU_PHASES.map((phase) => {
      const seconds = { bound: appliedSeconds(r), copy: r.copySeconds, switch: r.switchSeconds }[phase];
      const c = r.cpu[phase];
      return [
        r.n,
        phase === 'bound' ? 'bound (until applied)' : phase,
        msPerSchedule(c.watched, r.n),
        msPerSchedule(c.self, r.n),
        round(((c.watched + c.self) / seconds / os.cpus().length) * 100, 0),
      ];
    }),
  );
  const cpuTable = markdownTable(
    [
      'schedules',
      'phase',
      'server CPU ms per schedule (both dev servers)',
      'benchmark process CPU ms per schedule',
      'machine busy, % (both, of all cores)',
    ],
    cpuRows,
  );
  const cpuRatioLine = results.map((r) => `${r.n}: ${round(cpuRatio(r))}`).join(', ');
  const stepRows = results.map((r) => [r.n, ...SWITCH_STEPS.map((st) => round(r.stepMs[st] ?? 0, 0))]);
  const stepTable = markdownTable(['schedules', ...SWITCH_STEPS.map((st) => `${st} ms`)], stepRows);
  const detailTable = markdownTable(
    [
      'schedules',
      'setup creates/s (source, plain SDK)',
      'plain describes/s (source)',
      'failed',
      'retried (first error)',
      'resumed switches',
      'gap fires backfilled',
      'paused on both',
      'active on target',
      'firing schedules',
    ],
    detailRows,
  );

  const command = `npm run bench:schedules${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const servers =
    schedulerPollers === undefined
      ? "the dev server's own configuration (the scheduler worker's 2 workflow-task pollers)"
      : `\`worker.perNamespaceWorkerOptions\` = \`{ MaxConcurrentWorkflowTaskPollers: ${schedulerPollers} }\` on both ` +
        "(the scheduler worker's pollers; the server's default is the SDK's 2)";
  const firing = results.map((r) => r.firing).join(' / ');
  const section = `### ${sizes.join(' and ')} schedules — ${new Date().toISOString()}

${await headerLine(command)}

Each size runs on a fresh local stack (two dev servers, Redis), one namespace, ${concurrency} operations in flight
for the bound and for cutover alike. Servers: ${servers}. **Bound**: the same servers through the plain SDK client — N
\`schedule.create\` on the target, then N \`handle.pause()\` on the source (the least a hand-made move does:
no copy of encoded payloads, no fence, no verification), timed over the RPCs. Such an RPC returns once
the server has recorded a signal for the schedule's scheduler workflow, before that workflow acts on it
(a schedule "paused" this way still fires until then), whereas cutover's switch waits until its pauses
have taken effect. So the bound is then also timed until the servers have applied it — every one of those
workflows with no task pending and the paused ones showing paused, read from their memo as cutover reads —
and *to applied* is the ratio on that time. It is reported, not used for the ratio: the target is defined
over the RPCs. **Cutover**: \`copySchedules\` (list by ID prefix,
raw describe of the source, raw create paused; the target is described only when it already has the schedule)
then \`switchSchedule\` per schedule (read the old side, describe the new one, pause, wait until paused and idle,
compare-and-set the \`ScheduleFence\` in Redis, fencing pause, conditional unpause with that describe's conflict
token — or, as here and in the switch activity, with the schedule and token the copy left (\`toKnown\`), so the
new side is not described — read back that it took (the check of the new side), gap check, read of the old side (its check)). A
*read* is a \`DescribeWorkflowExecution\` of the schedule's scheduler workflow, whose memo holds pause state,
notes and action times, once no workflow task is pending; a *describe* is a \`DescribeSchedule\`, which also
queries the server's scheduler worker. \`serverBoundRatio\` = bound seconds / cutover seconds. **doubleActive**: after
the switch, every schedule described on both clusters; active (unpaused) on both counts. **lostFires**: ${firing}
of the schedules fire every second (overlap ALLOW_ALL, so no fire is skipped for overlap) and are spread evenly
through the switch order; every nominal time from ${WINDOW_MARGIN_MS / 1000} s before the first switch (but not before the
bound's pauses were undone) to
${WINDOW_MARGIN_MS / 1000} s after the last (\`ListScheduleMatchingTimes\`) is looked up by its run's workflow ID
(\`<action workflow ID>-<nominal time>\`, describe: no visibility lag) on both clusters, waiting up to
${FIRE_SETTLE_MS / 1000} s for late starts; found on neither = lost, on both = double fire. RPC counts are the
servers' own \`service_requests\` counters (frontend, the benchmark namespace, both servers). A copy or switch
that throws is run again (same switch ID, up to ${ATTEMPTS} attempts, as the entity's activity retry would) and
counted as retried.

${table}

${detailTable}

Where the time goes (RPCs per schedule moved, both servers; each schedule operation on the server is a
signal or query to that schedule's scheduler workflow):

${opsTable}

Where one switch spends its time (mean wall ms per schedule, ${concurrency} in flight; \`pause\` includes the
initial fence read, the read of the old side and the describe of the new one):

${stepTable}

Where the CPU goes (from /proc: both dev servers' processes, and the benchmark's own, which also runs the
two workers that complete the fires; the bound's phase runs until the servers have applied it, the reads that tell so included). When the
machine is busy near 100 %, the phases compete for the same CPU, and server CPU per schedule, bound over
cutover, is what the ratio to applied can reach (\`serverCpuRatio\`: ${cpuRatioLine}):

${cpuTable}
`;
  process.stdout.write(`\n${table}\n\n${detailTable}\n\n${opsTable}\n\n${stepTable}\n\n${cpuTable}\n\n${JSON.stringify(json)}\n`);
  if (write) {
    const doc = writeBenchmarkDoc(ROOT, 'schedules', section);
    const file = writeResults(ROOT, 'schedules', json);
    log(`wrote ${path.relative(ROOT, doc)} and ${path.relative(ROOT, file)}`);
  }
}

/** The phases whose CPU is read, in the order they run. */
const CPU_PHASES = ['bound', 'copy', 'switch'] as const;

/** CPU seconds spent on `n` schedules, as milliseconds per schedule. */
function msPerSchedule(cpuSeconds: number, n: number): number {
  return round((cpuSeconds * 1000) / n, 1);
}

/** Server CPU per schedule, the bound's (until applied) over cutover's copy and switch together. */
function cpuRatio(r: SizeResult): number {
  return r.cpu.bound.watched / (r.cpu.copy.watched + r.cpu.switch.watched);
}

function total(c: RequestCounts): number {
  return sumOps(c, NS);
}

function opCount(c: RequestCounts, op: string): number {
  return sumOps(c, NS, [op]);
}

/**
 * Waits until the server has applied every signal it accepted for these schedules (their scheduler
 * workflows have no workflow task pending) and, with `paused`, each shows paused. One read each when
 * the server is done; bounded.
 */
async function applied(ep: SidedEndpoint, ids: string[], concurrency: number, paused: boolean): Promise<void> {
  const deadline = Date.now() + 300_000;
  const r = await mapPool(ids, concurrency, async (id) => {
    for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
      const p = await peekRaw(ep, id);
      if (p === null) throw new Error(`the ${ep.side} server does not show the scheduler workflow's memo: cannot tell when it has applied`);
      if (p && p.settled && (!paused || p.state.paused)) return;
      if (Date.now() > deadline) throw new Error(`schedule ${id} on the ${ep.side}: not applied within 300 s`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  });
  if (firstError(r)) throw new Error(`bound: ${firstError(r)}`);
}

/** One size on a fresh stack. */
async function runSize(
  n: number,
  firing: number,
  concurrency: number,
  bundle: { code: string },
  dynamicConfig?: Record<string, unknown>,
): Promise<SizeResult> {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cutover-bench-schedules-'));
  log(`— ${n} schedules (${firing} firing every second): starting the local stack in ${runDir}`);
  const stack = await LocalStack.start({
    runDir,
    clusters: [
      { name: 'legacy', namespaces: [NS] },
      { name: 'cloud', namespaces: [NS] },
    ],
    dynamicConfig,
    onProgress: (l) => log(l),
  });
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const legacy = stack.cluster('legacy').endpoint;
    const cloud = stack.cluster('cloud').endpoint;
    const connS = await Connection.connect({ address: legacy.address });
    closers.push(() => connS.close());
    const connT = await Connection.connect({ address: cloud.address });
    closers.push(() => connT.close());
    const source: SidedEndpoint = { client: new Client({ connection: connS, namespace: NS }), namespace: NS, side: 'source' };
    const target: SidedEndpoint = { client: new Client({ connection: connT, namespace: NS }), namespace: NS, side: 'target' };
    const redis = new Redis(stack.redisUrl, { maxRetriesPerRequest: 2 });
    closers.push(async () => redis.disconnect());
    // Workers on both sides complete every fire at once.
    for (const address of [legacy.address, cloud.address]) {
      const nc = await NativeConnection.connect({ address });
      const w = await Worker.create({ connection: nc, namespace: NS, taskQueue: TICK_QUEUE, workflowBundle: bundle });
      const running = w.run();
      closers.push(async () => {
        w.shutdown();
        await running;
        await nc.close();
      });
    }
    const scrapeBoth = async () => addCounts(await scrapeRequests(legacy.metricsUrl), await scrapeRequests(cloud.metricsUrl));
    const serverPids = [stack.cluster('legacy').pid, stack.cluster('cloud').pid];

    const width = String(n - 1).length;
    const ids = Array.from({ length: n }, (_, i) => `${MOVED_PREFIX}${String(i).padStart(width, '0')}`);
    // Firing schedules spread evenly through the order, so they are switched while the bulk is.
    const firingIds = new Set(firing > 0 ? Array.from({ length: firing }, (_, k) => ids[Math.floor(((k + 0.5) * n) / firing)]!) : []);
    const day = 86_400_000;
    // Quiet schedules fire once a day, ~12 h from now: none fires during the run.
    const offsetMs = Math.floor(((Date.now() + day / 2) % day) / 60_000) * 60_000;
    const options = (scheduleId: string): ScheduleOptions => {
      const fires = firingIds.has(scheduleId);
      return {
        scheduleId,
        spec: fires ? { intervals: [{ every: '1s' }] } : { intervals: [{ every: '1d', offset: offsetMs }] },
        action: {
          type: 'startWorkflow',
          workflowType: 'benchTick',
          taskQueue: TICK_QUEUE,
          args: [{ scheduleId }],
          workflowId: `${scheduleId}-wf`,
        },
        ...(fires ? { policies: { overlap: ScheduleOverlapPolicy.ALLOW_ALL } } : {}),
      };
    };

    // 1. Setup (plain SDK, on the source).
    let t = performance.now();
    const setup = await mapPool(
      ids,
      concurrency,
      (id) => source.client.schedule.create(options(id)),
      progressLogger('setup: created on the source', n, log),
    );
    const sourceCreateSeconds = (performance.now() - t) / 1000;
    if (firstError(setup)) throw new Error(`setup failed: ${firstError(setup)}`);

    // 2. The bound: N creates on the target, N pauses on the source, plain SDK; then undone (untimed).
    const boundIds = ids.map((id) => `b-${id}`);
    let before = await scrapeBoth();
    let cpu0 = cpuMark(serverPids);
    t = performance.now();
    const bc = await mapPool(
      boundIds,
      concurrency,
      (id) => target.client.schedule.create({ ...options(id), spec: { intervals: [{ every: '1d', offset: offsetMs }] } }),
      progressLogger('bound: created on the target', n, log),
    );
    const boundCreateSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    const bp = await mapPool(
      ids,
      concurrency,
      (id) => source.client.schedule.getHandle(id).pause('bench: bound'),
      progressLogger('bound: paused on the source', n, log),
    );
    const boundPauseSeconds = (performance.now() - t) / 1000;
    if (firstError(bc) ?? firstError(bp)) throw new Error(`bound failed: ${firstError(bc) ?? firstError(bp)}`);
    t = performance.now();
    const tApplied = performance.now();
    const since = () => round((performance.now() - tApplied) / 1000, 1);
    await Promise.all([
      applied(target, boundIds, concurrency, false).then(() =>
        log(`bound: the target applied its creates ${since()} s after the last RPC`),
      ),
      applied(source, ids, concurrency, true).then(() => log(`bound: the source applied its pauses ${since()} s after the last RPC`)),
    ]);
    const boundApplySeconds = (performance.now() - t) / 1000;
    // CPU first: the scrape that follows is not part of the phase it measures.
    const boundCpu = cpuSince(cpu0, serverPids);
    const boundOps = diffCounts(await scrapeBoth(), before);
    log(
      `bound: ${round(boundCreateSeconds, 1)} s create + ${round(boundPauseSeconds, 1)} s pause + ` +
        `${round(boundApplySeconds, 1)} s until applied; undoing it (untimed)`,
    );
    await mapPool(ids, concurrency, (id) => source.client.schedule.getHandle(id).unpause('bench: bound undone'));
    // Let the server work off the undo before anything else is timed (its backlog would slow what follows).
    await applied(source, ids, concurrency, false);
    // Fires skipped while the bound held the source paused are the bound's doing: the window starts after.
    const unpausedAt = Date.now();
    // For the analysis, not the ratio: how fast this server describes schedules through the plain SDK.
    const sample = ids.slice(0, Math.min(n, 500));
    t = performance.now();
    const dd = await mapPool(sample, concurrency, (id) => source.client.schedule.getHandle(id).describe());
    const describePerSec = sample.length / ((performance.now() - t) / 1000);
    if (firstError(dd)) throw new Error(`describe failed: ${firstError(dd)}`);
    log(`plain describe: ${round(describePerSec, 1)}/s`);
    await mapPool(boundIds, concurrency, (id) => deleteRaw(target, id, 'bench'));

    // 3a. Copy. Listing goes through visibility: wait (untimed) until it shows every schedule.
    const deadline = Date.now() + 120_000;
    while ((await listSelected(source, { kind: 'idPrefix', prefix: MOVED_PREFIX })).length < n) {
      if (Date.now() > deadline) throw new Error('the source never listed every schedule within 120 s (visibility)');
      await new Promise((r) => setTimeout(r, 500));
    }
    before = await scrapeBoth();
    cpu0 = cpuMark(serverPids);
    t = performance.now();
    const copy = await copySchedules({
      from: source,
      to: target,
      selector: { kind: 'idPrefix', prefix: MOVED_PREFIX },
      actor: 'bench',
      concurrency,
    });
    let copyFirstError = copy.items.find((i) => i.outcome === 'failed')?.error;
    let copyRetried = 0;
    let outcome = new Map(copy.items.map((i) => [i.scheduleId, i.outcome]));
    // What each copy left on the target (schedule and conflict token): the switch then need not describe it.
    const known = new Map(copy.items.flatMap((i) => (i.destination ? [[i.scheduleId, i.destination] as const] : [])));
    for (let attempt = 2; attempt <= ATTEMPTS; attempt++) {
      const failed = [...outcome].filter(([, o]) => o === 'failed').map(([id]) => id);
      if (failed.length === 0) break;
      copyRetried += failed.length;
      const again = await copySchedules({ from: source, to: target, selector: { kind: 'ids', ids: failed }, actor: 'bench', concurrency });
      outcome = new Map([...outcome, ...again.items.map((i): [string, typeof i.outcome] => [i.scheduleId, i.outcome])]);
      for (const i of again.items) if (i.destination) known.set(i.scheduleId, i.destination);
    }
    const copySeconds = (performance.now() - t) / 1000;
    const copyCpu = cpuSince(cpu0, serverPids);
    const copyOps = diffCounts(await scrapeBoth(), before);
    const copied = [...outcome.values()].filter((o) => o === 'created' || o === 'unchanged' || o === 'updated').length;
    const copyFailed = n - copied;
    if (!copyFailed) copyFirstError = copyFirstError && `retried: ${copyFirstError}`;
    log(`copy: ${copied}/${n} in ${round(copySeconds, 1)} s (${JSON.stringify(copy.counts)} on the first pass, ${copyRetried} retried)`);

    // 3b. Switch, each schedule on its own fence record, gap backfill on.
    const fence = new ScheduleFence({ redis, keyPrefix: `bench-schedules-${n}:` });
    const windowStart = Math.ceil(Math.max(Date.now() - WINDOW_MARGIN_MS, unpausedAt + 1_000) / 1000) * 1000;
    before = await scrapeBoth();
    cpu0 = cpuMark(serverPids);
    t = performance.now();
    const stepTotals: Record<string, number> = {};
    let switchRetried = 0;
    let switchError: string | undefined;
    const sw = await mapPool(
      ids,
      concurrency,
      async (id): Promise<SwitchReport> => {
        let last = performance.now();
        // Wall time between protocol steps (the first one includes the initial reads and the pause).
        const onStep = (step: string) => {
          const now = performance.now();
          stepTotals[step] = (stepTotals[step] ?? 0) + (now - last);
          last = now;
        };
        for (let attempt = 1; ; attempt++) {
          try {
            // Same switch ID on every attempt (the default, `target@0`): a re-run finishes a switch that already won the fence.
            const toKnown = attempt === 1 ? known.get(id) : undefined;
            return await switchSchedule({
              from: source,
              to: target,
              scheduleId: id,
              fence,
              expectedEpoch: 0,
              actor: 'bench',
              backfill: 'gap',
              onStep,
              ...(toKnown ? { toKnown } : {}),
            });
          } catch (err) {
            switchError ??= err instanceof Error ? `${err.name}: ${err.message}` : String(err);
            if (attempt >= ATTEMPTS) throw err;
            switchRetried++;
          }
        }
      },
      progressLogger('switch', n, log),
    );
    const switchSeconds = (performance.now() - t) / 1000;
    const switchCpu = cpuSince(cpu0, serverPids);
    const switchOps = diffCounts(await scrapeBoth(), before);
    const reports = sw.flatMap((r) => (r.ok ? [r.value] : []));
    const switched = reports.filter((r) => r.verified.fromPaused && r.verified.toActive).length;
    log(`switch: ${switched}/${n} verified in ${round(switchSeconds, 1)} s`);
    const windowEnd = Math.floor((Date.now() + WINDOW_MARGIN_MS) / 1000) * 1000;

    // 4. Double-active: every schedule described on both clusters.
    // A describe is a query to a busy scheduler worker: at 10,000 schedules one timed out (DEADLINE_EXCEEDED)
    // and ended the whole run, so each is tried up to ATTEMPTS times before the check gives up.
    const describeRetried = async (ep: SidedEndpoint, id: string) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await describeRaw(ep, id);
        } catch (err) {
          if (attempt >= ATTEMPTS) throw err;
        }
      }
    };
    const states = await mapPool(
      ids,
      concurrency,
      async (id) => {
        const [a, b] = await Promise.all([describeRetried(source, id), describeRetried(target, id)]);
        return { s: stateOf(a), t: stateOf(b) };
      },
      progressLogger('verify: described on both', n, log),
    );
    let doubleActive = 0;
    let pausedOnBoth = 0;
    let activeOnTarget = 0;
    for (const r of states) {
      if (!r.ok) throw new Error(`describe failed: ${firstError([r])}`);
      const { s, t: d } = r.value;
      const activeS = s.exists && !s.paused;
      const activeT = d.exists && !d.paused;
      if (activeS && activeT) doubleActive++;
      if (!activeS && !activeT) pausedOnBoth++;
      if (activeT && !activeS) activeOnTarget++;
    }

    // 5. Fires of the firing schedules in [windowStart, windowEnd], looked up by run ID on both sides.
    await new Promise((r) => setTimeout(r, Math.max(0, windowEnd + 2_000 - Date.now())));
    const checks: { id: string; t: number }[] = [];
    for (const id of firingIds) {
      for (const nominal of await matchingTimes(target, id, windowStart - 1, windowEnd)) checks.push({ id, t: nominal });
    }
    const found = new Map<string, { s: boolean; t: boolean }>();
    const settleBy = Date.now() + FIRE_SETTLE_MS;
    let pending = checks;
    for (;;) {
      const r = await mapPool(pending, concurrency, async (c) => {
        const runId = scheduledRunId(`${c.id}-wf`, c.t);
        const [s, d] = await Promise.all([runExists(source, runId), runExists(target, runId)]);
        found.set(`${c.id}@${c.t}`, { s, t: d });
        return s || d;
      });
      pending = pending.filter((_, i) => !(r[i]?.ok && r[i].value));
      if (pending.length === 0 || Date.now() > settleBy) break;
      await new Promise((res) => setTimeout(res, 2_000));
    }
    const lostFires = pending.length;
    const doubleFires = [...found.values()].filter((f) => f.s && f.t).length;
    if (lostFires)
      log(
        `lost fires: ${pending
          .slice(0, 5)
          .map((c) => `${c.id}@${new Date(c.t).toISOString()}`)
          .join(', ')}`,
      );
    log(`fires: ${checks.length} checked, ${lostFires} lost, ${doubleFires} on both; double-active ${doubleActive}`);

    return {
      n,
      firing: firingIds.size,
      sourceCreateSeconds,
      boundCreateSeconds,
      boundPauseSeconds,
      boundApplySeconds,
      copySeconds,
      switchSeconds,
      copied,
      copyFailed,
      copyRetried,
      copyFirstError,
      switched,
      switchFailed: n - reports.length,
      switchRetried,
      switchFirstError: firstError(sw) ?? (switchError && `retried: ${switchError}`),
      resumed: reports.filter((r) => r.resumed).length,
      gapBackfilled: reports.reduce((a, r) => a + r.gap.backfilled.length, 0),
      doubleActive,
      pausedOnBoth,
      activeOnTarget,
      firesExpected: checks.length,
      lostFires,
      doubleFires,
      describePerSec,
      stepMs: Object.fromEntries(Object.entries(stepTotals).map(([k, v]) => [k, v / n])),
      ops: { bound: boundOps, copy: copyOps, switch: switchOps },
      cpu: { bound: boundCpu, copy: copyCpu, switch: switchCpu },
    };
  } finally {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await stack.stop();
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

runBench('bench:schedules', main);
