/**
 * The cutover worker as operators run it, against the harness's two dev servers:
 *   - two `cutover worker` processes on one host share the control task queue (the way to scale cutover
 *     out): each takes its own metrics port without `--metrics`, and a SIGKILL of the one running a step
 *     leaves the unit to the other, which finishes the step without doing it twice;
 *   - a worker started while the target is down serves the control cluster, fails the target's steps with
 *     a retryable error naming it, and starts the target's workers once it is back.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { unitInputFromPlan } from '../../src/campaign/unit-input';
import { loadPlan } from '../../src/config';
import { parseUnitName } from '../../src/domain/ids';
import { unitStartOptions } from '../../src/domain/unit-input';
import { createCutoverWorker, type CutoverWorker } from '../../src/worker';
import * as messages from '../../src/workflows/unit-migration.messages';
import { STALE_CLOCK_MESSAGE } from '../../src/workflows/clock-guard';
import { testStack, uniqueId } from '../harness';
import { until } from '../harness/wait';
import { CONTROL_NAMESPACE, closeShared, Rig } from './entity.fixture';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'cutover.js');

/** A `cutover worker` child process, started by PID (never through npx). */
interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** The address its `metrics:` line printed. */
  metrics: string;
  stderr(): string;
}

/** Starts `node bin/cutover.js worker --plan <file>` and resolves once it says it runs; rejects if it exits first. */
async function startWorkerProcess(planFile: string, cwd: string): Promise<WorkerProcess> {
  const env = { ...process.env };
  delete env.CUTOVER_PLAN;
  const child = spawn(process.execPath, [BIN, 'worker', '--plan', planFile], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cutover worker did not start within 90 s:\n${err}`)), 90_000);
    const check = () => {
      if (!/cutover worker running/.test(err)) return;
      clearTimeout(timer);
      child.stderr!.off('data', check);
      child.off('exit', exited);
      resolve();
    };
    const exited = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`cutover worker exited early (${code}):\n${err}`));
    };
    child.stderr!.on('data', check);
    child.once('exit', exited);
  });
  const metrics = /^metrics: http:\/\/(\S+)\/metrics$/m.exec(err)?.[1];
  assert.ok(metrics, `no metrics address printed:\n${err}`);
  return { child, pid: child.pid!, metrics, stderr: () => err };
}

/** Sends `signal` to the worker process and waits until it is gone (SIGKILL after 15 s if it does not stop). */
async function killProcess(p: WorkerProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const gone = once(p.child, 'exit');
  p.child.kill(signal);
  const late = setTimeout(() => p.child.kill('SIGKILL'), 15_000);
  try {
    await gone;
  } finally {
    clearTimeout(late);
  }
}

describe('cutover worker: several side by side, one killed mid-step', function () {
  this.timeout(120_000);
  let rig: Rig | undefined;
  const procs: WorkerProcess[] = [];
  let dir: string;

  afterEach(async () => {
    await rig?.tearDown();
    rig = undefined;
    for (const p of procs.splice(0)) await killProcess(p, 'SIGTERM').catch(() => undefined);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  after(closeShared);

  it('two processes, two metrics ports; the one running the probes is SIGKILLed, the other completes the unit, no step twice', async () => {
    const s = testStack();
    // The probes wait for a probe worker the test starts late: the step is held while one worker runs it.
    const r = (rig = new Rig({
      kind: 'tenant',
      externalCutoverWorker: true,
      deferProbeWorker: true,
      probeTimeoutMs: 60_000,
      jobMs: 300,
      input: { percentSteps: [50] },
    }));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worker-resilience-'));
    const planFile = path.join(dir, 'plan.json');
    const tenant = (r.input.unit as { tenant: string }).tenant;
    fs.writeFileSync(
      planFile,
      JSON.stringify({
        name: uniqueId('workers'),
        clusters: { legacy: { address: s.source.address }, cloud: { address: s.target.address } },
        source: 'legacy',
        target: 'cloud',
        control: { cluster: 'cloud', namespace: CONTROL_NAMESPACE, taskQueue: r.controlQueue },
        redis: { url: s.redisUrl, keyPrefix: r.keyPrefix, clientStaleness: `${r.input.clientStalenessMs}ms` },
        namespaces: {
          detections: {
            strategy: 'dual-workers',
            taskQueues: [r.appQueue],
            tenants: { selector: { workflowIdPrefix: '{tenant}-' }, ids: [tenant] },
          },
        },
        rings: [{ name: 'ring0', units: [r.unit] }],
      }),
    );
    // Both at once, without --metrics: they race for 9464, and the loser (or both, when 9464 is taken) takes a free port.
    const [a, b] = await Promise.all([startWorkerProcess(planFile, dir), startWorkerProcess(planFile, dir), r.setUp()]);
    procs.push(a, b);
    assert.notEqual(a.metrics, b.metrics, 'each worker has its own metrics address');
    for (const p of [a, b]) {
      const res = await fetch(`http://${p.metrics}/metrics`);
      assert.equal(res.status, 200, `metrics of worker ${p.pid} at ${p.metrics}`);
    }

    r.startWorkload(80);
    await r.start();
    type Pending = {
      activityType?: { name?: string | null } | null;
      state?: number | null;
      attempt?: number | null;
      lastWorkerIdentity?: string | null;
    };
    const probesPending = async (): Promise<Pending | undefined> => {
      const d = await r.handle().describe();
      return (d.raw.pendingActivities ?? []).find((p: Pending) => p.activityType?.name === 'runProbes');
    };
    const pidOf = (identity: string | null | undefined) => Number(/^(\d+)@/.exec(identity ?? '')?.[1]);
    const STARTED = 2; // PENDING_ACTIVITY_STATE_STARTED
    const running = await until(
      'a worker to run the unit’s probes',
      async () => {
        const p = await probesPending();
        return p?.state === STARTED && pidOf(p.lastWorkerIdentity) > 0 && p;
      },
      60_000,
    );
    const victim = [a, b].find((p) => p.pid === pidOf(running.lastWorkerIdentity));
    const survivor = [a, b].find((p) => p !== victim)!;
    assert.ok(victim, `the probes run on one of the two workers (${running.lastWorkerIdentity}; ${a.pid}, ${b.pid})`);
    await killProcess(victim);
    // The step resumes on the other worker once the server notices the dead one (heartbeat timeout); only then
    // may the probes run, so the retried attempt must attach to the probes the killed one started.
    const retried = await until(
      'the other worker to take the probes over',
      async () => {
        const p = await probesPending();
        return p && p.attempt! >= 2 && p.state === STARTED && p;
      },
      40_000,
    );
    assert.equal(pidOf(retried.lastWorkerIdentity), survivor.pid);
    await r.startProbeWorker();

    const done = await r.waitPhase('completed', 60_000);
    assert.equal(done.route.side, 'target');
    assert.equal(done.failure, undefined);
    assert.deepEqual(done.reconcile?.duplicates, []);
    assert.deepEqual(done.reconcile?.stranded, []);
    // Each phase entered once, in order: no step was redone.
    const phases = done.history.map((h) => h.phase);
    assert.deepEqual(
      phases.filter((p, i) => phases.indexOf(p) === i),
      ['pending', 'preflight', 'provisioned', 'shadow', 'canary', 'cutover', 'draining', 'reconciling', 'completed'],
    );
    const entries = done.history.map((h) => `${h.phase}: ${h.reason ?? ''}`);
    assert.deepEqual(
      entries.filter((e, i) => entries.indexOf(e) !== i),
      [],
      `no history entry twice: ${JSON.stringify(entries)}`,
    );
    assert.equal(phases.filter((p) => p === 'shadow').length, 1, `shadow entered once: ${JSON.stringify(phases)}`);
    // The probe step: scheduled once, finished by the survivor on its second attempt, every probe run once.
    const history = await r.historyOf();
    const events = history.events ?? [];
    const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runProbes');
    assert.equal(scheduled.length, 1, 'the probe step was scheduled once');
    const scheduledId = scheduled[0]!.eventId;
    const started = events.find((e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === scheduledId?.toString());
    assert.equal(started?.activityTaskStartedEventAttributes?.attempt, 2);
    assert.equal(pidOf(started?.activityTaskStartedEventAttributes?.identity), survivor.pid);
    const args = JSON.parse(
      Buffer.from(scheduled[0]!.activityTaskScheduledEventAttributes!.input!.payloads![0]!.data!).toString('utf8'),
    ) as { idPrefix: string; count: number; namespace: string };
    const target = new Client({ connection: await Connection.connect({ address: s.target.address }), namespace: args.namespace });
    try {
      for (let i = 0; i < args.count; i++) {
        const runs = await until(
          `probe ${i} visible`,
          async () => (await target.workflow.count(`WorkflowId = "${args.idPrefix}-${i}"`)).count || undefined,
          10_000,
        );
        assert.equal(runs, 1, `probe ${args.idPrefix}-${i} ran once`);
      }
    } finally {
      await target.connection.close();
    }
    // The only workflow tasks allowed to fail are the ones the clock guard fails (and the SDK replays).
    const failed = await r.workflowTaskFailures();
    assert.deepEqual(
      failed.filter((m) => !m.startsWith(STALE_CLOCK_MESSAGE)),
      [],
    );
    const w = await r.settleWorkload();
    assert.deepEqual(w.lost, []);
    assert.deepEqual(w.duplicated, []);
    assert.deepEqual(w.open, []);
    assert.equal(survivor.child.exitCode, null, `the survivor still runs:\n${survivor.stderr()}`);
  });
});

