// The e2e journeys across a secured boundary, driven from plans like a user's: the harness's
// self-hosted PostgreSQL cluster and its Cloud-shaped clusters (TLS; API keys as JWTs with
// per-namespace permissions, or mTLS; namespaces suffixed `.acct1`; no operator API), each with its
// real credentials. Every role holds its own key — the cutover worker (from an `apiKeyFile`), the
// application (RoutedClient + DualWorkers, from an environment variable) and the operator (the
// cockpit and the CLI) — so one can be revoked mid-move. The last test greps everything the suite
// logged, `cutover status --json` and the raw history of every cutover workflow for the keys.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client, type Connection } from '@temporalio/client';
import { ClusterConnectError, connectCluster, namespaceOn } from '../../src/clusters/connect';
import type { Plan } from '../../src/config';
import { listSelected, type SidedEndpoint } from '../../src/schedules';
import { CommandUnconfirmedError } from '../../src/cockpit/errors';
import { DualWorkers, RoutedClient } from '../../src/routing';
import { createCutoverWorker } from '../../src/worker';
import type { UnitStatus } from '../../src/domain/migration';
import { CLOUD_SUFFIX, testStack, uniqueId, type CloudShapedCluster } from '../harness';
import { until } from '../harness/wait';
import { deleteOnSides, pausedOnSides, settledFiresOn } from '../workflows/schedule-test-kit';
import {
  App,
  cli,
  CliWorker,
  controlClient,
  controlHistories,
  createSourceSchedule,
  appWorkflowBundle,
  LogTap,
  routingRecord,
  RunningWorker,
  Secrets,
  tempDir,
  untilKey,
  Unit,
  withCredentials,
  writePlan,
  type PlanDoc,
} from './secured.fixture';

/** Where each role's API key comes from: the worker's from a file, the others' from the environment. */
const APP_KEY_ENV = 'CUTOVER_E2E_APP_KEY';
const OPS_KEY_ENV = 'CUTOVER_E2E_OPS_KEY';
const WORKER_KEY_FILE = 'keys/worker.key';

const suffixed = (...names: string[]) => names.map((n) => `${n}${CLOUD_SUFFIX}`);
const wholeSecondAfter = (ms: number) => Math.ceil(ms / 1000) * 1000;

