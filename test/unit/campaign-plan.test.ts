import assert from 'node:assert/strict';
import * as path from 'node:path';
import { loadPlan } from '../../src/config';
import { formatDryRun, planCampaign, stepMinDuration } from '../../src/campaign/plan';

const EXAMPLE = path.join(__dirname, '../../examples/plan.yaml');

describe('campaign dry run (examples/plan.yaml)', () => {
  const plan = loadPlan(EXAMPLE);
  const cp = planCampaign(plan);

  it('lists every ring, batch and step in order', () => {
    const got = cp.steps.map((s) => `${s.ring}#${s.batch}:${s.kind}${s.percent !== undefined ? s.percent : ''}:${s.units.join('+')}`);
    assert.deepEqual(got, [
      'ring0-synthetic#1:prepare:namespace/payments',
      'ring0-synthetic#1:canary10:namespace/payments',
      'ring0-synthetic#1:canary50:namespace/payments',
      'ring0-synthetic#1:cutover100:namespace/payments',
      'ring0-synthetic#1:complete:namespace/payments',
      'ring1-internal#1:prepare:tenant/detections/internal-e2e',
      'ring1-internal#1:canary10:tenant/detections/internal-e2e',
      'ring1-internal#1:canary50:tenant/detections/internal-e2e',
      'ring1-internal#1:cutover100:tenant/detections/internal-e2e',
      'ring1-internal#1:complete:tenant/detections/internal-e2e',
      'ring2-customers#1:approval:tenant/detections/acme',
      'ring2-customers#1:prepare:tenant/detections/acme',
      'ring2-customers#1:canary10:tenant/detections/acme',
      'ring2-customers#1:canary50:tenant/detections/acme',
      'ring2-customers#1:cutover100:tenant/detections/acme',
      'ring2-customers#1:complete:tenant/detections/acme',
      'ring2-customers#2:approval:tenant/detections/globex',
      'ring2-customers#2:prepare:tenant/detections/globex',
      'ring2-customers#2:canary10:tenant/detections/globex',
      'ring2-customers#2:canary50:tenant/detections/globex',
      'ring2-customers#2:cutover100:tenant/detections/globex',
      'ring2-customers#2:complete:tenant/detections/globex',
    ]);
    assert.deepEqual(
      cp.steps.map((s) => s.n),
      cp.steps.map((_, i) => i + 1),
    );
  });

  it('bakes with the ring gates after each canary and cutover step only', () => {
    for (const s of cp.steps) {
      const baking = s.kind === 'canary' || s.kind === 'cutover';
      assert.equal(s.bakeMs, baking ? plan.defaults.bake : 0, `step ${s.n}`);
      assert.deepEqual(s.gates, baking ? plan.rings[s.ringIndex]!.gates : [], `step ${s.n}`);
    }
  });

  it('a step lasts at least its bake or its longest gate window (errors: 4 × 15s = 60s)', () => {
    const ring0 = cp.steps.filter((s) => s.ring === 'ring0-synthetic' && s.kind === 'canary');
    assert.ok(ring0.every((s) => s.minDurationMs === 30_000));
    const ring1 = cp.steps.filter((s) => s.ring === 'ring1-internal' && s.kind === 'cutover');
    assert.ok(ring1.every((s) => s.minDurationMs === 60_000));
    // ring0: 3 × 30s; ring1: 3 × 60s; ring2: 2 batches × 3 × 60s.
    assert.equal(cp.minTotalDurationMs, 90_000 + 180_000 + 360_000);
  });

  it('carries gates, rings and approvals as data', () => {
    assert.equal(cp.workflowId, 'cutover/campaign/legacy-to-cloud');
    assert.equal(cp.unitCount, 4);
    assert.deepEqual(Object.keys(cp.gates).sort(), ['clean', 'errors', 'probe']);
    assert.equal(cp.gates.errors!.kind, 'prometheus');
    assert.deepEqual(cp.gates.errors!.policy, {
      interval: 15_000,
      count: 4,
      failureLimit: 1,
      consecutiveErrorLimit: plan.gates.errors!.consecutiveErrorLimit,
    });
    assert.deepEqual(
      cp.rings.map((r) => r.batches),
      [1, 1, 2],
    );
    assert.equal(cp.rings[2]!.approval, 'two-person');
    assert.equal(cp.steps.filter((s) => s.kind === 'approval').length, 2);
  });

  it('is plain JSON', () => assert.deepEqual(JSON.parse(JSON.stringify(cp)), cp));

  it('renders every step and the minimum total as text', () => {
    const text = formatDryRun(cp);
    const lines = text.split('\n');
    for (const s of cp.steps)
      assert.ok(
        lines.some((l) => l.startsWith(`${s.n} `) && l.includes(s.ring)),
        `step ${s.n} missing`,
      );
    assert.ok(text.includes('10m30s'));
    assert.ok(text.includes('two-person approval'));
  });

  it('a drill rolls each batch back instead of completing it', () => {
    const drill = planCampaign(plan, { drill: true });
    assert.equal(drill.drill, true);
    assert.equal(drill.steps.filter((s) => s.kind === 'rollback').length, 4);
    assert.equal(drill.steps.filter((s) => s.kind === 'complete').length, 0);
    assert.equal(drill.minTotalDurationMs, cp.minTotalDurationMs);
  });

  it('drain-and-switch units skip the canary steps', () => {
    const dns = loadPlan({
      ...plan,
      namespaces: { ...plan.namespaces, payments: { ...plan.namespaces.payments!, strategy: 'drain-and-switch' } },
    });
    const ring0 = planCampaign(dns)
      .steps.filter((s) => s.ring === 'ring0-synthetic')
      .map((s) => s.kind);
    assert.deepEqual(ring0, ['prepare', 'cutover', 'complete']);
  });

  it('a ring bake overrides the default bake', () => {
    const p2 = loadPlan({ ...plan, rings: plan.rings.map((r, i) => (i === 0 ? { ...r, bake: 5000 } : r)) });
    const s = planCampaign(p2).steps.find((x) => x.ring === 'ring0-synthetic' && x.kind === 'cutover')!;
    assert.equal(s.bakeMs, 5000);
    assert.equal(s.minDurationMs, Math.max(5000, 15_000));
  });

  it('stepMinDuration takes the longest of bake and gate windows', () => {
    assert.equal(stepMinDuration(0, []), 0);
    assert.equal(
      stepMinDuration(100, [
        {
          name: 'g',
          kind: 'reconcile',
          reconcile: { maxDuplicates: 0, maxStranded: 0 },
          summary: '',
          policy: { interval: 50, count: 3, failureLimit: 0, consecutiveErrorLimit: 0 },
        },
      ]),
      150,
    );
  });
});
