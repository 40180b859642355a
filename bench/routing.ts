/**
 * `npm run bench:routing`: what the multi-cluster client costs an application.
 *
 * On a fresh local stack (a source cluster, a dev-server target and Redis), in one run per kind of
 * source server (`--server dev|postgres|both`, default both: a dev server, then a temporal-server on
 * PostgreSQL with 4 history shards — the kind of cluster users move off):
 * - saturation (knee): closed loop at rising concurrency, routed and direct alternating per level;
 * - latency and CPU per start: open loop at half the direct knee, alternating routed/direct blocks;
 * - the same while the unit is moving (50%), before and after the placement sweep (src/routing/sweep.ts);
 * - route decision time (in-memory lookup + hash), and propagation of a route change to N clients.
 * Prints a table, replaces its section of docs/benchmarks.md and writes bench/results/routing.json.
 * Targets are reported beside the figures, never asserted.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, type WorkflowClientInterceptor } from '@temporalio/client';
import { createSweepActivities } from '../src/activities/sweep';
import { connectCluster } from '../src/clusters/connect';
import { Redis } from 'ioredis';
import { RoutedClient } from '../src/routing/client';
import { sideFor } from '../src/routing/hash';
import { RoutingStore } from '../src/routing/store';
import type { Route } from '../src/routing/types';
import { LocalStack } from '../src/stack/stack';
import { closedLoop, openLoop } from './lib/load';
import type { BlockResult } from './lib/load';
import { writeBenchmarkDoc } from './lib/report';
import { machineInfo, markdownTable, percentile, round, summarize, writeResults } from './lib/stats';

const ROOT = path.resolve(__dirname, '..');
const NS = 'default';
const UNIT = `namespace/${NS}`;
const QUICK = process.argv.includes('--quick');
/** `--no-write`: print only (trial runs). */
const WRITE = !process.argv.includes('--no-write');
// Short blocks, many alternations: on a shared 2-core machine the background load changes by the
// second, and fine alternation exposes both clients to the same conditions.
const KNEE_LEVELS = [2, 4, 8, 16];
const KNEE_REPS = QUICK ? 1 : 3;
const KNEE_BLOCK_MS = 500;
const LAT_ROUNDS = QUICK ? 6 : 30;
const LAT_BLOCK_MS = 500;
const PROPAGATION_CLIENTS = 8;
const PROPAGATION_CHANGES = QUICK ? 20 : 60;
type ServerKind = 'dev' | 'postgres';
/** `--server dev|postgres|both` (or `--server=…`): the kinds of source server to measure, in order. */
function serverKinds(argv: string[]): ServerKind[] {
  const i = argv.findIndex((a) => a === '--server' || a.startsWith('--server='));
  if (i < 0) return ['dev', 'postgres'];
  const value = argv[i]!.includes('=') ? argv[i]!.slice('--server='.length) : (argv[i + 1] ?? '');
  if (value === 'both') return ['dev', 'postgres'];
  if (value === 'dev' || value === 'postgres') return [value];
  throw new Error(`--server: "${value}" is not a server kind; give dev, postgres or both`);
}
const SERVERS = serverKinds(process.argv.slice(2));
const SERVER_LABEL: Record<ServerKind, string> = { dev: 'dev server (SQLite)', postgres: 'temporal-server 1.29.1 on PostgreSQL, 4 shards' };

/** Routed minus direct time outside the SDK's start call, at p50 and p99 (µs). */
function overheadOf(outside: Record<'direct' | 'routed', number[]>): { p50: number; p99: number } {
  const d = summarize(outside.direct);
  const r = summarize(outside.routed);
  return { p50: r.p50 - d.p50, p99: r.p99 - d.p99 };
}

const log = (line: string) => process.stderr.write(`[bench:routing] ${line}\n`);

