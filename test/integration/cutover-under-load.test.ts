/**
 * The short version of `npm run bench:cutover` (bench/lib/cutover-run.ts), as a test: two minutes of
 * open-loop starts through routed clients while a namespace steps 10 → 25 → 50 → 100 % and a tenant is
 * moved to draining, rolled back and moved again (its schedule switched each way), with every fault of the
 * benchmark injected once (a start that succeeds on the server while the application gives up on it, Redis
 * SIGKILLed and restarted, the subscription dropped, the cutover and application workers SIGKILLed, a
 * partition and added latency on the applications' links, the source and the target SIGKILLed and
 * restarted on their data). Then the ledger is reconciled against both clusters.
 *
 * Counts only, no timings: the rate is fixed and low (the benchmark measures the knee and reports the
 * latencies); what is asserted is the guarantee — nothing lost, duplicated, misrouted or stranded, every
 * unknown outcome settled, no schedule fire doubled or lost.
 */
import assert from 'node:assert/strict';
import { runCutoverUnderLoad } from '../../bench/lib/cutover-run';

describe('a live cutover under load and faults, checked by a ledger (bench:cutover, short)', function () {
  this.timeout(12 * 60_000);
  this.slow(240_000);

  it('two minutes: both units completed, every fault healed; nothing lost, duplicated, misrouted or stranded', async () => {
    const lines: string[] = [];
    const r = await runCutoverUnderLoad({
      minutes: 2,
      fraction: 0.5,
      ratePerSec: 6,
      quick: true,
      log: (l) => lines.push(l),
    });
    const c = r.reconciliation;
    const tell = `\n${lines.slice(-60).join('\n')}\n${JSON.stringify({ ...c, lost: c.lost.slice(0, 5) })}`;
    console.log(
      `      ${c.acked} acknowledged of ${c.issued} (${c.unknown} unknown, ${c.failed} refused); ${c.onSource} on the source, ` +
        `${c.onTarget} on the target; ${r.flips.changes} route changes; ${r.schedule.fires} schedule fires; ${r.faults.length} faults`,
    );
    // The scenario ran: both units ended where they were sent, each fault was injected and healed.
    assert.match(r.phases.namespace, /^completed /, tell);
    assert.match(r.phases.tenant, /^completed /, tell);
    assert.deepEqual(r.faultFailures, [], tell);
    const healed = r.ledger.timeline.filter((e) => e.kind === 'healed').length;
    assert.equal(healed, r.faults.length, `every fault healed${tell}`);
    assert.ok(r.faults.length >= 9, tell);
    assert.ok(r.flips.rollbackMs.length >= 1, `the tenant's rollback reached the routed client${tell}`);
    // The load ran on both sides of the moves.
    assert.ok(c.acked >= 300, `acknowledged ${c.acked}${tell}`);
    assert.ok(c.onSource > 0 && c.onTarget > 0, tell);
    // The guarantee, counted.
    assert.deepEqual(c.lost, [], `lost${tell}`);
    assert.deepEqual(c.duplicated, [], `duplicated${tell}`);
    assert.deepEqual(c.misrouted, [], `misrouted${tell}`);
    assert.deepEqual(c.stranded, [], `stranded${tell}`);
    assert.deepEqual(c.failedButRan, [], `refused but ran${tell}`);
    assert.equal(c.unknownResolved, c.unknown, `every unknown outcome settled${tell}`);
    assert.ok(r.schedule.fires > 0, tell);
    assert.equal(r.schedule.doubleFires, 0, `schedule fires on both clusters${tell}`);
    assert.equal(r.schedule.lostFires, 0, `schedule fires lost${tell}`);
  });
});
