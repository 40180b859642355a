import assert from 'node:assert/strict';
import { evaluateGate, isGateFailure, policyProblems, type GateStatus } from '../../src/gates/policy';
import { extractValue, measurePrometheus, type FetchLike } from '../../src/gates/prometheus';
import { judgeReconcile } from '../../src/gates/reconcile';
import { judgeSynthetic, percentile } from '../../src/gates/synthetic';
import { judgeTemporal, temporalGateQueries } from '../../src/gates/temporal';
import { boundsToThresholds, broken, compare } from '../../src/gates/thresholds';
import type { GatePolicy, MeasurementResult } from '../../src/gates/types';

const P = (over: Partial<GatePolicy> = {}): GatePolicy => ({
  interval: 1000,
  count: 3,
  failureLimit: 0,
  consecutiveErrorLimit: 2,
  ...over,
});
const ms = (...results: MeasurementResult[]) => results.map((result) => ({ result, message: result }));

describe('gate policy', () => {
  const cases: { name: string; policy: GatePolicy; results: MeasurementResult[]; want: GateStatus }[] = [
    { name: 'no measurement yet', policy: P(), results: [], want: 'measuring' },
    { name: 'fewer successes than count', policy: P(), results: ['successful', 'successful'], want: 'measuring' },
    { name: 'count successes pass', policy: P(), results: ['successful', 'successful', 'successful'], want: 'passed' },
    { name: 'one failure over a zero limit fails at once', policy: P(), results: ['failed'], want: 'failed' },
    {
      name: 'failures within the limit keep measuring',
      policy: P({ failureLimit: 1 }),
      results: ['failed', 'successful'],
      want: 'measuring',
    },
    {
      name: 'failures within the limit can pass',
      policy: P({ failureLimit: 1 }),
      results: ['failed', 'successful', 'successful'],
      want: 'passed',
    },
    { name: 'failures over the limit fail', policy: P({ failureLimit: 1 }), results: ['failed', 'successful', 'failed'], want: 'failed' },
    { name: 'inconclusive pauses for a human', policy: P(), results: ['successful', 'inconclusive'], want: 'inconclusive' },
    { name: 'errors within the consecutive limit keep measuring', policy: P(), results: ['error', 'error'], want: 'measuring' },
    { name: 'errors over the consecutive limit error', policy: P(), results: ['error', 'error', 'error'], want: 'errored' },
    {
      name: 'a success resets the consecutive errors',
      policy: P(),
      results: ['error', 'error', 'successful', 'error', 'error'],
      want: 'measuring',
    },
    { name: 'errors never count towards count', policy: P({ count: 1 }), results: ['error'], want: 'measuring' },
    { name: 'errors and then enough successes pass', policy: P({ count: 1 }), results: ['error', 'successful'], want: 'passed' },
    {
      name: 'zero consecutive error limit errors on the first error',
      policy: P({ consecutiveErrorLimit: 0 }),
      results: ['error'],
      want: 'errored',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const v = evaluateGate(c.policy, ms(...c.results));
      assert.equal(v.status, c.want);
      assert.equal(v.taken, c.results.length);
    });
  }

  it('tallies every result', () => {
    const v = evaluateGate(P({ failureLimit: 5, count: 10 }), ms('successful', 'failed', 'error', 'successful'));
    assert.deepEqual([v.successful, v.failed, v.errors, v.consecutiveErrors], [2, 1, 1, 0]);
  });

  it('failed and errored are gate failures; inconclusive is not', () => {
    assert.equal(isGateFailure('failed'), true);
    assert.equal(isGateFailure('errored'), true);
    assert.equal(isGateFailure('inconclusive'), false);
    assert.equal(isGateFailure('passed'), false);
  });

  it('names the bad policy field', () => {
    assert.deepEqual(policyProblems(P()), []);
    assert.deepEqual(
      policyProblems(P({ count: 0, interval: -1 })).map((p) => p.field),
      ['interval', 'count'],
    );
  });
});

describe('gate thresholds', () => {
  const cases: [number, '<' | '<=' | '>' | '>=' | '==' | '!=', number, boolean][] = [
    [1, '<', 2, true],
    [2, '<', 2, false],
    [2, '<=', 2, true],
    [3, '>', 2, true],
    [2, '>', 2, false],
    [2, '>=', 2, true],
    [2, '==', 2, true],
    [2, '!=', 2, false],
    [1, '!=', 2, true],
  ];
  for (const [value, op, limit, want] of cases) {
    it(`${value} ${op} ${limit} is ${want}`, () => assert.equal(compare(value, { op, limit }), want));
  }
  it('max and min become <= and >=', () => {
    assert.deepEqual(boundsToThresholds({ max: 5, min: 1 }), [
      { op: '<=', limit: 5 },
      { op: '>=', limit: 1 },
    ]);
    assert.deepEqual(broken(6, boundsToThresholds({ max: 5, min: 1 })), [{ op: '<=', limit: 5 }]);
  });
});

