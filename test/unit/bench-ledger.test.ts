/**
 * The ledger's figures of bench:cutover (bench/lib/ledger.ts): availability and p99 around route changes,
 * and how long a rollback took to reach every client, from hand-written ledgers.
 */
import * as assert from 'node:assert/strict';
import { flipFigures, Ledger, OpenLoop, type LedgerEntry } from '../../bench/lib/ledger';

const U = 'tenant/detections/t1';

function ledgerOf(entries: Partial<LedgerEntry>[], timeline: Ledger['timeline']): Ledger {
  const l = new Ledger();
  entries.forEach((e, i) => l.entries.push({ workflowId: `w${i}`, unit: U, intendedMs: 0, ...e }));
  l.timeline.push(...timeline);
  return l;
}

describe('bench ledger', () => {
  it('counts availability and p99 inside ±5 s of each route change, each epoch once', () => {
    const l = ledgerOf(
      [
        { intendedMs: 0, endMs: 10, outcome: 'ok' },
        { intendedMs: 20_000, endMs: 20_100, outcome: 'ok' },
        { intendedMs: 21_000, outcome: 'failed', endMs: 21_005 },
        { intendedMs: 40_000, endMs: 40_020, outcome: 'ok' },
      ],
      [
        { atMs: 20_500, kind: 'route', unit: U, epoch: 2, detail: '' },
        // The same epoch seen again (another client, a refresh): not a second change.
        { atMs: 39_000, kind: 'route', unit: U, epoch: 2, detail: '' },
      ],
    );
    const f = flipFigures(l);
    assert.equal(f.changes, 1);
    assert.equal(f.flipAvailability, 0.5);
    assert.equal(f.flipP99Ms, 100);
    assert.equal(f.baseP99Ms, 20);
    assert.equal(f.p99Inflation, 5);
  });

  it('times a rollback from the signal to just after the last new start still decided for the target', () => {
    const l = ledgerOf(
      [
        { intendedMs: 900, endMs: 950, outcome: 'ok', decided: 'target' },
        { intendedMs: 1_100, endMs: 1_150, outcome: 'ok', decided: 'target' },
        { intendedMs: 1_300, endMs: 1_350, outcome: 'ok', decided: 'source' },
        { intendedMs: 1_400, endMs: 1_450, outcome: 'ok', decided: 'target' },
        { intendedMs: 1_500, endMs: 1_550, outcome: 'ok', decided: 'source' },
      ],
      [{ atMs: 1_000, kind: 'signal', unit: U, command: 'rollback', detail: '' }],
    );
    assert.deepEqual(flipFigures(l).rollbackMs, [400]);
  });

  it('leaves out of the availability the starts inside an injected fault, and counts them', () => {
    const l = ledgerOf(
      [
        { intendedMs: 19_000, endMs: 19_010, outcome: 'ok' },
        // Given up on by the client-timeout fault: its window, not the route change, refused it.
        { intendedMs: 20_200, outcome: 'unknown' },
        { intendedMs: 21_000, outcome: 'failed', endMs: 21_005 },
        { intendedMs: 22_000, endMs: 22_010, outcome: 'ok' },
      ],
      [
        { atMs: 20_000, kind: 'fault', detail: 'client timeout' },
        { atMs: 20_500, kind: 'route', unit: U, epoch: 3, detail: '' },
        { atMs: 20_600, kind: 'healed', detail: 'client timeout' },
      ],
    );
    const f = flipFigures(l);
    assert.equal(f.flipStartsInFaults, 1);
    assert.equal(f.flipAvailability, 2 / 3);
  });

  it("ends a rollback's window at the unit's next command (the move started again)", () => {
    const l = ledgerOf(
      [
        { intendedMs: 1_100, endMs: 1_150, outcome: 'ok', decided: 'target' },
        { intendedMs: 1_300, endMs: 1_350, outcome: 'ok', decided: 'source' },
        // After the next move began: its own starts to the target, not the rollback's.
        { intendedMs: 9_000, endMs: 9_050, outcome: 'ok', decided: 'target' },
      ],
      [
        { atMs: 1_000, kind: 'signal', unit: U, command: 'rollback', detail: '' },
        { atMs: 5_000, kind: 'signal', unit: U, command: 'start', detail: '' },
      ],
    );
    assert.deepEqual(flipFigures(l).rollbackMs, [300]);
  });

  it('records a start the application gave up on as unknown, even when it succeeds later', async () => {
    const l = new Ledger();
    let release!: () => void;
    const loop = new OpenLoop(l, {
      ratePerSec: 1000,
      giveUpMs: () => 0,
      next: (seq) => ({
        workflowId: `w${seq}`,
        unit: U,
        start: () => new Promise((r) => (release = () => r({ decided: 'source', epoch: 1 }))),
      }),
    });
    loop.start();
    await new Promise((r) => setTimeout(r, 5));
    const stopping = loop.stop();
    release();
    await stopping;
    assert.ok(l.entries.length >= 1);
    assert.equal(l.entries[0]!.outcome, 'unknown');
    assert.equal(l.entries[0]!.decided, undefined);
  });
});
