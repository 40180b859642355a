/** `cutover route show|repair`: the pure parts (verdict, repair plan, text), table-driven. */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  checkRepairInput,
  forceMark,
  formatRouteInspection,
  judgeRoute,
  repairPlan,
  salvageEpoch,
  statusRoute,
  type RouteInspection,
  type StoredRoute,
  type WorkflowRoute,
} from '../../src/cockpit/route';
import { CockpitInputError } from '../../src/cockpit/errors';
import type { Route, RoutingRecord } from '../../src/routing/types';
import { loadOperatorKey, newOperatorKey } from '../../src/operators/keys';
import { verifySigned } from '../../src/operators/signing';
import { parseUnitName } from '../../src/domain/ids';

const UNIT = 'namespace/payments';
const KEY = `cutover:route:${UNIT}`;
const WID = `cutover/${UNIT}`;
const target: Route = { kind: 'side', side: 'target' };

const rec = (epoch: number, route: Route = target, extra: Partial<RoutingRecord> = {}): RoutingRecord => ({
  unit: UNIT,
  route,
  epoch,
  sourceWorkersMayStop: false,
  changedBy: 'wf',
  changedAt: '2025-01-01T00:00:00.000Z',
  ...extra,
});
const stored = (r: RoutingRecord | string | null): StoredRoute =>
  r === null
    ? { key: KEY, raw: null }
    : typeof r === 'string'
      ? { key: KEY, raw: r, problem: 'epoch: Expected number, received string' }
      : { key: KEY, raw: JSON.stringify(r), record: r };
const wf = (epoch: number, route: Route = target): WorkflowRoute => ({
  workflowId: WID,
  state: 'running',
  phase: 'cutover',
  route: { route, epoch, sourceWorkersMayStop: false },
});
const inspect = (s: StoredRoute, w: WorkflowRoute): RouteInspection => ({ unit: UNIT, stored: s, workflow: w, ...judgeRoute(UNIT, s, w) });

