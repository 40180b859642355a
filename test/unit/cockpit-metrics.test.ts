import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { CampaignProgress, Eta } from '../../src/campaign/progress';
import type { CampaignStatus } from '../../src/campaign/types';
import { createCutoverInstruments, METRIC, NOT_STARTED, recordCampaign, recordObservations, type CollectorMemory } from '../../src/metrics';
import type { UnitStatus } from '../../src/domain/migration';
import { recordingMeter } from '../harness/recording-meter';

const ROOT = path.join(__dirname, '..', '..');

function status(over: Partial<UnitStatus>): UnitStatus {
  return {
    id: 'cutover/namespace/payments',
    kind: 'namespace',
    unit: 'namespace/payments',
    phase: 'canary',
    paused: false,
    route: { percent: 10, epoch: 2, sourceWorkersMayStop: false },
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

describe('cockpit metrics (unit)', () => {
  const NOW = Date.parse('2026-11-25T09:00:00Z');

  it('sets units per phase, phase and pause per unit, route, drain, approvals and reconcile counts', () => {
    const r = recordingMeter();
    const m = createCutoverInstruments(r.meter);
    const memory: CollectorMemory = { gatesSeen: {}, epochSeen: {}, rejectedSeen: {} };
    recordObservations(
      m,
      memory,
      [
        {
          unit: 'namespace/payments',
          status: status({ paused: true, gates: [{ name: 'probe', result: 'successful', value: 1, at: '' }] }),
        },
        {
          unit: 'tenant/detections/acme',
          status: status({
            phase: 'draining',
            route: { side: 'target', epoch: 5, sourceWorkersMayStop: false },
            drain: { side: 'source', deadlineAt: '2026-11-25T10:00:00Z', lastOpen: 7, ratePerMin: 3.5, forecastAt: '2026-11-25T09:02:00Z' },
            approval: { kind: 'terminate-stragglers', requestedAt: '', count: 7 },
            counts: { sourceOpen: 7, targetOpen: 3, duplicates: 1, stranded: 2 },
          }),
        },
        { unit: 'tenant/detections/globex', notStarted: true },
        { unit: 'tenant/detections/initech', notStarted: false },
      ],
      NOW,
    );
    assert.deepEqual(
      ['canary', 'draining', NOT_STARTED, 'completed'].map((phase) => r.get(METRIC.units, { phase })),
      [1, 1, 1, 0],
    );
    assert.equal(r.get(METRIC.unitPhase, { unit: 'namespace/payments', phase: 'canary' }), 1);
    assert.equal(r.get(METRIC.unitPhase, { unit: 'namespace/payments', phase: 'draining' }), 0);
    assert.equal(r.get(METRIC.unitPaused, { unit: 'namespace/payments' }), 1);
    assert.equal(r.get(METRIC.routeTargetPercent, { unit: 'namespace/payments' }), 10);
    assert.equal(r.get(METRIC.routeTargetPercent, { unit: 'tenant/detections/acme' }), 100);
    assert.equal(r.get(METRIC.routeChanges, { unit: 'tenant/detections/acme' }), 5);
    assert.equal(r.get(METRIC.drainRemaining, { unit: 'tenant/detections/acme' }), 7);
    assert.equal(r.get(METRIC.drainForecast, { unit: 'tenant/detections/acme' }), 120);
    assert.equal(r.get(METRIC.drainForecastKnown, { unit: 'tenant/detections/acme' }), 1);
    assert.deepEqual(
      [r.get(METRIC.drainForecast, { unit: 'namespace/payments' }), r.get(METRIC.drainForecastKnown, { unit: 'namespace/payments' })],
      [0, 0],
    );
    assert.equal(r.get(METRIC.drainRate, { unit: 'tenant/detections/acme' }), 3.5);
    assert.equal(r.get(METRIC.drainRate, { unit: 'namespace/payments' }), 0);
    assert.equal(r.get(METRIC.sourceOpen, { unit: 'tenant/detections/acme' }), 7);
    assert.equal(r.get(METRIC.approvalsPending, { unit: 'tenant/detections/acme' }), 1);
    assert.equal(r.get(METRIC.approvalsPending, { unit: 'namespace/payments' }), 0);
    assert.deepEqual(
      [r.get(METRIC.duplicates, { unit: 'tenant/detections/acme' }), r.get(METRIC.stranded, { unit: 'tenant/detections/acme' })],
      [1, 2],
    );
    assert.equal(r.get(METRIC.gateResults, { unit: 'namespace/payments', gate: 'probe', result: 'successful' }), 1);
    assert.equal(r.get(METRIC.gateValue, { unit: 'namespace/payments', gate: 'probe' }), 1);
    assert.equal(r.get(METRIC.collectErrors, { unit: 'tenant/detections/initech' }), 1);
    assert.equal(r.get(METRIC.lastCollect), NOW / 1000);
  });

  it('counts only what is new on the next round: gate results, route changes, rejected commands', () => {
    const r = recordingMeter();
    const m = createCutoverInstruments(r.meter);
    const memory: CollectorMemory = { gatesSeen: {}, epochSeen: {}, rejectedSeen: {} };
    const g = (result: 'successful' | 'failed', value: number) => ({ name: 'errors', result, value, at: '' });
    const rej = { command: 'advance', reason: 'paused', phase: 'canary' as const, at: '' };
    recordObservations(
      m,
      memory,
      [{ unit: 'u', status: status({ gates: [g('successful', 0.1)], route: { percent: 10, epoch: 2, sourceWorkersMayStop: false } }) }],
      NOW,
    );
    recordObservations(
      m,
      memory,
      [{ unit: 'u', status: status({ gates: [g('successful', 0.1)], route: { percent: 10, epoch: 2, sourceWorkersMayStop: false } }) }],
      NOW,
    );
    recordObservations(
      m,
      memory,
      [
        {
          unit: 'u',
          status: status({
            gates: [g('successful', 0.1), g('failed', 0.9), g('failed', 0.8)],
            route: { percent: 50, epoch: 4, sourceWorkersMayStop: false },
            rejected: [rej],
          }),
        },
      ],
      NOW,
    );
    assert.equal(r.get(METRIC.gateResults, { unit: 'u', gate: 'errors', result: 'successful' }), 1);
    assert.equal(r.get(METRIC.gateResults, { unit: 'u', gate: 'errors', result: 'failed' }), 2);
    assert.equal(r.get(METRIC.gateValue, { unit: 'u', gate: 'errors' }), 0.8);
    assert.equal(r.get(METRIC.routeChanges, { unit: 'u' }), 4);
    assert.equal(r.get(METRIC.commandsRejected, { unit: 'u' }), 1);
  });

  it('a growing drain reads 0 (gauges refuse negative values; status keeps the sign)', () => {
    const r = recordingMeter();
    const m = createCutoverInstruments(r.meter);
    const drain = { side: 'source' as const, deadlineAt: '2026-11-25T10:00:00Z', lastOpen: 9, ratePerMin: -4 };
    recordObservations(m, { gatesSeen: {}, epochSeen: {}, rejectedSeen: {} }, [{ unit: 'u', status: status({ drain }) }], NOW);
    assert.equal(r.get(METRIC.drainRate, { unit: 'u' }), 0);
  });

  it("sets the campaign's units done, remaining and failed per ring, and the ring and campaign ETAs with their known gauges", () => {
    const r = recordingMeter();
    const m = createCutoverInstruments(r.meter);
    const ring = (name: string, done: number, failed: number, eta: Eta) => ({
      name,
      status: 'active' as const,
      batches: 1,
      batchesDone: 0,
      total: 4,
      done,
      remaining: 4 - done,
      failed,
      rolledBack: 0,
      eta,
    });
    const progress: CampaignProgress = {
      asOf: new Date(NOW).toISOString(),
      units: { total: 8, done: 5, remaining: 3, failed: 1, rolledBack: 0 },
      steps: { done: 6, total: 12 },
      rings: [
        ring('canary', 4, 0, { known: true, ms: 0, at: new Date(NOW - 60_000).toISOString() }),
        ring('main', 1, 1, { known: true, ms: 250_000, at: new Date(NOW + 250_000).toISOString() }),
        ring('rest', 0, 0, { known: false, reason: 'nothing measured yet' }),
      ],
      ring: 'main',
      eta: { known: false, reason: 'nothing measured yet' },
      measured: {},
    };
    recordCampaign(m, 'p', { progress } as CampaignStatus, NOW);
    const tags = (ring: string) => ({ campaign: 'p', ring });
    assert.deepEqual(
      ['canary', 'main', 'rest'].map((x) => [
        r.get(METRIC.campaignUnitsDone, tags(x)),
        r.get(METRIC.campaignUnitsRemaining, tags(x)),
        r.get(METRIC.campaignUnitsFailed, tags(x)),
        r.get(METRIC.campaignRingEta, tags(x)),
        r.get(METRIC.campaignRingEtaKnown, tags(x)),
      ]),
      [
        [4, 0, 0, 0, 1],
        [1, 3, 1, 250, 1],
        [0, 4, 0, 0, 0],
      ],
    );
    assert.deepEqual([r.get(METRIC.campaignEta, { campaign: 'p' }), r.get(METRIC.campaignEtaKnown, { campaign: 'p' })], [0, 0]);
    // Read later than the campaign answered: the seconds left count from the collector's clock.
    recordCampaign(m, 'p', { progress } as CampaignStatus, NOW + 100_000);
    assert.equal(r.get(METRIC.campaignRingEta, tags('main')), 150);
    // A status without progress (an older worker) sets nothing.
    const fresh = recordingMeter();
    recordCampaign(createCutoverInstruments(fresh.meter), 'p', {} as CampaignStatus, NOW);
    assert.equal(fresh.get(METRIC.campaignEtaKnown, { campaign: 'p' }), undefined);
  });

  it("the dashboard and alert rules use only metrics the worker exports (or the SDK's temporal_*)", () => {
    const known = new Set<string>(Object.values(METRIC));
    const exprs: string[] = [];
    const dash = JSON.parse(fs.readFileSync(path.join(ROOT, 'deploy', 'grafana', 'cutover-dashboard.json'), 'utf8')) as {
      panels: { targets?: { expr: string }[] }[];
    };
    for (const p of dash.panels) for (const t of p.targets ?? []) exprs.push(t.expr);
    const rules = parseYaml(fs.readFileSync(path.join(ROOT, 'deploy', 'prometheus', 'alerts.yml'), 'utf8')) as {
      groups: { rules: { expr: string }[] }[];
    };
    for (const g of rules.groups) for (const rule of g.rules) exprs.push(rule.expr);
    assert.ok(exprs.length > 10);
    const used = new Set(exprs.flatMap((e) => e.match(/\b(cutover|temporal)_[a-z_]+/g) ?? []));
    for (const name of used) assert.ok(name.startsWith('temporal_') || known.has(name), `${name} is not exported by src/metrics`);
    for (const name of [
      METRIC.units,
      METRIC.gateResults,
      METRIC.routeChanges,
      METRIC.drainRemaining,
      METRIC.drainRate,
      METRIC.approvalsPending,
      METRIC.campaignUnitsDone,
      METRIC.campaignRingEta,
    ])
      assert.ok(used.has(name), `${name} is on no panel or rule`);
  });
});
