import assert from 'node:assert/strict';
import { initialState, type ForcedMark, type MigrationState, type RouteSeen, type RouteView } from '../../src/domain/migration';
import { signBody } from '../../src/operators/signing';
import { ed25519 } from '@noble/curves/ed25519';
import { publicKeyOf } from '../../src/operators/signing';
import { decide } from '../../src/workflows/planner';
import { judgeSeen, routeWatchAction } from '../../src/workflows/route-watch';
import {
  adoptForced,
  applyRestored,
  applyRouteSeen,
  forcedSignature,
  newRouteWatch,
  takeRouteAudit,
} from '../../src/workflows/route-watch-state';
import { unitInput } from './fixtures/unit-input';

const NOW = 5_000_000;
const CHECK = 1_000;
const input = unitInput({ routeCheckMs: CHECK });
const UNIT = 'tenant/detections/acme';
const WF = 'cutover/tenant/detections/acme';

const canary10: RouteView = { kind: 'percent', percent: 10, epoch: 5, sourceWorkersMayStop: false };
const sourceAt = (epoch: number): RouteView => ({ kind: 'side', side: 'source', epoch, sourceWorkersMayStop: false });

/** A unit in canary at epoch 5, watching its record, last checked at `checkedAt`. */
function watched(over: Partial<MigrationState> = {}, checkedAt: number | undefined = NOW - 10): MigrationState {
  const s: MigrationState = {
    ...initialState(),
    phase: 'canary',
    route: { ...canary10 },
    canary: { index: 0, bakeUntil: NOW + 60_000 },
    ...over,
  };
  s.routeWatch = { ...newRouteWatch(s, NOW - 100_000), ...(checkedAt !== undefined ? { checkedAt } : {}) };
  return s;
}

const record = (view: RouteView, more: Partial<NonNullable<RouteSeen['record']>> = {}): NonNullable<RouteSeen['record']> => ({
  view,
  changedBy: `cutover/${UNIT}`,
  changedAt: new Date(NOW - 50_000).toISOString(),
  ...more,
});
const seen = (rec?: NonNullable<RouteSeen['record']>, from: RouteSeen['from'] = 'check'): RouteSeen => ({
  from,
  ...(rec ? { digest: 'd', record: rec } : {}),
});
const forced: ForcedMark = { by: 'alice', reason: 'control cluster down', at: new Date(NOW - 1_000).toISOString() };

