/**
 * Tenants whose IDs contain the selector's separator (`t-red` and `t-blue` under `"{tenant}-"`): the
 * routed client sends `t-red-live-N` by t-red's route, the unit moves under live load and completes
 * clean, and a start on the wrong side after a route change is reported as misrouted — by the
 * entity's reconcile (which then does not complete) and by `cutover reconcile` (exit 1).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { RoutingStore } from '../../src/routing/store';
import type { MisroutedRun, ReconcileResult } from '../../src/domain/migration';
import { entityAppJob } from '../workflows/entity-app';
import { testStack } from '../harness';
import { until } from '../harness/wait';
import { closeShared, driveTo, Rig, sharedRig, type RigOptions } from './entity.fixture';

const BIN = path.join(__dirname, '..', '..', 'bin', 'cutover.js');
const TENANTS = ['t-red', 't-blue'];
/** The rig's routed clients' and entities' staleness bound (entity.fixture.ts). */
const STALENESS_MS = 1_500;

/** Runs the CLI as a child process in an empty directory; never rejects (the exit code is the result). */
function cli(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.CUTOVER_PLAN;
    execFile(process.execPath, [BIN, ...args], { cwd, env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** The status of `workflowId`'s latest run on one side, or undefined when that side has none. */
async function statusOn(client: Client, workflowId: string): Promise<string | undefined> {
  try {
    return (await client.workflow.getHandle(workflowId).describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

describe('tenants whose IDs contain the separator', function () {
  this.timeout(180_000);
  let rig: Rig | undefined;
  let dir: string | undefined;
  const make = async (opts: Omit<RigOptions, 'kind'>) => (rig = await new Rig({ kind: 'tenant', tenants: TENANTS, ...opts }).setUp());
  afterEach(async () => {
    await rig?.tearDown();
    rig = undefined;
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  after(closeShared);

  /** A plan naming the rig's clusters, Redis prefix and task queue, with both tenants under `"{tenant}-"`. */
  function planFor(r: Rig): string {
    const s = testStack();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-separator-'));
    const file = path.join(dir, 'plan.json');
    const plan = {
      name: 'separator',
      clusters: { [s.source.name]: { address: s.source.address }, [s.target.name]: { address: s.target.address } },
      source: s.source.name,
      target: s.target.name,
      control: { cluster: s.target.name, namespace: 'cutover', taskQueue: r.controlQueue },
      redis: { url: s.redisUrl, keyPrefix: r.keyPrefix, clientStaleness: `${STALENESS_MS}ms` },
      namespaces: {
        detections: {
          strategy: 'dual-workers',
          taskQueues: [r.appQueue],
          tenants: { selector: { workflowIdPrefix: '{tenant}-' }, ids: TENANTS },
        },
      },
      gates: {},
      rings: [{ name: 'ring0', units: TENANTS.map((t) => `tenant/detections/${t}`) }],
    };
    fs.writeFileSync(file, JSON.stringify(plan, null, 2));
    return file;
  }

  it('moves t-red under live load: every start after the route reaches the target lands there; reconcile clean', async () => {
    const r = await make({ tenant: 't-red', jobPrefix: 'live-' });
    assert.equal(r.routeOf('t-red-live-1').unit, 'tenant/detections/t-red');
    assert.equal(r.routeOf('t-blue-live-1').unit, 'tenant/detections/t-blue');
    r.startWorkload();
    await r.start();
    await r.waitFor((s) => s.route.side === 'target', 'the route to reach the target', 90_000);
    // The routed client hears of the change by pub/sub; from then on every t-red start must go to the target.
    await until('the routed client to send t-red to the target', async () =>
      r.routeOf('t-red-live-1').side === 'target' ? true : undefined,
    );
    const switchedAt = r.startsSoFar();
    await r.startJob('t-blue-live-1');
    const done = await r.waitPhase('completed', 90_000);
    const w = await r.settleWorkload();
    assert.deepEqual(w.lost, []);
    assert.deepEqual(w.duplicated, []);
    assert.deepEqual(w.open, []);
    assert.ok(w.onSource > 0, `some starts ran on the source before the switch (${w.onSource})`);

    const sides = r.scheduleSides();
    const after = r.accepted.filter((id) => Number(id.slice('t-red-live-'.length)) > switchedAt);
    assert.ok(after.length >= 5, `starts after the switch: ${after.length}`);
    for (const id of after) {
      assert.equal(await statusOn(sides.source.client, id), undefined, `${id} must not run on the source`);
      assert.ok(await statusOn(sides.target.client, id), `${id} must run on the target`);
    }
    // The sibling keeps its own route (no record: the source).
    assert.ok(await statusOn(sides.source.client, 't-blue-live-1'), 't-blue-live-1 on the source');
    assert.equal(await statusOn(sides.target.client, 't-blue-live-1'), undefined);

    assert.equal(done.route.side, 'target');
    assert.equal(done.reconcile?.clean, true);
    assert.deepEqual(done.reconcile?.misrouted, []);
    assert.deepEqual(done.reconcile?.stranded, []);

    // `cutover reconcile` agrees: clean, exit 0.
    const plan = planFor(r);
    const clean = await cli(['reconcile', 'tenant/detections/t-red', '--plan', plan, '--json'], dir!);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.deepEqual((JSON.parse(clean.stdout) as ReconcileResult).misrouted, []);

    // A start that ignores the route (a plain SDK client on the source), after the route's last change
    // and the clients' staleness bound: misrouted, not clean, exit 1.
    const record = await new RoutingStore({ redis: (await sharedRig()).redis, keyPrefix: r.keyPrefix }).get(done.unit);
    const since = Date.parse(record!.changedAt) + STALENESS_MS;
    await new Promise((res) => setTimeout(res, Math.max(0, since - Date.now() + 200)));
    const stray = 't-red-stray-1';
    await sides.source.client.workflow.start(entityAppJob, { taskQueue: r.appQueue, workflowId: stray, args: [50] });
    try {
      const json = await cli(['reconcile', 'tenant/detections/t-red', '--plan', plan, '--json'], dir!);
      assert.equal(json.code, 1, json.stdout + json.stderr);
      const report = JSON.parse(json.stdout) as ReconcileResult & { unit: string };
      assert.equal(report.clean, false);
      assert.deepEqual(
        report.misrouted?.map((m: MisroutedRun) => [m.workflowId, m.side]),
        [[stray, 'source']],
      );
      const text = await cli(['reconcile', 'tenant/detections/t-red', '--plan', plan], dir!);
      assert.equal(text.code, 1);
      assert.match(text.stdout, /NOT CLEAN .* 1 misrouted/);
      assert.match(text.stdout, /misrouted {2}t-red-stray-1 \(run [^)]+\): started on the source/);
    } finally {
      await sides.source.client.workflow
        .getHandle(stray)
        .terminate('test teardown')
        .catch(() => undefined);
    }
  });

  it("a start on the source after the route went to the target: the unit's reconcile finds it misrouted; no completion", async () => {
    const r = await make({ tenant: 't-blue', input: { advanceMode: 'manual' } });
    await r.start();
    await driveTo(r, 'draining', 90_000);
    // The drain ends only the staleness bound after the route change: a start from now on ignores the route.
    const drained = await r.waitFor(
      (s) => s.phase === 'draining' && (s.waitingFor ?? '').includes('send advance'),
      'the drain to finish',
      60_000,
    );
    assert.equal(drained.route.side, 'target');
    const source = r.scheduleSides().source.client;
    const stray = 't-blue-stray-1';
    await source.workflow.start(entityAppJob, { taskQueue: r.appQueue, workflowId: stray, args: [50] });
    await until('the stray run to finish on the source', async () => ((await statusOn(source, stray)) === 'COMPLETED' ? true : undefined));
    // A start a routed client placed on the source under an earlier route, landing as late (its unknown
    // outcome retried on the same cluster while the source was down): placed, so not misrouted.
    const placed = 't-blue-placed-1';
    const store = new RoutingStore({ redis: (await sharedRig()).redis, keyPrefix: r.keyPrefix });
    await store.setPlacement(r.input.unit.namespace, placed, { side: 'source', epoch: 2, at: Date.now() }, 600_000);
    await source.workflow.start(entityAppJob, { taskQueue: r.appQueue, workflowId: placed, args: [50] });
    await until('the placed run to finish', async () => ((await statusOn(source, placed)) === 'COMPLETED' ? true : undefined));
    await r.command('advance');
    const seen = await r.waitFor((s) => s.phase === 'reconciling' && s.waitingOn === 'operator', 'the reconcile to find it', 60_000);
    assert.equal(seen.reconcile?.clean, false);
    assert.deepEqual(
      seen.reconcile?.misrouted?.map((m) => [m.workflowId, m.side]),
      [[stray, 'source']],
    );
    assert.deepEqual(seen.reconcile?.duplicates, []);
    assert.deepEqual(seen.reconcile?.stranded, []);
    assert.match(seen.waitingFor ?? '', /misrouted/);
    assert.match(seen.gates.filter((g) => g.name === 'reconcile').at(-1)?.message ?? '', /1 misrouted/);

    // Rolling back puts the route on the source: the stray run is then on the route's side.
    await r.command('rollback', { reason: 'a client ignores the route' });
    const back = await r.waitPhase('rolled-back', 90_000);
    assert.equal(back.reconcile?.clean, true);
    assert.deepEqual(back.reconcile?.misrouted, []);
  });
});
