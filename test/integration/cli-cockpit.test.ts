/**
 * The cockpit verbs run as child processes (`node bin/cutover.js …`) against the real test stack:
 * a cutover worker in this process on a fresh control task queue, entity workflows on the control
 * cluster, and assertions on exit codes, stdout and the workflows' own state. Every unit is a tenant
 * with a fresh name, so workflow IDs never collide with another test or suite.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { unitInputFromPlan } from '../../src/campaign/unit-input';
import { loadPlan, type Plan } from '../../src/config';
import { createCutoverWorker, type CutoverWorker } from '../../src/worker';
import { parseUnitName, unitWorkflowId } from '../../src/domain/ids';
import type { UnitStatus } from '../../src/domain/migration';
import * as messages from '../../src/workflows/unit-migration.messages';
import { unitStartOptions } from '../../src/domain/unit-input';
import { testStack, uniqueId } from '../harness';
import { until } from '../harness/wait';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'cutover.js');

/** The children's working directory: empty, so no ./cutover.yaml or dev stack state is found there. */
let cwd = os.tmpdir();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a child process; never rejects (the exit code is the result). */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const childEnv = { ...process.env, ...env };
    delete childEnv.CUTOVER_PLAN;
    if (env.CUTOVER_PLAN) childEnv.CUTOVER_PLAN = env.CUTOVER_PLAN;
    execFile(process.execPath, [BIN, ...args], { cwd, env: childEnv, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('cutover CLI: the cockpit verbs against the real stack', function () {
  this.timeout(180_000);
  const tenants = Array.from({ length: 12 }, () => uniqueId('t'));
  const unit = (i: number) => `tenant/detections/${tenants[i]}`;
  let dir: string;
  let planFile: string;
  let plan: Plan;
  let worker: CutoverWorker;
  let running: Promise<void>;
  let connection: Connection;
  let client: Client;
  const started: string[] = [];

  before(async () => {
    const s = testStack();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-cockpit-'));
    planFile = path.join(dir, 'plan.json');
    cwd = fs.mkdtempSync(path.join(dir, 'cwd-'));
    const doc = {
      name: uniqueId('cli-campaign'),
      clusters: { legacy: { address: s.source.address }, cloud: { address: s.target.address } },
      source: 'legacy',
      target: 'cloud',
      control: { cluster: 'cloud', namespace: 'cutover', taskQueue: uniqueId('cli-control') },
      redis: { url: s.redisUrl, keyPrefix: `${uniqueId('cli')}:`, clientStaleness: '1s' },
      namespaces: {
        detections: {
          strategy: 'dual-workers',
          taskQueues: [uniqueId('det')],
          tenants: { selector: { workflowIdPrefix: '{tenant}-' }, ids: tenants },
        },
      },
      gates: {},
      // Hold, not roll back, when ring0's unit fails its preflight (nothing polls its task queue here): on a
      // loaded machine the campaign can advance the unit before the test's pause lands, and a campaign that
      // rolled itself back would close before the second start, which must attach to the running one.
      defaults: { bake: '1s', percentSteps: [50], onGateFailure: 'hold' },
      rings: [
        { name: 'ring0', units: [unit(0)], gates: [] },
        { name: 'ring1', units: tenants.slice(1).map((t) => `tenant/detections/${t}`), gates: [] },
      ],
    };
    fs.writeFileSync(planFile, JSON.stringify(doc, null, 2));
    plan = loadPlan(planFile);
    worker = await createCutoverWorker({ plan });
    running = worker.run();
    connection = await Connection.connect({ address: s.target.address });
    client = new Client({ connection, namespace: 'cutover' });
  });

  after(async () => {
    for (const id of started)
      await client.workflow
        .getHandle(id)
        .terminate('test teardown')
        .catch(() => undefined);
    worker?.shutdown();
    await running;
    await connection?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Starts unit i's entity workflow in manual mode (it waits in `pending` for an advance) on `taskQueue`. */
  async function startUnit(i: number, taskQueue = plan.control.taskQueue): Promise<string> {
    const ref = parseUnitName(unit(i))!;
    const opts = unitStartOptions(unitInputFromPlan(plan, ref, { actor: 'test', advanceMode: 'manual' }), taskQueue);
    await client.workflow.start('tenantMigration', opts);
    started.push(opts.workflowId);
    if (taskQueue === plan.control.taskQueue) await until('the unit to answer', () => query(i).then((s) => s.phase));
    return opts.workflowId;
  }

  const query = (i: number): Promise<UnitStatus> =>
    client.workflow.getHandle(unitWorkflowId(parseUnitName(unit(i))!)).query(messages.status);

  it('start: starts the campaign, which starts the first ring; a second start attaches; campaign commands are confirmed', async () => {
    const first = await cli(['start', planFile, '--actor', 'alice', '--json']);
    assert.equal(first.code, 0, first.stderr);
    const out = JSON.parse(first.stdout) as {
      workflowId: string;
      runId: string;
      started: boolean;
      drill: boolean;
      units: number;
      steps: number;
    };
    started.push(out.workflowId);
    assert.deepEqual([out.workflowId, out.started, out.drill, out.units], [`cutover/campaign/${plan.name}`, true, false, tenants.length]);
    // Pause the campaign at once: it must not move ring1's units, which the other tests use on their own.
    const pause = await cli(['pause', plan.name, '--plan', planFile, '--actor', 'bob', '--reason', 'hold on', '--json']);
    assert.equal(pause.code, 0, pause.stderr);
    assert.equal((JSON.parse(pause.stdout) as { status: { paused: boolean } }).status.paused, true);
    const again = await cli(['start', planFile, '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual((({ runId, started: s }) => [runId, s])(JSON.parse(again.stdout) as typeof out), [out.runId, false]);
    // A drill while the real campaign runs would steer the same units: refused, nothing started.
    const drill = await cli(['start', planFile, '--drill']);
    assert.equal(drill.code, 1, drill.stderr);
    assert.match(drill.stderr, /running/);

    // The campaign started ring0's unit (its entity workflow carries the campaign's search attributes).
    const wid = unitWorkflowId(parseUnitName(unit(0))!);
    started.push(wid);
    const status = await until('the first unit to answer', () => query(0));
    assert.equal(status.history[0]!.actor, 'alice');
    const d = await client.workflow.getHandle(wid).describe();
    const attrs = Object.fromEntries(d.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value]));
    assert.deepEqual(
      [attrs.CutoverUnit, attrs.CutoverKind, attrs.CutoverRing, attrs.CutoverCampaign],
      [unit(0), 'tenant', 'ring0', plan.name],
    );

    const twice = await cli(['pause', plan.name, '--plan', planFile, '--actor', 'bob']);
    assert.equal(twice.code, 1, twice.stderr);
    assert.match(twice.stderr, /already paused/);
    const approve = await cli(['approve', plan.name, '--plan', planFile, '--actor', 'erin']);
    assert.equal(approve.code, 1, approve.stderr);
    // Rolled back while still paused: a resume would let the unit fail its preflight (no application
    // workers here) and the campaign roll itself back, racing the command below.
    const noReason = await cli(['rollback', plan.name, '--plan', planFile]);
    assert.equal(noReason.code, 2, noReason.stderr);
    const rollback = await cli(['rollback', plan.name, '--plan', planFile, '--actor', 'carol', '--reason', 'cli test']);
    assert.equal(rollback.code, 0, rollback.stderr);
    assert.match(rollback.stdout, /rollback campaign .*applied \(by carol/);

    // The campaign's story: who did what, with the reason; the unit ends rolled back.
    const done = await until(
      'the campaign to roll back',
      async () => {
        const r = await cli(['status', '--plan', planFile, '--json']);
        const doc = JSON.parse(r.stdout) as { campaign: { phase?: string; workflow: string } };
        return doc.campaign.phase === 'rolled-back' ? doc : undefined;
      },
      60_000,
    );
    assert.equal(done.campaign.workflow, 'closed');
    assert.equal((await query(0)).phase, 'rolled-back');
  });

  it('start --dry-run prints the steps and starts nothing; a bad plan is exit 2', async () => {
    const dry = await cli(['start', planFile, '--dry-run', '--json']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal((JSON.parse(dry.stdout) as { steps: unknown[] }).steps.length > 0, true);
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ name: 'x' }));
    const r = await cli(['start', bad]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
  });

  it('pause, resume and advance are confirmed by the workflow; refusals exit 1 and are recorded', async () => {
    await startUnit(1);
    const pause = await cli(['pause', unit(1), '--plan', planFile, '--actor', 'bob', '--reason', 'night shift', '--json']);
    assert.equal(pause.code, 0, pause.stderr);
    const outcome = JSON.parse(pause.stdout) as { applied: boolean; commandId: string; status: UnitStatus };
    assert.equal(outcome.applied, true);
    assert.equal(outcome.status.paused, true);
    let s = await query(1);
    assert.deepEqual([s.paused, s.pausedBy?.actor, s.pausedBy?.reason], [true, 'bob', 'night shift']);

    const again = await cli(['pause', unit(1), '--plan', planFile, '--actor', 'bob']);
    assert.equal(again.code, 1);
    const advance = await cli(['advance', unit(1), '--plan', planFile, '--actor', 'carol']);
    assert.equal(advance.code, 1);
    s = await query(1);
    assert.deepEqual(
      s.rejected.map((r) => [r.command, r.actor]),
      [
        ['pause', 'bob'],
        ['advance', 'carol'],
      ],
    );
    assert.equal(s.phase, 'pending', 'a refused advance changes nothing');

    const resume = await cli(['resume', unit(1), '--plan', planFile, '--actor', 'bob']);
    assert.equal(resume.code, 0, resume.stderr);
    assert.equal((await query(1)).paused, false);

    const go = await cli(['advance', unit(1), '--plan', planFile, '--actor', 'carol', '--json']);
    assert.equal(go.code, 0, go.stderr);
    const id = (JSON.parse(go.stdout) as { commandId: string }).commandId;
    s = await until('the unit to leave pending', async () => {
      const st = await query(1);
      return st.phase !== 'pending' ? st : undefined;
    });
    assert.ok(s.history.some((h) => h.actor === 'carol' && (h.evidence as { commandId?: string } | undefined)?.commandId === id));
  });

  it('the actor defaults to the OS user', async () => {
    await startUnit(2);
    const r = await cli(['pause', unit(2), '--plan', planFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await query(2)).pausedBy?.actor, os.userInfo().username);
  });

  it('rollback without --reason is bad input (exit 2) and sends nothing; with a reason it is applied', async () => {
    await startUnit(3);
    const before = await query(3);
    const r = await cli(['rollback', unit(3), '--plan', planFile]);
    assert.equal(r.code, 2);
    const blank = await cli(['rollback', unit(3), '--plan', planFile, '--reason', ' ']);
    assert.equal(blank.code, 2);
    const after = await query(3);
    assert.deepEqual(
      [after.history.length, after.rejected.length, after.phase],
      [before.history.length, before.rejected.length, before.phase],
    );

    const ok = await cli(['rollback', unit(3), '--plan', planFile, '--actor', 'dave', '--reason', 'drill']);
    assert.equal(ok.code, 0, ok.stderr);
    const s = await until('the rollback', async () => {
      const st = await query(3);
      return st.phase === 'rolling-back' || st.phase === 'rolled-back' ? st : undefined;
    });
    assert.ok(s.history.some((h) => h.actor === 'dave' && h.reason?.includes('drill')));
  });

  it('approve with nothing awaiting approval is refused (exit 1)', async () => {
    await startUnit(4);
    const r = await cli(['approve', unit(4), '--plan', planFile, '--actor', 'erin']);
    assert.equal(r.code, 1);
    assert.deepEqual(
      (await query(4)).rejected.map((x) => [x.command, x.actor]),
      [['approve', 'erin']],
    );
  });

  it('finalize of a unit that is not completed, or of the campaign, is bad input (exit 2) and sends nothing', async () => {
    if (!(await query(4).catch(() => undefined))) await startUnit(4);
    const before = await query(4);
    const r = await cli(['finalize', unit(4), '--plan', planFile, '--actor', 'erin']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /<unit>: .* is pending; finalize makes a completed unit final/);
    const campaign = await cli(['finalize', plan.name, '--plan', planFile, '--actor', 'erin']);
    assert.equal(campaign.code, 2, campaign.stderr);
    const after = await query(4);
    assert.deepEqual(
      [after.history.length, after.rejected.length, after.phase, after.reversible],
      [before.history.length, before.rejected.length, 'pending', false],
    );
  });

  it('bad input exits 2 before anything is sent: unknown unit, the campaign as a unit, bad flags, no plan', async () => {
    for (const args of [
      ['pause', 'tenant/detections/nobody', '--plan', planFile],
      ['pause', 'payments', '--plan', planFile],
      ['reconcile', plan.name, '--plan', planFile],
      ['pause', unit(5), '--plan', planFile, '--timeout', 'soon'],
      ['status', '--plan', planFile, '--json', '--watch'],
      ['status', '--plan', path.join(dir, 'missing.yaml')],
      ['frobnicate', unit(5)],
    ]) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '', args.join(' '));
    }
    const none = await cli(['status'], {});
    assert.equal(none.code, 2, none.stderr);
    assert.equal((await client.workflow.count(`WorkflowId = "${unitWorkflowId(parseUnitName(unit(5))!)}"`)).count, 0);
  });

  it('a command to a unit that was never started exits 1', async () => {
    const r = await cli(['pause', unit(6), '--plan', planFile]);
    assert.equal(r.code, 1);
  });

  it("a command nobody confirms (no worker on the unit's task queue) exits 1 after the timeout", async () => {
    await startUnit(7, uniqueId('nobody-polls'));
    const r = await cli(['pause', unit(7), '--plan', planFile, '--timeout', '2']);
    assert.equal(r.code, 1);
  });

  it("status --json matches the workflows' state", async () => {
    await startUnit(8);
    const pause = await cli(['pause', unit(8), '--plan', planFile, '--actor', 'frank', '--reason', 'hold']);
    assert.equal(pause.code, 0, pause.stderr);
    const r = await cli(['status', unit(8), '--plan', planFile, '--json'], { CUTOVER_UI_URL: 'http://ui.test' });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as {
      plan: string;
      units: { unit: string; ring: string; workflow: string; url: string; status: UnitStatus }[];
    };
    assert.equal(doc.plan, plan.name);
    assert.equal(doc.units.length, 1);
    const row = doc.units[0]!;
    const direct = await query(8);
    assert.deepEqual(
      [
        row.unit,
        row.ring,
        row.workflow,
        row.status.phase,
        row.status.paused,
        row.status.pausedBy?.actor,
        row.status.route,
        row.status.history.length,
        row.status.id,
      ],
      [unit(8), 'ring1', 'running', direct.phase, true, 'frank', direct.route, direct.history.length, direct.id],
    );
    assert.equal(row.url, `http://ui.test/namespaces/cutover/workflows/${encodeURIComponent(direct.id)}`);

    const all = await cli(['status', '--json'], { CUTOVER_PLAN: planFile });
    assert.equal(all.code, 0, all.stderr);
    const rows = (JSON.parse(all.stdout) as typeof doc).units;
    assert.equal(rows.length, tenants.length);
    assert.equal(rows.find((u) => u.unit === unit(6))!.workflow, 'not-started');
    assert.equal(rows.find((u) => u.unit === unit(8))!.status.paused, true);
  });

  it('status prints the table in 100 columns with a UI link per unit', async () => {
    await startUnit(9);
    const r = await cli(['status', '--plan', planFile], { CUTOVER_UI_URL: 'http://ui.test' });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    for (const l of lines.filter((x) => !x.includes('http://'))) assert.ok(l.length <= 100, l);
    // The fresh tenant names are wider than the unit column, so each has a line of its own above its cells.
    const at = lines.indexOf(unit(9));
    assert.ok(at > 0, r.stdout);
    assert.match(lines[at + 1]!, /^\s+pending\s+source e0\s/);
    assert.ok(
      lines.includes(`  http://ui.test/namespaces/cutover/workflows/${encodeURIComponent(unitWorkflowId(parseUnitName(unit(9))!))}`),
    );
  });

  it('status --watch redraws until Ctrl-C and exits 0', async () => {
    await startUnit(10);
    const child = spawn(process.execPath, [BIN, 'status', unit(10), '--plan', planFile, '--watch', '--interval', '0.5'], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await until('two frames', async () => ((out.match(/Ctrl-C to stop/g) ?? []).length >= 2 ? true : undefined), 30_000);
      assert.ok(out.includes(unit(10)));
      child.kill('SIGINT');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('reconcile --json reports a clean unit (exit 0)', async () => {
    const r = await cli(['reconcile', unit(11), '--plan', planFile, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as {
      unit: string;
      clean: boolean;
      duplicates: string[];
      stranded: unknown[];
      sourceOpen: number;
      targetOpen: number;
    };
    assert.deepEqual([rep.unit, rep.clean, rep.duplicates, rep.stranded, rep.sourceOpen, rep.targetOpen], [unit(11), true, [], [], 0, 0]);
  });
});