describe('cutover worker: the target down at start', function () {
  this.timeout(120_000);

  it('serves the control cluster, refuses the target’s steps naming it (retryable), starts its workers once it is back', async () => {
    const s = testStack();
    const tenant = uniqueId('t');
    const unit = `tenant/detections/${tenant}`;
    // Control on the source, so the target can be down; a synthetic gate so the worker owes the target a probe worker.
    const plan = loadPlan({
      name: uniqueId('target-down'),
      clusters: { legacy: { address: s.source.address }, cloud: { address: s.target.address } },
      source: 'legacy',
      target: 'cloud',
      control: { cluster: 'legacy', namespace: CONTROL_NAMESPACE, taskQueue: uniqueId('control') },
      redis: { url: s.redisUrl, keyPrefix: `${uniqueId('target-down')}:` },
      namespaces: {
        detections: {
          strategy: 'dual-workers',
          taskQueues: [uniqueId('app')],
          tenants: { selector: { workflowIdPrefix: '{tenant}-' }, ids: [tenant] },
        },
      },
      gates: { probe: { synthetic: { workflows: 1, minSuccess: 1, maxP99: '5s' } } },
      rings: [{ name: 'ring0', units: [unit], gates: ['probe'] }],
    });
    const lines: string[] = [];
    let worker: CutoverWorker | undefined;
    let running: Promise<void> | undefined;
    const connection = await Connection.connect({ address: s.source.address });
    const control = new Client({ connection, namespace: CONTROL_NAMESPACE });
    let workflowId: string | undefined;
    await s.kill('target');
    let restarted = false;
    try {
      worker = await createCutoverWorker({ plan, onProgress: (line) => lines.push(line) });
      running = worker.run();
      assert.deepEqual(worker.unreachable(), ['cloud']);
      assert.ok(
        lines.some((l) => /^cluster cloud is unreachable: cannot reach cluster cloud at .*reconnecting in the background/s.test(l)),
        lines.join('\n'),
      );
      assert.equal(worker.workers.length, 1, 'only the control worker while the target is down');

      // A unit's preflight needs the target: it fails, retryably, naming the cluster; the worker keeps serving.
      const opts = unitStartOptions(
        unitInputFromPlan(plan, parseUnitName(unit)!, { actor: 'test', advanceMode: 'manual' }),
        plan.control.taskQueue,
      );
      workflowId = opts.workflowId;
      const handle = await control.workflow.start('tenantMigration', opts);
      await until('the unit to wait in pending', async () =>
        ((await handle.query(messages.status)).waitingFor ?? '').includes('send advance'),
      );
      await handle.signal(messages.advance, { actor: 'test', commandId: uniqueId('cmd') });
      const refused = await until(
        'the preflight to fail on the unreachable target',
        async () => {
          const d = await handle.describe();
          const p = (d.raw.pendingActivities ?? []).find((x) => x.activityType?.name === 'preflight');
          return p?.lastFailure?.applicationFailureInfo?.type === 'ClusterUnavailable' && p.lastFailure;
        },
        30_000,
      );
      assert.match(refused.message ?? '', /^cluster cloud \(.*\) is not connected to this cutover worker: cannot reach cluster cloud/);
      assert.equal(refused.applicationFailureInfo?.nonRetryable, false);
      assert.equal(worker.workers[0]!.getState(), 'RUNNING');

      await s.restart('target');
      restarted = true;
      await until(
        'the worker to connect to the target and start its probe worker',
        () =>
          worker!.unreachable().length === 0 && worker!.workers.length === 2 && worker!.workers.every((w) => w.getState() === 'RUNNING'),
        60_000,
      );
      assert.ok(
        lines.some((l) => /^connected to cluster cloud at .*after the start$/.test(l)),
        lines.join('\n'),
      );
      assert.ok(
        lines.some((l) => /^polling cloud\/detections task queue cutover-probe/.test(l)),
        lines.join('\n'),
      );
      // The retried preflight reaches the target now: it finishes (whatever it finds), no longer refused.
      await until(
        'the preflight to run against the target',
        async () => {
          const d = await handle.describe();
          return !(d.raw.pendingActivities ?? []).some((x) => x.activityType?.name === 'preflight') || undefined;
        },
        30_000,
      );
    } finally {
      if (workflowId)
        await control.workflow
          .getHandle(workflowId)
          .terminate('test teardown')
          .catch(() => undefined);
      worker?.shutdown();
      await running?.catch(() => undefined);
      await connection.close();
      // Whatever happened, the target runs again for the next suite.
      if (!restarted) await s.restart('target');
    }
  });
});
