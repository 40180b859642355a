/**
 * The statistics of the compare gate, as pure functions (no I/O, no clock; safe in the workflow sandbox):
 * the standard normal distribution, a two-proportion z-test and the Mann–Whitney U test with its normal
 * approximation. Both tests are one-sided and ask one question: is the target worse than the source?
 * A two-sided test would also fail a target that got better, which is no reason to stop a migration.
 *
 * Hand-written rather than taken from a library: the few functions needed here are short, and the
 * statistics packages on npm either pull a large dependency tree or do not apply the tie correction.
 */

/** The standard normal density. */
export function normalPdf(x: number): number {
  return Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
}

/**
 * Upper tail Q(x) = 1 − Φ(x) for x ≥ 3 by Laplace's continued fraction
 * Q(x) = φ(x) / (x + 1/(x + 2/(x + 3/(x + …)))), evaluated from the back. Far in the tail a subtraction
 * from 1 would lose every digit, so the tail is computed directly.
 */
function upperTailFraction(x: number): number {
  let f = x;
  for (let k = 200; k >= 1; k--) f = x + k / f;
  return normalPdf(x) / f;
}

/**
 * Φ(x) − 1/2 for |x| < 3 by the series φ(x) · Σ x^(2n+1) / (1·3·5···(2n+1)): every term has the sign of
 * x, so nothing cancels, and the terms fall fast enough below |x| = 3.
 */
function centralSeries(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term = (term * x * x) / (2 * n + 1);
    sum += term;
  }
  return normalPdf(x) * sum;
}

/** The standard normal cumulative distribution Φ(x) (absolute error below 1e-14, tails to their last digit). */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === Infinity) return 1;
  if (x === -Infinity) return 0;
  if (x <= -3) return upperTailFraction(-x);
  if (x >= 3) return 1 - upperTailFraction(x);
  return 0.5 + centralSeries(x);
}

/** The upper tail 1 − Φ(x): the one-sided p-value of a z statistic. */
export function normalSf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === Infinity) return 0;
  if (x === -Infinity) return 1;
  if (x >= 3) return upperTailFraction(x);
  if (x <= -3) return 1 - upperTailFraction(-x);
  return 0.5 - centralSeries(x);
}

/** One side of a proportion test: `failed` of `n`. */
export interface ProportionSample {
  n: number;
  failed: number;
}

/** The two-proportion test's numbers. */
export interface ProportionTest {
  sourceRate: number;
  targetRate: number;
  /** The pooled rate (failures of both sides over both sizes). */
  pooledRate: number;
  z: number;
  /** One-sided: the chance of a target rate this far above the source's if both sides fail alike. */
  p: number;
}

/**
 * Two-proportion z-test with the pooled standard error, one-sided (H1: the target's failure rate is
 * above the source's). z = (p_t − p_s) / √(p̂(1 − p̂)(1/n_s + 1/n_t)), p = 1 − Φ(z).
 * When neither side has a failure, or every run failed on both, the rates are equal and there is no
 * spread to test: z = 0 and p = 1 (no evidence the target is worse). Needs n ≥ 1 on both sides; the caller
 * decides what is too small a sample.
 */
export function twoProportionTest(source: ProportionSample, target: ProportionSample): ProportionTest {
  if (source.n < 1 || target.n < 1) throw new RangeError('twoProportionTest needs at least one run on each side');
  const sourceRate = source.failed / source.n;
  const targetRate = target.failed / target.n;
  const pooledRate = (source.failed + target.failed) / (source.n + target.n);
  const se = Math.sqrt(pooledRate * (1 - pooledRate) * (1 / source.n + 1 / target.n));
  if (!(se > 0)) return { sourceRate, targetRate, pooledRate, z: 0, p: 1 };
  const z = (targetRate - sourceRate) / se;
  return { sourceRate, targetRate, pooledRate, z, p: normalSf(z) };
}

/** Ranks of `values` (1-based, ties share their average rank) and the tie groups' sizes. */
export function averageRanks(values: readonly number[]): { ranks: number[]; ties: number[] } {
  const order = values.map((v, i) => ({ v, i })).sort((a, b) => a.v - b.v);
  const ranks = new Array<number>(values.length);
  const ties: number[] = [];
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && order[end + 1]!.v === order[start]!.v) end++;
    const rank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) ranks[order[k]!.i] = rank;
    if (end > start) ties.push(end - start + 1);
    start = end + 1;
  }
  return { ranks, ties };
}

/** The Mann–Whitney test's numbers. */
export interface MannWhitneyTest {
  /** U of the target: how many (source, target) pairs have the target greater (a tie counts ½). */
  u: number;
  /** U's mean and standard deviation under H0 (the tie-corrected deviation). */
  mean: number;
  sd: number;
  z: number;
  /** One-sided p: the chance of a U this large if target and scaled source come from one distribution. */
  p: number;
}

/**
 * Mann–Whitney U, one-sided (H1: the target's values are stochastically greater than the source's times
 * `1 + tolerance`), with the normal approximation, the tie correction of the variance and a continuity
 * correction of ½:
 *   U_t = R_t − n_t(n_t + 1)/2, μ = n_s n_t / 2,
 *   σ² = n_s n_t / 12 · ((N + 1) − Σ(t³ − t) / (N(N − 1))), z = (U_t − μ − ½) / σ, p = 1 − Φ(z).
 * Scaling the source by `1 + tolerance` before ranking is the tolerance as Kayenta applies it: the
 * target may be that much slower before it counts as worse. When every value is equal σ = 0: z = 0
 * and p = 1 (no evidence the target is worse). Needs one value on each side at least.
 */