/** A fetch that answers one canned response and records the URL it was asked. */
function cannedFetch(status: number, body: unknown, seen: string[] = []): FetchLike {
  return async (url) => {
    seen.push(url);
    return { ok: status < 300, status, text: async () => (typeof body === 'string' ? body : JSON.stringify(body)) };
  };
}
const vector = (...values: string[]) => ({
  status: 'success',
  data: { resultType: 'vector', result: values.map((v, i) => ({ metric: { i: String(i) }, value: [1, v] })) },
});

describe('prometheus provider (canned HTTP answers)', () => {
  const base = { url: 'http://prom.invalid:9090', query: 'sum(rate(errors[1m]))', max: 0.5 };
  const cases: { name: string; status: number; body: unknown; want: MeasurementResult; value?: number }[] = [
    { name: 'a value within max succeeds', status: 200, body: vector('0.25'), want: 'successful', value: 0.25 },
    { name: 'a value above max fails', status: 200, body: vector('0.75'), want: 'failed', value: 0.75 },
    { name: 'an empty vector is no data: failed', status: 200, body: vector(), want: 'failed' },
    { name: 'NaN is no data: failed', status: 200, body: vector('NaN'), want: 'failed' },
    { name: 'several series are inconclusive', status: 200, body: vector('0.1', '0.2'), want: 'inconclusive' },
    {
      name: 'a scalar is judged',
      status: 200,
      body: { status: 'success', data: { resultType: 'scalar', result: [1, '0.4'] } },
      want: 'successful',
      value: 0.4,
    },
    {
      name: 'a Prometheus error is an error measurement',
      status: 400,
      body: { status: 'error', errorType: 'bad_data', error: 'parse error' },
      want: 'error',
    },
    { name: 'a body that is not JSON is an error measurement', status: 502, body: '<html>bad gateway</html>', want: 'error' },
    {
      name: 'a matrix is an error measurement',
      status: 200,
      body: { status: 'success', data: { resultType: 'matrix', result: [] } },
      want: 'error',
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const m = await measurePrometheus(base, cannedFetch(c.status, c.body));
      assert.equal(m.result, c.want);
      if (c.value !== undefined) assert.equal(m.value, c.value);
    });
  }

  it('min and explicit thresholds apply too', async () => {
    assert.equal((await measurePrometheus({ ...base, max: undefined, min: 1 }, cannedFetch(200, vector('0.5')))).result, 'failed');
    assert.equal(
      (await measurePrometheus({ ...base, max: undefined, thresholds: [{ op: '==', limit: 0 }] }, cannedFetch(200, vector('0')))).result,
      'successful',
    );
  });

  it('a gate without thresholds is an error measurement, not a pass', async () => {
    assert.equal((await measurePrometheus({ url: base.url, query: base.query }, cannedFetch(200, vector('0')))).result, 'error');
  });

  it('an unreachable Prometheus is an error measurement', async () => {
    const failing: FetchLike = async () => {
      throw new TypeError('fetch failed');
    };
    assert.equal((await measurePrometheus(base, failing)).result, 'error');
  });

  it('asks /api/v1/query with the query and time', async () => {
    const seen: string[] = [];
    await measurePrometheus({ ...base, time: 1_700_000_000_500 }, cannedFetch(200, vector('0'), seen));
    const u = new URL(seen[0]!);
    assert.equal(u.pathname, '/api/v1/query');
    assert.equal(u.searchParams.get('query'), base.query);
    assert.equal(u.searchParams.get('time'), '1700000000.500');
  });

  it('extractValue reports malformed samples', () => {
    assert.equal(extractValue({ data: { resultType: 'vector', result: [{ value: [1] }] } }).kind, 'bad');
    assert.equal(extractValue({}).kind, 'bad');
  });
});

