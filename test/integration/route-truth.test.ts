/**
 * The entity workflow is the source of truth for its unit's route (real dev-server clusters and the
 * harness's own Redis; each test its own task queues, workflow ID and key prefix):
 *   - a record deleted mid-canary comes back above every epoch within the check bound, and the unit
 *     completes without ever failing;
 *   - a record regressed to an older epoch, then an advance: restored instead of a `RouteConflict`;
 *   - `cutover route <unit> source --force` run as a child process (needs only Redis) sends new starts
 *     to the source at once; the unit adopts the forced record, rolls back and keeps it, naming who and
 *     why (signed) in its history and audit log; bad input changes nothing (exit 2).
 * Every acknowledged start is then found on exactly one cluster.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AuditStream } from '../../src/audit/stream';
import { auditReport } from '../../src/cockpit/audit';
import type { RouteForceResult } from '../../src/cockpit/route';
import type { UnitStatus } from '../../src/domain/migration';
import { newOperatorKey } from '../../src/operators/keys';
import { operatorKeysOf } from '../../src/operators/policy';
import { RoutingStore } from '../../src/routing/store';
import { testStack } from '../harness';
import { until } from '../harness/wait';
import { closeShared, Rig, sharedRig } from './entity.fixture';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'cutover.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `node bin/cutover.js <args>` in `cwd`; never rejects (the exit code is the result). */
function cli(cwd: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.CUTOVER_PLAN;
    delete env.CUTOVER_KEY;
    execFile(process.execPath, [BIN, ...args], { cwd, env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({
        code: err ? (typeof err.code === 'number' ? err.code : -1) : 0,
        stdout,
        stderr: `${stderr}${err?.killed ? ' (killed)' : ''}`,
      });
    });
  });
}

const phasesOf = (s: UnitStatus) => s.history.map((h) => h.phase);
const routeAudits = (s: UnitStatus) => (s.audit?.records ?? []).filter((x) => x.kind === 'route');

