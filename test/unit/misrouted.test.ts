import assert from 'node:assert/strict';
import { routedSide } from '../../src/activities/cluster';
import { reconcileRouteOf } from '../../src/activities/routing';
import { formatReconcile } from '../../src/cockpit/reconcile';
import { bucketOf } from '../../src/routing/hash';
import type { RoutingRecord } from '../../src/routing/types';

const record = (route: RoutingRecord['route']): RoutingRecord => ({
  unit: 'tenant/alerts/t-red',
  route,
  epoch: 3,
  sourceWorkersMayStop: false,
  changedBy: 'cutover',
  changedAt: '2026-11-25T09:00:00.000Z',
});

describe('misrouted runs (no servers)', () => {
  it("the route reconcile judges by is the record's, with its change time and the clients' staleness bound", () => {
    assert.deepEqual(reconcileRouteOf(record({ kind: 'side', side: 'target' }), 1500), {
      kind: 'side',
      side: 'target',
      percent: undefined,
      changedAt: '2026-11-25T09:00:00.000Z',
      graceMs: 1500,
    });
    const pct = reconcileRouteOf(record({ kind: 'percent', basisPoints: 2500 }));
    assert.equal(pct.percent, 25);
    assert.equal(pct.graceMs, undefined);
    assert.equal(reconcileRouteOf(record({ kind: 'hold' })).kind, 'hold');
  });

  it('a side route gives its side; a percentage the hash bucket; a hold no verdict', () => {
    const at = '2026-11-25T09:00:00.000Z';
    assert.equal(routedSide({ kind: 'side', side: 'target', changedAt: at }, 't-red-live-1'), 'target');
    assert.equal(routedSide({ kind: 'side', side: 'source', changedAt: at }, 't-red-live-1'), 'source');
    assert.equal(routedSide({ kind: 'hold', changedAt: at }, 't-red-live-1'), undefined);
    for (let i = 0; i < 200; i++) {
      const id = `t-red-live-${i}`;
      assert.equal(routedSide({ kind: 'percent', percent: 30, changedAt: at }, id), bucketOf(id) < 3000 ? 'target' : 'source', id);
    }
  });

  it('the text report lists misrouted runs, is not clean, and says how to fix it', () => {
    const text = formatReconcile('tenant/alerts/t-red', {
      clean: false,
      sourceOpen: 1,
      targetOpen: 0,
      duplicates: [],
      stranded: [],
      misrouted: [
        {
          workflowId: 't-red-stray-1',
          runId: 'r1',
          side: 'source',
          startedAt: '2026-11-25T09:01:00.000Z',
          why: 'started on the source at 2026-11-25T09:01:00.000Z; the route has sent it to the target since 2026-11-25T09:00:00.000Z',
        },
      ],
      at: '2026-11-25T09:02:00.000Z',
    });
    assert.match(text, /^reconcile tenant\/alerts\/t-red: NOT CLEAN .* 0 duplicate\(s\), 0 stranded, 1 misrouted/);
    assert.match(text, /\n {2}misrouted {2}t-red-stray-1 \(run r1\): started on the source/);
    assert.match(text, /fix \(misrouted\): .*RoutedClient/);
    const clean = formatReconcile('tenant/alerts/t-red', {
      clean: true,
      sourceOpen: 0,
      targetOpen: 0,
      duplicates: [],
      stranded: [],
      misrouted: [],
      at: '2026-11-25T09:02:00.000Z',
    });
    assert.match(clean, /clean .* 0 misrouted/);
    assert.doesNotMatch(clean, /fix/);
  });
});
