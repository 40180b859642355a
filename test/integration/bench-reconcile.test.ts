/**
 * bench:cutover's reconcile (bench/lib/ledger.ts, reconcileLedger) on the real test stack: a ledger checked
 * against both clusters by listing each side's runs once, describing only what the listing cannot vouch
 * for (an ID listed nowhere, or still running). Every verdict (clean, lost, duplicated on two clusters or
 * twice on one, misrouted, stranded, an unknown outcome that ran) comes out as describing each start did.
 */
import * as assert from 'node:assert/strict';
import { Client, Connection, WorkflowIdReusePolicy } from '@temporalio/client';
import { Ledger, reconcileLedger, type LedgerEntry } from '../../bench/lib/ledger';
import type { Side } from '../../src/routing/types';
import { testStack, uniqueId } from '../harness';
import { until } from '../harness/wait';

const NS = 'payments';
const UNIT = 'namespace/payments';

describe('bench ledger: reconcile by listing (real clusters)', function () {
  this.timeout(120_000);
  let conns: Connection[] = [];
  let clients: Record<Side, Client>;

  before(async () => {
    const s = testStack();
    conns = [await Connection.connect({ address: s.source.address }), await Connection.connect({ address: s.target.address })];
    clients = {
      source: new Client({ connection: conns[0]!, namespace: NS }),
      target: new Client({ connection: conns[1]!, namespace: NS }),
    };
  });
  after(async () => {
    await Promise.all(conns.map((c) => c.close()));
  });

  it('lists each side once and describes only the IDs listed nowhere or running; every verdict as by describes', async () => {
    const tq = uniqueId('rec');
    const id = (name: string) => `${tq}-${name}`;
    // No worker polls `tq`: a run stays running until terminated, which closes it.
    const run = async (side: Side, name: string, close = true) => {
      const h = await clients[side].workflow.start('benchNoop', {
        taskQueue: tq,
        workflowId: id(name),
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      });
      if (close) await h.terminate('closed by the test');
    };
    for (const n of ['ok1', 'ok2', 'ok3']) await run('source', n);
    await run('target', 'ok4');
    await run('target', 'misrouted'); // the ledger says source
    await run('source', 'both');
    await run('target', 'both');
    await run('source', 'twice');
    await run('source', 'twice'); // a second run of the ID on the same cluster
    await run('source', 'stranded', false);
    await run('target', 'unknown-ran');
    const entries: [string, LedgerEntry['outcome'], Side | undefined][] = [
      ['ok1', 'ok', 'source'],
      ['ok2', 'ok', 'source'],
      ['ok3', 'ok', 'source'],
      ['ok4', 'ok', 'target'],
      ['misrouted', 'ok', 'source'],
      ['both', 'ok', 'source'],
      ['twice', 'ok', 'source'],
      ['stranded', 'ok', 'source'],
      ['lost', 'ok', 'target'],
      ['unknown-ran', 'unknown', undefined],
      ['unknown-never', 'unknown', undefined],
      ['refused', 'failed', undefined],
    ];
    const ledger = new Ledger();
    for (const [name, outcome, decided] of entries)
      ledger.entries.push({ workflowId: id(name), unit: UNIT, intendedMs: 0, endMs: 1, outcome, ...(decided ? { decided } : {}) });
    const query = `TaskQueue = "${tq}"`;
    // Visibility has caught up with all 11 runs (7 on the source, 4 on the target), as after bench:cutover's drain.
    await until('visibility to list every run', async () => {
      const [s, t] = await Promise.all([clients.source.workflow.count(query), clients.target.workflow.count(query)]);
      return s.count === 7 && t.count === 4;
    });

    const r = await reconcileLedger(
      ledger,
      () => clients,
      undefined,
      () => query,
    );
    // Described: the IDs listed nowhere (lost, unknown-never, refused) and the one still running (stranded).
    assert.deepEqual(r.reads, { listedRuns: 11, describes: 2 * 4 });
    assert.deepEqual(r.lost, [id('lost')]);
    assert.deepEqual(r.duplicated.sort(), [id('both'), id('twice')].sort());
    assert.deepEqual(r.misrouted, [id('misrouted')]);
    assert.deepEqual(r.stranded, [id('stranded')]);
    assert.equal(r.acked, 9);
    assert.equal(r.unknown, 2);
    assert.equal(r.unknownResolved, 2);
    assert.equal(r.unknownRan, 1);
    assert.equal(r.failed, 1);
    assert.deepEqual(r.failedButRan, []);

    // The same ledger described start by start: the same verdicts.
    const d = await reconcileLedger(ledger, () => clients);
    assert.equal(d.reads.describes, 2 * entries.length);
    for (const k of ['lost', 'misrouted', 'stranded'] as const) assert.deepEqual(d[k], r[k], k);
    // Describing sees the latest run of an ID only: the second run on one cluster is the listing's alone.
    assert.deepEqual(d.duplicated, [id('both')]);
    await clients.source.workflow.getHandle(id('stranded')).terminate('test over');
  });
});
