/**
 * The compare and schedule-to-start gates without servers: the statistics against hand-computed and
 * tabled values, the judging of observations, and the plan's validation of both gates.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { gateSpec } from '../../src/campaign/plan';
import { gateKind, validatePlan, type PlanIssue } from '../../src/config';
import { judgeBacklog, type QueueStats } from '../../src/gates/backlog';
import {
  compareQueries,
  compareWindows,
  judgeCompare,
  judgeCompareType,
  type CompareSettings,
  type SideObservation,
} from '../../src/gates/compare';
import {
  bucketsFromCumulative,
  comparePromQueries,
  observeSidePrometheus,
  promSelector,
  windowRange,
  type PromSample,
} from '../../src/gates/compare-prometheus';
import {
  averageRanks,
  binnedMedian,
  mannWhitneyBinnedGreater,
  mannWhitneyGreater,
  median,
  normalCdf,
  normalSf,
  twoProportionTest,
} from '../../src/gates/stats';

const close = (actual: number, expected: number, tolerance: number, what = '') =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what} ${actual} is not within ${tolerance} of ${expected}`);

describe('stats: the standard normal distribution', () => {
  // Tabled values of Φ and of the upper tail Q = 1 − Φ.
  const table: [number, number][] = [
    [0, 0.5],
    [1, 0.8413447460685429],
    [1.6448536269514722, 0.95],
    [1.959963984540054, 0.975],
    [-1, 0.15865525393145707],
    [2.5, 0.9937903346742238],
    [-3, 0.0013498980316300946],
  ];
  for (const [x, phi] of table) {
    it(`Φ(${x}) = ${phi}`, () => {
      close(normalCdf(x), phi, 1e-14, 'Φ');
      close(normalSf(x), 1 - phi, 1e-14, 'Q');
    });
  }
  it('keeps the far tail to its relative digits, and is continuous where the methods meet (|x| = 3)', () => {
    close(normalSf(5) / 2.866515718791939e-7, 1, 1e-12, 'Q(5)');
    close(normalSf(8) / 6.220960574271785e-16, 1, 1e-10, 'Q(8)');
    close(normalSf(10) / 7.619853024160527e-24, 1, 1e-10, 'Q(10)');
    close(normalCdf(-5) / 2.866515718791939e-7, 1, 1e-12, 'Φ(-5)');
    close(normalSf(3 - 1e-9), normalSf(3 + 1e-9), 1e-11, 'Q around 3');
    close(normalCdf(-3 - 1e-9), normalCdf(-3 + 1e-9), 1e-11, 'Φ around -3');
  });
  it('has the right limits', () => {
    assert.equal(normalCdf(Infinity), 1);
    assert.equal(normalCdf(-Infinity), 0);
    assert.equal(normalSf(Infinity), 0);
    assert.ok(Number.isNaN(normalCdf(NaN)));
  });
});

describe('stats: two-proportion z-test (pooled, one-sided: target worse)', () => {
  it('30/100 on the source, 45/100 on the target: z = 2.1909, p = 0.01423 (by hand)', () => {
    // p̂ = 75/200 = 0.375; se = √(0.375 · 0.625 · (1/100 + 1/100)) = √0.0046875 = 0.0684653;
    // z = 0.15 / 0.0684653 = 2.19089; p = Q(2.19089) = 0.014230.
    const t = twoProportionTest({ n: 100, failed: 30 }, { n: 100, failed: 45 });
    close(t.pooledRate, 0.375, 1e-15);
    close(t.z, 2.1908902300206647, 1e-12, 'z');
    close(t.p, 0.01422986845815527, 1e-9, 'p');
  });
  it('a target that fails less is not worse (z < 0, p > 0.5)', () => {
    const t = twoProportionTest({ n: 100, failed: 45 }, { n: 100, failed: 30 });
    close(t.z, -2.1908902300206647, 1e-12);
    assert.ok(t.p > 0.98);
  });
  it('unequal sizes: 2/50 against 10/40', () => {
    // p̂ = 12/90; se = √(0.133333 · 0.866667 · (1/50 + 1/40)) = √0.0052 = 0.0721110; z = (0.25 − 0.04)/0.0721110 = 2.91218.
    const t = twoProportionTest({ n: 50, failed: 2 }, { n: 40, failed: 10 });
    close(t.z, 0.21 / Math.sqrt((12 / 90) * (78 / 90) * (1 / 50 + 1 / 40)), 1e-12);
    close(t.z, 2.91218, 1e-5);
  });
  it('no failure on either side, or all failed on both: no spread, z = 0 and p = 1', () => {
    assert.deepEqual(twoProportionTest({ n: 20, failed: 0 }, { n: 30, failed: 0 }), {
      sourceRate: 0,
      targetRate: 0,
      pooledRate: 0,
      z: 0,
      p: 1,
    });
    const all = twoProportionTest({ n: 20, failed: 20 }, { n: 30, failed: 30 });
    assert.equal(all.z, 0);
    assert.equal(all.p, 1);
  });
  it('refuses an empty side', () => {
    assert.throws(() => twoProportionTest({ n: 0, failed: 0 }, { n: 10, failed: 1 }), RangeError);
  });
});

describe('stats: Mann–Whitney U (tie-corrected normal approximation, one-sided: target greater)', () => {
  it('ranks ties by their average rank and reports the tie groups', () => {
    assert.deepEqual(averageRanks([3, 1, 2, 2, 5]), { ranks: [4, 1, 2.5, 2.5, 5], ties: [2] });
  });
  it('a small example with ties, by hand: source [1,2,2,3], target [2,3,4,5]', () => {
    // Pooled in order: 1s 2s 2s 2t 3s 3t 4t 5t; the three 2s share rank 3, the two 3s rank 5.5.
    // R_t = 3 + 5.5 + 7 + 8 = 23.5; U_t = 23.5 − 4·5/2 = 13.5; μ = 8.
    // Ties: one group of 3 (27 − 3 = 24), one of 2 (8 − 2 = 6): Σ = 30.
    // σ² = 16/12 · (9 − 30/56) = 11.285714; σ = 3.3594217; z = (13.5 − 8 − 0.5)/σ = 1.4883514; p = 0.068329.
    const t = mannWhitneyGreater([1, 2, 2, 3], [2, 3, 4, 5]);
    assert.equal(t.u, 13.5);
    assert.equal(t.mean, 8);
    close(t.sd, Math.sqrt((16 / 12) * (9 - 30 / 56)), 1e-12, 'sd');
    close(t.z, 1.4883513944689681, 1e-12, 'z');
    close(t.p, 0.0683291238690738, 1e-9, 'p');
  });
  it('U counts the pairs where the target is greater (a tie counts ½)', () => {
    const s = [10, 20, 30, 40, 50];
    const t = [15, 30, 35, 60];
    let pairs = 0;
    for (const a of s) for (const b of t) pairs += b > a ? 1 : b === a ? 0.5 : 0;
    assert.equal(mannWhitneyGreater(s, t).u, pairs);
  });
  it('without ties: source 1..10, target 6..15 (U = 75, σ = √175)', () => {
    const t = mannWhitneyGreater(
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((v) => v + 0.1),
      [6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    );
    // Pairs with target > source: each target k ∈ 6..10 beats the k − 1 sources below it (1.1..(k−1).1) → 5+6+7+8+9 = 35;
    // each of 11..15 beats all 10 → 50; U = 85. σ² = 100 · 21/12 = 175 (no ties).
    assert.equal(t.u, 85);
    close(t.sd, Math.sqrt(175), 1e-12);
    close(t.z, (85 - 50 - 0.5) / Math.sqrt(175), 1e-12);
    assert.ok(t.p < 0.01);
  });
  it('the tolerance scales the source: a target 10 % slower passes a 20 % tolerance and fails none', () => {
    const source = Array.from({ length: 40 }, (_, i) => 100 + i);
    const target = source.map((v) => v * 1.1);
    assert.ok(mannWhitneyGreater(source, target, 0).p < 0.05, 'no tolerance: worse');
    assert.ok(mannWhitneyGreater(source, target, 0.2).p > 0.5, '20 % tolerance: not worse');
  });
  it('all values equal: no spread, z = 0 and p = 1', () => {
    const t = mannWhitneyGreater([5, 5, 5], [5, 5]);
    assert.equal(t.u, 3);
    assert.equal(t.sd, 0);
    assert.equal(t.z, 0);
    assert.equal(t.p, 1);
  });
  it('refuses an empty side and a negative tolerance', () => {
    assert.throws(() => mannWhitneyGreater([], [1]), RangeError);
    assert.throws(() => mannWhitneyGreater([1], [1], -0.1), RangeError);
  });
  it('median of odd, even and empty lists', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([]), undefined);
  });
});

describe('stats: Mann–Whitney U on binned data (histogram buckets as tie groups, one-sided: target greater)', () => {
  const B = [100, 500, 1000, Infinity];
  it('by hand, no tolerance: source [3,2,0,0], target [1,2,2,0] on bounds 100, 500, 1000, +Inf', () => {
    // Values at their bucket's bound: groups 100 (3 s, 1 t), 500 (2 s, 2 t), 1000 (0 s, 2 t).
    // U_t = 1·(0 + 3/2) + 2·(3 + 2/2) + 2·(5 + 0) = 19.5; μ = 5·5/2 = 12.5.
    // Ties: 4, 4, 2 → Σ(t³ − t) = 60 + 60 + 6 = 126; σ² = 25/12 · (11 − 126/90) = 20.
    // z = (19.5 − 12.5 − 0.5)/√20 = 1.4534442; p = 1 − Φ(z) = 0.0730502.
    const t = mannWhitneyBinnedGreater({ bounds: B, counts: [3, 2, 0, 0] }, { bounds: B, counts: [1, 2, 2, 0] });
    assert.equal(t.u, 19.5);
    assert.equal(t.mean, 12.5);
    close(t.sd, Math.sqrt(20), 1e-12, 'sd');
    close(t.z, 6.5 / Math.sqrt(20), 1e-12, 'z');
    close(t.p, 0.0730502, 1e-6, 'p');
  });
  it('by hand, tolerance 0.2: the source bounds scale to 120, 600, 1200, so a bucket no longer ties', () => {
    // Groups: 100 (t 1), 120 (s 3), 500 (t 2), 600 (s 2), 1000 (t 2). U_t = 1·0 + 2·3 + 2·5 = 16.
    // Ties: 1, 3, 2, 2, 2 → Σ(t³ − t) = 0 + 24 + 6 + 6 + 6 = 42; σ² = 25/12 · (11 − 42/90) = 21.944444.
    // z = (16 − 12.5 − 0.5)/σ = 0.6404113; p = 0.2609526.
    const t = mannWhitneyBinnedGreater({ bounds: B, counts: [3, 2, 0, 0] }, { bounds: B, counts: [1, 2, 2, 0] }, 0.2);
    assert.equal(t.u, 16);
    close(t.sd, Math.sqrt((25 / 12) * (11 - 42 / 90)), 1e-12, 'sd');
    close(t.z, 3 / Math.sqrt((25 / 12) * (11 - 42 / 90)), 1e-12, 'z');
    close(t.p, 0.2609526, 1e-6, 'p');
  });
  it('equals the raw test on the values expanded to their bucket bounds, with different bucket layouts per side', () => {
    const source = { bounds: [50, 200, 800, Infinity], counts: [4, 7, 3, 1] };
    const target = { bounds: [100, 200, 400, 800, 1600], counts: [2, 5, 6, 2, 1] };
    const expand = (b: { bounds: number[]; counts: number[] }) => b.bounds.flatMap((v, i) => Array<number>(b.counts[i]!).fill(v));
    for (const tol of [0, 0.1, 1]) {
      const binned = mannWhitneyBinnedGreater(source, target, tol);
      const raw = mannWhitneyGreater(expand(source), expand(target), tol);
      close(binned.u, raw.u, 1e-9, `U at ${tol}`);
      close(binned.z, raw.z, 1e-12, `z at ${tol}`);
      close(binned.p, raw.p, 1e-12, `p at ${tol}`);
    }
  });
  it('everything in one bucket: no spread, z = 0 and p = 1', () => {
    const t = mannWhitneyBinnedGreater({ bounds: B, counts: [0, 9, 0, 0] }, { bounds: B, counts: [0, 4, 0, 0] });
    assert.deepEqual([t.u, t.sd, t.z, t.p], [18, 0, 0, 1]);
  });
  it('refuses an empty side, bounds that do not increase, fractional counts and a negative tolerance', () => {
    assert.throws(() => mannWhitneyBinnedGreater({ bounds: B, counts: [0, 0, 0, 0] }, { bounds: B, counts: [1, 0, 0, 0] }), RangeError);
    assert.throws(() => mannWhitneyBinnedGreater({ bounds: [2, 1], counts: [1, 1] }, { bounds: B, counts: [1, 0, 0, 0] }), RangeError);
    assert.throws(() => mannWhitneyBinnedGreater({ bounds: [1, 2], counts: [1.5, 1] }, { bounds: [1, 2], counts: [1, 1] }), RangeError);
    assert.throws(() => mannWhitneyBinnedGreater({ bounds: [1], counts: [1] }, { bounds: [1], counts: [1] }, -1), RangeError);
  });
  it("a binned median is its bucket's upper bound", () => {
    assert.equal(binnedMedian({ bounds: B, counts: [3, 2, 0, 0] }), 100);
    assert.equal(binnedMedian({ bounds: B, counts: [1, 2, 2, 0] }), 500);
    assert.equal(binnedMedian({ bounds: B, counts: [0, 0, 0, 0] }), undefined);
  });
});

describe('compare gate: the Prometheus source', () => {
  const SIDE = { namespace: 'payments', taskQueues: ['charge'], labels: { app: 'old' } };
  it('selects the namespace, type, task queues and side labels, over the window in whole seconds', () => {
    assert.equal(promSelector(SIDE, 'Charge'), '{namespace="payments",workflow_type="Charge",task_queue="charge",app="old"}');
    assert.equal(
      promSelector({ namespace: 'a', taskQueues: ['q.1', 'q2'] }, 'T'),
      '{namespace="a",workflow_type="T",task_queue=~"q\\\\.1|q2"}',
      'several queues: an anchored regex with each name escaped',
    );
    assert.equal(promSelector({ namespace: 'a', taskQueues: [] }, 'T'), '{namespace="a",workflow_type="T"}');
    assert.equal(windowRange(WINDOW), '300s');
    const q = comparePromQueries(SIDE, 'Charge', WINDOW);
    const sel = promSelector(SIDE, 'Charge');
    assert.deepEqual(q, {
      completed: `sum(increase(temporal_workflow_completed${sel}[300s]))`,
      failed: `sum(increase(temporal_workflow_failed${sel}[300s]))`,
      canceled: `sum(increase(temporal_workflow_canceled${sel}[300s]))`,
      buckets: `sum by (le) (increase(temporal_workflow_endtoend_latency_bucket${sel}[300s]))`,
    });
  });
  it('turns cumulative le series into per-bucket counts (rounded, sorted, +Inf last, never below zero)', () => {
    const le = (l: string, value: number): PromSample => ({ labels: { le: l }, value });
    assert.deepEqual(bucketsFromCumulative([le('+Inf', 10.4), le('500', 7.2), le('100', 3.1), le('1000', 6.6)]), {
      bounds: [100, 500, 1000, Infinity],
      counts: [3, 4, 0, 3],
    });
    assert.deepEqual(bucketsFromCumulative([]), { bounds: [], counts: [] });
  });
  it('observes a side: closed = completed + failed + canceled, failed alone, no series counts 0, all at the window end', async () => {
    const asked: { query: string; at: number }[] = [];
    const answers: Record<string, PromSample[]> = {
      temporal_workflow_completed: [{ labels: {}, value: 18.7 }],
      temporal_workflow_failed: [{ labels: {}, value: 2.2 }],
      temporal_workflow_canceled: [],
      temporal_workflow_endtoend_latency_bucket: [
        { labels: { le: '500' }, value: 5 },
        { labels: { le: '1000' }, value: 19 },
        { labels: { le: '+Inf' }, value: 21 },
      ],
    };
    const o = await observeSidePrometheus(
      async (query, at) => {
        asked.push({ query, at });
        return answers[/(temporal_\w+?)\{/.exec(query)![1]!]!;
      },
      SIDE,
      'Charge',
      WINDOW,
    );
    assert.deepEqual(o, {
      closed: 21,
      failed: 2,
      latenciesMs: [],
      truncated: false,
      latencyBins: { bounds: [500, 1000, Infinity], counts: [5, 14, 2] },
    });
    assert.equal(asked.length, 4);
    for (const a of asked) assert.equal(a.at, Date.parse(WINDOW.to));
  });
  it('judges binned observations: the evidence names prometheus, its counts and buckets, and says latency is binned', () => {
    const bins = (counts: number[]) => ({ bounds: [100, 500, 1000, Infinity], counts });
    const side = (closed: number, failed: number, counts: number[]): SideObservation => ({
      closed,
      failed,
      latenciesMs: [],
      truncated: false,
      latencyBins: bins(counts),
    });
    const settings: CompareSettings = { ...SETTINGS, source: 'prometheus', latencyTolerance: 0 };
    const m = judgeCompare(settings, WINDOWS, [
      { workflowType: 'Charge', source: side(20, 0, [5, 15, 0, 0]), target: side(20, 0, [0, 5, 15, 0]) },
    ]);
    assert.equal(m.result, 'failed', m.message);
    assert.equal(m.evidence.dataSource, 'prometheus');
    assert.match(m.evidence.note!, /binned/);
    const t = m.evidence.types[0]!;
    assert.deepEqual(t.latencyBuckets, { source: bins([5, 15, 0, 0]), target: bins([0, 5, 15, 0]) });
    assert.deepEqual([t.source.latencySamples, t.source.medianMs, t.target.medianMs], [20, 500, 1000]);
    // By hand: groups 100 (5 s), 500 (15 s, 5 t), 1000 (15 t): U = 5·(5 + 15/2) + 15·20 = 362.5.
    assert.equal(t.latencyTest!.u, 362.5);
    assert.equal(t.latencyTest!.worse, true);
    assert.match(m.message, /from prometheus: Charge failed: failures 0\/20 → 0\/20 .*median ≤ 500 → ≤ 1000 ms \(binned\)/);
    const visibility = judgeCompare(SETTINGS, WINDOWS, [{ workflowType: 'Charge', source: obs(1, 0, [1]), target: obs(1, 0, [1]) }]);
    assert.equal(visibility.evidence.dataSource, 'visibility');
    assert.equal(visibility.evidence.note, undefined);
  });
});

const SETTINGS: CompareSettings = { workflowTypes: ['Charge'], minSamples: 10, maxSamples: 500, alpha: 0.05, latencyTolerance: 0.1 };
const obs = (closed: number, failed: number, latenciesMs: number[]): SideObservation => ({ closed, failed, latenciesMs, truncated: false });
const range = (n: number, from: number, step = 1) => Array.from({ length: n }, (_, i) => from + i * step);
const WINDOW = { from: '2026-12-06T10:00:00.000Z', to: '2026-12-06T10:05:00.000Z' };
const WINDOWS = { source: WINDOW, target: WINDOW };

describe('compare gate: judging', () => {
  it('equal behaviour is successful, with the numbers as evidence', () => {
    const m = judgeCompare(SETTINGS, WINDOWS, [
      { workflowType: 'Charge', source: obs(40, 1, range(39, 100)), target: obs(40, 1, range(39, 100)) },
    ]);
    assert.equal(m.result, 'successful');
    const e = m.evidence.types[0]!;
    assert.equal(e.result, 'successful');
    assert.deepEqual(e.source, { closed: 40, failed: 1, failureRate: 0.025, latencySamples: 39, medianMs: 119, truncated: false });
    assert.equal(e.failureTest!.z, 0);
    assert.equal(e.failureTest!.worse, false);
    assert.equal(e.latencyTest!.worse, false);
    assert.deepEqual(
      {
        alpha: m.evidence.alpha,
        tol: m.evidence.latencyTolerance,
        min: m.evidence.minSamples,
        max: m.evidence.maxSamples,
        windows: m.evidence.windows,
      },
      { alpha: 0.05, tol: 0.1, min: 10, max: 500, windows: WINDOWS },
    );
    assert.match(m.message, /Charge successful: failures 1\/40 → 1\/40/);
  });
  it('more failures on the target fails, even when latency is fine', () => {
    const m = judgeCompare(SETTINGS, WINDOWS, [
      { workflowType: 'Charge', source: obs(40, 0, range(40, 100)), target: obs(40, 12, range(28, 100)) },
    ]);
    assert.equal(m.result, 'failed');
    assert.equal(m.evidence.types[0]!.failureTest!.worse, true);
    assert.equal(m.value, m.evidence.types[0]!.failureTest!.p);
  });
  it('slower beyond the tolerance fails; within it passes', () => {
    const source = obs(30, 0, range(30, 100, 2));
    const slow = judgeCompareType(
      SETTINGS,
      'Charge',
      source,
      obs(
        30,
        0,
        range(30, 100, 2).map((v) => v * 1.5),
      ),
    );
    assert.equal(slow.result, 'failed');
    assert.equal(slow.latencyTest!.worse, true);
    assert.equal(slow.failureTest!.worse, false);
    const bitSlower = judgeCompareType(
      SETTINGS,
      'Charge',
      source,
      obs(
        30,
        0,
        range(30, 100, 2).map((v) => v * 1.05),
      ),
    );
    assert.equal(bitSlower.result, 'successful');
  });
  it('fewer runs than minSamples on a side is inconclusive; a conclusive failure still fails', () => {
    const few = judgeCompare(SETTINGS, WINDOWS, [
      { workflowType: 'Charge', source: obs(40, 0, range(40, 1)), target: obs(9, 0, range(9, 1)) },
    ]);
    assert.equal(few.result, 'inconclusive');
    assert.equal(few.evidence.types[0]!.failureTest, null);
    assert.equal(few.evidence.types[0]!.latencyTest, null);
    assert.equal(few.value, undefined);
    // Enough closed runs to see the failures, too few completed ones for latency.
    const failing = judgeCompareType(SETTINGS, 'Charge', obs(40, 0, range(40, 1)), obs(40, 35, range(5, 1)));
    assert.equal(failing.result, 'failed');
    assert.equal(failing.latencyTest, null);
  });
  it('zero runs on both sides is inconclusive, never a pass', () => {
    const m = judgeCompare(SETTINGS, WINDOWS, [{ workflowType: 'Charge', source: obs(0, 0, []), target: obs(0, 0, []) }]);
    assert.equal(m.result, 'inconclusive');
    assert.equal(m.evidence.types[0]!.source.failureRate, null);
    assert.equal(m.evidence.types[0]!.source.medianMs, null);
  });
  it('several types: the worst decides', () => {
    const good = { source: obs(40, 0, range(40, 1)), target: obs(40, 0, range(40, 1)) };
    const few = { source: obs(3, 0, range(3, 1)), target: obs(3, 0, range(3, 1)) };
    const bad = { source: obs(40, 0, range(40, 1)), target: obs(40, 20, range(20, 1)) };
    const two = { ...SETTINGS, workflowTypes: ['A', 'B'] };
    assert.equal(
      judgeCompare(two, WINDOWS, [
        { workflowType: 'A', ...good },
        { workflowType: 'B', ...few },
      ]).result,
      'inconclusive',
    );
    assert.equal(
      judgeCompare(two, WINDOWS, [
        { workflowType: 'A', ...bad },
        { workflowType: 'B', ...few },
      ]).result,
      'failed',
    );
    assert.equal(
      judgeCompare(two, WINDOWS, [
        { workflowType: 'A', ...good },
        { workflowType: 'B', ...good },
      ]).result,
      'successful',
    );
  });
  it("windows: the target's is the bake; the source's starts baselineLookback earlier", () => {
    const now = new Date('2026-12-06T10:05:00.000Z');
    assert.deepEqual(compareWindows({}, WINDOW.from, now), WINDOWS);
    assert.deepEqual(compareWindows({ baselineLookback: 3_600_000 }, WINDOW.from, now), {
      source: { from: '2026-12-06T09:00:00.000Z', to: WINDOW.to },
      target: WINDOW,
    });
  });
  it('queries the window on CloseTime for one type, never open or continued-as-new runs', () => {
    const q = compareQueries({ taskQueues: ['pay'] }, 'Charge', WINDOW);
    assert.match(q.closed, /TaskQueue = "pay"/);
    assert.match(q.closed, /WorkflowType = "Charge"/);
    assert.match(q.closed, /CloseTime >= "2026-12-06T10:00:00.000Z" AND CloseTime <= "2026-12-06T10:05:00.000Z"/);
    assert.match(q.closed, /ExecutionStatus != "Running" AND ExecutionStatus != "ContinuedAsNew"/);
    assert.match(q.failed, /ExecutionStatus = "Failed" OR ExecutionStatus = "TimedOut" OR ExecutionStatus = "Terminated"/);
    assert.match(q.completed, /ExecutionStatus = "Completed"$/);
    assert.doesNotMatch(q.closed, /ORDER BY/);
  });
});

describe('schedule-to-start gate: judging', () => {
  const queue = (over: Partial<QueueStats>): QueueStats => ({
    taskQueue: 'pay',
    type: 'workflow',
    backlogCount: 0,
    backlogAgeMs: 0,
    addRate: 0,
    dispatchRate: 0,
    pollers: 1,
    ...over,
  });
  it('keeping up passes, with the oldest age as value', () => {
    const m = judgeBacklog({ maxBacklogAge: 5000 }, [queue({ backlogAgeMs: 200 }), queue({ type: 'activity', pollers: 0 })]);
    assert.equal(m.result, 'successful');
    assert.equal(m.value, 200);
    assert.equal(m.evidence.queues.length, 2);
  });
  it('an old backlog, too many tasks, or no workflow poller fails', () => {
    assert.equal(judgeBacklog({ maxBacklogAge: 5000 }, [queue({ backlogAgeMs: 6000 })]).result, 'failed');
    assert.equal(judgeBacklog({ maxBacklogAge: 5000, maxBacklogCount: 10 }, [queue({ backlogCount: 11 })]).result, 'failed');
    assert.equal(judgeBacklog({ maxBacklogAge: 5000 }, [queue({ pollers: 0 })]).result, 'failed');
  });
  it('no queue to describe is no data: failed', () => {
    assert.equal(judgeBacklog({ maxBacklogAge: 5000 }, []).result, 'failed');
  });
});

type Raw = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const example = (): Raw => parseYaml(readFileSync(path.resolve(__dirname, '../../examples/plan.yaml'), 'utf8')) as Raw;
const issuesOf = (raw: Raw): PlanIssue[] => {
  const r = validatePlan(raw);
  assert.equal(r.ok, false, 'expected the plan to be rejected');
  return r.ok ? [] : r.issues;
};

describe('config: compare and scheduleToStart gates', () => {
  it('accepts both, with defaults, and carries them into the campaign', () => {
    const raw = example();
    raw.gates.same = { compare: { workflowTypes: ['Charge', 'Refund'] } };
    raw.gates.keepup = { scheduleToStart: { maxBacklogAge: '5s', maxBacklogCount: 100 }, interval: '10s' };
    raw.rings[0].gates.push('same', 'keepup');
    const r = validatePlan(raw);
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.issues));
    const plan = r.plan;
    assert.equal(gateKind(plan.gates.same!), 'compare');
    assert.deepEqual(plan.gates.same!.compare, {
      workflowTypes: ['Charge', 'Refund'],
      source: 'visibility',
      minSamples: 20,
      maxSamples: 500,
      alpha: 0.05,
      latencyTolerance: 0.1,
    });
    assert.equal(gateKind(plan.gates.keepup!), 'scheduleToStart');
    assert.deepEqual(plan.gates.keepup!.scheduleToStart, { maxBacklogAge: 5000, maxBacklogCount: 100 });
    const spec = gateSpec('same', plan.gates.same!);
    assert.equal(spec.kind, 'compare');
    assert.match(spec.summary, /Charge, Refund/);
    assert.equal(gateSpec('keepup', plan.gates.keepup!).kind, 'scheduleToStart');
    raw.gates.same.compare.baselineLookback = '1h';
    const withLookback = validatePlan(raw);
    assert.ok(withLookback.ok);
    assert.equal(withLookback.plan.gates.same!.compare!.baselineLookback, 3_600_000);
    assert.match(gateSpec('same', withLookback.plan.gates.same!).summary, /source from 1h before the step/);
  });

  it('accepts a compare gate on Prometheus and carries its URL, token variable and side labels into the campaign', () => {
    const raw = example();
    raw.gates.same = {
      compare: {
        workflowTypes: ['Charge'],
        source: 'prometheus',
        prometheus: {
          url: 'http://127.0.0.1:9090',
          tokenEnv: 'PROM_TOKEN',
          sourceLabels: { cluster: 'old' },
          targetLabels: { cluster: 'new' },
        },
      },
    };
    raw.rings[0].gates.push('same');
    const r = validatePlan(raw);
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.issues));
    assert.equal(r.plan.gates.same!.compare!.source, 'prometheus');
    assert.deepEqual(r.plan.gates.same!.compare!.prometheus, {
      url: 'http://127.0.0.1:9090',
      tokenEnv: 'PROM_TOKEN',
      sourceLabels: { cluster: 'old' },
      targetLabels: { cluster: 'new' },
    });
    const spec = gateSpec('same', r.plan.gates.same!);
    assert.equal(spec.kind === 'compare' && spec.compare.source, 'prometheus');
    assert.match(spec.summary, /SDK metrics in http:\/\/127\.0\.0\.1:9090/);
  });

  const bad: [string, (raw: Raw) => void, string[]][] = [
    ['no workflow types', (p) => (p.gates.clean = { compare: { workflowTypes: [] } }), ['gates.clean.compare.workflowTypes']],
    ['workflow types missing', (p) => (p.gates.clean = { compare: {} }), ['gates.clean.compare.workflowTypes']],
    ['a type listed twice', (p) => (p.gates.clean = { compare: { workflowTypes: ['A', 'A'] } }), ['gates.clean.compare.workflowTypes[1]']],
    ['alpha zero', (p) => (p.gates.clean = { compare: { workflowTypes: ['A'], alpha: 0 } }), ['gates.clean.compare.alpha']],
    ['alpha above 0.5', (p) => (p.gates.clean = { compare: { workflowTypes: ['A'], alpha: 0.9 } }), ['gates.clean.compare.alpha']],
    [
      'negative tolerance',
      (p) => (p.gates.clean = { compare: { workflowTypes: ['A'], latencyTolerance: -0.1 } }),
      ['gates.clean.compare.latencyTolerance'],
    ],
    [
      'maxSamples above 5000',
      (p) => (p.gates.clean = { compare: { workflowTypes: ['A'], maxSamples: 10_000 } }),
      ['gates.clean.compare.maxSamples'],
    ],
    [
      'minSamples above maxSamples',
      (p) => (p.gates.clean = { compare: { workflowTypes: ['A'], minSamples: 50, maxSamples: 40 } }),
      ['gates.clean.compare.minSamples'],
    ],
    ['misspelt key', (p) => (p.gates.clean = { compare: { workflowTypes: ['A'], tolerance: 0.1 } }), ['gates.clean.compare.tolerance']],
    ['compare with another provider', (p) => (p.gates.clean.compare = { workflowTypes: ['A'] }), ['gates.clean']],
    [
      'baseline lookback zero',
      (p) => (p.gates.clean = { compare: { workflowTypes: ['A'], baselineLookback: '0s' } }),
      ['gates.clean.compare.baselineLookback'],
    ],
    [
      'source prometheus without a Prometheus',
      (p) => (p.gates.clean = { compare: { workflowTypes: ['A'], source: 'prometheus' } }),
      ['gates.clean.compare.prometheus'],
    ],
    [
      'a Prometheus on a gate reading visibility',
      (p) => (p.gates.clean = { compare: { workflowTypes: ['A'], prometheus: { url: 'http://127.0.0.1:9090' } } }),
      ['gates.clean.compare.prometheus'],
    ],
    [
      'an unknown source',
      (p) => (p.gates.clean = { compare: { workflowTypes: ['A'], source: 'metrics' } }),
      ['gates.clean.compare.source'],
    ],
    [
      'a side label the gate sets itself',
      (p) =>
        (p.gates.clean = {
          compare: {
            workflowTypes: ['A'],
            source: 'prometheus',
            prometheus: { url: 'http://127.0.0.1:9090', targetLabels: { namespace: 'x' } },
          },
        }),
      ['gates.clean.compare.prometheus.targetLabels.namespace'],
    ],
    ['backlog age missing', (p) => (p.gates.clean = { scheduleToStart: {} }), ['gates.clean.scheduleToStart.maxBacklogAge']],
    [
      'backlog age not a duration',
      (p) => (p.gates.clean = { scheduleToStart: { maxBacklogAge: 'soon' } }),
      ['gates.clean.scheduleToStart.maxBacklogAge'],
    ],
    [
      'backlog count negative',
      (p) => (p.gates.clean = { scheduleToStart: { maxBacklogAge: '1s', maxBacklogCount: -1 } }),
      ['gates.clean.scheduleToStart.maxBacklogCount'],
    ],
    [
      'scheduleToStart on a namespace without task queues',
      (p) => {
        // drain-and-switch may leave its task queues out; the gate then has none to describe.
        p.namespaces.payments.strategy = 'drain-and-switch';
        delete p.namespaces.payments.taskQueues;
        p.gates.keepup = { scheduleToStart: { maxBacklogAge: '5s' } };
        p.rings[0].gates.push('keepup');
      },
      ['rings[0].gates[1]'],
    ],
  ];
  for (const [title, mutate, paths] of bad) {
    it(`refuses: ${title}, naming the path and a fix`, () => {
      const raw = example();
      mutate(raw);
      const issues = issuesOf(raw);
      assert.deepEqual(
        issues.map((i) => i.path),
        paths,
      );
      for (const i of issues) assert.ok(i.hint.length > 0, `${i.path} has a fix`);
    });
  }
});
