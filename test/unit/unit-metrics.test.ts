/**
 * The metrics memo an entity publishes (`cutoverMetrics`) and the metrics the collector builds from it: the mapping
 * from a unit's status to the memo, the memo's bound, reading it back, and that metrics from the memo equal those
 * the status query would give.
 */
import assert from 'node:assert/strict';
import type { UnitStatus } from '../../src/domain/migration';
import {
  parseUnitMetrics,
  UNIT_METRICS_GATE_NAME_MAX,
  UNIT_METRICS_GATES,
  UNIT_METRICS_MAX_BYTES,
  unitMetricsOf,
  type UnitMetrics,
} from '../../src/domain/unit-metrics';
import { createCutoverInstruments, METRIC, recordObservations, type CollectorMemory } from '../../src/metrics';
import { recordingMeter } from '../harness/recording-meter';

function status(over: Partial<UnitStatus>): UnitStatus {
  return {
    id: 'cutover/tenant/detections/acme',
    kind: 'tenant',
    unit: 'tenant/detections/acme',
    phase: 'canary',
    paused: false,
    route: { percent: 25, epoch: 3, sourceWorkersMayStop: false },
    strategy: 'dual-workers',
    history: [],
    gates: [],
    counts: { sourceOpen: 0, targetOpen: 0, duplicates: 0, stranded: 0 },
    rejected: [],
    stragglers: [],
    compensations: [],
    continuedAsNew: 0,
    ...over,
  };
}

const NOW = Date.parse('2026-12-06T09:00:00Z');
const gate = (name: string, result: 'successful' | 'failed' | 'inconclusive' | 'error', value?: number) => ({
  name,
  result,
  ...(value !== undefined ? { value } : {}),
  at: '',
});
const rejection = { command: 'advance', reason: 'paused', phase: 'canary' as const, at: '' };

/** A draining unit with every figure the metrics show set. */
const DRAINING = status({
  phase: 'draining',
  paused: true,
  route: { side: 'target', epoch: 6, sourceWorkersMayStop: true },
  gates: [
    gate('preflight', 'successful', 0),
    gate('errors', 'failed', 0.9),
    gate('errors', 'successful', 0.1),
    gate('bake 10%', 'successful'),
  ],
  drain: { side: 'source', deadlineAt: '2026-12-06T10:00:00Z', lastOpen: 12, ratePerMin: 8, forecastAt: '2026-12-06T09:01:30Z' },
  approval: { kind: 'terminate-stragglers', requestedAt: '', count: 12 },
  counts: { sourceOpen: 12, targetOpen: 4, duplicates: 2, stranded: 1 },
  rejected: [rejection, rejection],
  truncated: { rejected: 5 },
});

