/**
 * Network faults, injected for real: a TCP fault proxy (test/harness/fault-proxy.ts) between the cutover
 * worker and each cluster, and between an application's routed client and Redis, on the harness's real
 * dev servers and Redis. The worker is the one operators run (`createCutoverWorker` from a plan whose
 * cluster addresses are the proxies'); applications route starts through `RoutedClient`. Every test ends
 * with the ledger: each acknowledged start ran on exactly one cluster, the side its route gave it, and a
 * start the client refused ran nowhere.
 *
 *   - The worker cut off from the target during `draining` (silent, then refused) for longer than the step's
 *     activity timeout: the unit holds, `cutover status` says which step is retrying and why, and it
 *     completes once the link heals, with no step done twice.
 *   - 2 s added to every round trip between the worker and the source from `canary` on: the drain counts
 *     and the reconcile gate measure what is there, and nothing times out into a wrong decision.
 *   - Redis blackholed (not refused) under load, after the application host's wall clock was stepped back
 *     an hour: the routed client fails closed `stalenessMs` after its last confirmed read, measured on the
 *     monotonic clock, and routes again once Redis answers.
 * Times are read with `performance.now()` (monotonic).
 */
import * as assert from 'node:assert/strict';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { loadPlan, type Plan } from '../../src/config';
import { getStatus, resolveTarget, type UnitRow } from '../../src/cockpit';
import { RoutedClient, RoutingUnavailableError } from '../../src/routing';
import type { RoutingClock } from '../../src/routing/clock';
import type { Side } from '../../src/routing/types';
import { createCutoverWorker, type CutoverWorker } from '../../src/worker';
import { entityAppJob } from '../workflows/entity-app';
import { testStack, uniqueId } from '../harness';
import { FaultProxy } from '../harness/fault-proxy';
import { until } from '../harness/wait';
import { CONTROL_NAMESPACE, closeShared, driveTo, Rig, settleRuns, type RunTally } from './entity.fixture';

/** The routed clients' staleness bound in these tests (the rig's, and the plan's `redis.clientStaleness`). */
const STALENESS_MS = 1_500;
const HOUR = 3_600_000;
const mono = () => performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The forward phases, in order (a unit without probes passes `shadow` at once). */
const FORWARD = ['pending', 'preflight', 'provisioned', 'shadow', 'canary', 'cutover', 'draining', 'reconciling', 'completed'];
/** The phases a unit's history went through, each once in the order first entered. */
const phasesOf = (history: { phase: string }[]) => history.map((h) => h.phase).filter((p, i, all) => all.indexOf(p) === i);

/** `host:port` of a `redis://host:port` URL. */
const hostPort = (url: string) => new URL(url).host;

/** A plan for one tenant unit of the rig, its clusters at the given addresses (proxies or not). */
function planFor(r: Rig, o: { source: string; target: string; control: Side; redisUrl?: string }): Plan {
  const s = testStack();
  const tenant = (r.input.unit as { tenant: string }).tenant;
  return loadPlan({
    name: uniqueId('net-faults'),
    // Dev servers (0.5 s visibility settle time), reached at the given addresses.
    clusters: {
      [s.source.name]: { address: o.source, local: { server: 'dev' } },
      [s.target.name]: { address: o.target, local: { server: 'dev' } },
    },
    source: s.source.name,
    target: s.target.name,
    control: { cluster: o.control === 'source' ? s.source.name : s.target.name, namespace: CONTROL_NAMESPACE, taskQueue: r.controlQueue },
    redis: { url: o.redisUrl ?? s.redisUrl, keyPrefix: r.keyPrefix, clientStaleness: `${STALENESS_MS}ms` },
    namespaces: {
      detections: {
        strategy: 'dual-workers',
        taskQueues: [r.appQueue],
        tenants: { selector: { workflowIdPrefix: '{tenant}-' }, ids: [tenant] },
      },
    },
    rings: [{ name: 'ring0', units: [r.unit] }],
  });
}

/** Accepted starts on exactly one cluster, the one the client placed them on, a side their route gave them. */
function misrouted(accepted: string[], decisions: Map<string, { placed: Side; routeSaid: (Side | 'hold' | undefined)[] }>, w: RunTally) {
  return accepted.filter((id) => {
    const d = decisions.get(id);
    const found = w.foundOn[id] ?? [];
    return !d || found.length !== 1 || found[0] !== d.placed || !d.routeSaid.includes(d.placed);
  });
}

/** Clients of the rig's unit's namespace on each cluster. */
function sidesOf(r: Rig): Record<Side, Client> {
  const c = r.scheduleSides();
  return { source: c.source.client, target: c.target.client };
}

