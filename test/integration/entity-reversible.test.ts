import assert from 'node:assert/strict';
import { Client } from '@temporalio/client';
import { sendCommand } from '../../src/cockpit/commands';
import { CockpitInputError } from '../../src/cockpit/errors';
import type { CockpitTarget } from '../../src/cockpit/target';
import { unitName } from '../../src/domain/ids';
import type { UnitStatus } from '../../src/domain/migration';
import { closeShared, CONTROL_NAMESPACE, driveTo, Rig, sharedRig } from './entity.fixture';

// Reversible until finalized: a unit whose input sets finalizeAfterMs completes with its source workers still
// running and its workflow still open. A rollback then needs two approvals from operators other than the one
// who asked, and moves the unit back through the same compensations as any rollback; `finalize`, or the
// deadline, makes it final (the route says the source's workers may stop) and the workflow ends.
describe('entity workflows: reversible until finalized', function () {
  this.timeout(120_000);
  let rig: Rig | undefined;
  let control: Client | undefined;
  afterEach(async () => {
    await rig?.tearDown();
    rig = undefined;
  });
  after(closeShared);

  const cockpit = async () => (control ??= new Client({ connection: (await sharedRig()).conn.target, namespace: CONTROL_NAMESPACE }));
  const targetOf = (r: Rig): CockpitTarget => ({
    kind: 'unit',
    name: unitName(r.input.unit),
    ref: r.input.unit,
    ring: 'ring0',
    workflowId: r.workflowId,
  });
  const approve = (r: Rig, actor: string, s: UnitStatus) =>
    r.rawSignal('approve', { actor, commandId: `${r.tag}-approve-${actor}`, ...s.reversal!.binding });

  it('completed stays reversible; one approval is not enough; two roll it back to the source with nothing lost', async () => {
    const r = (rig = await new Rig({ kind: 'tenant', input: { finalizeAfterMs: 'never' } }).setUp());
    r.startWorkload();
    await r.start();
    const done = await r.waitPhase('completed', 60_000);
    assert.equal(done.reversible, true);
    assert.equal(done.reversibleUntil, 'finalize');
    assert.equal(done.route.side, 'target');
    // Not final: a rollback still needs the source's workers.
    assert.equal(done.route.sourceWorkersMayStop, false);
    assert.equal((await r.handle().describe()).status.name, 'RUNNING');

    await r.command('rollback', { actor: 'carol', reason: 'latency on the target' });
    const asked = await r.waitFor((s) => !!s.reversal, 'the rollback request');
    assert.equal(asked.reversal!.requestedBy, 'carol');
    assert.equal(asked.reversal!.required, 2);
    // The requester cannot approve their own rollback.
    await approve(r, 'carol', asked);
    const self = await r.waitFor((s) => s.rejected.some((x) => x.command === 'approve'), 'the self-approval refused');
    assert.equal(self.rejected.find((x) => x.command === 'approve')!.code, 'self-approval');
    await approve(r, 'alice', asked);
    // The wait's reason is rewritten once the unit has looked again (after mirroring the approval to its audit stream).
    const one = await r.waitFor(
      (s) => s.reversal?.approvals.length === 1 && /waiting for 1 more approval/.test(s.waitingFor ?? ''),
      'one approval',
    );
    // One approval: the unit stays completed, on the target.
    assert.equal(one.phase, 'completed');
    assert.equal(one.route.side, 'target');

    await approve(r, 'bob', asked);
    const back = await r.waitPhase('rolled-back', 60_000);
    const w = await r.settleWorkload();
    assert.ok(r.accepted.length > 0);
    assert.deepEqual(w.lost, []);
    assert.deepEqual(w.duplicated, []);
    assert.deepEqual(w.open, []);
    assert.equal(back.route.side, 'source');
    assert.equal(back.route.sourceWorkersMayStop, false);
    assert.equal(back.reversible, false);
    assert.deepEqual(back.reconcile?.duplicates, []);
    assert.deepEqual(back.reconcile?.stranded, []);
    const rb = back.history.find((h) => h.phase === 'rolling-back');
    assert.equal(rb?.actor, 'carol');
    assert.match(rb?.reason ?? '', /approved by alice and bob/);
    assert.ok(
      back.compensations.some((c) => c.name === 'route back to the source') && back.compensations.every((c) => c.done),
      JSON.stringify(back.compensations),
    );
    assert.equal((await r.handle().describe()).status.name, 'COMPLETED');
  });

  it('finalize: refused before completion (nothing sent); then final, the workflow ends, a rollback is refused', async () => {
    const input = { finalizeAfterMs: 'never' as const, advanceMode: 'manual' as const, bakeMs: 300 };
    const r = (rig = await new Rig({ kind: 'tenant', input }).setUp());
    await r.start();
    const client = await cockpit();
    const shadow = await driveTo(r, 'shadow');
    await assert.rejects(
      sendCommand(client, { target: targetOf(r), command: 'finalize', actor: 'alice' }),
      (e: unknown) =>
        e instanceof CockpitInputError && e.field === '<unit>' && /is shadow; finalize makes a completed unit final/.test(e.message),
    );
    // Nothing was sent: no refusal recorded, nothing changed.
    const still = await r.status();
    assert.deepEqual(still.rejected, shadow.rejected);
    assert.equal(still.phase, 'shadow');

    await driveTo(r, 'completed', 60_000);
    const reason = 'target healthy for a day';
    const out = await sendCommand(client, { target: targetOf(r), command: 'finalize', actor: 'alice', reason });
    assert.equal(out.applied, true);
    await r.waitFor((s) => !!s.finalized, 'finalized');
    const closed = await r.handle().result();
    const final = closed as UnitStatus;
    assert.equal(final.phase, 'completed');
    assert.equal(final.reversible, false);
    assert.equal(final.finalized?.how, 'command');
    assert.equal(final.finalized?.actor, 'alice');
    assert.equal(final.route.side, 'target');
    assert.equal(final.route.sourceWorkersMayStop, true);
    assert.equal((await r.handle().describe()).status.name, 'COMPLETED');
    // A rollback (or another finalize) of a final unit: bad input, exit 2, nothing sent.
    for (const command of ['rollback', 'finalize'] as const)
      await assert.rejects(
        sendCommand(client, { target: targetOf(r), command, actor: 'bob', reason: 'too late' }),
        (e: unknown) => e instanceof CockpitInputError && /is final/.test(e.message),
      );
  });

  it('finalizeAfter: the deadline finalizes the unit on its own', async () => {
    const r = (rig = await new Rig({ kind: 'tenant', input: { finalizeAfterMs: 3_000 } }).setUp());
    await r.start();
    const done = await r.waitPhase('completed', 60_000);
    assert.equal(done.reversible, true);
    const until = Date.parse(done.reversibleUntil!);
    assert.ok(Number.isFinite(until), done.reversibleUntil);
    const final = (await r.handle().result()) as UnitStatus;
    assert.equal(final.finalized?.how, 'deadline');
    assert.equal(final.route.sourceWorkersMayStop, true);
    const at = Date.parse(final.finalized!.at);
    assert.ok(at >= until, `finalized at ${final.finalized!.at}, not before ${done.reversibleUntil}`);
  });
});