describe('temporal provider', () => {
  const cases: {
    name: string;
    limits: { maxFailed?: number; maxFailureRatio?: number };
    closed: number;
    failed: number;
    want: MeasurementResult;
  }[] = [
    { name: 'no closed run is no data: failed', limits: { maxFailed: 0 }, closed: 0, failed: 0, want: 'failed' },
    { name: 'no failure passes maxFailed 0', limits: { maxFailed: 0 }, closed: 10, failed: 0, want: 'successful' },
    { name: 'one failure breaks maxFailed 0', limits: { maxFailed: 0 }, closed: 10, failed: 1, want: 'failed' },
    { name: 'ratio within maxFailureRatio passes', limits: { maxFailureRatio: 0.2 }, closed: 10, failed: 2, want: 'successful' },
    { name: 'ratio above maxFailureRatio fails', limits: { maxFailureRatio: 0.2 }, closed: 10, failed: 3, want: 'failed' },
    { name: 'both limits apply', limits: { maxFailed: 5, maxFailureRatio: 0.1 }, closed: 10, failed: 2, want: 'failed' },
    { name: 'no limit is an error measurement', limits: {}, closed: 10, failed: 0, want: 'error' },
  ];
  for (const c of cases) it(c.name, () => assert.equal(judgeTemporal(c.limits, { closed: c.closed, failed: c.failed }).result, c.want));

  it('queries the unit since the step began, failed meaning failed, timed out or terminated', () => {
    const q = temporalGateQueries(
      { taskQueues: ['payments'], tenant: { searchAttribute: 'TenantId', value: 'acme' } },
      '2026-01-01T00:00:00.000Z',
    );
    assert.match(q.closed, /TaskQueue = "payments"/);
    assert.match(q.closed, /TenantId = "acme"/);
    assert.match(q.closed, /CloseTime >= "2026-01-01T00:00:00.000Z"/);
    for (const s of ['Failed', 'TimedOut', 'Terminated']) assert.match(q.failed, new RegExp(`ExecutionStatus = "${s}"`));
    assert.ok(q.failed.startsWith(q.closed));
  });
});

describe('synthetic provider', () => {
  const limits = { workflows: 4, minSuccess: 0.75, maxP99: 1000 };
  it('no probe started is no data: failed', () =>
    assert.equal(judgeSynthetic(limits, { started: 0, succeededLatenciesMs: [], failed: 0 }).result, 'failed'));
  it('enough fast successes pass', () =>
    assert.equal(judgeSynthetic(limits, { started: 4, succeededLatenciesMs: [10, 20, 30], failed: 1 }).result, 'successful'));
  it('too few successes fail', () =>
    assert.equal(judgeSynthetic(limits, { started: 4, succeededLatenciesMs: [10, 20], failed: 2 }).result, 'failed'));
  it('a slow p99 fails', () =>
    assert.equal(judgeSynthetic(limits, { started: 4, succeededLatenciesMs: [10, 20, 30, 1500], failed: 0 }).result, 'failed'));
  it('percentile is nearest-rank', () => {
    assert.equal(percentile([], 99), undefined);
    assert.equal(percentile([5, 1, 3], 50), 3);
    assert.equal(
      percentile(
        Array.from({ length: 100 }, (_, i) => i + 1),
        99,
      ),
      99,
    );
  });
});

describe('reconcile provider', () => {
  const limits = { maxDuplicates: 0, maxStranded: 1 };
  it('no report is no data: failed', () => assert.equal(judgeReconcile(limits, undefined).result, 'failed'));
  it('clean passes', () =>
    assert.equal(judgeReconcile(limits, { duplicates: 0, stranded: 1, schedulesDoubleActive: 0 }).result, 'successful'));
  it('a duplicate fails', () =>
    assert.equal(judgeReconcile(limits, { duplicates: 1, stranded: 0, schedulesDoubleActive: 0 }).result, 'failed'));
  it('stranded above the limit fails', () =>
    assert.equal(judgeReconcile(limits, { duplicates: 0, stranded: 2, schedulesDoubleActive: 0 }).result, 'failed'));
  it('a schedule active on both clusters fails', () =>
    assert.equal(judgeReconcile(limits, { duplicates: 0, stranded: 0, schedulesDoubleActive: 1 }).result, 'failed'));
  it('a misrouted run fails whatever the limits, and is counted in the value and message', () => {
    const m = judgeReconcile({ maxDuplicates: 5, maxStranded: 5 }, { duplicates: 0, stranded: 0, schedulesDoubleActive: 0, misrouted: 2 });
    assert.equal(m.result, 'failed');
    assert.equal(m.value, 2);
    assert.match(m.message, /2 misrouted.*every start must follow the route/);
    const clean = judgeReconcile(limits, { duplicates: 0, stranded: 0, schedulesDoubleActive: 0, misrouted: 0 });
    assert.equal(clean.result, 'successful');
    assert.match(clean.message, /0 misrouted/);
  });
});
