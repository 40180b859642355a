import { strict as assert } from 'node:assert';
import { TypedSearchAttributes } from '@temporalio/common';
import { TenantId } from '../../src/domain/search-attributes';
import { isSettled } from '../../src/routing/client';
import { sourceMayStop } from '../../src/routing/dual-workers';
import { RoutingInputError, RoutingRecordInvalidError, RoutingUnavailableError } from '../../src/routing/errors';
import { RouteTable } from '../../src/routing/route-table';
import type { RouteEvent, RoutingStore } from '../../src/routing/store';
import { parseEvent, parseRecord, validateRouteChange } from '../../src/routing/store';
import { UnitResolver } from '../../src/routing/tenant';
import type { Route, RoutingRecord } from '../../src/routing/types';

const rec = (route: Route, epoch: number, sourceWorkersMayStop = false, unit = 'namespace/payments'): RoutingRecord => ({
  unit,
  route,
  epoch,
  sourceWorkersMayStop,
  changedBy: 'test',
  changedAt: new Date(0).toISOString(),
});

describe('routing logic (no servers)', () => {
  describe('unit of a start', () => {
    it('takes the tenant from a workflow ID prefix, only for listed tenants', () => {
      const r = new UnitResolver('detections', { workflowIdPrefix: '{tenant}-' }, ['acme', 'globex']);
      assert.equal(r.unitOf({ workflowId: 'acme-42' }), 'tenant/detections/acme');
      assert.equal(r.unitOf({ workflowId: 'globex-scan-1' }), 'tenant/detections/globex');
      assert.equal(r.unitOf({ workflowId: 'initech-1' }), 'namespace/detections');
      assert.equal(r.unitOf({ workflowId: 'noprefix' }), 'namespace/detections');
    });

    it('supports a prefix with a fixed head', () => {
      const r = new UnitResolver('detections', { workflowIdPrefix: 'scan/{tenant}/' }, ['acme']);
      assert.equal(r.unitOf({ workflowId: 'scan/acme/42' }), 'tenant/detections/acme');
      assert.equal(r.unitOf({ workflowId: 'other/acme/42' }), 'namespace/detections');
    });

    it('routes tenants whose IDs contain the separator by the longest listed prefix', () => {
      const r = new UnitResolver('alerts', { workflowIdPrefix: '{tenant}-' }, ['t-red', 't-blue', 't']);
      assert.equal(r.unitOf({ workflowId: 't-red-live-1' }), 'tenant/alerts/t-red');
      assert.equal(r.unitOf({ workflowId: 't-blue-7' }), 'tenant/alerts/t-blue');
      assert.equal(r.unitOf({ workflowId: 't-green-1' }), 'tenant/alerts/t');
      assert.equal(r.unitOf({ workflowId: 't-red' }), 'tenant/alerts/t');
      assert.equal(r.unitOf({ workflowId: 'red-1' }), 'namespace/alerts');
      const noShort = new UnitResolver('alerts', { workflowIdPrefix: '{tenant}-' }, ['t-red', 't-blue']);
      assert.equal(noShort.unitOf({ workflowId: 't-green-1' }), 'namespace/alerts');
      assert.equal(noShort.unitOf({ workflowId: 't-red-live-1' }), 'tenant/alerts/t-red');
    });

    it('needs the tenant list for a workflow-ID prefix selector, naming the field', () => {
      for (const tenants of [undefined, []]) {
        assert.throws(
          () => new UnitResolver('alerts', { workflowIdPrefix: '{tenant}-' }, tenants),
          (e: unknown) => e instanceof RoutingInputError && e.field === 'tenants' && /tenants\.ids/.test(e.message),
        );
      }
    });

    it('takes the tenant from the TenantId search attribute (typed pairs, TypedSearchAttributes, legacy record)', () => {
      const r = new UnitResolver('detections', { searchAttribute: 'TenantId' }, ['acme']);
      assert.equal(r.unitOf({ workflowId: 'x', typedSearchAttributes: [{ key: TenantId, value: 'acme' }] }), 'tenant/detections/acme');
      assert.equal(
        r.unitOf({ workflowId: 'x', typedSearchAttributes: new TypedSearchAttributes([{ key: TenantId, value: 'acme' }]) }),
        'tenant/detections/acme',
      );
      assert.equal(r.unitOf({ workflowId: 'x', searchAttributes: { TenantId: ['acme'] } }), 'tenant/detections/acme');
      assert.equal(r.unitOf({ workflowId: 'x' }), 'namespace/detections');
    });

    it('prefers an explicit tenant option and rejects a bad one naming the field', () => {
      const r = new UnitResolver('detections', { workflowIdPrefix: '{tenant}-' }, ['acme']);
      assert.equal(r.unitOf({ workflowId: 'acme-1', tenant: 'globex' }), 'tenant/detections/globex');
      assert.throws(
        () => r.unitOf({ workflowId: 'a', tenant: '' }),
        (e: unknown) => e instanceof RoutingInputError && e.field === 'tenant',
      );
    });

    it('rejects a selector without {tenant}', () => {
      assert.throws(
        () => new UnitResolver('d', { workflowIdPrefix: 'tenant-' }, []),
        (e: unknown) => e instanceof RoutingInputError && e.field === 'tenantSelector.workflowIdPrefix',
      );
    });
  });

  describe('route changes and records', () => {
    it('rejects bad changes naming the field', () => {
      const bad: [unknown, string][] = [
        [{ route: { kind: 'percent', basisPoints: 10_001 }, actor: 'a' }, 'change.route.basisPoints'],
        [{ route: { kind: 'percent', basisPoints: 1.5 }, actor: 'a' }, 'change.route.basisPoints'],
        [{ route: { kind: 'side', side: 'elsewhere' }, actor: 'a' }, 'change.route.side'],
        [{ route: { kind: 'side', side: 'target' }, actor: ' ' }, 'change.actor'],
        [{ route: { kind: 'side', side: 'target' }, actor: 'a', sourceWorkersMayStop: 'yes' }, 'change.sourceWorkersMayStop'],
      ];
      for (const [change, field] of bad) {
        assert.throws(
          () => validateRouteChange(change as never),
          (e: unknown) => e instanceof RoutingInputError && e.field === field,
          JSON.stringify(change),
        );
      }
      validateRouteChange({ route: { kind: 'hold' }, actor: 'op' });
    });

    it('parses stored records and refuses foreign shapes', () => {
      const r = rec({ kind: 'percent', basisPoints: 1000 }, 3);
      assert.deepEqual(parseRecord('k', JSON.stringify(r)), r);
      assert.throws(() => parseRecord('k', '{"unit":"x"}'), RoutingRecordInvalidError);
      assert.throws(() => parseRecord('k', 'not json'), RoutingRecordInvalidError);
      assert.deepEqual(parseEvent(JSON.stringify({ unit: 'namespace/a', deleted: true })), { unit: 'namespace/a', deleted: true });
      assert.equal(parseEvent('garbage'), undefined);
    });

    it('knows when a unit is settled (only one cluster can hold open runs)', () => {
      assert.equal(isSettled(undefined), true);
      assert.equal(isSettled(rec({ kind: 'side', side: 'source' }, 1)), true);
      assert.equal(isSettled(rec({ kind: 'side', side: 'source' }, 4)), false, 'rolled back: runs may remain on the target');
      assert.equal(isSettled(rec({ kind: 'side', side: 'target' }, 4)), false, 'draining');
      assert.equal(isSettled(rec({ kind: 'side', side: 'target' }, 5, true)), true);
      assert.equal(isSettled(rec({ kind: 'percent', basisPoints: 10 }, 2)), false);
      assert.equal(isSettled(rec({ kind: 'hold' }, 2)), false);
    });

    it('lets the source workers stop only when every unit says so', () => {
      assert.equal(sourceMayStop([]), false);
      assert.equal(sourceMayStop([undefined]), false);
      assert.equal(sourceMayStop([rec({ kind: 'side', side: 'target' }, 5, true), undefined]), false);
      assert.equal(sourceMayStop([rec({ kind: 'side', side: 'target' }, 5, true), rec({ kind: 'side', side: 'target' }, 3, false)]), false);
      assert.equal(sourceMayStop([rec({ kind: 'side', side: 'target' }, 5, true), rec({ kind: 'side', side: 'target' }, 3, true)]), true);
    });
  });

  describe('route table', () => {
    // A stand-in for the store: this layer's logic (staleness, ordering) needs no Redis; the
    // integration tests run it against a real one.
    function fakeStore(records: Map<string, RoutingRecord>) {
      let fail = false;
      let push: ((e: RouteEvent) => void) | undefined;
      const store = {
        getMany: async (units: string[]) => {
          if (fail) throw new Error('down');
          return units.map((u) => records.get(u));
        },
        get: async (u: string) => {
          if (fail) throw new Error('down');
          return records.get(u);
        },
        subscribe: async (fn: (e: RouteEvent) => void) => {
          push = fn;
          return { close: async () => undefined };
        },
      } as unknown as RoutingStore;
      return { store, setFail: (f: boolean) => (fail = f), push: (e: RouteEvent) => push?.(e) };
    }

    it('keeps the last known routes until the staleness bound, then fails closed, then recovers', async () => {
      const records = new Map([['namespace/p', rec({ kind: 'side', side: 'target' }, 2, false, 'namespace/p')]]);
      const f = fakeStore(records);
      let now = 1_000;
      const table = new RouteTable({ store: f.store, units: ['namespace/p'], refreshMs: 60_000, stalenessMs: 5_000, now: () => now });
      await table.start();
      try {
        f.setFail(true);
        now += 4_000;
        await table.refresh(false);
        assert.equal(table.lookup('namespace/p')?.route.kind, 'side');
        now += 2_000;
        await table.refresh(false);
        assert.throws(
          () => table.lookup('namespace/p'),
          (e: unknown) => e instanceof RoutingUnavailableError && e.retryable,
        );
        f.setFail(false);
        await table.refresh(false);
        assert.equal(table.lookup('namespace/p')?.epoch, 2);
      } finally {
        await table.close();
      }
    });

    it('does not read a record that vanished without a deletion (Redis data loss) as "source"', async () => {
      const records = new Map([['namespace/p', rec({ kind: 'percent', basisPoints: 5000 }, 3, false, 'namespace/p')]]);
      const f = fakeStore(records);
      let now = 0;
      const table = new RouteTable({ store: f.store, units: ['namespace/p'], refreshMs: 60_000, stalenessMs: 1_000, now: () => now });
      await table.start();
      try {
        records.clear();
        await table.refresh(true);
        assert.equal(table.lookup('namespace/p')?.epoch, 3, 'the last known route is kept');
        now += 1_500;
        await table.refresh(true);
        assert.throws(() => table.lookup('namespace/p'), RoutingUnavailableError);
        records.set('namespace/p', rec({ kind: 'percent', basisPoints: 5000 }, 1, false, 'namespace/p'));
        await table.refresh(true);
        assert.equal(table.lookup('namespace/p')?.epoch, 1, 'the restored record is used whatever its epoch');
      } finally {
        await table.close();
      }
    });

    it('never lets an older record undo a newer one, and wakes waiters on change', async () => {
      const records = new Map([['namespace/p', rec({ kind: 'hold' }, 3, false, 'namespace/p')]]);
      const f = fakeStore(records);
      const table = new RouteTable({ store: f.store, units: ['namespace/p'], refreshMs: 60_000, stalenessMs: 60_000 });
      await table.start();
      try {
        const waiting = table.waitForChange('namespace/p', 10_000);
        f.push({ unit: 'namespace/p', record: rec({ kind: 'side', side: 'target' }, 4, false, 'namespace/p') });
        await waiting;
        assert.equal(table.lookup('namespace/p')?.epoch, 4);
        await table.refresh(true); // the store still holds epoch 3
        assert.equal(table.lookup('namespace/p')?.epoch, 4);
        f.push({ unit: 'namespace/p', deleted: true });
        assert.equal(table.lookup('namespace/p'), undefined);
      } finally {
        await table.close();
      }
    });
  });
});