describe('unit metrics memo (unit)', () => {
  it('maps a status to the memo: route share, gate tallies, drain, approval, refusals in all, reconcile counts', () => {
    assert.deepEqual(unitMetricsOf(DRAINING), {
      v: 1,
      phase: 'draining',
      paused: true,
      epoch: 6,
      targetPercent: 100,
      gates: [
        { name: 'preflight', n: { successful: 1 }, value: 0 },
        { name: 'errors', n: { failed: 1, successful: 1 }, value: 0.1 },
        { name: 'bake 10%', n: { successful: 1 } },
      ],
      drain: { open: 12, ratePerMin: 8, forecastAt: Date.parse('2026-12-06T09:01:30Z') },
      sourceOpen: 12,
      approvalPending: true,
      rejected: 7,
      duplicates: 2,
      stranded: 1,
    } satisfies UnitMetrics);
    const canary = unitMetricsOf(status({ approval: { kind: 'terminate-stragglers', requestedAt: '', count: 1, approvedBy: 'ana' } }));
    assert.equal(canary.targetPercent, 25);
    assert.equal(canary.approvalPending, false);
    assert.equal(canary.drain, undefined);
    assert.equal(unitMetricsOf(status({ route: { hold: true, epoch: 2, sourceWorkersMayStop: false } })).targetPercent, 0);
    assert.equal(unitMetricsOf(status({ route: { side: 'source', epoch: 9, sourceWorkersMayStop: false } })).targetPercent, 0);
  });

  it(`stays within ${UNIT_METRICS_MAX_BYTES} bytes: ${UNIT_METRICS_GATES} gates, the most recently measured, names clipped`, () => {
    const gates = [];
    for (let i = 0; i < 100; i++)
      for (const r of ['successful', 'failed', 'inconclusive', 'error'] as const) gates.push(gate(`g${i} ${'x'.repeat(300)}`, r, 1e300));
    gates.push(gate(`g0 ${'x'.repeat(300)}`, 'failed', -1.5e-300)); // g0 measured last: it stays
    const m = unitMetricsOf(
      status({
        gates,
        rejected: [rejection],
        truncated: { rejected: Number.MAX_SAFE_INTEGER },
        counts: { sourceOpen: 0, targetOpen: 0, duplicates: 1e9, stranded: 1e9 },
      }),
    );
    assert.equal(m.gates.length, UNIT_METRICS_GATES);
    assert.ok(m.gates.every((g) => g.name.length === UNIT_METRICS_GATE_NAME_MAX));
    assert.equal(m.gates.at(-1)!.name.slice(0, 3), 'g0 ');
    assert.deepEqual(m.gates.at(-1)!.n, { successful: 1, failed: 2, inconclusive: 1, error: 1 });
    assert.deepEqual(
      m.gates.slice(0, -1).map((g) => Number(g.name.split(' ')[0]!.slice(1))),
      Array.from({ length: UNIT_METRICS_GATES - 1 }, (_, i) => 100 - UNIT_METRICS_GATES + 1 + i),
    );
    const bytes = Buffer.byteLength(JSON.stringify(m));
    assert.ok(bytes <= UNIT_METRICS_MAX_BYTES, `${bytes} bytes`);
  });

  it('reads a memo back, and refuses what is not one (the view memo, another version, malformed)', () => {
    const m = unitMetricsOf(DRAINING);
    assert.deepEqual(parseUnitMetrics(JSON.parse(JSON.stringify(m))), m);
    const view = { phase: 'draining', paused: false, route: { side: 'target', epoch: 6 }, historyLength: 9 };
    for (const bad of [
      undefined,
      null,
      'draining',
      view,
      { ...m, v: 2 },
      { ...m, epoch: -1 },
      { ...m, rejected: '7' },
      { ...m, gates: [{ name: 'x', n: { passed: 1 } }] },
      { ...m, gates: [{ name: 'x', n: { failed: -1 } }] },
      { ...m, drain: { open: 'many' } },
      { ...m, approvalPending: undefined },
    ])
      assert.equal(parseUnitMetrics(bad), undefined, JSON.stringify(bad));
  });

  it('metrics from the memo equal those from the status query, and count only what is new', () => {
    const fromStatus = recordingMeter();
    const fromMemo = recordingMeter();
    const memory = (): CollectorMemory => ({ gatesSeen: {}, epochSeen: {}, rejectedSeen: {} });
    const [ms, mm] = [memory(), memory()];
    const later = status({
      ...DRAINING,
      gates: [...DRAINING.gates, gate('errors', 'failed', 0.7)],
      rejected: [rejection, rejection, rejection],
    });
    for (const s of [DRAINING, DRAINING, later]) {
      recordObservations(createCutoverInstruments(fromStatus.meter), ms, [{ unit: 'u', status: s }], NOW);
      // Through JSON, as the memo travels.
      const memo = parseUnitMetrics(JSON.parse(JSON.stringify(unitMetricsOf(s))))!;
      recordObservations(createCutoverInstruments(fromMemo.meter), mm, [{ unit: 'u', metrics: memo }], NOW);
    }
    assert.deepEqual([...fromMemo.values].sort(), [...fromStatus.values].sort());
    const get = (name: string, labels: string) => fromMemo.values.get(`${name}{${labels}}`);
    assert.equal(get(METRIC.gateResults, 'gate="errors",result="failed",unit="u"'), 2);
    assert.equal(get(METRIC.gateResults, 'gate="errors",result="successful",unit="u"'), 1);
    assert.equal(get(METRIC.gateValue, 'gate="errors",unit="u"'), 0.7);
    assert.equal(get(METRIC.commandsRejected, 'unit="u"'), 8);
    assert.equal(get(METRIC.routeChanges, 'unit="u"'), 6);
    assert.equal(get(METRIC.drainRemaining, 'unit="u"'), 12);
    assert.equal(get(METRIC.drainForecast, 'unit="u"'), 90);
    assert.equal(get(METRIC.drainForecastKnown, 'unit="u"'), 1);
    assert.equal(get(METRIC.approvalsPending, 'unit="u"'), 1);
    assert.equal(get(METRIC.routeTargetPercent, 'unit="u"'), 100);
    assert.equal(get(METRIC.unitPaused, 'unit="u"'), 1);
    assert.equal(get(METRIC.unitPhase, 'phase="draining",unit="u"'), 1);
    assert.equal(get(METRIC.units, 'phase="draining"'), 1);
    assert.deepEqual([get(METRIC.duplicates, 'unit="u"'), get(METRIC.stranded, 'unit="u"')], [2, 1]);
  });

  it('a new migration of the unit (fewer results than before) counts its results afresh', () => {
    const r = recordingMeter();
    const memory: CollectorMemory = { gatesSeen: {}, epochSeen: {}, rejectedSeen: {} };
    const m = createCutoverInstruments(r.meter);
    const tally = (n: number): UnitMetrics => ({ ...unitMetricsOf(status({})), gates: [{ name: 'reconcile', n: { successful: n } }] });
    recordObservations(m, memory, [{ unit: 'u', metrics: tally(3) }], NOW);
    recordObservations(m, memory, [{ unit: 'u', metrics: tally(1) }], NOW);
    recordObservations(m, memory, [{ unit: 'u', metrics: tally(2) }], NOW);
    assert.equal(r.values.get(`${METRIC.gateResults}{gate="reconcile",result="successful",unit="u"}`), 5);
  });
});
