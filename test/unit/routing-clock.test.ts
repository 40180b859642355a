/**
 * A clock stepped on an application host (NTP, a resumed VM, an operator's `date`): the routed client
 * measures how long its routes have gone unconfirmed, and how long a start has been held, on the monotonic
 * clock, so a wall clock set back an hour neither keeps stale routes usable for that hour nor holds a start
 * for it. The table-driven part injects the clock; the rest steps the process's own `Date.now` under the
 * default clock, which is what a host's clock step does. The integration test steps the wall clock of a
 * routed client with Redis blackholed (test/integration/network-faults.test.ts).
 */
import { strict as assert } from 'node:assert';
import type { Client } from '@temporalio/client';
import { RoutedClient } from '../../src/routing/client';
import type { RoutingClock } from '../../src/routing/clock';
import { RouteHeldTimeoutError, RoutingUnavailableError } from '../../src/routing/errors';
import { RouteTable } from '../../src/routing/route-table';
import { readRecord, RoutingStore, type RouteHint } from '../../src/routing/store';
import type { Route, RoutingRecord } from '../../src/routing/types';

const UNIT = 'namespace/p';
const HOUR = 3_600_000;

const rec = (route: Route, epoch: number): RoutingRecord => ({
  unit: UNIT,
  route,
  epoch,
  sourceWorkersMayStop: false,
  changedBy: 'test',
  changedAt: new Date(0).toISOString(),
});

/** A routing store that reads one record from memory, or fails as an unreachable Redis does. */
function fakeStore(record: RoutingRecord): { store: RoutingStore; setDown: (down: boolean) => void } {
  let down = false;
  const key = (u: string) => `t:route:${u}`;
  const read = (u: string) => {
    if (down) return Promise.reject(new Error('Redis unreachable'));
    return Promise.resolve(readRecord(key(u), u, u === UNIT ? JSON.stringify(record) : null));
  };
  // A RoutingStore by prototype, so the routed client takes it as given instead of wrapping a Redis.
  const store = Object.assign(Object.create(RoutingStore.prototype) as RoutingStore, {
    routeKey: key,
    read,
    readMany: (units: string[]) => Promise.all(units.map(read)),
    subscribe: (_fn: (h: RouteHint) => void) => Promise.resolve({ close: () => Promise.resolve() }),
  });
  return { store, setDown: (d: boolean) => (down = d) };
}

/** A clock a test moves by hand: `wall` may be stepped either way, `mono` only forward. */
function handClock(): RoutingClock & { mono: number; wall: number } {
  const c = { mono: 1_000, wall: Date.UTC(2026, 0, 1), monotonicMs: () => c.mono, wallMs: () => c.wall };
  return c;
}

/** Runs `fn` with the process's `Date.now` stepped by `offsetMs` (restored after). */
async function withWallStep<T>(offsetMs: number, fn: () => Promise<T>): Promise<T> {
  const real = Date.now.bind(Date);
  Date.now = () => real() + offsetMs;
  try {
    return await fn();
  } finally {
    Date.now = real;
  }
}

const stale = (e: unknown) => e instanceof RoutingUnavailableError && e.reason === 'stale';

describe('routing clocks (a wall clock stepped on an application host)', function () {
  this.timeout(10_000);

  describe('route table staleness follows the monotonic clock only', () => {
    // Each case: a confirmed read, then Redis down; the wall clock stepped by `wallStep`; `elapsed` of
    // monotonic time; is the route still usable? The bound is 5 s.
    const cases: { name: string; wallStep: number; elapsed: number; usable: boolean }[] = [
      { name: 'wall set back an hour, 4 s elapsed', wallStep: -HOUR, elapsed: 4_000, usable: true },
      { name: 'wall set back an hour, exactly the bound elapsed', wallStep: -HOUR, elapsed: 5_000, usable: true },
      { name: 'wall set back an hour, just past the bound', wallStep: -HOUR, elapsed: 5_001, usable: false },
      { name: 'wall set forward an hour, 1 s elapsed', wallStep: HOUR, elapsed: 1_000, usable: true },
      { name: 'wall unchanged, past the bound', wallStep: 0, elapsed: 6_000, usable: false },
    ];
    for (const c of cases) {
      it(`${c.name}: ${c.usable ? 'usable' : 'fails closed'}`, async () => {
        const clock = handClock();
        const f = fakeStore(rec({ kind: 'side', side: 'target' }, 2));
        const table = new RouteTable({ store: f.store, units: [UNIT], refreshMs: 60_000, stalenessMs: 5_000, clock });
        await table.start();
        try {
          f.setDown(true);
          clock.wall += c.wallStep;
          clock.mono += c.elapsed;
          await table.refresh(false);
          assert.equal(table.staleForMs(UNIT), c.elapsed);
          if (c.usable) assert.equal(table.lookup(UNIT)?.epoch, 2);
          else
            assert.throws(
              () => table.lookup(UNIT),
              (e: unknown) => stale(e) && (e as RoutingUnavailableError).staleForMs === c.elapsed,
            );
        } finally {
          await table.close();
        }
      });
    }
  });

  it('by default, with Date.now stepped back an hour mid-outage, stale routes still fail closed after the bound of real time', async () => {
    const f = fakeStore(rec({ kind: 'side', side: 'target' }, 2));
    const table = new RouteTable({ store: f.store, units: [UNIT], refreshMs: 60_000, stalenessMs: 200 });
    await table.start();
    try {
      f.setDown(true);
      const t0 = performance.now();
      await withWallStep(-HOUR, async () => {
        assert.equal(table.lookup(UNIT)?.epoch, 2, 'usable within the bound');
        await new Promise((r) => setTimeout(r, 250));
        assert.throws(() => table.lookup(UNIT), stale, 'past the bound of monotonic time: fails closed');
      });
      assert.ok(performance.now() - t0 < 2_000);
    } finally {
      await table.close();
    }
  });

  it('a held start times out after holdTimeoutMs of monotonic time, with Date.now stepped back an hour while it waits', async () => {
    const f = fakeStore(rec({ kind: 'hold' }, 3));
    const client = await RoutedClient.create({
      source: {} as Client,
      target: {} as Client,
      store: f.store,
      namespace: 'p',
      holdTimeoutMs: 300,
      refreshMs: 50,
    });
    try {
      const t0 = performance.now();
      const held = client.decide(UNIT, 'wf-1');
      const err = await withWallStep(-HOUR, () =>
        held.then(
          () => undefined,
          (e: unknown) => e,
        ),
      );
      const waited = performance.now() - t0;
      assert.ok(err instanceof RouteHeldTimeoutError, `a RouteHeldTimeoutError, got ${String(err)}`);
      assert.ok(err.waitedMs >= 300 && waited < 2_000, `held ${err.waitedMs} ms (${waited.toFixed(0)} ms measured), not an hour`);
    } finally {
      await client.close();
    }
  });
});
