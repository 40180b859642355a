import { strict as assert } from 'node:assert';
import { TypedSearchAttributes } from '@temporalio/common';
import { TenantId } from '../../src/domain/search-attributes';
import { isSettled } from '../../src/routing/client';
import { sourceMayStop } from '../../src/routing/dual-workers';
import { RoutingInputError, RoutingRecordInvalidError, RoutingUnavailableError } from '../../src/routing/errors';
import { RouteTable } from '../../src/routing/route-table';
import type { RouteHint, RoutingStore } from '../../src/routing/store';
import {
  PLACEMENT_MAX_FUTURE_MS,
  parseHint,
  parsePlacement,
  parseRecord,
  parseSweep,
  placementSchema,
  sweepSchema,
  readRecord,
  validatePlacement,
  validateRouteChange,
} from '../../src/routing/store';
import { UnitResolver } from '../../src/routing/tenant';
import type { Route, RoutingRecord } from '../../src/routing/types';
import { until } from '../harness/wait';

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
      assert.deepEqual(parseRecord('k', JSON.stringify({ ...r, restoredFrom: 2 })), { ...r, restoredFrom: 2 });
      assert.throws(() => parseRecord('k', '{"unit":"x"}'), RoutingRecordInvalidError);
      assert.throws(() => parseRecord('k', 'not json'), RoutingRecordInvalidError);
      assert.deepEqual(parseHint(JSON.stringify({ unit: 'namespace/a', deleted: true })), { unit: 'namespace/a' });
      assert.deepEqual(parseHint(JSON.stringify(r)), { unit: 'namespace/payments' }, 'a message names a unit, nothing more');
      for (const garbage of ['garbage', 'null', '{"unit":5}', '{"unit":""}']) assert.equal(parseHint(garbage), undefined, garbage);
    });

    it('refuses records whose values are wrong, naming the field and the repair command', () => {
      const base = rec({ kind: 'side', side: 'target' }, 4);
      const cases: [string, unknown][] = [
        ['epoch', { ...base, epoch: '4' }],
        ['epoch', { ...base, epoch: 4.5 }],
        ['epoch', { ...base, epoch: 0 }],
        ['epoch', { ...base, epoch: 2 ** 60 }],
        ['route.side', { ...base, route: { kind: 'side', side: 'elsewhere' } }],
        ['route.basisPoints', { ...base, route: { kind: 'percent', basisPoints: 10_001 } }],
        ['changedAt', { ...base, changedAt: 'yesterday' }],
        ['sourceWorkersMayStop', { ...base, sourceWorkersMayStop: 'yes' }],
        ['restoredFrom', { ...base, restoredFrom: 4 }],
        ['unit', { ...base, unit: 'namespace/other' }],
      ];
      for (const [field, value] of cases) {
        assert.throws(
          () => parseRecord('cutover:route:namespace/payments', JSON.stringify(value), 'namespace/payments'),
          (e: unknown) =>
            e instanceof RoutingRecordInvalidError &&
            e.problem.startsWith(`${field}:`) &&
            e.unit === 'namespace/payments' &&
            e.message.includes('cutover route repair namespace/payments'),
          `${field}: ${JSON.stringify(value)}`,
        );
      }
      // Read without throwing: one value's problem is its unit's alone.
      const read = readRecord('k', 'namespace/payments', '{"epoch":"x"}');
      assert.equal(read.record, undefined);
      assert.ok(read.invalid instanceof RoutingRecordInvalidError);
      assert.deepEqual(readRecord('k', 'namespace/payments', null), { unit: 'namespace/payments', raw: null });
    });

    it('validates placements: a wrong side, a fractional epoch or a claim time far ahead is invalid, never trusted', () => {
      const now = 1_700_000_000_000;
      const ok = { side: 'target', epoch: 3, at: now, pending: true };
      assert.deepEqual(parsePlacement(JSON.stringify(ok), now), { state: 'valid', placement: ok, raw: JSON.stringify(ok) });
      const bad: [string, unknown][] = [
        ['side', { ...ok, side: 'elsewhere' }],
        ['epoch', { ...ok, epoch: 1.5 }],
        ['epoch', { ...ok, epoch: -1 }],
        ['at', { ...ok, at: now + PLACEMENT_MAX_FUTURE_MS + 1 }],
        ['at', { ...ok, at: 0 }],
        ['pending', { ...ok, pending: 'yes' }],
      ];
      for (const [field, value] of bad) {
        const read = parsePlacement(JSON.stringify(value), now);
        assert.ok(read.state === 'invalid' && read.problem.startsWith(`${field}:`), `${field}: ${JSON.stringify(read)}`);
      }
      assert.equal(parsePlacement('{', now).state, 'invalid');
      assert.throws(
        () => validatePlacement({ side: 'target', epoch: 1, at: Number.NaN }, now),
        (e: unknown) => e instanceof RoutingInputError && e.field === 'placement.at',
      );
    });

    it('reads placements and sweep markers exactly as their schemas do (the start path checks them without the schema)', () => {
      const now = 1_700_000_000_000;
      // Every combination of field values, valid and not: the plain checks on the start path must agree with
      // the schema on each (valid or not, and the same record), and a record must be valid to be written.
      const sides: unknown[] = ['source', 'target', 'Source', '', null, 1];
      const wholes: unknown[] = [0, 1, 7, now, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, -1, 1.5, '3', null, true];
      const pendings: unknown[] = [undefined, true, false, null, 'yes', 0];
      let checked = 0;
      for (const side of sides)
        for (const epoch of wholes)
          for (const at of wholes)
            for (const pending of pendings) {
              const value: Record<string, unknown> = { side, epoch, at, extra: 'ignored' };
              if (pending !== undefined) value.pending = pending;
              const json = JSON.stringify(value);
              const bySchema = placementSchema.safeParse(JSON.parse(json));
              const valid = bySchema.success && bySchema.data.at <= now + PLACEMENT_MAX_FUTURE_MS;
              const read = parsePlacement(json, now);
              assert.equal(read.state === 'valid', valid, json);
              if (read.state === 'valid' && bySchema.success) assert.deepEqual(read.placement, bySchema.data, json);
              if (valid) validatePlacement(value as never, now);
              else assert.throws(() => validatePlacement(value as never, now), RoutingInputError, json);
              checked++;
            }
      assert.equal(checked, sides.length * wholes.length ** 2 * pendings.length);
      for (const bad of ['[]', 'null', '"x"', '7', '[{"side":"source","epoch":1,"at":1}]'])
        assert.equal(parsePlacement(bad, now).state, 'invalid', bad);

      // Sweep markers: the same text twice reads the same (a cached marker is not shared to be changed).
      for (const epoch of wholes)
        for (const validUntil of [now, now + 1, 1.5, 'x']) {
          const json = JSON.stringify({ epoch, at: now, validUntil });
          const s = sweepSchema.safeParse(JSON.parse(json));
          const expected = s.success && s.data.validUntil > s.data.at ? s.data : undefined;
          for (let twice = 0; twice < 2; twice++) {
            const m = parseSweep(json);
            assert.deepEqual(m, expected, json);
            if (m) m.validUntil = 0;
          }
        }
      assert.equal(parseSweep('{'), undefined);
      assert.equal(parseSweep(null), undefined);
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
    // A stand-in for Redis: this layer's logic (staleness, ordering, hints) needs no server, and the values
    // go through the real parse; the integration tests run the table against a real Redis.
    function fakeStore(initial: Record<string, RoutingRecord | string> = {}) {
      const raws = new Map<string, string>();
      const put = (unit: string, value: RoutingRecord | string | undefined) => {
        if (value === undefined) raws.delete(unit);
        else raws.set(unit, typeof value === 'string' ? value : JSON.stringify(value));
      };
      for (const [u, v] of Object.entries(initial)) put(u, v);
      let fail = false;
      let reads = 0;
      let push: ((h: RouteHint) => void) | undefined;
      const key = (u: string) => `t:route:${u}`;
      const store = {
        routeKey: key,
        readMany: async (units: string[]) => {
          reads++;
          if (fail) throw new Error('down');
          return units.map((u) => readRecord(key(u), u, raws.get(u) ?? null));
        },
        read: async (u: string) => {
          reads++;
          if (fail) throw new Error('down');
          return readRecord(key(u), u, raws.get(u) ?? null);
        },
        subscribe: async (fn: (h: RouteHint) => void) => {
          push = fn;
          return { close: async () => undefined };
        },
      } as unknown as RoutingStore;
      return { store, put, setFail: (f: boolean) => (fail = f), hint: (unit: string) => push?.({ unit }), reads: () => reads };
    }

    it('keeps the last known routes until the staleness bound, then fails closed, then recovers', async () => {
      const f = fakeStore({ 'namespace/p': rec({ kind: 'side', side: 'target' }, 2, false, 'namespace/p') });
      let now = 1_000;
      const table = new RouteTable({
        store: f.store,
        units: ['namespace/p'],
        refreshMs: 60_000,
        stalenessMs: 5_000,
        clock: { monotonicMs: () => now },
      });
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
          (e: unknown) => e instanceof RoutingUnavailableError && e.retryable && e.reason === 'stale',
        );
        f.setFail(false);
        await table.refresh(false);
        assert.equal(table.lookup('namespace/p')?.epoch, 2);
      } finally {
        await table.close();
      }
    });

    it('does not read a record that vanished (Redis data loss, or a deletion) as "source"', async () => {
      const f = fakeStore({ 'namespace/p': rec({ kind: 'percent', basisPoints: 5000 }, 3, false, 'namespace/p') });
      let now = 0;
      const table = new RouteTable({
        store: f.store,
        units: ['namespace/p'],
        refreshMs: 60_000,
        stalenessMs: 1_000,
        clock: { monotonicMs: () => now },
      });
      await table.start();
      try {
        f.put('namespace/p', undefined);
        await table.refresh(true);
        assert.equal(table.lookup('namespace/p')?.epoch, 3, 'the last known route is kept');
        now += 1_500;
        await table.refresh(true);
        assert.throws(
          () => table.lookup('namespace/p'),
          (e: unknown) =>
            e instanceof RoutingUnavailableError && e.reason === 'missing-record' && e.message.includes('cutover route repair namespace/p'),
        );
        f.put('namespace/p', rec({ kind: 'percent', basisPoints: 5000 }, 1, false, 'namespace/p'));
        await table.refresh(true);
        assert.equal(table.lookup('namespace/p')?.epoch, 1, 'the restored record is used whatever its epoch');
      } finally {
        await table.close();
      }
    });

    it('takes a message only as a hint to read the store again: a forged record changes nothing', async () => {
      const units = ['namespace/p', 'tenant/p/a'];
      const f = fakeStore({ 'namespace/p': rec({ kind: 'hold' }, 3, false, 'namespace/p') });
      const table = new RouteTable({ store: f.store, units, refreshMs: 60_000, stalenessMs: 60_000, hintIntervalMs: 30 });
      const changes: number[] = [];
      await table.start();
      table.onChange((_u, r) => changes.push(r?.epoch ?? 0));
      try {
        // A message names the unit; the store still says epoch 3, so nothing changes.
        const readsBefore = f.reads();
        f.hint('namespace/p');
        await until('the hinted read', () => f.reads() > readsBefore, 2_000);
        assert.equal(table.lookup('namespace/p')?.epoch, 3);
        assert.deepEqual(changes, []);
        // A real change is read at once on its message (no timer refresh in this test).
        const waiting = table.waitForChange('namespace/p', 10_000);
        f.put('namespace/p', rec({ kind: 'side', side: 'target' }, 4, false, 'namespace/p'));
        f.hint('namespace/p');
        await waiting;
        assert.equal(table.lookup('namespace/p')?.epoch, 4);
        // A flood of messages is coalesced: at most one read per interval, whatever the count.
        const t0 = Date.now();
        const r0 = f.reads();
        for (let i = 0; i < 10_000; i++) f.hint(i % 2 ? 'namespace/p' : 'tenant/p/a');
        f.hint('namespace/unknown'); // an untracked unit is never read
        await new Promise((r) => setTimeout(r, 200));
        await until('the burst to be read', () => table.hintReadCount() >= 2, 2_000);
        const elapsed = Date.now() - t0;
        assert.ok(f.reads() - r0 <= Math.ceil(elapsed / 30) + 1, `${f.reads() - r0} reads in ${elapsed} ms for 10,000 messages`);
        assert.equal(table.knows('namespace/unknown'), false);
        // The store is what counts: an older epoch read there never undoes a newer one held.
        f.put('namespace/p', rec({ kind: 'side', side: 'source' }, 2, false, 'namespace/p'));
        await table.refresh(true);
        assert.equal(table.lookup('namespace/p')?.epoch, 4);
        assert.deepEqual(changes, [4]);
      } finally {
        await table.close();
      }
    });

    it('lets an invalid record affect only its own unit, failing it closed after the bound and naming the repair', async () => {
      const A = 'tenant/p/a';
      const B = 'tenant/p/b';
      const f = fakeStore({
        [A]: rec({ kind: 'side', side: 'target' }, 2, false, A),
        [B]: rec({ kind: 'side', side: 'source' }, 2, false, B),
      });
      let now = 0;
      const table = new RouteTable({
        store: f.store,
        units: [A, B],
        refreshMs: 60_000,
        stalenessMs: 1_000,
        clock: { monotonicMs: () => now },
      });
      await table.start();
      try {
        f.put(A, '{"unit":"tenant/p/a","epoch":"three"');
        f.put(B, rec({ kind: 'percent', basisPoints: 2500 }, 3, false, B));
        now = 500;
        await table.refresh(true);
        assert.equal(table.lookup(A)?.epoch, 2, 'A keeps its last route within the bound');
        assert.equal(table.problem(A)?.reason, 'invalid-record');
        assert.equal(table.lookup(B)?.epoch, 3, 'B refreshed in the same read');
        now = 1_200;
        await table.refresh(true);
        assert.throws(
          () => table.lookup(A),
          (e: unknown) =>
            e instanceof RoutingUnavailableError &&
            e.reason === 'invalid-record' &&
            e.unit === A &&
            e.cause instanceof RoutingRecordInvalidError &&
            e.message.includes(`cutover route show ${A}`) &&
            e.message.includes(`cutover route repair ${A}`),
        );
        assert.equal(table.lookup(B)?.epoch, 3, 'B is still fresh');
        // A unit first seen with an invalid record is never routed: it fails closed at once.
        const C = 'tenant/p/c';
        f.put(C, 'garbage');
        await table.track(C);
        assert.throws(
          () => table.lookup(C),
          (e: unknown) => e instanceof RoutingUnavailableError && e.reason === 'invalid-record',
        );
        // Repaired (at a higher epoch, as `cutover route repair` writes): routed again.
        f.put(A, { ...rec({ kind: 'side', side: 'target' }, 5, false, A), restoredFrom: 2 });
        f.put(C, rec({ kind: 'side', side: 'source' }, 1, false, C));
        await table.refresh(true);
        assert.equal(table.lookup(A)?.epoch, 5);
        assert.equal(table.lookup(C)?.epoch, 1);
        assert.equal(table.problem(A), undefined);
      } finally {
        await table.close();
      }
    });
  });
});