describe('entity workflows keep their routing record true (real clusters and Redis)', function () {
  this.timeout(90_000);
  let rig: Rig | undefined;
  let store: RoutingStore;
  afterEach(async () => {
    await rig?.tearDown();
    rig = undefined;
  });
  after(closeShared);

  async function setUp(r: Rig): Promise<Rig> {
    rig = r;
    await r.setUp();
    store = new RoutingStore({ redis: (await sharedRig()).redis, keyPrefix: r.keyPrefix });
    return r;
  }

  it('a record deleted mid-canary comes back above its epoch within the check bound; the unit completes, never failed', async () => {
    const r = await setUp(new Rig({ kind: 'tenant', input: { percentSteps: [20], bakeMs: 1_200, routeCheckMs: 400 } }));
    r.startWorkload();
    await r.start();
    const canary = await r.waitFor((s) => s.phase === 'canary' && s.route.percent !== undefined, 'the first canary step');
    const lostAt = Date.now();
    // Redis restarted empty, as far as this unit is concerned.
    assert.equal(await store.redis.del(store.routeKey(r.unit)), 1);
    const back = await until(
      'the record to come back',
      async () => {
        const rec = await store.get(r.unit);
        return rec && rec.epoch > canary.route.epoch && rec;
      },
      { timeoutMs: 5_000, everyMs: 25 },
    );
    const tookMs = Date.now() - lostAt;
    // Restated from the workflow's epoch, by the workflow, within one check period plus a read and a write
    // (bounded loosely: workflow tasks take seconds on a loaded CI machine).
    assert.equal(back.restoredFrom, canary.route.epoch);
    assert.equal(back.changedBy, `cutover/${r.unit}`);
    assert.ok(tookMs < 8_000, `restored after ${tookMs} ms`);
    // Applications route by it again (at once, or after failing closed past their staleness bound).
    const routesAgain = await until(
      'routed clients to route by the restored record',
      () => {
        try {
          return r.routeOf(`${r.unit.split('/')[2]}-after-loss`).epoch >= back.epoch;
        } catch {
          return false;
        }
      },
      { timeoutMs: 5_000, everyMs: 25 },
    );
    assert.ok(routesAgain);

    const done = await r.waitPhase('completed', 40_000);
    assert.ok(!phasesOf(done).includes('failed'), JSON.stringify(done.history));
    const restored = routeAudits(done).find((x) => x.kind === 'route' && x.reason === 'restored: missing');
    assert.ok(restored && restored.kind === 'route' && restored.before.epoch === canary.route.epoch, JSON.stringify(routeAudits(done)));
    assert.ok(done.history.some((h) => h.reason?.startsWith('routing record missing: restored at epoch')));
    assert.ok((done.routeCheck?.restores ?? 0) >= 1);
    const final = await store.get(r.unit);
    assert.deepEqual([final?.route, final?.sourceWorkersMayStop, final?.epoch], [{ kind: 'side', side: 'target' }, true, done.route.epoch]);
    const w = await r.settleWorkload();
    assert.deepEqual(w.lost, []);
    assert.deepEqual(w.duplicated, []);
  });

  it('a record regressed to an older epoch, then an advance: restored above it, the change made, no RouteConflict', async () => {
    // Checks far apart: the advance's route change is what meets the regressed record.
    const r = await setUp(new Rig({ kind: 'tenant', input: { bakeMs: 600_000, routeCheckMs: 60_000 } }));
    r.startWorkload();
    await r.start();
    const canary = await r.waitFor((s) => s.phase === 'canary' && s.route.percent !== undefined, 'the first canary step');
    const cur = (await store.get(r.unit))!;
    // What a failover that missed the last writes leaves: the record before the canary step.
    const older = { ...cur, epoch: cur.epoch - 1, route: { kind: 'side', side: 'source' }, changedAt: new Date().toISOString() };
    await store.redis.set(store.routeKey(r.unit), JSON.stringify(older));
    await r.command('advance', { reason: 'skip the bake' });
    const moved = await r.waitFor((s) => s.route.percent === 50 || s.phase === 'failed', 'the next canary step');
    assert.notEqual(moved.phase, 'failed', JSON.stringify(moved.failure));
    const audits = routeAudits(moved);
    const restored = audits.find((x) => x.kind === 'route' && x.reason === 'restored: regressed');
    assert.ok(restored && restored.kind === 'route', JSON.stringify(audits));
    assert.equal(restored.after.epoch, canary.route.epoch + 1, 'restored above every epoch seen');
    assert.equal(moved.route.epoch, canary.route.epoch + 2, 'then the change, from the restored epoch');
    const rec = await store.get(r.unit);
    assert.deepEqual([rec?.epoch, rec?.route], [moved.route.epoch, { kind: 'percent', basisPoints: 5_000 }]);
    assert.ok(!phasesOf(moved).includes('failed'));
    // The unit goes on from here like any other (the first test follows one to completed).
    const w = await r.settleWorkload();
    assert.deepEqual(w.lost, []);
    assert.deepEqual(w.duplicated, []);
  });

  it('cutover route <unit> source --force: starts go to the source at once; the unit adopts it and rolls back, keeping it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'route-force-'));
    try {
      const key = newOperatorKey({ name: 'alice', dir });
      const operators = { alice: { publicKey: key.publicKey, roles: ['operator' as const] } };
      const r = await setUp(
        new Rig({
          kind: 'tenant',
          input: { bakeMs: 600_000, routeCheckMs: 400, operators: operatorKeysOf(operators) },
        }),
      );
      const s = testStack();
      const tenant = r.unit.split('/')[2]!;
      const plan = {
        name: `${r.tag}-plan`,
        clusters: { [s.source.name]: { address: s.source.address }, [s.target.name]: { address: s.target.address } },
        source: s.source.name,
        target: s.target.name,
        control: { cluster: s.target.name, namespace: 'cutover', taskQueue: r.controlQueue },
        redis: { url: s.redisUrl, keyPrefix: r.keyPrefix },
        namespaces: {
          [r.input.sourceNamespace]: {
            strategy: 'dual-workers',
            taskQueues: r.input.taskQueues,
            tenants: { selector: { workflowIdPrefix: '{tenant}-' }, ids: [tenant] },
          },
        },
        gates: {},
        rings: [{ name: 'ring0', units: [r.unit], gates: [] }],
        operators,
      };
      const planFile = path.join(dir, 'plan.json');
      fs.writeFileSync(planFile, JSON.stringify(plan, null, 2));

      const force = ['route', r.unit, 'source', '--plan', planFile];
      const why = 'control cluster down (test)';
      r.startWorkload();
      await r.start();
      // Bad input, while the unit moves on: exit 2, naming the field, and no write (the store logs every one).
      // Every other check of the input: test/unit/cockpit-route.test.ts.
      const badRuns = Promise.all([
        cli(dir, [...force, '--force', '--key', key.keyFile]),
        cli(dir, [...force, '--force', '--reason', why]),
      ]);
      const canary = await r.waitFor((x) => x.phase === 'canary' && x.route.percent !== undefined, 'the first canary step');
      const bad = await badRuns;
      for (const [i, flag] of ['--reason', '--key'].entries()) {
        assert.equal(bad[i]!.code, 2, bad[i]!.stderr);
        assert.ok(bad[i]!.stderr.includes(`error: ${flag}:`) && bad[i]!.stderr.includes('nothing was sent or changed'), bad[i]!.stderr);
      }
      assert.deepEqual(
        (await store.routeLog(r.unit)).filter((e) => e.record?.changedBy !== `cutover/${r.unit}`),
        [],
        'only the workflow wrote the record',
      );

      const ran = await cli(dir, [...force, '--force', '--reason', why, '--key', key.keyFile, '--json']);
      const forcedAt = Date.now();
      assert.equal(ran.code, 0, ran.stderr);
      const out = JSON.parse(ran.stdout) as RouteForceResult;
      assert.equal(out.forced, true);
      assert.deepEqual(
        [out.after.route, out.after.forced?.by, out.after.forced?.signer?.name],
        [{ kind: 'side', side: 'source' }, 'alice', 'alice'],
      );
      assert.ok(out.after.epoch > canary.route.epoch);
      // Routed clients follow at once (the store announces it): every new start of the unit to the source.
      await until(
        'routed clients to send new starts to the source',
        () => [1, 2, 3, 4, 5, 6, 7, 8].every((i) => r.routeOf(`${tenant}-after-force-${i}`).side === 'source'),
        { timeoutMs: 2_000, everyMs: 20 },
      );
      const startsBefore = r.startsSoFar();

      const done = await r.waitPhase('rolled-back', 40_000);
      const rec = await store.get(r.unit);
      assert.deepEqual(
        [rec?.route, rec?.forced?.by, rec?.forced?.reason],
        [{ kind: 'side', side: 'source' }, 'alice', why],
        'forced record kept',
      );
      assert.equal(rec?.epoch, out.after.epoch, 'the workflow never wrote over it');
      assert.deepEqual(done.route.forced, { by: 'alice', reason: why, at: out.after.forced!.at, signedBy: 'alice' });
      assert.ok(!phasesOf(done).includes('failed'), JSON.stringify(done.history));
      const adopted = done.history.find((h) => h.reason?.startsWith('route forced to the source by alice'));
      assert.ok(
        adopted && adopted.actor === 'alice' && adopted.reason!.includes(why) && adopted.reason!.endsWith('signed by alice'),
        JSON.stringify(adopted),
      );
      assert.ok(
        done.history.some((h) => h.phase === 'rolling-back' && h.actor === 'alice' && h.reason === `route forced to the source: ${why}`),
      );
      const forcedAudit = routeAudits(done).find((x) => x.kind === 'route' && x.forced);
      assert.ok(
        forcedAudit && forcedAudit.kind === 'route' && forcedAudit.forced?.by === 'alice' && forcedAudit.after.epoch === out.after.epoch,
      );

      // Who forced it, as `cutover audit` shows it (the function the verb prints): the write in the route log,
      // signed, and in the workflow's chain, whose records and signatures verify.
      const report = await auditReport({
        operators,
        unit: r.unit,
        workflowId: r.workflowId,
        stream: new AuditStream({ redis: store.redis, keyPrefix: r.keyPrefix }),
        workflow: done.audit!,
        routeLog: await store.routeLog(r.unit),
      });
      const write = report.routeWrites.find((x) => x.forced);
      assert.deepEqual([write?.forced, write?.after, write?.inChain], [{ by: 'alice', signedBy: 'alice' }, out.after.epoch, true]);
      assert.ok(report.ok, JSON.stringify([report.breaks, report.signatureProblems]));
      const w = await r.settleWorkload();

      assert.deepEqual(w.lost, []);
      assert.deepEqual(w.duplicated, []);
      // Starts made once clients had the forced record all ran on the source.
      const later = r.accepted.filter((id) => Number(id.slice(id.lastIndexOf('-') + 1)) > startsBefore);
      assert.ok(later.length > 0);
      assert.deepEqual(
        later.filter((id) => r.decisions.get(id)?.placed !== 'source'),
        [],
        `forced at ${forcedAt}`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