describe('route watch: the entity keeps its routing record true (no servers)', () => {
  it('judges what it reads back: missing, invalid and regressed are restored above every epoch seen', () => {
    const s = watched();
    const w = s.routeWatch!;
    const cases: [string, RouteSeen, ReturnType<typeof judgeSeen>][] = [
      ['consistent', seen(record(canary10)), { kind: 'consistent' }],
      ['missing', seen(), { kind: 'restore', why: 'missing', epoch: 6 }],
      [
        'invalid, an epoch still legible',
        { from: 'check', digest: 'x', invalid: { problem: 'route: Required', epoch: 12 } },
        { kind: 'restore', why: 'invalid', epoch: 13 },
      ],
      ['an older epoch', seen(record({ ...canary10, epoch: 3 })), { kind: 'restore', why: 'regressed', epoch: 6 }],
      ['another route at the same epoch', seen(record({ ...canary10, percent: 50 })), { kind: 'restore', why: 'regressed', epoch: 6 }],
      ['ahead, written by someone else', seen(record({ ...canary10, epoch: 9 }, { changedBy: 'bob' })), { kind: 'ahead' }],
      ['ahead, a repair restating this route', seen(record({ ...canary10, epoch: 9 }, { restoredFrom: 5 })), { kind: 'consistent' }],
      ['forced above', seen(record(sourceAt(9), { forced })), { kind: 'forced' }],
      ['forced below (Redis lost, forced from an empty log)', seen(record(sourceAt(1), { forced })), { kind: 'forced' }],
    ];
    for (const [name, x, want] of cases) assert.deepEqual(judgeSeen(s, w, x), want, name);
    // A repair once restated the route at 7: a restore goes above it, and the record back at the workflow's
    // own epoch is below an epoch clients may hold, so it is written again above it.
    w.seenEpoch = 7;
    assert.deepEqual(judgeSeen(s, w, seen()), { kind: 'restore', why: 'missing', epoch: 8 });
    assert.deepEqual(judgeSeen(s, w, seen(record(canary10))), { kind: 'restore', why: 'regressed', epoch: 8 });
  });

  it("a forced mark found on the record the unit began from (an earlier migration's) is not adopted", () => {
    const s = watched({ route: sourceAt(4) });
    const old: ForcedMark = { ...forced, at: new Date(NOW - 200_000).toISOString() };
    assert.deepEqual(judgeSeen(s, s.routeWatch!, seen(record(sourceAt(4), { forced: old }))), { kind: 'consistent' });
    // Written after the watch began, at the same epoch: this migration's.
    assert.deepEqual(judgeSeen(s, s.routeWatch!, seen(record(sourceAt(4), { forced }))), { kind: 'forced' });
  });

  it('checks every routeCheckMs in every phase that has a record, paused and failed too; waits end by the next check', () => {
    const due = watched({}, NOW - CHECK);
    assert.deepEqual(decide(input, due, due.obs, NOW), { type: 'step', step: { kind: 'check-route' } });
    for (const over of [{ paused: { actor: 'a', at: 'x' } }, { phase: 'failed' as const }, { phase: 'reconciling' as const }]) {
      const s = watched(over, NOW - CHECK - 1);
      assert.deepEqual(decide(input, s, s.obs, NOW), { type: 'step', step: { kind: 'check-route' } }, JSON.stringify(over));
    }
    // Not due: the phase's own work, its wait capped at the next check.
    const baking = watched({}, NOW - 10);
    assert.deepEqual(decide(input, baking, baking.obs, NOW), {
      type: 'wait',
      for: 'timer',
      until: NOW - 10 + CHECK,
      reason: 'baking canary 10%',
    });
    const paused = watched({ paused: { actor: 'a', at: 'x' } }, NOW - 10);
    const p = decide(input, paused, paused.obs, NOW);
    assert.equal(p.type === 'wait' && p.for === 'resume' && p.until, NOW - 10 + CHECK);
    // No record yet (epoch 0), a final phase, or a run begun before the watch: no checks.
    for (const s of [
      watched({ route: { ...sourceAt(0) }, phase: 'shadow' }, undefined),
      watched({ phase: 'rolled-back' }, undefined),
      { ...watched({}, undefined), routeWatch: undefined },
    ]) {
      const a = decide(input, s, s.obs, NOW);
      assert.ok(!(a.type === 'step' && a.step.kind === 'check-route'), JSON.stringify(a));
      if (a.type === 'wait') assert.notEqual(a.until, NOW - 10 + CHECK);
    }
  });

  it('a watch begun at waits reads between steps never, where the unit waits when due, and acts on a lost change at once', () => {
    const atWaits = (over: Partial<MigrationState>, checkedAt: number | undefined): MigrationState => {
      const s = watched(over, checkedAt);
      s.routeWatch = { ...newRouteWatch(s, NOW - 100_000, true), ...(checkedAt !== undefined ? { checkedAt } : {}) };
      return s;
    };
    // A step is due (the canary's next percent): it goes first, however long ago the record was read.
    const stepping = atWaits({ canary: { index: 0 } }, NOW - 10 * CHECK);
    const tenPercentSet = { ...stepping, route: { ...sourceAt(5) } };
    const step = decide(input, tenPercentSet, tenPercentSet.obs, NOW);
    assert.equal(step.type === 'step' && step.step.kind, 'set-route');
    // The same unit under a watch begun before this rule reads the record first.
    const old = watched({ canary: { index: 0 }, route: { ...sourceAt(5) } }, NOW - 10 * CHECK);
    assert.deepEqual(decide(input, old, old.obs, NOW), { type: 'step', step: { kind: 'check-route' } });
    // Never read yet (the record just made) and the unit moves on: no read; it waits: the read comes first.
    const fresh = atWaits({ canary: { index: 0 }, route: { ...sourceAt(5) } }, undefined);
    assert.equal(decide(input, fresh, fresh.obs, NOW).type, 'step');
    assert.notDeepEqual(decide(input, fresh, fresh.obs, NOW), { type: 'step', step: { kind: 'check-route' } });
    const bakingFresh = atWaits({}, undefined);
    assert.deepEqual(decide(input, bakingFresh, bakingFresh.obs, NOW), { type: 'step', step: { kind: 'check-route' } });
    // Waiting, checked recently: the wait ends at the next check, as before.
    const baking = atWaits({}, NOW - 10);
    assert.deepEqual(decide(input, baking, baking.obs, NOW), {
      type: 'wait',
      for: 'timer',
      until: NOW - 10 + CHECK,
      reason: 'baking canary 10%',
    });
    // A record read by a lost compare-and-set is acted on before the step, as before.
    fresh.routeWatch!.seen = seen();
    assert.deepEqual(decide(input, fresh, fresh.obs, NOW), { type: 'step', step: { kind: 'restore-route', epoch: 6, why: 'missing' } });
  });

  it('acts on what it read before the phase: restore, adopt, record; a lost change to a record ahead fails as before', () => {
    const s = watched();
    s.routeWatch!.seen = seen();
    assert.deepEqual(decide(input, s, s.obs, NOW), { type: 'step', step: { kind: 'restore-route', epoch: 6, why: 'missing' } });
    s.routeWatch!.seen = seen(record(sourceAt(9), { forced }));
    assert.deepEqual(decide(input, s, s.obs, NOW), { type: 'adopt-forced' });
    s.routeWatch!.seen = seen(record(canary10));
    assert.deepEqual(decide(input, s, s.obs, NOW), { type: 'route-seen', verdict: 'consistent' });
    s.routeWatch!.seen = seen(record({ ...canary10, epoch: 9 }, { changedBy: 'bob' }));
    assert.deepEqual(routeWatchAction(input, s, NOW), { type: 'route-seen', verdict: 'ahead' });
    s.routeWatch!.seen = seen(record({ ...canary10, epoch: 9 }, { changedBy: 'bob' }), 'change');
    const lost = routeWatchAction(input, s, NOW);
    assert.equal(lost?.type === 'route-seen' && lost.verdict, 'ahead');
    assert.match(
      (lost as { conflict?: string }).conflict ?? '',
      /expected epoch 5, found 9 written by bob.*cutover route show tenant\/detections\/acme/,
    );
  });

  it('a restore becomes the unit route (same route, higher epoch), is noted and audited as restored', () => {
    const s = watched();
    s.routeWatch!.seen = seen();
    applyRestored(s, 'missing', { ...canary10, epoch: 6 }, NOW, 'at');
    assert.deepEqual(s.route, { ...canary10, epoch: 6 });
    assert.deepEqual([s.routeWatch!.seenEpoch, s.routeWatch!.restores, s.routeWatch!.seen, s.routeChangedAt], [6, 1, undefined, NOW]);
    assert.deepEqual(takeRouteAudit(s), { reason: 'restored: missing' });
    assert.equal(takeRouteAudit(s), undefined, 'taken once');
    assert.match(s.history.at(-1)!.reason!, /^routing record missing: restored at epoch 6 from the workflow's route \(epoch 5\)$/);
    // Consistent and ahead reads clear the read; ahead is noted once per epoch.
    s.routeWatch!.seen = seen(record({ ...canary10, epoch: 9 }, { changedBy: 'bob' }));
    applyRouteSeen(s, 'ahead', 'at');
    s.routeWatch!.seen = seen(record({ ...canary10, epoch: 9 }, { changedBy: 'bob' }));
    applyRouteSeen(s, 'ahead', 'at');
    assert.equal(s.history.filter((h) => h.reason?.includes('ahead of the workflow')).length, 1);
    assert.deepEqual([s.routeWatch!.seen, s.routeWatch!.seenEpoch], [undefined, 9]);
  });

  it('a forced record is adopted: the route, who and why in the history and audit, and a rollback by its author', () => {
    const s = watched();
    s.routeWatch!.seen = seen(record(sourceAt(9), { forced }));
    adoptForced(s, input, WF, NOW, 'at');
    assert.deepEqual(s.route, sourceAt(9));
    assert.deepEqual(s.routeWatch!.forced, { ...forced, epoch: 9 });
    assert.equal(s.rollback?.actor, 'alice');
    assert.equal(s.rollback?.reason, 'route forced to the source: control cluster down');
    assert.equal(s.history.at(-1)!.actor, 'alice');
    assert.match(s.history.at(-1)!.reason!, /^route forced to the source by alice .*: control cluster down; adopted at epoch 9$/);
    assert.deepEqual(takeRouteAudit(s), { reason: 'forced to the source by alice: control cluster down', forced });
    // Judged again: adopted, consistent; the planner then rolls back without touching the route.
    assert.deepEqual(routeWatchAction(input, s, NOW), { type: 'route-seen', verdict: 'consistent' });
    applyRouteSeen(s, 'consistent', 'at');
    const next = decide(input, s, s.obs, NOW);
    assert.equal(next.type === 'transition' && next.to, 'rolling-back');
    // A restore of the forced route keeps its mark (unit-actions passes it); a second read of it is not a new force.
    assert.deepEqual(judgeSeen(s, s.routeWatch!, seen(record(sourceAt(9), { forced }))), { kind: 'consistent' });

    // Forced below an epoch clients may hold: adopted, then written again above it.
    const low = watched();
    low.routeWatch!.seen = seen(record(sourceAt(1), { forced }));
    adoptForced(low, input, WF, NOW, 'at');
    assert.deepEqual(routeWatchAction(input, low, NOW), { type: 'step', step: { kind: 'restore-route', epoch: 6, why: 'regressed' } });
    // Already rolling back: it carries on (no second rollback).
    const back = watched({ phase: 'rolling-back', rollback: { command: 'rollback', actor: 'bob', reason: 'x', from: 'canary', at: 'x' } });
    back.routeWatch!.seen = seen(record(sourceAt(9), { forced }));
    adoptForced(back, input, WF, NOW, 'at');
    assert.equal(back.rollback?.actor, 'bob');
  });

  it("records whether the forced route was signed by one of the plan's operators (adopted either way)", () => {
    const secret = ed25519.utils.randomSecretKey();
    const publicKey = publicKeyOf(secret);
    const ops = unitInput({ operators: [{ name: 'alice', publicKey, roles: ['operator'] }] });
    const sign = (args: Record<string, unknown>, by = 'alice') =>
      signBody({ v: 1, by, command: 'route-force', commandId: 'c', workflowId: WF, args, issuedAt: 1, expiresAt: 2 }, secret);
    const withSig = (env: { body: string; sig: string }): ForcedMark => ({ ...forced, signer: { name: 'alice', publicKey, ...env } });
    assert.deepEqual(forcedSignature(withSig(sign({ unit: UNIT, reason: forced.reason })), ops, WF), { signedBy: 'alice' });
    assert.deepEqual(forcedSignature(forced, ops, WF), { problem: 'unsigned (a way back to the source: adopted)' });
    assert.deepEqual(forcedSignature(forced, input, WF), {}, 'no operators: nothing to check');
    const other = forcedSignature(withSig(sign({ unit: UNIT, reason: 'another reason' })), ops, WF);
    assert.match((other as { problem: string }).problem, /covers another forced route/);
    const forged = withSig({ ...sign({ unit: UNIT, reason: forced.reason }), sig: '0'.repeat(128) });
    assert.match((forcedSignature(forged, ops, WF) as { problem: string }).problem, /does not verify/);
  });
});