async function main(): Promise<void> {
  const runs: { server: ServerKind; results: Record<string, number>; section: string }[] = [];
  for (const server of SERVERS) runs.push({ server, ...(await benchOn(server)) });
  // Flat keys: the dev server's figures keep their names; the other kind's are prefixed (postgresKneeRatio…).
  const results = Object.fromEntries(
    runs.flatMap((r) =>
      Object.entries(r.results).map(([k, v]) => [r.server === 'dev' ? k : `${r.server}${k[0]!.toUpperCase()}${k.slice(1)}`, v]),
    ),
  );
  const both = markdownTable(
    ['source server', 'knee direct / routed (starts/s)', 'knee ratio', 'p50 / p99 ratio', 'direct p50 / p99 (ms)'],
    runs.map(({ server, results: x }) => [
      SERVER_LABEL[server],
      `${x.directKneePerSec} / ${x.routedKneePerSec}`,
      x.kneeRatio!,
      `${x.p50Ratio} / ${x.p99Ratio}`,
      `${x.directP50Ms} / ${x.directP99Ms}`,
    ]),
  );
  process.stdout.write(`\n${both}\n${JSON.stringify(results)}\n`);
  if (WRITE) {
    const doc = writeBenchmarkDoc(
      ROOT,
      'routing',
      [...runs.map((r) => r.section), ...(runs.length > 1 ? [`### Both kinds of source server\n\n${both}\n`] : [])].join('\n'),
    );
    const json = writeResults(ROOT, 'routing', results);
    log(`wrote ${path.relative(ROOT, doc)} and ${path.relative(ROOT, json)}`);
  }
}