describe('route show|repair (no servers)', () => {
  it('judges the stored record against the workflow route', () => {
    const cases: [string, StoredRoute, WorkflowRoute, string, boolean][] = [
      ['same epoch, same route', stored(rec(4)), wf(4), 'consistent', false],
      ['restated by a repair', stored(rec(7, target, { restoredFrom: 4 })), wf(4), 'consistent', false],
      ['no record before provisioned', stored(null), wf(0), 'not-created', false],
      ['no record, no workflow', stored(null), { workflowId: WID, state: 'not-started' }, 'not-created', false],
      ['invalid', stored('{"epoch":"x"}'), wf(4), 'invalid', true],
      ['deleted or lost', stored(null), wf(4), 'missing', true],
      ['behind the workflow', stored(rec(2)), wf(4), 'regressed', true],
      ['another route at the same epoch', stored(rec(4, { kind: 'hold' })), wf(4), 'diverged', true],
      ['newer than the workflow', stored(rec(5, { kind: 'hold' })), wf(4), 'ahead', false],
      ['restated, then changed by someone else', stored(rec(8, { kind: 'hold' }, { restoredFrom: 4 })), wf(4), 'ahead', false],
      [
        'control unreachable',
        stored('x'),
        { workflowId: WID, state: 'unreachable', error: 'control cluster cloud at 127.0.0.1:1 is unreachable (ECONNREFUSED)' },
        'unverified',
        true,
      ],
    ];
    for (const [what, s, w, verdict, hasFix] of cases) {
      const j = judgeRoute(UNIT, s, w);
      assert.equal(j.verdict, verdict, what);
      assert.equal(j.fix !== undefined, hasFix, `${what}: fix ${j.fix}`);
    }
    const unreachable = judgeRoute(UNIT, stored('x'), { workflowId: WID, state: 'unreachable', error: 'down' });
    assert.ok(unreachable.fix?.includes(`cutover route ${UNIT} source --force`), unreachable.fix);
    assert.equal(judgeRoute(UNIT, stored(null), wf(4)).fix, `cutover route repair ${UNIT}`);
  });

  it('repairs at an epoch above the stored one (even inside an invalid value) and the workflow, restating its route', () => {
    const plans: [StoredRoute, WorkflowRoute, number][] = [
      [stored(null), wf(4), 5],
      [stored(rec(2)), wf(4), 5],
      [stored(rec(4, { kind: 'hold' })), wf(4), 5],
      [{ key: KEY, raw: '{"epoch":9,"route":"?"}', problem: 'route: Required' }, wf(4), 10],
      [{ key: KEY, raw: 'not json', problem: 'not JSON' }, wf(4), 5],
    ];
    for (const [s, w, epoch] of plans) {
      const p = repairPlan(inspect(s, w), 'alice', undefined);
      assert.equal(p?.epoch, epoch, s.raw ?? 'absent');
      assert.deepEqual(p?.change.route, target);
      assert.equal(p?.change.restoredFrom, 4);
      assert.equal(p?.change.actor, 'alice');
      assert.ok(p?.change.reason?.startsWith('cutover route repair ('), p?.change.reason);
    }
    assert.equal(repairPlan(inspect(stored(rec(4)), wf(4)), 'alice', undefined), undefined, 'nothing to repair');
    assert.equal(repairPlan(inspect(stored(rec(5, { kind: 'hold' })), wf(4)), 'alice', undefined), undefined, 'ahead: refused');
    assert.ok(repairPlan(inspect(stored(null), wf(4)), 'alice', 'failover')?.change.reason?.endsWith(': failover'));
    assert.equal(salvageEpoch('{"epoch":1e300}'), 0);
    assert.equal(salvageEpoch('[]'), 0);
  });

  it("reads the workflow's status route as a record route", () => {
    assert.deepEqual(statusRoute({ side: 'source', epoch: 1, sourceWorkersMayStop: false }), { kind: 'side', side: 'source' });
    assert.deepEqual(statusRoute({ percent: 12.5, epoch: 3, sourceWorkersMayStop: false }), { kind: 'percent', basisPoints: 1250 });
    assert.deepEqual(statusRoute({ hold: true, epoch: 3, sourceWorkersMayStop: false }), { kind: 'hold' });
  });

  it('prints the raw value, what is wrong with it and the command that repairs it', () => {
    const text = formatRouteInspection(inspect({ key: KEY, raw: 'bad\nvalue', problem: 'not JSON' }, wf(4)));
    assert.ok(text.includes('stored:    "bad\\nvalue"'), text);
    assert.ok(text.includes('INVALID — not JSON'), text);
    assert.ok(text.includes(`fix:       cutover route repair ${UNIT}`), text);
    const ok = formatRouteInspection(inspect(stored(rec(4)), wf(4)));
    assert.ok(ok.includes('verdict:   consistent') && !ok.includes('fix:'), ok);
  });

  it('refuses an empty actor or reason, naming the flag', () => {
    assert.throws(
      () => checkRepairInput({ actor: ' ' }),
      (e: unknown) => e instanceof CockpitInputError && e.field === '--actor',
    );
    assert.throws(
      () => checkRepairInput({ actor: 'a', reason: '' }),
      (e: unknown) => e instanceof CockpitInputError && e.field === '--reason',
    );
    assert.throws(
      () => checkRepairInput({ actor: `cutover/${UNIT}` }),
      (e: unknown) => e instanceof CockpitInputError && e.field === '--actor',
    );
    checkRepairInput({ actor: 'a', reason: 'failover' });
  });

  it('a record forced to the source and not adopted yet is never repaired over', () => {
    const forced = { by: 'alice', reason: 'control down', at: '2025-01-02T00:00:00.000Z' };
    const src: Route = { kind: 'side', side: 'source' };
    for (const [epoch, wfEpoch] of [
      [9, 5],
      [1, 5],
    ]) {
      const i = inspect(stored(rec(epoch!, src, { forced })), wf(wfEpoch!));
      assert.equal(i.verdict, 'forced', `${epoch} vs ${wfEpoch}`);
      assert.equal(repairPlan(i, 'op', undefined), undefined);
      assert.match(i.explanation, /forced to the source by alice .*adopts it at its next check and rolls back/);
    }
    // Adopted: the workflow holds it.
    assert.equal(inspect(stored(rec(9, src, { forced })), wf(9, src)).verdict, 'consistent');
  });

  it('a forced route: only the source, --force and --reason required, signed when the plan lists operators', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'force-'));
    try {
      const k = newOperatorKey({ name: 'alice', dir });
      const alice = loadOperatorKey(k.keyFile);
      const mallory = loadOperatorKey(newOperatorKey({ name: 'mallory', dir }).keyFile);
      const target = { kind: 'unit' as const, name: UNIT, ref: parseUnitName(UNIT)!, ring: 'r', workflowId: WID };
      const base = { target, side: 'source', force: true, reason: 'control down', actor: 'alice', now: () => 1_000 };
      const operators = { alice: { publicKey: k.publicKey, roles: ['operator' as const] } };
      const field = (over: Partial<typeof base> & Record<string, unknown>) => {
        try {
          forceMark({ ...base, ...over });
          return 'accepted';
        } catch (e) {
          assert.ok(e instanceof CockpitInputError, String(e));
          return e.field;
        }
      };
      assert.equal(field({ side: 'target' }), '<side>');
      assert.equal(field({ force: false }), '--force');
      assert.equal(field({ reason: '  ' }), '--reason');
      assert.equal(field({ reason: undefined }), '--reason');
      assert.equal(field({ actor: '' }), '--actor');
      assert.equal(field({ operators }), '--key', 'unsigned with operators listed');
      assert.equal(field({ operators, signer: mallory }), '--key', 'a key the plan does not list');
      assert.equal(field({ operators: { alice: { publicKey: k.publicKey, roles: ['approver' as const] } }, signer: alice }), '--key');
      assert.deepEqual(forceMark(base), { by: 'alice', reason: 'control down', at: new Date(1_000).toISOString() });
      const signed = forceMark({ ...base, operators, signer: alice });
      assert.equal(signed.signer?.name, 'alice');
      const v = verifySigned({ signature: signed.signer! }, [{ name: 'alice', publicKey: k.publicKey, roles: ['operator'] }], {
        command: 'route-force',
        workflowId: WID,
        runIds: [],
        runOptional: true,
        now: 1_000,
        roles: ['operator'],
      });
      assert.ok(v.ok && v.body.args.unit === UNIT && v.body.args.reason === 'control down', JSON.stringify(v));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
