import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { unitViewOf } from '../../src/campaign/driver';
import { UNIT_VIEW_MEMO } from '../../src/domain/constants';
import type { UnitStatus } from '../../src/domain/migration';
import { resolveTemporalCli } from '../../src/stack/temporal-cli';
import { testStack } from '../harness';
import { CONTROL_NAMESPACE, closeShared, driveTo, Rig } from './entity.fixture';

/**
 * Sends a signal as an operator does from a shell: the plain `temporal` CLI against the control cluster,
 * with a JSON payload and no command ID unless the payload has one.
 */
async function cliSignal(r: Rig, name: string, input: Record<string, unknown>): Promise<void> {
  const args = ['workflow', 'signal', '--address', testStack().target.address, '--namespace', CONTROL_NAMESPACE];
  args.push('--workflow-id', r.workflowId, '--name', name, '--input', JSON.stringify(input));
  await promisify(execFile)(await resolveTemporalCli(), args, { timeout: 30_000 });
}

/** The history lines that record a command as a no-op. */
const noOps = (s: UnitStatus) => s.history.filter((h) => h.reason?.startsWith('no-op: '));

describe('entity workflows: operator commands and long life', function () {
  this.timeout(90_000);
  let rig: Rig | undefined;
  afterEach(async () => {
    await rig?.tearDown();
    rig = undefined;
  });
  after(closeShared);

  it('pause holds the unit in its phase; resume lets it complete', async () => {
    const r = (rig = await new Rig({ kind: 'tenant', input: { bakeMs: 800 } }).setUp());
    r.startWorkload();
    await r.start();
    await r.waitFor((s) => s.phase === 'canary' && s.route.percent !== undefined, 'first canary step');
    await r.command('pause', { actor: 'alice', reason: 'errors look odd' });
    const held = await r.waitFor((s) => s.waitingFor?.startsWith('paused by alice') === true, 'the pause to take hold');
    assert.equal(held.paused, true);
    assert.equal(held.pausedBy?.actor, 'alice');
    // Nothing moves while paused: no condition can show an absence, so watch a window longer than a bake.
    const before = held.history.length;
    await new Promise((res) => setTimeout(res, 1500));
    const still = await r.status();
    assert.equal(still.phase, held.phase);
    assert.deepEqual(still.route, held.route);
    assert.equal(still.history.length, before);
    await r.command('resume', { actor: 'alice' });
    const done = await r.waitPhase('completed', 60_000);
    assert.equal(done.paused, false);
    const w = await r.settleWorkload();
    assert.deepEqual(w.lost, []);
    assert.deepEqual(w.duplicated, []);
    assert.ok(done.history.some((h) => h.actor === 'alice' && h.reason?.startsWith('pause')));
    assert.ok(done.history.some((h) => h.actor === 'alice' && h.reason?.startsWith('resume')));
  });

  it('rejects disallowed and malformed commands visibly; a repeated commandId is a no-op', async () => {
    const r = (rig = await new Rig({ kind: 'tenant', input: { advanceMode: 'manual' } }).setUp());
    await r.start();
    await r.waitFor((s) => s.waitingFor?.includes('send advance') === true, 'pending waiting for advance');
    // Not allowed now: resume (not paused), approve (nothing waits), rollback without a reason.
    const resumeId = await r.command('resume');
    const approveId = await r.command('approve');
    const rollbackId = await r.command('rollback');
    // Malformed: no actor, no commandId, not an object.
    await r.rawSignal('advance', { commandId: 'no-actor' });
    await r.rawSignal('advance', { actor: 'bob' });
    await r.rawSignal('pause', 'please');
    const s = await r.waitFor((x) => x.rejected.length >= 6, 'six rejections');
    assert.equal(s.phase, 'pending');
    assert.equal(s.paused, false);
    const byId = (id: string) => s.rejected.find((x) => x.commandId === id);
    assert.equal(byId(resumeId)?.command, 'resume');
    assert.equal(byId(approveId)?.command, 'approve');
    assert.match(byId(rollbackId)!.reason, /^reason:/);
    assert.match(byId('no-actor')!.reason, /^actor:/);
    assert.ok(s.rejected.some((x) => x.command === 'advance' && /^commandId:/.test(x.reason)));
    assert.ok(s.rejected.some((x) => x.command === 'pause' && /^payload:/.test(x.reason)));
    assert.ok(s.rejected.every((x) => x.phase === 'pending'));

    // Dedupe: the same pause twice is one pause; after resume, that ID again changes nothing.
    await r.command('pause', { commandId: 'p-1' });
    await r.command('pause', { commandId: 'p-1' });
    await r.waitFor((x) => x.paused, 'paused');
    await r.command('resume', { commandId: 'r-1' });
    await r.waitFor((x) => !x.paused, 'resumed');
    await r.command('pause', { commandId: 'p-1' });
    await r.command('advance', { commandId: 'a-1' });
    const moved = await r.waitFor((x) => x.phase !== 'pending', 'advance out of pending');
    assert.equal(moved.paused, false, 'the repeated pause was a no-op');
    assert.equal(moved.rejected.filter((x) => x.commandId === 'p-1').length, 0, 'a repeat is not even a rejection');
    assert.equal(moved.history.filter((h) => h.reason?.startsWith('pause')).length, 1);
  });

  it('one advance with until carries a manual unit up to that phase and no further; a bad until is refused', async () => {
    const r = (rig = await new Rig({ kind: 'tenant', input: { advanceMode: 'manual' } }).setUp());
    await r.start();
    await r.waitFor((s) => s.waitingFor?.includes('send advance') === true, 'pending waiting for advance');
    await r.rawSignal('advance', { actor: 'camp', commandId: 'bad-until', until: 'rolled-back' });
    const refused = await r.waitFor((x) => x.rejected.some((j) => j.commandId === 'bad-until'), 'the bad until refused');
    assert.match(refused.rejected.find((j) => j.commandId === 'bad-until')!.reason, /^until: must be a forward phase/);
    assert.equal(refused.phase, 'pending');
    await r.rawSignal('advance', { actor: 'camp', commandId: 'to-shadow', until: 'shadow' });
    const at = await r.waitFor(
      (x) => x.phase === 'shadow' && x.waitingFor?.includes('send advance') === true,
      'shadow, waiting for the next advance',
      60_000,
    );
    assert.equal(at.advanceUntil, undefined, 'the standing advance ends where it was told to');
    // pending → preflight → provisioned → shadow, each boundary passed by the one command's actor.
    for (const phase of ['preflight', 'provisioned', 'shadow'])
      assert.ok(
        at.history.some((h) => h.phase === phase && h.actor === 'camp'),
        `${phase} entered by camp`,
      );
    assert.equal(at.history.filter((h) => h.reason?.startsWith('advance')).length, 1, 'one advance recorded');
    // The view a campaign reads by describe (memo) is the one the status query gives.
    const memo = (await r.handle().describe()).memo?.[UNIT_VIEW_MEMO];
    const { unit: _unit, workflowId: _id, ...view } = unitViewOf('u', 'w', await r.status());
    assert.deepEqual(memo, view);
    assert.equal(view.waitingOn, 'advance');
  });

  it('continues as new mid-migration with its state intact (tiny history cap)', async () => {
    const r = (rig = await new Rig({ kind: 'tenant', input: { maxHistoryEvents: 100, advanceMode: 'manual' } }).setUp());
    r.startWorkload();
    const first = await r.start();
    await driveTo(r, 'provisioned');
    await r.command('pause', { commandId: 'before-can', reason: 'marker' });
    await r.waitFor((x) => x.paused, 'paused');
    await r.command('resume', { commandId: 'resume-before-can' });
    await r.waitFor((x) => !x.paused, 'resumed');
    await driveTo(r, 'reconciling', 60_000);
    await r.command('advance');
    const done = await r.waitPhase('completed', 60_000);
    assert.ok(done.continuedAsNew >= 1, `continued as new ${done.continuedAsNew} times`);
    const d = await r.handle().describe();
    assert.notEqual(d.runId, first.firstExecutionRunId);
    // History from the first run is carried whole, in order.
    assert.equal(done.history[0]!.phase, 'pending');
    assert.deepEqual(
      done.history.map((h) => h.phase).filter((p, i, a) => a.indexOf(p) === i),
      ['pending', 'preflight', 'provisioned', 'shadow', 'canary', 'cutover', 'draining', 'reconciling', 'completed'],
    );
    assert.ok(done.history.some((h) => h.reason === 'pause by tester: marker'));
    const w = await r.settleWorkload();
    assert.deepEqual(w.lost, []);
    assert.deepEqual(w.duplicated, []);
  });

  it('an emergency rollback sent with the plain temporal CLI as {actor, reason} rolls the unit back to the source', async () => {
    // A bake far longer than the test: without the rollback the unit would sit in canary.
    const r = (rig = await new Rig({ kind: 'tenant', input: { bakeMs: 600_000 } }).setUp());
    r.startWorkload();
    await r.start();
    await r.waitFor((s) => s.phase === 'canary' && s.route.percent !== undefined, 'first canary step');
    await cliSignal(r, 'rollback', { actor: 'oncall', reason: 'emergency' });
    const done = await r.waitPhase('rolled-back', 60_000);
    assert.deepEqual(done.rejected, []);
    assert.equal(done.route.side, 'source');
    assert.equal(done.route.sourceWorkersMayStop, false);
    assert.ok(done.history.some((h) => h.phase === 'rolling-back' && h.actor === 'oncall' && h.reason === 'emergency'));
    assert.ok(done.history.some((h) => h.actor === 'oncall' && h.reason === 'rollback by oncall: emergency'));
    const w = await r.settleWorkload();
    assert.deepEqual(w.lost, []);
    assert.deepEqual(w.duplicated, []);
  });

  it('pause and rollback from the CLI need no commandId and repeat as recorded no-ops; advance without one is refused', async () => {
    const r = (rig = await new Rig({ kind: 'tenant', input: { advanceMode: 'manual' } }).setUp());
    r.startWorkload();
    await r.start();
    await driveTo(r, 'canary');
    await cliSignal(r, 'pause', { actor: 'oncall', reason: 'looking' });
    const paused = await r.waitFor((s) => s.paused, 'the pause');
    assert.equal(paused.pausedBy?.actor, 'oncall');
    assert.deepEqual(paused.rejected, []);

    await cliSignal(r, 'pause', { actor: 'oncall', reason: 'looking' });
    const again = await r.waitFor((s) => noOps(s).length === 1, 'the repeated pause recorded as a no-op');
    assert.equal(noOps(again)[0]!.reason, 'no-op: pause by oncall: looking (already paused by oncall)');
    assert.deepEqual(again.rejected, []);
    assert.equal(again.pausedBy?.at, paused.pausedBy?.at, 'still the first pause');

    await cliSignal(r, 'advance', { actor: 'oncall' });
    const refused = await r.waitFor((s) => s.rejected.length === 1, 'advance without a commandId refused');
    assert.equal(refused.rejected[0]!.command, 'advance');
    assert.equal(refused.rejected[0]!.actor, 'oncall');
    assert.match(refused.rejected[0]!.reason, /^commandId: required .*only pause and rollback may leave it out/);
    assert.equal(refused.phase, 'canary');

    // A rollback overrides the pause (the unit enters rolling-back), then waits for resume.
    await cliSignal(r, 'rollback', { actor: 'oncall', reason: 'emergency' });
    await r.waitFor((s) => s.phase === 'rolling-back' && s.waitingOn === 'resume', 'rolling back, held by the pause');
    await cliSignal(r, 'rollback', { actor: 'oncall', reason: 'emergency' });
    const twice = await r.waitFor((s) => noOps(s).length === 2, 'the repeated rollback recorded as a no-op');
    assert.equal(noOps(twice)[1]!.reason, 'no-op: rollback by oncall: emergency (already rolling back or rolled back)');
    assert.equal(twice.rejected.length, 1, 'a no-op is not a refusal');

    await r.command('resume', { actor: 'oncall' });
    const done = await r.waitPhase('rolled-back', 60_000);
    assert.equal(done.route.side, 'source');
    assert.equal(done.history.filter((h) => h.phase === 'rolling-back' && h.reason === 'emergency').length, 1, 'rolled back once');
    const w = await r.settleWorkload();
    assert.deepEqual(w.lost, []);
    assert.deepEqual(w.duplicated, []);
  });
});