/** The whole benchmark with `server` as the source cluster's kind; returns its figures and doc section. */
async function benchOn(server: ServerKind): Promise<{ results: Record<string, number>; section: string }> {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cutover-bench-routing-'));
  log(`starting the local stack in ${runDir} (source: ${SERVER_LABEL[server]})`);
  const stack = await LocalStack.start({
    runDir,
    clusters: [
      { name: 'legacy', namespaces: [NS], ...(server === 'postgres' ? { local: { server: 'postgres' as const, shards: 4 } } : {}) },
      { name: 'cloud', namespaces: [NS] },
    ],
    onProgress: (l) => log(l),
  });
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const srcConn = await connectCluster('legacy', stack.cluster('legacy').endpoint);
    closers.push(() => srcConn.close());
    const dstConn = await connectCluster('cloud', stack.cluster('cloud').endpoint);
    closers.push(() => dstConn.close());
    const redis = new Redis(stack.redisUrl, { maxRetriesPerRequest: 1 });
    closers.push(async () => redis.disconnect());
    const store = new RoutingStore({ redis, keyPrefix: 'bench:' });
    // Settled on the source at epoch 1: the state every application is in when it swaps its Client.
    await store.ensure(UNIT, { route: { kind: 'side', side: 'source' }, actor: 'bench' });

    // Every SDK client gets the same interceptor, which times the SDK's own start call: a routed start's
    // latency minus that time is what the routing adds (the overhead), whatever the server's latency does.
    const inner = new Map<string, number>();
    const timing: WorkflowClientInterceptor = {
      async start(input, next) {
        const t = performance.now();
        try {
          return await next(input);
        } finally {
          inner.set(input.options.workflowId, performance.now() - t);
        }
      },
    };
    const sdkClient = (connection: typeof srcConn) => new Client({ connection, namespace: NS, interceptors: { workflow: [timing] } });
    const direct = sdkClient(srcConn);
    const routed = await RoutedClient.create({ source: sdkClient(srcConn), target: sdkClient(dstConn), store, namespace: NS });
    closers.push(() => routed.close());

    let seq = 0;
    const tq = `bench-${Date.now()}`;
    /**
     * Microseconds each start of the current phase spent outside the SDK's start call (see `timing`), per
     * client: the SDK's own work before its interceptors is in both, so the routing's cost is the difference.
     */
    let outside: Record<'direct' | 'routed', number[]> = { direct: [], routed: [] };
    const timed = async <T>(which: 'direct' | 'routed', workflowId: string, start: () => Promise<T>): Promise<T> => {
      const t = performance.now();
      try {
        return await start();
      } finally {
        const sdk = inner.get(workflowId);
        inner.delete(workflowId);
        if (sdk !== undefined) outside[which].push((performance.now() - t - sdk) * 1000);
      }
    };
    const startDirect = () => {
      const workflowId = `d-${seq++}`;
      return timed('direct', workflowId, () => direct.workflow.start('benchNoop', { taskQueue: tq, workflowId }));
    };
    const startRouted = () => {
      const workflowId = `r-${seq++}`;
      return timed('routed', workflowId, () => routed.workflow.start('benchNoop', { taskQueue: tq, workflowId }));
    };
    // While the unit moves, half the routed starts go to the target, a server of its own: the fair direct
    // baseline sends each ID where the same hash sends it, with plain clients (the mix without the routing).
    const directTarget = sdkClient(dstConn);
    const half: Route = { kind: 'percent', basisPoints: 5_000 };
    const startDirectMix = () => {
      const workflowId = `d-${seq++}`;
      const client = sideFor(half, workflowId) === 'target' ? directTarget : direct;
      return timed('direct', workflowId, () => client.workflow.start('benchNoop', { taskQueue: tq, workflowId }));
    };

    log('warm-up');
    await closedLoop(startDirect, 4, 1_000);
    await closedLoop(startRouted, 4, 1_000);

    // Saturation: closed loop per concurrency level, alternating which client goes first.
    const knee = { direct: 0, routed: 0 };
    const kneeRows: (string | number)[][] = [];
    for (const c of KNEE_LEVELS) {
      const done = { direct: 0, routed: 0 };
      const ms = { direct: 0, routed: 0 };
      for (let rep = 0; rep < KNEE_REPS * 2; rep++) {
        const which = rep % 2 === 0 ? 'direct' : 'routed';
        const r = await closedLoop(which === 'direct' ? startDirect : startRouted, c, KNEE_BLOCK_MS);
        if (r.errors > 0) throw new Error(`${which} saturation block had ${r.errors} errors: ${String(r.firstError)}`);
        done[which] += r.completed;
        ms[which] += r.elapsedMs;
      }
      const tput = { direct: (done.direct * 1000) / ms.direct, routed: (done.routed * 1000) / ms.routed };
      knee.direct = Math.max(knee.direct, tput.direct);
      knee.routed = Math.max(knee.routed, tput.routed);
      kneeRows.push([c, round(tput.direct, 0), round(tput.routed, 0)]);
      log(`concurrency ${c}: direct ${round(tput.direct, 0)}/s, routed ${round(tput.routed, 0)}/s`);
    }
    const rate = Math.max(10, Math.round(knee.direct / 2));

    // Latency and CPU at half the direct knee, alternating blocks.
    log(`latency blocks at ${rate} starts/s (half the direct knee ${round(knee.direct, 0)}/s)`);
    const blocks: Record<'direct' | 'routed', BlockResult[]> = { direct: [], routed: [] };
    outside = { direct: [], routed: [] };
    for (let r = 0; r < LAT_ROUNDS; r++) {
      const order = r % 2 === 0 ? (['direct', 'routed'] as const) : (['routed', 'direct'] as const);
      for (const which of order) blocks[which].push(await openLoop(which === 'direct' ? startDirect : startRouted, rate, LAT_BLOCK_MS));
    }
    const agg = (bs: BlockResult[]) => ({
      lat: bs.flatMap((b) => b.latencies),
      errors: bs.reduce((a, b) => a + b.errors, 0),
      cpuPerStart:
        bs.reduce((a, b) => a + b.cpuMicros, 0) /
        Math.max(
          1,
          bs.reduce((a, b) => a + b.completed, 0),
        ),
    });
    const d = agg(blocks.direct);
    const rt = agg(blocks.routed);
    if (d.errors + rt.errors > 0) throw new Error(`latency blocks had errors: direct ${d.errors}, routed ${rt.errors}`);
    const settledOverhead = overheadOf(outside);
    const ds = summarize(d.lat);
    const rs = summarize(rt.lat);
    // Paired view: the median over rounds of each round's routed/direct p50 (robust to load swings).
    const pairedP50 = percentile(
      blocks.routed.map((b, i) => percentile(b.latencies, 50) / percentile(blocks.direct[i]?.latencies ?? [], 50)),
      50,
    );

    // The same while the unit is moving (50% on the target): placement claim + cross-cluster check per start.
    log('moving-unit blocks (50%)');
    await setRoute(store, { kind: 'percent', basisPoints: 5_000 });
    await waitUntil(() => routed.routeOf({ workflowId: 'x' }).epoch === 2);
    const movingBlocks: Record<'direct' | 'routed', BlockResult[]> = { direct: [], routed: [] };
    for (let r = 0; r < Math.max(4, LAT_ROUNDS / 3); r++) {
      const order = r % 2 === 0 ? (['direct', 'routed'] as const) : (['routed', 'direct'] as const);
      for (const which of order)
        movingBlocks[which].push(await openLoop(which === 'direct' ? startDirectMix : startRouted, rate, LAT_BLOCK_MS));
    }
    const mdUnswept = summarize(agg(movingBlocks.direct).lat);
    const mrUnswept = summarize(agg(movingBlocks.routed).lat);

    // The same route after the placement sweep (what the entity workflow does once clients hold the
    // route): every open run of the unit, on both clusters, gets a placement, and starts skip the describe.
    log('placement sweep of the moving unit');
    const sweepStarted = performance.now();
    const swept = await createSweepActivities({
      source: { name: 'legacy', connection: srcConn },
      target: { name: 'cloud', connection: dstConn },
      placements: store,
    }).sweepPlacements({ unit: UNIT, namespace: NS, sourceNamespace: NS, targetNamespace: NS, epoch: 2, ttlMs: 3_600_000 });
    const sweepMs = performance.now() - sweepStarted;
    if (!swept.marked) throw new Error(`the sweep did not mark the unit: ${swept.reason}`);
    log(`swept ${swept.listed.source} + ${swept.listed.target} open runs in ${round(sweepMs / 1000, 1)} s`);
    const sweptBlocks: Record<'direct' | 'routed', BlockResult[]> = { direct: [], routed: [] };
    outside = { direct: [], routed: [] };
    // As many rounds as the settled comparison: this is the figure with a target.
    for (let r = 0; r < LAT_ROUNDS; r++) {
      const order = r % 2 === 0 ? (['direct', 'routed'] as const) : (['routed', 'direct'] as const);
      for (const which of order)
        sweptBlocks[which].push(await openLoop(which === 'direct' ? startDirectMix : startRouted, rate, LAT_BLOCK_MS));
    }
    const movingOverhead = overheadOf(outside);
    const md = summarize(agg(sweptBlocks.direct).lat);
    const mr = summarize(agg(sweptBlocks.routed).lat);
    const movingPairedP50 = percentile(
      sweptBlocks.routed.map((b, i) => percentile(b.latencies, 50) / percentile(sweptBlocks.direct[i]?.latencies ?? [], 50)),
      50,
    );
    const movingErrors = agg(movingBlocks.routed).errors + agg(sweptBlocks.routed).errors;

    // Route decision: unit resolution + in-memory lookup + hash, timed in batches of 100 calls (a
    // single call is shorter than the timer's own cost); p99 over 20,000 batches.
    log('route decision');
    const ids = Array.from({ length: 100 }, (_, i) => `order-${i}-${Math.random().toString(36).slice(2)}`);
    const perCall: number[] = [];
    let sink = 0;
    for (let b = 0; b < 20_000; b++) {
      const t0 = process.hrtime.bigint();
      for (const id of ids) if (routed.routeOf({ workflowId: id }).side === 'target') sink++;
      perCall.push(Number(process.hrtime.bigint() - t0) / ids.length);
    }
    const decision = { p50: percentile(perCall, 50), p99: percentile(perCall, 99) };
    if (sink < 0) log('unreachable');

    // Propagation: time from a CAS until every one of N clients uses the new route.
    log(`propagation to ${PROPAGATION_CLIENTS} clients`);
    const clients: RoutedClient[] = [];
    for (let i = 0; i < PROPAGATION_CLIENTS; i++) {
      const c = await RoutedClient.create({
        source: new Client({ connection: srcConn, namespace: NS }),
        target: new Client({ connection: dstConn, namespace: NS }),
        store,
        namespace: NS,
      });
      clients.push(c);
      closers.push(() => c.close());
    }
    const propagation: number[] = [];
    for (let k = 0; k < PROPAGATION_CHANGES; k++) {
      const seen = new Array<number>(clients.length).fill(0);
      const cur = await store.get(UNIT);
      const target = (cur?.epoch ?? 0) + 1;
      const offs = clients.map((c, i) =>
        c.routes.onChange((unit, rec) => {
          if (unit === UNIT && rec?.epoch === target && seen[i] === 0) seen[i] = performance.now();
        }),
      );
      const t0 = performance.now();
      await setRoute(store, { kind: 'percent', basisPoints: (k * 997) % 10_001 });
      await waitUntil(() => seen.every((s) => s > 0));
      propagation.push(Math.max(...seen) - t0);
      offs.forEach((off) => off());
      await new Promise((r) => setTimeout(r, 20));
    }
    const prop = { p50: percentile(propagation, 50), p99: percentile(propagation, 99) };

    const results = {
      p50Ratio: round(rs.p50 / ds.p50),
      p99Ratio: round(rs.p99 / ds.p99),
      pairedP50Ratio: round(pairedP50),
      cpuRatio: round(rt.cpuPerStart / d.cpuPerStart),
      kneeRatio: round(knee.routed / knee.direct),
      decisionP50Ns: round(decision.p50, 1),
      decisionP99Ns: round(decision.p99, 1),
      propagationP50Ms: round(prop.p50, 2),
      propagationP99Ms: round(prop.p99, 2),
      directP50Ms: round(ds.p50),
      directP99Ms: round(ds.p99),
      routedP50Ms: round(rs.p50),
      routedP99Ms: round(rs.p99),
      directCpuPerStartUs: round(d.cpuPerStart, 1),
      routedCpuPerStartUs: round(rt.cpuPerStart, 1),
      directKneePerSec: round(knee.direct, 0),
      routedKneePerSec: round(knee.routed, 0),
      rateStartsPerSec: rate,
      startsMeasured: ds.n + rs.n,
      overheadP50Us: round(settledOverhead.p50, 1),
      overheadP99Us: round(settledOverhead.p99, 1),
      movingOverheadP50Us: round(movingOverhead.p50, 1),
      movingOverheadP99Us: round(movingOverhead.p99, 1),
      movingP50Ratio: round(mr.p50 / md.p50),
      movingP99Ratio: round(mr.p99 / md.p99),
      movingPairedP50Ratio: round(movingPairedP50),
      movingUnsweptP50Ratio: round(mrUnswept.p50 / mdUnswept.p50),
      movingUnsweptP99Ratio: round(mrUnswept.p99 / mdUnswept.p99),
      movingErrors,
      sweepRuns: swept.listed.source + swept.listed.target,
      sweepSeconds: round(sweepMs / 1000, 2),
    };

    const target = (v: number, op: '<=' | '>=', t: number) =>
      `${op === '<=' ? '≤' : '≥'} ${t} ${(op === '<=' ? v <= t : v >= t) ? '✓' : '✗ missed'}`;
    const table = markdownTable(
      ['measure', 'value', 'target'],
      [
        ['p50 ratio (routed / direct)', results.p50Ratio, target(results.p50Ratio, '<=', 1.03)],
        ['p99 ratio', results.p99Ratio, target(results.p99Ratio, '<=', 1.1)],
        ['p50 ratio, paired (median over rounds)', results.pairedP50Ratio, ''],
        [
          'routing overhead per start p50 / p99 (µs; routed latency − the SDK call inside it)',
          `${results.overheadP50Us} / ${results.overheadP99Us}`,
          '',
        ],
        ['CPU per start ratio (client process)', results.cpuRatio, '—'],
        ['saturation (knee) ratio', results.kneeRatio, target(results.kneeRatio, '>=', 0.95)],
        ['route decision p50 / p99 (ns)', `${results.decisionP50Ns} / ${results.decisionP99Ns}`, target(results.decisionP99Ns, '<=', 1000)],
        [
          'propagation to 8 clients p50 / p99 (ms)',
          `${results.propagationP50Ms} / ${results.propagationP99Ms}`,
          target(results.propagationP99Ms, '<=', 100),
        ],
        ['direct p50 / p99 (ms)', `${results.directP50Ms} / ${results.directP99Ms}`, ''],
        ['routed p50 / p99 (ms)', `${results.routedP50Ms} / ${results.routedP99Ms}`, ''],
        ['CPU per start direct / routed (µs)', `${results.directCpuPerStartUs} / ${results.routedCpuPerStartUs}`, ''],
        ['knee direct / routed (starts/s)', `${results.directKneePerSec} / ${results.routedKneePerSec}`, ''],
        [
          'moving unit (50%), after the placement sweep: p50 / p99 ratio',
          `${results.movingP50Ratio} / ${results.movingP99Ratio}`,
          `${target(results.movingP50Ratio, '<=', 1.25)} / ${target(results.movingP99Ratio, '<=', 1.5)}`,
        ],
        ['moving unit (50%), after the sweep: p50 ratio, paired (median over rounds)', results.movingPairedP50Ratio, ''],
        [
          'moving unit (50%), before the sweep (claim + describe): p50 / p99 ratio',
          `${results.movingUnsweptP50Ratio} / ${results.movingUnsweptP99Ratio}`,
          'reference',
        ],
        [
          'moving unit, after the sweep: routing overhead per start p50 / p99 (µs)',
          `${results.movingOverheadP50Us} / ${results.movingOverheadP99Us}`,
          '',
        ],
        ['placement sweep: open runs listed / seconds', `${results.sweepRuns} / ${results.sweepSeconds}`, ''],
      ],
    );
    const kneeTable = markdownTable(['in flight', 'direct starts/s', 'routed starts/s'], kneeRows);
    const m = machineInfo();
    const args = process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : '';
    const versions = `Node ${m.node}, Temporal SDK ${m.temporalSdk}, ioredis ${m.ioredis}, Redis ${m.redis}`;
    const clusters = `source: ${SERVER_LABEL[server]}, target: dev server (temporal CLI 1.5.1), from the local stack`;
    const machine = `${m.nproc} cores (${m.cpu}), ${m.memory}`;
    const section = `### ${SERVER_LABEL[server]} — ${new Date().toISOString()}

Command: \`npm run bench:routing${args}\` · machine: ${machine} · ${versions}, ${clusters} · load average at the end: ${m.loadavg}

Routed vs direct client on the same (source) cluster, unit settled on the source (epoch 1), starts only
(no worker), open loop at ${rate} starts/s = half the direct knee, ${LAT_ROUNDS} rounds of alternating ${LAT_BLOCK_MS / 1000} s blocks
(${results.startsMeasured} starts measured). The machine is shared with other test runs, so the ratios carry noise of a few percent.
The overhead lines take the server out: for each start, its latency minus the time of the SDK start call inside it
(an interceptor on every SDK client times that call); the routed client's p50 (p99) of that, minus the direct
client's, is what the routing itself costs.
The "moving unit" lines are the same comparison while the unit is at 50% (the direct baseline then sends each ID to
the cluster the same hash picks, with plain clients, so both sides see the same mix of clusters), the price of the
no-duplicate guarantee during a move: before the placement sweep each start claims its placement in Redis and describes the ID on the other
cluster; after it (every open run of the unit recorded in Redis, as the entity workflow does once clients hold the
route) the claim alone decides, and its round trip is the whole price.

${table}

Saturation (closed loop; per level ${KNEE_REPS} alternating pairs of ${KNEE_BLOCK_MS / 1000} s blocks):

${kneeTable}
`;
    process.stdout.write(`\n${SERVER_LABEL[server]}\n${table}\n\n${kneeTable}\n`);
    process.stdout.write(`${JSON.stringify(results)}\n`);
    return { results, section };
  } finally {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    // dropData: a PostgreSQL-backed source drops its databases.
    await stack.stop({ dropData: true });
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

async function setRoute(store: RoutingStore, route: Route): Promise<void> {
  const cur = await store.get(UNIT);
  const res = await store.compareAndSet(UNIT, cur?.epoch ?? 0, { route, actor: 'bench' });
  if (!res.ok) throw new Error('route change lost a CAS');
}

async function waitUntil(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 1));
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`[bench:routing] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