/** The suite's shared state: the secrets it handed out and everything it logged (greped by the last test). */
const secrets = new Secrets();
const tap = new LogTap();
let dir: string;
let cwd: string;
/** What the hygiene test reads: each pair's operator plan file and env, and its control namespace. */
const pairs: { label: string; planFile: string; env: NodeJS.ProcessEnv; plan: Plan; control: Client }[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

/** Asserts that `attempt` is refused with a ClusterConnectError of `failure` whose message names the cluster and the fix. */
async function assertRefused(
  what: string,
  attempt: () => Promise<{ close?(): unknown; shutdown?(): unknown } | unknown>,
  failure: string,
  cluster: string,
) {
  let made: unknown;
  let err: unknown;
  try {
    made = await attempt();
  } catch (e) {
    err = e;
  }
  if (made) {
    const m = made as { close?(): unknown; shutdown?(): unknown };
    await Promise.resolve(m.close?.() ?? m.shutdown?.()).catch(() => undefined);
  }
  tap.addError(what, err);
  assert.ok(
    err instanceof ClusterConnectError,
    `${what}: expected a ClusterConnectError, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`,
  );
  const e = err as ClusterConnectError & { failure?: string };
  assert.equal(e.failure, failure, `${what}: ${e.message}`);
  assert.ok(e.message.includes(cluster), `${what}: the message names the cluster ${cluster}: ${e.message}`);
  assert.match(e.message, /fix/i, `${what}: the message says the fix: ${e.message}`);
  assert.doesNotMatch(e.message, /^\d+ [A-Z_]+:/, `${what}: not a bare gRPC status: ${e.message}`);
}

/** Clients of a unit namespace on both clusters (the operator's credentials), for the schedules library and the settle check. */
async function sidesOf(plan: Plan, namespace: string): Promise<{ source: SidedEndpoint; target: SidedEndpoint; close(): Promise<void> }> {
  const conns: Connection[] = [];
  const side = async (cluster: string, which: 'source' | 'target', ns: string): Promise<SidedEndpoint> => {
    const c = await connectCluster(cluster, plan.clusters[cluster]!);
    conns.push(c);
    const name = namespaceOn(plan.clusters[cluster]!, ns);
    return { client: new Client({ connection: c, namespace: name }), namespace: name, side: which };
  };
  const target = plan.namespaces[namespace]!.target;
  return {
    source: await side(plan.source, 'source', namespace),
    target: await side(plan.target, 'target', target),
    close: async () => void (await Promise.all(conns.map((c) => c.close()))),
  };
}

/** Waits until one of the prefix's accepted starts exists on the target (bounded): the canary moved work there. */
async function someOnTarget(app: App, prefix: string, target: Client): Promise<void> {
  await until(
    `a run under ${prefix} on the target`,
    async () => {
      for (const id of (app.accepted.get(prefix) ?? []).slice(-30)) {
        const found = await target.workflow
          .getHandle(id)
          .describe()
          .then(
            () => true,
            () => false,
          );
        if (found) return true;
      }
      return false;
    },
    30_000,
  );
}

/** The CLI's reconcile of a unit (the operator's plan file and key): the report as JSON. */
async function cliReconcile(planFile: string, env: NodeJS.ProcessEnv, unit: string) {
  const r = await cli(['reconcile', unit, '--plan', planFile, '--json'], env, cwd, tap);
  assert.equal(r.code, 0, `reconcile ${unit}: exit ${r.code}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as {
    clean: boolean;
    duplicates: string[];
    stranded: unknown[];
    schedules?: { doubleActive: number; clean: boolean };
  };
}

function assertCleanMove(done: UnitStatus, side: 'source' | 'target') {
  assert.equal(done.route.side, side);
  assert.equal(done.reconcile?.clean, true, JSON.stringify(done.reconcile));
  assert.deepEqual(done.reconcile?.duplicates, []);
  assert.deepEqual(done.reconcile?.stranded, []);
  assert.equal(done.failure, undefined);
}

describe('e2e across a secured boundary (TLS, API keys, mTLS, suffixed namespaces, no operator API)', function () {
  this.timeout(300_000);
  this.slow(60_000);

  before(async function () {
    // The first use starts the clusters (seconds each; minutes when temporal-server must be built first).
    this.timeout(15 * 60_000);
    tap.start();
    dir = tempDir('secured');
    cwd = fs.mkdtempSync(path.join(dir, 'cwd-'));
    fs.mkdirSync(path.join(dir, 'keys'), { mode: 0o700 });
    const s = testStack();
    await Promise.all([s.selfHosted(), s.cloudShaped('api-key'), s.cloudShaped('mtls')]);
  });

  after(async function () {
    this.timeout(120_000);
    for (const c of cleanups.reverse())
      await c().catch((err: unknown) => process.stderr.write(`secured teardown: ${(err as Error).stack ?? String(err)}\n`));
    tap.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    delete process.env[APP_KEY_ENV];
    delete process.env[OPS_KEY_ENV];
  });

  describe('self-hosted PostgreSQL source → Cloud-shaped target with API keys', () => {
    const tag = uniqueId('sec');
    const t = (name: string) => `${name}${tag.slice(4)}`;
    const tenants = { move: t('mv'), canary: t('rc'), draining: t('rd'), revoke: t('rk') };
    const payPrefix = `${tag}-pay-`;
    let cloud: CloudShapedCluster;
    let plans: { worker: Plan; app: Plan; ops: Plan };
    let docs: { worker: PlanDoc; app: PlanDoc; ops: PlanDoc };
    let opsFile: string;
    let worker: RunningWorker;
    let workerKey: { token: string; kid: string };
    let det: App;
    let pay: App;
    let control: Client;
    let detSides: Awaited<ReturnType<typeof sidesOf>>;
    let paySides: Awaited<ReturnType<typeof sidesOf>>;
    const scheduleIds: { det: string[]; pay: string[] } = { det: [], pay: [] };
    const unit = (name: string) => new Unit(plans.ops, control, name);
    const tenantUnit = (k: keyof typeof tenants) => `tenant/detections/${tenants[k]}`;
    /** A key minted and revoked up front: the server has dropped it by the time the negative test runs. */
    let revoked: { token: string; kid: string };

    before(async function () {
      this.timeout(5 * 60_000);
      const s = testStack();
      const src = await s.selfHosted();
      cloud = await s.cloudShaped('api-key');
      const all = suffixed('cutover', 'detections', 'payments');
      const mint = async (role: string, namespaces = all) => {
        const key = await cloud.mintApiKey({ namespaces, subject: `secured-${role}` });
        secrets.token(`${role} key`, key.token);
        return key;
      };
      // One at a time: the harness's key ring is a file rewritten on each mint, and concurrent mints lose keys.
      workerKey = await mint('worker');
      const appKey = await mint('app', suffixed('detections', 'payments'));
      const opsKey = await mint('ops');
      revoked = await mint('revoked');
      // Each key is used only once the server has loaded it; the revoked one is revoked only after it worked,
      // so its refusal later is for the revocation, not for a key the server never knew.
      await Promise.all([workerKey, appKey, opsKey, revoked].map((k) => untilKey(cloud, k.token, true)));
      await cloud.revokeApiKey(revoked.kid);
      fs.writeFileSync(path.join(dir, WORKER_KEY_FILE), workerKey.token, { mode: 0o600 });
      process.env[APP_KEY_ENV] = appKey.token;
      process.env[OPS_KEY_ENV] = opsKey.token;

      const doc: PlanDoc = {
        name: tag,
        clusters: {
          selfhosted: { address: src.endpoint.address, kind: 'self-hosted' },
          cloud: { ...cloud.clusterConfig(), kind: 'cloud' },
        },
        source: 'selfhosted',
        target: 'cloud',
        control: { cluster: 'cloud', namespace: 'cutover', taskQueue: `${tag}-cutover` },
        redis: { url: s.redisUrl, keyPrefix: `${tag}:`, clientStaleness: '1500ms' },
        namespaces: {
          payments: { strategy: 'dual-workers', taskQueues: [`${tag}-pay`] },
          detections: {
            strategy: 'dual-workers',
            taskQueues: [`${tag}-det`],
            tenants: { selector: { workflowIdPrefix: '{tenant}-' }, ids: Object.values(tenants) },
          },
        },
        gates: {},
        // Final on completion: these tests check the route is final (source workers may stop) once completed.
        defaults: { bake: '1s', percentSteps: [50], drainDeadline: '30s', holdTimeout: '10s', finalizeAfter: '0s' },
        rings: [
          { name: 'ring0', units: [tenantUnit('move'), 'namespace/payments'], gates: [] },
          { name: 'ring1', units: [tenantUnit('canary'), tenantUnit('draining'), tenantUnit('revoke')], gates: [] },
        ],
      };
      const keyOf = (creds: Record<string, string>) => withCredentials(doc, 'cloud', creds, ['apiKeyEnv', 'apiKeyFile']);
      docs = {
        worker: keyOf({ apiKeyFile: WORKER_KEY_FILE }),
        app: keyOf({ apiKeyEnv: APP_KEY_ENV }),
        ops: keyOf({ apiKeyEnv: OPS_KEY_ENV }),
      };
      const files = {
        worker: writePlan(dir, 'plan-worker.json', docs.worker),
        app: writePlan(dir, 'plan-app.json', docs.app),
        ops: writePlan(dir, 'plan-ops.json', docs.ops),
      };
      plans = { worker: files.worker.plan, app: files.app.plan, ops: files.ops.plan };
      opsFile = files.ops.file;
      assert.equal(plans.ops.clusters.cloud!.kind, 'cloud');

      worker = await RunningWorker.start(plans.worker, tap, 'cutover worker');
      cleanups.push(() => worker.stop());
      ({ client: control } = await controlClient(plans.ops));
      cleanups.push(() => control.connection.close());
      pairs.push({
        label: 'self-hosted → cloud (api-key)',
        planFile: opsFile,
        env: { [OPS_KEY_ENV]: process.env[OPS_KEY_ENV] },
        plan: plans.ops,
        control,
      });
      [det, pay] = await Promise.all([App.start(plans.app, 'detections', `${tag}-det`), App.start(plans.app, 'payments', `${tag}-pay`)]);
      cleanups.push(
        () => det.close(),
        () => pay.close(),
      );
      [detSides, paySides] = await Promise.all([sidesOf(plans.ops, 'detections'), sidesOf(plans.ops, 'payments')]);
      // Cleanups run last-pushed first: the schedules are deleted before their connections close.
      cleanups.push(
        () => detSides.close(),
        () => paySides.close(),
        async () => {
          await deleteOnSides(detSides, scheduleIds.det);
          await deleteOnSides(paySides, scheduleIds.pay);
        },
      );
      cleanups.push(async () => {
        for (const name of [...Object.keys(tenants).map((k) => tenantUnit(k as keyof typeof tenants)), 'namespace/payments']) {
          const h = control.workflow.getHandle(unit(name).workflowId);
          const d = await h.describe().catch(() => undefined);
          if (d?.status.name === 'RUNNING') await h.terminate('test teardown');
        }
      });
    });

    it('moves a tenant and a namespace with a schedule each to completed, workload routed: none lost or on both sides', async () => {
      const tenantPrefix = `${tenants.move}-`;
      const ids = { det: `${tenantPrefix}sched-1`, pay: `${payPrefix}sched-1` };
      await createSourceSchedule(detSides.source, ids.det, `${tag}-det`);
      await createSourceSchedule(paySides.source, ids.pay, `${tag}-pay`);
      scheduleIds.det.push(ids.det);
      scheduleIds.pay.push(ids.pay);
      // The move lists schedules through visibility: both must be listed before it starts.
      await until('the source to list both schedules', async () => {
        const [d, p] = await Promise.all([
          listSelected(detSides.source, { kind: 'idPrefix', prefix: tenantPrefix }),
          listSelected(paySides.source, { kind: 'idPrefix', prefix: payPrefix }),
        ]);
        return d.includes(ids.det) && p.includes(ids.pay);
      });
      det.include(tenantPrefix);
      pay.include(payPrefix);
      await Promise.all([det.moreAccepted(tenantPrefix, 5), pay.moreAccepted(payPrefix, 5)]);
      const since = wholeSecondAfter(Date.now());

      const tu = unit(tenantUnit('move'));
      const nu = unit('namespace/payments');
      await Promise.all([tu.start(), nu.start()]);
      const [dt, dn] = await Promise.all([tu.waitPhase('completed', 150_000), nu.waitPhase('completed', 150_000)]);
      const untilMs = Date.now() - 1000;

      for (const [done, app, prefix, sides, sched] of [
        [dt, det, tenantPrefix, detSides, ids.det],
        [dn, pay, payPrefix, paySides, ids.pay],
      ] as const) {
        const w = await app.settle(prefix, { source: sides.source.client, target: sides.target.client });
        assert.ok(w.accepted > 10, `${done.unit}: workload too small (${w.accepted})`);
        assert.deepEqual(w.lost, [], `${done.unit}: no accepted start lost`);
        assert.deepEqual(w.duplicated, [], `${done.unit}: no start on both sides`);
        assert.deepEqual(w.open, []);
        assert.ok(w.onSource > 0 && w.onTarget > 0, `${done.unit}: ran on both sides during the move (${w.onSource}/${w.onTarget})`);
        assertCleanMove(done, 'target');
        assert.equal(done.route.sourceWorkersMayStop, true);
        assert.deepEqual(
          done.history.map((h) => h.phase).filter((p, i, a) => a.indexOf(p) === i),
          ['pending', 'preflight', 'provisioned', 'shadow', 'canary', 'cutover', 'draining', 'reconciling', 'completed'],
        );
        // The schedule switched exactly once, is active on the target only, and no fire ran twice or never.
        assert.equal(done.schedules?.forward?.done?.switched, 1, JSON.stringify(done.schedules));
        assert.equal(done.reconcile?.schedules?.doubleActive, 0);
        assert.deepEqual(await pausedOnSides(sides, sched), { source: true, target: false });
        const f = await settledFiresOn(sides, sched, since, untilMs);
        assert.deepEqual(f.duplicates, [], `${sched}: no nominal time ran on both clusters`);
        assert.deepEqual(f.lost, [], `${sched}: every fire ran (${f.expected.length} due, ${f.source.length}/${f.target.length})`);
        assert.ok(f.target.length > 0, `${sched} fired on the target after the switch`);
        // The operator's reconcile (the CLI, with the operator's key) agrees.
        const rec = await cliReconcile(opsFile, { [OPS_KEY_ENV]: process.env[OPS_KEY_ENV] }, done.unit);
        assert.deepEqual([rec.clean, rec.duplicates, rec.stranded, rec.schedules?.doubleActive], [true, [], [], 0]);
      }
      // Preflight on a Cloud target verified the suffixed namespace and never called the operator API.
      assert.equal(dt.history.find((h) => h.phase === 'provisioned') !== undefined, true);
    });

    it('rolls back from canary and from draining: route on the source, nothing lost, stranded or on both sides', async () => {
      const a = unit(tenantUnit('canary'));
      const b = unit(tenantUnit('draining'));
      const pa = `${tenants.canary}-`;
      const pb = `${tenants.draining}-`;
      det.include(pa);
      det.include(pb);
      await Promise.all([a.start({ advanceMode: 'manual' }), b.start({ advanceMode: 'manual' })]);
      await Promise.all([a.driveTo('canary', 120_000), b.driveTo('draining', 120_000)]);
      await Promise.all([someOnTarget(det, pa, detSides.target.client), someOnTarget(det, pb, detSides.target.client)]);
      await Promise.all([a.command('rollback', 'drill from canary'), b.command('rollback', 'drill from draining')]);
      const [ra, rb] = await Promise.all([a.waitPhase('rolled-back', 90_000), b.waitPhase('rolled-back', 90_000)]);
      for (const [done, prefix, from] of [
        [ra, pa, 'canary'],
        [rb, pb, 'draining'],
      ] as const) {
        const w = await det.settle(prefix, { source: detSides.source.client, target: detSides.target.client });
        assert.ok(w.accepted > 0);
        assert.deepEqual(w.lost, [], `${from}: no accepted start lost`);
        assert.deepEqual(w.duplicated, [], `${from}: no start on both sides`);
        assert.deepEqual(w.open, []);
        assert.ok(w.onTarget > 0, `${from}: runs had moved to the target before the rollback (${w.onTarget})`);
        assertCleanMove(done, 'source');
        assert.equal(done.route.sourceWorkersMayStop, false);
        const rolling = done.history.find((h) => h.phase === 'rolling-back');
        assert.equal(rolling?.actor, 'oncall');
        assert.match(String(rolling?.reason), new RegExp(`drill from ${from}`));
        assert.ok(
          done.compensations.every((c) => c.done),
          JSON.stringify(done.compensations),
        );
      }
    });

    it('a cutover-worker key revoked mid-canary: the unit holds visibly, route unchanged; a new key resumes it → completed', async () => {
      const u = unit(tenantUnit('revoke'));
      const prefix = `${tenants.revoke}-`;
      det.include(prefix);
      await det.moreAccepted(prefix, 5);
      await u.start({ advanceMode: 'manual' });
      const canary = await u.driveTo('canary', 120_000);
      assert.equal(canary.route.percent, 50);
      await someOnTarget(det, prefix, detSides.target.client);
      const before = await routingRecord(plans.ops, u.name);
      assert.ok(before, 'the unit has a routing record');

      await cloud.revokeApiKey(workerKey.kid);
      await untilKey(cloud, workerKey.token, false);
      // An operator pauses the unit now: the worker's long polls were authorized before the revocation, so
      // the signal's task reaches it, but nothing it does with the revoked key is accepted. The command is
      // not confirmed (never silently dropped). (The worker's SDK core logs each refusal, straight to fd 2.)
      await assert.rejects(u.command('pause', 'key rotation', 'oncall', 5_000), CommandUnconfirmedError);

      // The operator sees why: the unit's status cannot be read, and says a worker is missing.
      const env = { [OPS_KEY_ENV]: process.env[OPS_KEY_ENV] };
      const st = await cli(['status', u.name, '--plan', opsFile, '--json'], env, cwd, tap);
      assert.equal(st.code, 0, st.stderr);
      const row = (JSON.parse(st.stdout) as { units: { unit: string; workflow: string; error?: string }[] }).units[0]!;
      assert.deepEqual([row.unit, row.workflow], [u.name, 'unreachable']);
      assert.match(row.error ?? '', /is the cutover worker running/);

      // Meanwhile the application keeps starting on the canary's split, each ID on one side; the route holds.
      await det.moreAccepted(prefix, 10);
      const during = await routingRecord(plans.ops, u.name);
      assert.deepEqual(during, before, 'nothing changed the route while the worker was out');

      // Restore: a new key in the file the plan names, the worker started again from the same plan.
      const fresh = await cloud.mintApiKey({ namespaces: suffixed('cutover', 'detections', 'payments'), subject: 'secured-worker-2' });
      secrets.token('worker key (new)', fresh.token);
      await untilKey(cloud, fresh.token, true);
      fs.writeFileSync(path.join(dir, WORKER_KEY_FILE), fresh.token, { mode: 0o600 });
      // The old worker would fail on its own once its long polls (authorized before the revocation) expire,
      // up to a minute later: the operator replaces it now.
      const old = worker;
      old.worker.shutdown();
      cleanups.push(() => old.done);
      worker = await RunningWorker.start(plans.worker, tap, 'cutover worker (new key)');
      // The pause sent while the worker was out is applied now: the workflow kept it.
      const back = await u.waitFor((s) => s.paused, 'the pause sent during the outage to be applied');
      assert.deepEqual([back.phase, back.route.epoch, back.pausedBy?.actor], ['canary', canary.route.epoch, 'oncall']);
      await u.command('resume');
      const done = await u.driveTo('completed', 120_000);
      const w = await det.settle(prefix, { source: detSides.source.client, target: detSides.target.client });
      assert.deepEqual(w.lost, [], 'no accepted start lost');
      assert.deepEqual(w.duplicated, [], 'no start on both sides');
      assert.deepEqual(w.open, []);
      assert.ok(w.onSource > 0 && w.onTarget > 0, `ran on both sides (${w.onSource}/${w.onTarget})`);
      assertCleanMove(done, 'target');
    });

    it('refuses a wrong CA, an expired key, a revoked key and a key without permission on the namespace, each clearly', async () => {
      // A CA the server's certificate was not signed by.
      const wrongCa = path.join(dir, 'wrong-ca.pem');
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          path.join(dir, 'wrong-ca.key'),
          '-out',
          wrongCa,
          '-days',
          '1',
          '-subj',
          '/CN=not-the-cloud-ca',
        ],
        { stdio: 'ignore' },
      );
      secrets.pemKey('wrong CA private key', path.join(dir, 'wrong-ca.key'));
      const cloudDoc = docs.worker.clusters.cloud!;
      const variant = (name: string, cloudCfg: Record<string, unknown>) =>
        writePlan(dir, `plan-${name}.json`, { ...docs.worker, clusters: { ...docs.worker.clusters, cloud: cloudCfg } }).plan;
      const wrongCaPlan = variant('wrong-ca', { ...cloudDoc, tls: { serverRootCACertPath: wrongCa } });
      await assertRefused('createCutoverWorker with a wrong CA', () => createCutoverWorker({ plan: wrongCaPlan }), 'unknown-ca', 'cloud');

      const expired = await cloud.mintApiKey({
        namespaces: suffixed('detections', 'payments'),
        expiresInMs: -60_000,
        subject: 'secured-expired',
      });
      // A valid key, for detections only: payments is not its namespace.
      const narrow = await cloud.mintApiKey({ namespaces: suffixed('detections'), subject: 'secured-narrow' });
      secrets.token('expired key', expired.token);
      secrets.token('narrow key', narrow.token);
      // Once the later key works, the server knows the expired one too: its refusal is for the expiry.
      await untilKey(cloud, narrow.token, true);
      process.env.CUTOVER_E2E_EXPIRED_KEY = expired.token;
      process.env.CUTOVER_E2E_NARROW_KEY = narrow.token;
      const expiredPlan = variant('expired', { ...cloudDoc, apiKeyFile: undefined, apiKeyEnv: 'CUTOVER_E2E_EXPIRED_KEY' });
      await assertRefused(
        'RoutedClient.connect with an expired key',
        () => RoutedClient.connect({ plan: expiredPlan, namespace: 'detections' }),
        'credentials-refused',
        'cloud',
      );

      process.env.CUTOVER_E2E_REVOKED_KEY = revoked.token;
      const revokedPlan = variant('revoked', { ...cloudDoc, apiKeyFile: undefined, apiKeyEnv: 'CUTOVER_E2E_REVOKED_KEY' });
      // Revoked in before(), after it worked: the server drops it at its next JWKS refresh (about a second).
      await untilKey(cloud, revoked.token, false);
      await assertRefused(
        'createCutoverWorker with a revoked key',
        () => createCutoverWorker({ plan: revokedPlan }),
        'credentials-refused',
        'cloud',
      );

      const narrowPlan = variant('narrow', { ...cloudDoc, apiKeyFile: undefined, apiKeyEnv: 'CUTOVER_E2E_NARROW_KEY' });
      await assertRefused(
        'RoutedClient.connect without permission on payments',
        () => RoutedClient.connect({ plan: narrowPlan, namespace: 'payments' }),
        'permission-denied',
        'cloud',
      );
      await assertRefused(
        'DualWorkers.create without permission on payments',
        async () =>
          DualWorkers.create({
            plan: narrowPlan,
            namespace: 'payments',
            taskQueue: uniqueId('never'),
            workflowBundle: await appWorkflowBundle(),
          }),
        'permission-denied',
        'cloud',
      );
      for (const v of ['CUTOVER_E2E_EXPIRED_KEY', 'CUTOVER_E2E_REVOKED_KEY', 'CUTOVER_E2E_NARROW_KEY']) delete process.env[v];
    });
  });

  describe('reverse: Cloud-shaped source with mTLS → self-hosted target', () => {
    const tag = uniqueId('rev');
    const tenant = `m${tag.slice(4)}`;
    let plan: Plan;
    let planFile: string;
    let doc: PlanDoc;

    before(async function () {
      this.timeout(5 * 60_000);
      const s = testStack();
      const src = await s.selfHosted();
      const mtls = await s.cloudShaped('mtls');
      secrets.pemKey('mTLS client private key', mtls.clientKeyPath!);
      doc = {
        name: tag,
        clusters: {
          cloudm: { ...mtls.clusterConfig(), kind: 'cloud' },
          selfhosted: { address: src.endpoint.address, kind: 'self-hosted' },
        },
        source: 'cloudm',
        target: 'selfhosted',
        control: { cluster: 'selfhosted', namespace: 'cutover', taskQueue: `${tag}-cutover` },
        redis: { url: s.redisUrl, keyPrefix: `${tag}:`, clientStaleness: '1500ms' },
        namespaces: {
          detections: {
            strategy: 'dual-workers',
            taskQueues: [`${tag}-det`],
            tenants: { selector: { workflowIdPrefix: '{tenant}-' }, ids: [tenant] },
          },
        },
        gates: {},
        // Final on completion: these tests check the route is final (source workers may stop) once completed.
        defaults: { bake: '1s', percentSteps: [50], drainDeadline: '30s', holdTimeout: '10s', finalizeAfter: '0s' },
        rings: [{ name: 'ring0', units: [`tenant/detections/${tenant}`], gates: [] }],
      };
      ({ plan, file: planFile } = writePlan(dir, 'plan-reverse.json', doc));
      assert.equal(plan.clusters.cloudm!.kind, 'cloud');
    });

    it('moves a tenant off the mTLS Cloud-shaped source to completed: none lost or on both sides, reconcile clean', async () => {
      // This pair's cutover worker is the CLI's own (`cutover worker --plan`): its INFO logs go to the tap too.
      const w = await CliWorker.start(planFile, {}, cwd, tap, 'cutover worker (reverse, CLI)');
      cleanups.push(() => w.stop());
      const { client: control } = await controlClient(plan);
      cleanups.push(() => control.connection.close());
      pairs.push({ label: 'cloud (mTLS) → self-hosted', planFile, env: {}, plan, control });
      const app = await App.start(plan, 'detections', `${tag}-det`);
      cleanups.push(() => app.close());
      const sides = await sidesOf(plan, 'detections');
      cleanups.push(() => sides.close());
      const prefix = `${tenant}-`;
      app.include(prefix);
      await app.moreAccepted(prefix, 5);
      const u = new Unit(plan, control, `tenant/detections/${tenant}`);
      cleanups.push(async () => {
        const h = control.workflow.getHandle(u.workflowId);
        if ((await h.describe().catch(() => undefined))?.status.name === 'RUNNING') await h.terminate('test teardown');
      });
      await u.start();
      const done = await u.waitPhase('completed', 150_000);
      const r = await app.settle(prefix, { source: sides.source.client, target: sides.target.client });
      assert.ok(r.accepted > 10, `workload too small (${r.accepted})`);
      assert.deepEqual(r.lost, []);
      assert.deepEqual(r.duplicated, []);
      assert.deepEqual(r.open, []);
      assert.ok(r.onSource > 0 && r.onTarget > 0, `ran on both sides (${r.onSource}/${r.onTarget})`);
      assertCleanMove(done, 'target');
      assert.equal(done.route.sourceWorkersMayStop, true);
      const rec = await cliReconcile(planFile, {}, u.name);
      assert.deepEqual([rec.clean, rec.duplicates, rec.stranded], [true, [], []]);
    });

    it('refuses a missing client certificate with its clear error', async () => {
      const cloudm = doc.clusters.cloudm!;
      const noCert = writePlan(dir, 'plan-no-cert.json', {
        ...doc,
        clusters: {
          ...doc.clusters,
          cloudm: { ...cloudm, tls: { serverRootCACertPath: (cloudm.tls as { serverRootCACertPath: string }).serverRootCACertPath } },
        },
      }).plan;
      await assertRefused(
        'DualWorkers.create without a client certificate',
        async () =>
          DualWorkers.create({
            plan: noCert,
            namespace: 'detections',
            taskQueue: uniqueId('never'),
            workflowBundle: await appWorkflowBundle(),
          }),
        'client-certificate-required',
        'cloudm',
      );
      await assertRefused(
        'RoutedClient.connect without a client certificate',
        () => RoutedClient.connect({ plan: noCert, namespace: 'detections' }),
        'client-certificate-required',
        'cloudm',
      );
    });
  });

  describe('secret hygiene', () => {
    it('no API key and no private key in any log, in `cutover status --json`, or in the raw history of any cutover workflow', async () => {
      assert.ok(pairs.length > 0, 'the journeys ran');
      // The needles work: each key handed to the app is found where it is known to be.
      assert.deepEqual(secrets.foundIn(process.env[APP_KEY_ENV] ?? ''), ['app key', 'app key (signature)']);
      const texts: { where: string; text: string }[] = [{ where: 'the logs', text: tap.text() }];
      for (const p of pairs) {
        const r = await cli(['status', '--plan', p.planFile, '--json'], p.env, cwd);
        assert.equal(r.code, 0, `${p.label}: status: ${r.stderr}`);
        assert.ok((JSON.parse(r.stdout) as { units: unknown[] }).units.length > 0);
        texts.push({ where: `${p.label}: status --json`, text: r.stdout + r.stderr });
        const histories = await controlHistories(p.control, p.plan.control.taskQueue);
        assert.ok(histories.length > 0, `${p.label}: cutover workflows to read`);
        for (const h of histories) texts.push({ where: `${p.label}: history of ${h.id}`, text: h.json });
      }
      assert.ok(tap.text().length > 0);
      const leaks = texts.flatMap((t) => secrets.foundIn(t.text).map((s) => `${s} in ${t.where}`));
      assert.deepEqual(leaks, []);
    });
  });
});