export function mannWhitneyGreater(source: readonly number[], target: readonly number[], tolerance = 0): MannWhitneyTest {
  const ns = source.length;
  const nt = target.length;
  if (ns < 1 || nt < 1) throw new RangeError('mannWhitneyGreater needs at least one value on each side');
  if (!(tolerance >= 0)) throw new RangeError('tolerance must be 0 or more');
  const scaled = source.map((v) => v * (1 + tolerance));
  const { ranks, ties } = averageRanks([...scaled, ...target]);
  let rt = 0;
  for (let i = ns; i < ns + nt; i++) rt += ranks[i]!;
  const u = rt - (nt * (nt + 1)) / 2;
  return uTest(
    u,
    ns,
    nt,
    ties.reduce((s, t) => s + t * t * t - t, 0),
  );
}

/**
 * The one-sided test of a Mann–Whitney U of the target over `ns` source and `nt` target values, with
 * `tieSum` = Σ (t³ − t) over the tie groups: tie-corrected variance, continuity correction ½.
 */
function uTest(u: number, ns: number, nt: number, tieSum: number): MannWhitneyTest {
  const n = ns + nt;
  const mean = (ns * nt) / 2;
  const variance = n > 1 ? ((ns * nt) / 12) * (n + 1 - tieSum / (n * (n - 1))) : 0;
  const sd = Math.sqrt(Math.max(0, variance));
  if (!(sd > 0)) return { u, mean, sd: 0, z: 0, p: 1 };
  const z = (u - mean - 0.5) / sd;
  return { u, mean, sd, z, p: normalSf(z) };
}

/** The median (the mean of the two middle values for an even count); undefined when empty. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Histogram data of one side: `counts[i]` values fell in the bucket whose upper bound is `bounds[i]` (not cumulative). */
export interface BinnedSample {
  /** Bucket upper bounds, strictly increasing; the last may be Infinity (Prometheus' `+Inf`). */
  bounds: readonly number[];
  /** Whole numbers of values per bucket, each ≥ 0. */
  counts: readonly number[];
}

function checkBinned(what: string, s: BinnedSample): void {
  if (s.bounds.length !== s.counts.length) throw new RangeError(`${what}: ${s.bounds.length} bounds but ${s.counts.length} counts`);
  for (let i = 0; i < s.bounds.length; i++) {
    if (i > 0 && !(s.bounds[i]! > s.bounds[i - 1]!)) throw new RangeError(`${what}: bucket bounds must increase`);
    if (!(Number.isInteger(s.counts[i]) && s.counts[i]! >= 0)) throw new RangeError(`${what}: counts must be whole numbers ≥ 0`);
  }
}

/**
 * Mann–Whitney U on binned data (histograms), one-sided like `mannWhitneyGreater`. Only the bucket of a
 * value is known, so every value stands at its bucket's upper bound and each bucket is one tie group: a
 * source and a target value in the same bucket tie (count ½). The source's bounds are scaled by
 * `1 + tolerance` (Kayenta's tolerance, as on raw values), which moves its values above the target's in
 * the same bucket. The statistics are those of `mannWhitneyGreater` over the expanded values (tie-corrected
 * variance, continuity correction ½), computed per group so a histogram of millions costs one pass:
 *   U_t = Σ_g c_g · (S_<g + s_g / 2), with s_g, c_g the source's and target's counts at group g and
 *   S_<g the source's count below it. Needs one value on each side at least.
 */
export function mannWhitneyBinnedGreater(source: BinnedSample, target: BinnedSample, tolerance = 0): MannWhitneyTest {
  checkBinned('source', source);
  checkBinned('target', target);
  if (!(tolerance >= 0)) throw new RangeError('tolerance must be 0 or more');
  // Groups by value: the scaled source bounds and the target bounds may coincide or interleave.
  const groups = new Map<number, { s: number; c: number }>();
  const add = (v: number, s: number, c: number) => {
    const g = groups.get(v) ?? { s: 0, c: 0 };
    g.s += s;
    g.c += c;
    groups.set(v, g);
  };
  source.bounds.forEach((b, i) => source.counts[i]! > 0 && add(b * (1 + tolerance), source.counts[i]!, 0));
  target.bounds.forEach((b, i) => target.counts[i]! > 0 && add(b, 0, target.counts[i]!));
  const ns = source.counts.reduce((a, b) => a + b, 0);
  const nt = target.counts.reduce((a, b) => a + b, 0);
  if (ns < 1 || nt < 1) throw new RangeError('mannWhitneyBinnedGreater needs at least one value on each side');
  let u = 0;
  let below = 0;
  let tieSum = 0;
  for (const v of [...groups.keys()].sort((a, b) => a - b)) {
    const g = groups.get(v)!;
    u += g.c * (below + g.s / 2);
    below += g.s;
    const t = g.s + g.c;
    tieSum += t * t * t - t;
  }
  return uTest(u, ns, nt, tieSum);
}

/** The upper bound of the bucket holding the median value (the lower middle one for an even count); undefined when empty. */
export function binnedMedian(s: BinnedSample): number | undefined {
  const n = s.counts.reduce((a, b) => a + b, 0);
  if (n === 0) return undefined;
  const half = Math.ceil(n / 2);
  let seen = 0;
  for (let i = 0; i < s.counts.length; i++) {
    seen += s.counts[i]!;
    if (seen >= half) return s.bounds[i];
  }
  return undefined;
}