/** Refused starts found on either cluster (a refusal must have started nothing). */
async function ranAnyway(clients: Record<Side, Client>, ids: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const id of ids)
    for (const side of ['source', 'target'] as Side[]) {
      try {
        await clients[side].workflow.getHandle(id).describe();
        out.push(`${id}@${side}`);
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
    }
  return out;
}

describe('network faults, injected for real', function () {
  this.timeout(90_000);
  const proxies: FaultProxy[] = [];
  let rig: Rig | undefined;
  let worker: { w: CutoverWorker; run: Promise<void> } | undefined;
  const closers: (() => Promise<unknown>)[] = [];

  const proxy = async (upstream: string) => {
    const p = await FaultProxy.start(upstream);
    proxies.push(p);
    return p;
  };
  /** The cutover worker as `cutover worker --plan` builds it (the test's runtime; no metrics endpoint). */
  const startWorker = async (plan: Plan) => {
    const w = await createCutoverWorker({ plan });
    worker = { w, run: w.run() };
  };

  afterEach(async () => {
    // Heal first, so teardown's calls go through.
    for (const p of proxies) await p.heal();
    while (closers.length) await closers.pop()!().catch(() => undefined);
    await rig?.tearDown();
    rig = undefined;
    if (worker) {
      worker.w.shutdown();
      await worker.run.catch(() => undefined);
      worker = undefined;
    }
    for (const p of proxies.splice(0)) await p.close();
  });
  after(closeShared);

  it('worker cut off from the target in draining, past the step timeout: holds, says why, ends once healed; no step twice', async () => {
    const s = testStack();
    // One attempt of a quick step may take this long (a reconcile takes about a second here); the partition outlasts it.
    const STEP_TIMEOUT_MS = 4_000;
    const [src, tgt] = await Promise.all([proxy(s.source.address), proxy(s.target.address)]);
    // Control on the source (the layout the docs advise): the worker keeps its workflows and loses only the target.
    const r = (rig = new Rig({
      kind: 'tenant',
      externalCutoverWorker: true,
      control: 'source',
      deferProbeWorker: true,
      jobMs: 400,
      input: {
        percentSteps: [50],
        bakeMs: 300,
        probe: { workflows: 0, minSuccess: 1 },
        quickSteps: { startToCloseMs: STEP_TIMEOUT_MS, maxRetryIntervalMs: 1_000 },
      },
    }));
    const plan = planFor(r, { source: src.address, target: tgt.address, control: 'source' });
    await Promise.all([r.setUp(), startWorker(plan)]);
    const control = r.controlClient();
    const target = resolveTarget(plan, r.unit);
    const row = async (): Promise<UnitRow> =>
      (await getStatus(control, plan, { target, namespace: CONTROL_NAMESPACE, uiBase: 'http://ui.invalid' })).units[0]!;

    r.startWorkload(80);
    await r.start();
    await r.waitPhase('draining', 40_000);
    const partitionedAt = mono();
    tgt.blackhole();

    // Silent: the source drains, then the reconcile (it needs the target) hangs until its timeout, and is retried.
    const silent = await until(
      'the reconcile to be retried after timing out on the silent target',
      async () => {
        const x = await row();
        return x.retrying?.activity === 'reconcile' && /timeout/i.test(x.retrying.lastFailure ?? '') && x;
      },
      { timeoutMs: 30_000, everyMs: 250 },
    );
    assert.equal(silent.status?.phase, 'reconciling');
    assert.equal(silent.status?.failure, undefined, 'held, not failed');
    assert.ok(silent.retrying!.attempt >= 2);

    // Then refused: the connections held open are reset (the calls in flight fail), new ones are refused.
    await tgt.cut();
    await sleep(2_000);
    const refused = await row();
    assert.equal(refused.status?.phase, 'reconciling', 'still held');
    assert.equal(refused.status?.failure, undefined);
    assert.equal(refused.retrying?.activity, 'reconcile', 'still retrying the reconcile');
    const partitionMs = mono() - partitionedAt;
    assert.ok(partitionMs > STEP_TIMEOUT_MS, `cut off ${Math.round(partitionMs)} ms, longer than the step timeout`);
    await tgt.heal();

    const done = await r.waitPhase('completed', 40_000);
    assert.equal(done.failure, undefined);
    assert.equal(done.route.side, 'target');
    assert.deepEqual(done.reconcile?.duplicates, []);
    assert.deepEqual(done.reconcile?.stranded, []);
    assert.deepEqual(done.reconcile?.misrouted, []);
    // No step twice: each phase entered once, in order (notes add entries in their phase); each entry once.
    assert.deepEqual(phasesOf(done.history), FORWARD);
    const entries = done.history.map((h) => `${h.phase}: ${h.reason ?? ''}`);
    assert.deepEqual(
      entries.filter((e, i) => entries.indexOf(e) !== i),
      [],
    );
    const history = (await r.historyOf()).events ?? [];
    const scheduled = (type: string) => history.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type);
    assert.equal(scheduled('reconcile').length, 1, 'the reconcile was scheduled once (its retries are attempts of it)');
    assert.ok(
      scheduled('reconcile').every((sch) =>
        history.some(
          (e) =>
            String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(sch.eventId) &&
            (e.activityTaskStartedEventAttributes?.attempt ?? 0) >= 2,
        ),
      ),
      'the reconcile completed on a retry (attempt 2 or later)',
    );
    // Every route write once: consecutive epochs in the route log, and one compare-and-set per epoch.
    const log = await r.routingStore().routeLog(r.unit);
    assert.deepEqual(
      log.map((e) => [e.before, e.after]),
      log.map((_e, i) => [i, i + 1]),
      'each route change written once',
    );
    const expected = scheduled('changeRoute').map(
      (e) =>
        (
          JSON.parse(Buffer.from(e.activityTaskScheduledEventAttributes!.input!.payloads![0]!.data!).toString('utf8')) as {
            expectedEpoch: number;
          }
        ).expectedEpoch,
    );
    assert.equal(new Set(expected).size, expected.length, `one route change per epoch: ${JSON.stringify(expected)}`);
    const audited = (done.audit?.records ?? []).flatMap((a) => (a.kind === 'route' ? [a.after.epoch] : []));
    assert.equal(new Set(audited).size, audited.length, `each route change audited once: ${JSON.stringify(audited)}`);

    const w = await r.settleWorkload();
    assert.deepEqual(w.lost, []);
    assert.deepEqual(w.duplicated, []);
    assert.deepEqual(w.open, []);
    assert.deepEqual(misrouted(r.accepted, r.decisions, w), []);
    assert.ok(src.accepted > 0 && tgt.accepted > 0, 'the worker reached both clusters through the proxies');
    console.log(
      `      cut off ${Math.round(partitionMs)} ms; reconcile attempt ${refused.retrying?.attempt} then; ${r.accepted.length} starts`,
    );
  });

  it('2 s more per round trip to the source from canary on: drain counts and reconcile gate measure right, nothing times out', async () => {
    const s = testStack();
    const LATENCY_EACH_WAY_MS = 1_000;
    const [src, tgt] = await Promise.all([proxy(s.source.address), proxy(s.target.address)]);
    // Production timeouts (no quickSteps): they must hold on a slow link.
    const r = (rig = new Rig({
      kind: 'tenant',
      externalCutoverWorker: true,
      deferProbeWorker: true,
      jobMs: 300,
      input: { percentSteps: [50], bakeMs: 500, probe: { workflows: 0, minSuccess: 1 } },
    }));
    const plan = planFor(r, { source: src.address, target: tgt.address, control: 'target' });
    await Promise.all([r.setUp(), startWorker(plan)]);
    // A straggler on the source (started before the unit moves), open until the test closes it: the drain
    // must count it, and read zero only after it closed.
    const straggler = `${(r.input.unit as { tenant: string }).tenant}-straggler`;
    await r.startJob(straggler, 10 * 60_000);
    const onSource = r.scheduleSides().source.client.workflow.getHandle(straggler);
    r.startWorkload(80);
    await r.start();
    await r.waitFor((st) => st.phase === 'canary' && st.route.percent === 50, 'the 50% canary step', 40_000);
    const slowFrom = Date.now();
    src.latency(LATENCY_EACH_WAY_MS);

    const counted = await r.waitFor((st) => st.phase === 'draining' && (st.drain?.lastOpen ?? 0) > 0, 'the drain to count the straggler');
    await onSource.cancel();
    const closedAt = (await until('the straggler closed', async () => (await onSource.describe()).closeTime)).getTime();
    const done = await r.waitPhase('completed', 60_000);
    await src.heal();
    assert.equal(done.failure, undefined);
    assert.equal(done.route.side, 'target');
    assert.deepEqual(phasesOf(done.history), FORWARD);
    const events = (await r.historyOf()).events ?? [];
    // Nothing timed out or failed: every activity completed on its first attempt.
    assert.deepEqual(
      events.filter((e) => e.activityTaskTimedOutEventAttributes || e.activityTaskFailedEventAttributes).map((e) => e.eventType),
      [],
    );
    assert.ok(!events.some((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1), 'no activity retried');
    // The latency was on the path: each source read after it began took at least one slowed round trip.
    const at = (e: (typeof events)[number]) => Number(e.eventTime!.seconds) * 1000 + Math.floor((e.eventTime!.nanos ?? 0) / 1e6);
    const durations = (type: string) =>
      events
        .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type && at(e) >= slowFrom)
        .map((sch) => {
          const id = String(sch.eventId);
          const started = events.find((e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === id)!;
          const completed = events.find((e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === id)!;
          return at(completed) - at(started);
        });
    const counts = durations('countOpen');
    const reconciles = durations('reconcile');
    assert.ok(counts.length > 0 && reconciles.length === 1, `counts ${counts.length}, reconciles ${reconciles.length}`);
    for (const d of [...counts, ...reconciles]) assert.ok(d >= 2 * LATENCY_EACH_WAY_MS, `a source read took ${d} ms`);
    // The measurements: the drain ended on a real zero, and the reconcile gate saw nothing out of place.
    const samples = (done.history.find((h) => h.phase === 'reconciling')?.evidence as { samples?: { open: number }[] })?.samples ?? [];
    const zero = samples.at(-1) as { open: number; at: number } | undefined;
    assert.equal(zero?.open, 0, `the last drain sample: ${JSON.stringify(samples)}`);
    assert.ok(zero.at >= closedAt, `the drain read zero at ${zero.at}, after the straggler closed at ${closedAt}`);
    assert.ok((counted.drain?.lastOpen ?? 0) >= 1);
    const gate = done.gates.filter((g) => g.name === 'reconcile');
    assert.deepEqual(
      gate.map((g) => [g.result, g.value]),
      [['successful', 0]],
    );
    assert.deepEqual(done.reconcile?.stranded, []);
    const w = await r.settleWorkload();
    assert.deepEqual(w.lost, []);
    assert.deepEqual(w.duplicated, []);
    assert.deepEqual(w.open, []);
    assert.deepEqual(misrouted(r.accepted, r.decisions, w), []);
    assert.ok(w.onSource > 0 && w.onTarget > 0, `the canary split the work (${w.onSource} source / ${w.onTarget} target)`);
    assert.deepEqual((await settleRuns(sidesOf(r), [straggler])).foundOn[straggler], ['source'], 'the straggler ran on the source only');
    console.log(`      counts took ${counts.join(', ')} ms; the reconcile ${reconciles[0]} ms`);
  });

  it('Redis blackholed under load, wall clock stepped back: fails closed stalenessMs after its last read (monotonic), heals', async () => {
    const s = testStack();
    const redis = await proxy(hostPort(s.redisUrl));
    // The unit bakes its first canary step (manual mode, long bake): the routed client splits its starts.
    const r = (rig = await new Rig({
      kind: 'tenant',
      deferProbeWorker: true,
      input: { advanceMode: 'manual', bakeMs: 300_000, probe: { workflows: 0, minSuccess: 1 } },
    }).setUp());
    await r.start();
    await driveTo(r, 'canary');

    // The application: its own routed client from a plan whose Redis is the proxy, on a clock the test steps.
    let wallStep = 0;
    const clock: RoutingClock = { monotonicMs: () => performance.now(), wallMs: () => Date.now() + wallStep };
    const plan = planFor(r, {
      source: s.source.address,
      target: s.target.address,
      control: 'target',
      redisUrl: `redis://${redis.address}`,
    });
    const app = await RoutedClient.connect({ plan, namespace: 'detections', refreshMs: 250, clock });
    closers.push(() => app.close());
    assert.equal(app.routes.staleForMs(r.unit) <= STALENESS_MS, true);

    type Attempt = { id: string; t0: number; t1: number; ok: boolean; err?: unknown };
    const attempts: Attempt[] = [];
    const accepted: string[] = [];
    const decisions = new Map<string, { placed: Side; routeSaid: (Side | 'hold' | undefined)[] }>();
    const tenant = (r.input.unit as { tenant: string }).tenant;
    const routeSaid = (id: string) => {
      try {
        return app.routeOf({ workflowId: id }).side;
      } catch {
        return undefined;
      }
    };
    let stop = false;
    let seq = 0;
    // Under load: three starters at once, each starting again as soon as its start returns.
    const loops = Array.from({ length: 3 }, async () => {
      while (!stop) {
        const id = `${tenant}-nf-${++seq}`;
        const before = routeSaid(id);
        const t0 = mono();
        try {
          const h = await app.workflow.start(entityAppJob, { taskQueue: r.appQueue, workflowId: id, args: [200] });
          attempts.push({ id, t0, t1: mono(), ok: true });
          accepted.push(id);
          decisions.set(id, { placed: await h.cluster(), routeSaid: [before, routeSaid(id)] });
        } catch (err) {
          attempts.push({ id, t0, t1: mono(), ok: false, err });
        }
        await sleep(30);
      }
    });
    const acceptedSince = (t: number) => attempts.filter((a) => a.ok && a.t0 >= t).length;
    const refusedSince = (t: number) => attempts.filter((a) => !a.ok && a.t0 >= t);
    try {
      await until('starts through the proxy', () => accepted.length >= 10, { timeoutMs: 15_000 });

      // The host's wall clock steps back an hour: the routes stay fresh, the starts go on.
      const steppedAt = mono();
      wallStep = -HOUR;
      await until('starts after the clock step', () => acceptedSince(steppedAt) >= 10, { timeoutMs: 15_000 });
      assert.deepEqual(refusedSince(steppedAt), [], 'nothing refused after the clock step');

      // A confirmed read, then Redis goes silent (accepts, never answers).
      const confirmedAt = mono();
      await app.routes.refresh(true);
      const blackholedAt = mono();
      redis.blackhole();
      const first = await until('a start to fail closed', () => refusedSince(blackholedAt)[0], {
        timeoutMs: STALENESS_MS + 5_000,
        everyMs: 20,
      });
      assert.ok(first.err instanceof RoutingUnavailableError, `fails closed with RoutingUnavailableError: ${String(first.err)}`);
      assert.equal(first.err.reason, 'stale');
      assert.equal(first.err.retryable, true);
      assert.ok(first.err.staleForMs > STALENESS_MS, `the route was ${first.err.staleForMs} ms old`);
      // Not before the bound (from the last confirmed read), and not long after it (from the blackhole).
      const sinceConfirmed = first.t1 - confirmedAt;
      const sinceBlackhole = first.t0 - blackholedAt;
      assert.ok(sinceConfirmed >= STALENESS_MS, `failed closed ${Math.round(sinceConfirmed)} ms after the last confirmed read`);
      assert.ok(sinceBlackhole <= STALENESS_MS + 1_500, `failed closed ${Math.round(sinceBlackhole)} ms after the blackhole`);
      assert.ok(
        attempts.some((a) => a.ok && a.t0 >= blackholedAt),
        'starts went on by the cached route within the bound',
      );
      // Closed stays closed while Redis is silent.
      await until('a few more refusals', () => refusedSince(first.t0).length >= 5, { timeoutMs: 5_000 });
      assert.ok(!attempts.some((a) => a.ok && a.t0 > first.t1), 'no start accepted after failing closed, while Redis is silent');

      const healedAt = mono();
      await redis.heal();
      await until('a start accepted after the heal', () => acceptedSince(healedAt) > 0, { timeoutMs: 10_000, everyMs: 20 });
      const recovered = attempts.find((a) => a.ok && a.t0 >= healedAt)!;
      const recoveryMs = recovered.t1 - healedAt;
      assert.ok(recoveryMs < 5_000, `routing again ${Math.round(recoveryMs)} ms after the heal`);
      await until('more starts after the heal', () => acceptedSince(healedAt) >= 10, { timeoutMs: 15_000 });

      stop = true;
      await Promise.all(loops);
      const sides = sidesOf(r);
      const w = await settleRuns(sides, accepted);
      assert.deepEqual(w.lost, []);
      assert.deepEqual(w.duplicated, []);
      assert.deepEqual(w.open, []);
      assert.deepEqual(misrouted(accepted, decisions, w), []);
      assert.ok(w.onSource > 0 && w.onTarget > 0, `the canary split the work (${w.onSource} source / ${w.onTarget} target)`);
      const refusals = attempts.filter((a) => !a.ok);
      assert.ok(
        refusals.every((a) => a.err instanceof RoutingUnavailableError),
        'every refusal is the typed fail-closed error',
      );
      assert.deepEqual(
        await ranAnyway(
          sides,
          refusals.map((a) => a.id),
        ),
        [],
        'a refused start ran nowhere',
      );
      console.log(
        `      failed closed ${Math.round(sinceConfirmed)} ms after the last read ` +
          `(${Math.round(sinceBlackhole)} ms after the blackhole); ` +
          `routing again ${Math.round(recoveryMs)} ms after the heal; ${accepted.length} accepted, ${refusals.length} refused`,
      );
    } finally {
      stop = true;
      await Promise.all(loops);
    }
  });
});
