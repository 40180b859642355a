/**
 * Prometheus provider: one PromQL instant query (`GET /api/v1/query`) compared to thresholds.
 * Returns a measurement, never throws: an unreachable or failing Prometheus is an `error`
 * measurement (the policy's `consecutiveErrorLimit` decides), an empty result is `failed`
 * (no data is never a pass), several series are `inconclusive` (the query is ambiguous: a human
 * must look), NaN is `failed` (typically 0/0: no traffic to judge).
 */
import { boundsToThresholds, broken, describeThresholds } from './thresholds';
import type { Measurement, Threshold } from './types';

/** What to ask and how to judge the answer. */
export interface PrometheusMeasureInput {
  /** Base URL, e.g. `http://127.0.0.1:9090`. */
  url: string;
  query: string;
  /** Explicit thresholds; `max`/`min` (the plan's form) are added to them. */
  thresholds?: Threshold[];
  max?: number;
  min?: number;
  /** Evaluation time (ms since epoch); Prometheus' "now" when absent. */
  time?: number;
  /** Per-request timeout (default 10s). */
  timeoutMs?: number;
  /** Sent as `Authorization: Bearer …`; never part of a message. */
  bearerToken?: string;
}

/** The HTTP function used (global `fetch` by default; injectable for dependency injection). */
export type FetchLike = (
  url: string,
  init?: { signal?: AbortSignal; headers?: Record<string, string> },
) => Promise<{
  ok: boolean;
  status: number;
  text(): Promise<string>;
}>;

export interface PromResponse {
  status?: string;
  error?: string;
  errorType?: string;
  data?: { resultType?: string; result?: unknown };
}

/** Parses one sample's value (`[ts, "1.5"]`). */
function sampleValue(sample: unknown): number | undefined {
  if (!Array.isArray(sample) || sample.length !== 2 || typeof sample[1] !== 'string') return undefined;
  return Number(sample[1]);
}

/** The number a query answered: one value, none, several, or an unusable shape. */
export function extractValue(
  body: PromResponse,
): { kind: 'value'; value: number } | { kind: 'empty' } | { kind: 'many'; count: number } | { kind: 'bad'; why: string } {
  const data = body.data;
  if (!data) return { kind: 'bad', why: 'response has no data' };
  if (data.resultType === 'scalar') {
    const v = sampleValue(data.result);
    return v === undefined ? { kind: 'bad', why: 'malformed scalar' } : { kind: 'value', value: v };
  }
  if (data.resultType === 'vector') {
    const series = Array.isArray(data.result) ? (data.result as { value?: unknown }[]) : undefined;
    if (!series) return { kind: 'bad', why: 'malformed vector' };
    if (series.length === 0) return { kind: 'empty' };
    if (series.length > 1) return { kind: 'many', count: series.length };
    const v = sampleValue(series[0]?.value);
    return v === undefined ? { kind: 'bad', why: 'malformed vector sample' } : { kind: 'value', value: v };
  }
  return { kind: 'bad', why: `result type ${String(data.resultType)} is not a number; write a query returning one series or a scalar` };
}

/** A message with the token blanked out (an HTTP library may echo request headers in its errors). */
function redactToken(message: string, token: string | undefined): string {
  return token ? message.split(token).join('***') : message;
}

/** One instant query's request. `tokenField` names where the plan keeps its token, for the fix in a 401/403. */
export interface PrometheusQuery {
  url: string;
  query: string;
  /** Evaluation time (ms since epoch); Prometheus' "now" when absent. */
  time?: number;
  timeoutMs?: number;
  bearerToken?: string;
  /** e.g. "the gate's prometheus.tokenEnv". */
  tokenField: string;
}

/**
 * Sends one instant query (`GET /api/v1/query`) and returns Prometheus' successful answer. Throws, with a
 * message that never holds the token, when Prometheus is unreachable, refuses the token, answers with
 * something that is not JSON, or reports the query failed.
 */
export async function queryPrometheus(q: PrometheusQuery, fetchFn: FetchLike = fetch): Promise<PromResponse> {
  const url = new URL('/api/v1/query', q.url);
  url.searchParams.set('query', q.query);
  if (q.time !== undefined) url.searchParams.set('time', (q.time / 1000).toFixed(3));
  let status: number;
  let text: string;
  try {
    const res = await fetchFn(url.toString(), {
      signal: AbortSignal.timeout(q.timeoutMs ?? 10_000),
      headers: { accept: 'application/json', ...(q.bearerToken ? { authorization: `Bearer ${q.bearerToken}` } : {}) },
    });
    status = res.status;
    text = await res.text();
  } catch (err) {
    throw new Error(`prometheus at ${q.url} unreachable: ${redactToken((err as Error).message, q.bearerToken)}`);
  }
  if (status === 401 || status === 403) {
    throw new Error(
      `prometheus at ${q.url} refused the query (HTTP ${status}) — fix: ` +
        (q.bearerToken
          ? `put a valid bearer token in ${q.tokenField} variable`
          : `set ${q.tokenField} to a variable holding a bearer token`),
    );
  }
  let body: PromResponse;
  try {
    body = JSON.parse(text) as PromResponse;
  } catch {
    throw new Error(`prometheus answered HTTP ${status} with a body that is not JSON`);
  }
  if (body.status !== 'success') {
    throw new Error(`prometheus query failed (HTTP ${status}, ${body.errorType ?? 'error'}): ${body.error ?? 'no detail'}`);
  }
  return body;
}

/** Runs the query and judges the answer. */
export async function measurePrometheus(input: PrometheusMeasureInput, fetchFn: FetchLike = fetch): Promise<Measurement> {
  const thresholds = [...(input.thresholds ?? []), ...boundsToThresholds(input)];
  if (thresholds.length === 0) {
    return { result: 'error', message: 'prometheus gate has no threshold: set max and/or min' };
  }
  let body: PromResponse;
  try {
    body = await queryPrometheus({ ...input, tokenField: "the gate's prometheus.tokenEnv" }, fetchFn);
  } catch (err) {
    return { result: 'error', message: (err as Error).message };
  }
  const got = extractValue(body);
  switch (got.kind) {
    case 'bad':
      return { result: 'error', message: `prometheus query ${input.query}: ${got.why}` };
    case 'empty':
      return { result: 'failed', message: `no data: ${input.query} returned no series` };
    case 'many':
      return { result: 'inconclusive', message: `${input.query} returned ${got.count} series; aggregate it (sum, max …) to one number` };
    case 'value': {
      const v = got.value;
      if (Number.isNaN(v)) return { result: 'failed', message: `no data: ${input.query} is NaN (nothing to judge, e.g. no traffic)` };
      const bad = broken(v, thresholds);
      if (bad.length > 0) return { result: 'failed', value: v, message: `${v} breaks ${describeThresholds(bad)}` };
      return { result: 'successful', value: v, message: `${v} meets ${describeThresholds(thresholds)}` };
    }
  }
}
