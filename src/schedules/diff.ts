/**
 * Semantic diff of two schedules: spec, action, policies, memo and search attributes compared in
 * meaning, not text (the server rewrites cron strings and calendars into structured calendars,
 * fills defaults, and clamps the catch-up window). Pure: no I/O.
 */
import type { ScheduleDescription } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { addRange, expandField, parseCron } from './cron';
import type { CalendarField, ExpandedCalendar } from './cron';
import { protoMs } from './raw';
import type { RawDescribe } from './raw';
import type { ScheduleDiff } from './types';

/** A raw description (or create request), or the SDK's description (its `raw` is used). */
export type DiffInput = RawDescribe | ScheduleDescription;

const DEFAULT_CATCHUP_MS = 365 * 24 * 3600 * 1000;
const MIN_CATCHUP_MS = 10_000;
const OVERLAP_NAMES: Record<number, string> = {
  0: 'SKIP',
  1: 'SKIP',
  2: 'BUFFER_ONE',
  3: 'BUFFER_ALL',
  4: 'CANCEL_OTHER',
  5: 'TERMINATE_OTHER',
  6: 'ALLOW_ALL',
};

function rawOf(x: DiffInput): RawDescribe {
  return 'raw' in x && x.raw ? (x.raw as RawDescribe) : (x as RawDescribe);
}

type Ranges = temporal.api.schedule.v1.IRange[] | null | undefined;

function expandRanges(field: CalendarField, ranges: Ranges, dflt: string): number[] | undefined {
  if (!ranges || ranges.length === 0) return field === 'year' ? undefined : expandField(field, dflt);
  const out = new Set<number>();
  for (const r of ranges) addRange(out, field, r.start ?? 0, r.end ?? 0, r.step || 1);
  return [...out].sort((a, b) => a - b);
}

function calendarKey(c: ExpandedCalendar): string {
  const f = (name: string, v: number[] | undefined) => `${name}=${v === undefined ? '*' : v.join(',')}`;
  return [
    f('s', c.second),
    f('m', c.minute),
    f('h', c.hour),
    f('dom', c.dayOfMonth),
    f('mon', c.month),
    f('dow', c.dayOfWeek),
    f('y', c.year),
  ].join(' ');
}

function structured(c: temporal.api.schedule.v1.IStructuredCalendarSpec): ExpandedCalendar {
  return {
    second: expandRanges('second', c.second, '0') as number[],
    minute: expandRanges('minute', c.minute, '0') as number[],
    hour: expandRanges('hour', c.hour, '0') as number[],
    dayOfMonth: expandRanges('dayOfMonth', c.dayOfMonth, '*') as number[],
    month: expandRanges('month', c.month, '*') as number[],
    dayOfWeek: expandRanges('dayOfWeek', c.dayOfWeek, '*') as number[],
    year: expandRanges('year', c.year, '*'),
  };
}

function legacyCalendar(c: temporal.api.schedule.v1.ICalendarSpec): ExpandedCalendar {
  const g = (field: CalendarField, v: string | null | undefined, dflt: string) => expandField(field, v || dflt);
  return {
    second: g('second', c.second, '0'),
    minute: g('minute', c.minute, '0'),
    hour: g('hour', c.hour, '0'),
    dayOfMonth: g('dayOfMonth', c.dayOfMonth, '*'),
    month: g('month', c.month, '*'),
    dayOfWeek: g('dayOfWeek', c.dayOfWeek, '*'),
    year: !c.year || c.year === '*' ? undefined : expandField('year', c.year),
  };
}

/** The spec in meaning: sorted calendar and interval keys, bounds, jitter, time zone. */
export function normalizeSpec(spec: temporal.api.schedule.v1.IScheduleSpec | null | undefined): Record<string, unknown> {
  const s = spec ?? {};
  const calendars: string[] = [];
  const intervals: string[] = [];
  let timezone = s.timezoneName || '';
  for (const c of s.structuredCalendar ?? []) calendars.push(calendarKey(structured(c)));
  for (const c of s.calendar ?? []) calendars.push(calendarKey(legacyCalendar(c)));
  for (const text of s.cronString ?? []) {
    const p = parseCron(text);
    if ('intervalMs' in p) intervals.push(intervalKey(p.intervalMs, p.phaseMs));
    else {
      calendars.push(calendarKey(p.calendar));
      if (p.timezone) timezone = p.timezone;
    }
  }
  for (const i of s.interval ?? []) intervals.push(intervalKey(protoMs(i.interval) ?? 0, protoMs(i.phase) ?? 0));
  const excludes = [
    ...(s.excludeStructuredCalendar ?? []).map((c) => calendarKey(structured(c))),
    ...(s.excludeCalendar ?? []).map((c) => calendarKey(legacyCalendar(c))),
  ];
  return {
    calendars: [...new Set(calendars)].sort(),
    intervals: [...new Set(intervals)].sort(),
    excludeCalendars: [...new Set(excludes)].sort(),
    startTime: protoMs(s.startTime) ?? null,
    endTime: protoMs(s.endTime) ?? null,
    jitterMs: protoMs(s.jitter) ?? 0,
    timezone: timezone === 'UTC' ? '' : timezone,
  };
}

function intervalKey(everyMs: number, phaseMs: number): string {
  return `every=${everyMs}ms phase=${everyMs > 0 ? phaseMs % everyMs : phaseMs}ms`;
}

function payloadKey(p: temporal.api.common.v1.IPayload | null | undefined): string {
  if (!p) return '';
  const meta = Object.entries(p.metadata ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}:${Buffer.from(v).toString('base64')}`)
    .join(',');
  return `${meta}|${Buffer.from(p.data ?? new Uint8Array()).toString('base64')}`;
}

function payloadMap(
  fields: Record<string, temporal.api.common.v1.IPayload> | null | undefined,
  skip?: (key: string) => boolean,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    if (skip?.(k)) continue;
    out[k] = payloadKey(v);
  }
  return out;
}

const isSystemAttribute = (k: string) => k.startsWith('Temporal') || k === 'BinaryChecksums' || k === 'BuildIds';

function normalizeRetry(r: temporal.api.common.v1.IRetryPolicy | null | undefined): Record<string, unknown> | null {
  if (!r) return null;
  return {
    initialIntervalMs: protoMs(r.initialInterval) ?? 0,
    backoffCoefficient: r.backoffCoefficient ?? 0,
    maximumIntervalMs: protoMs(r.maximumInterval) ?? 0,
    maximumAttempts: r.maximumAttempts ?? 0,
    nonRetryableErrorTypes: [...(r.nonRetryableErrorTypes ?? [])].sort(),
  };
}

/** Priority with defaults dropped: an empty priority and none mean the same. */
function normalizePriority(p: temporal.api.common.v1.IPriority | null | undefined): Record<string, unknown> | null {
  const v = { key: p?.priorityKey ?? 0, fairnessKey: p?.fairnessKey ?? '', fairnessWeight: p?.fairnessWeight ?? 0 };
  return v.key === 0 && v.fairnessKey === '' && v.fairnessWeight === 0 ? null : v;
}

/** The action in meaning: every field the started workflow gets, payloads as bytes. */
export function normalizeAction(action: temporal.api.schedule.v1.IScheduleAction | null | undefined): Record<string, unknown> {
  const w = action?.startWorkflow;
  if (!w) return { type: 'none' };
  return {
    workflowType: w.workflowType?.name ?? '',
    workflowId: w.workflowId ?? '',
    taskQueue: w.taskQueue?.name ?? '',
    input: (w.input?.payloads ?? []).map(payloadKey),
    workflowExecutionTimeoutMs: protoMs(w.workflowExecutionTimeout) ?? 0,
    workflowRunTimeoutMs: protoMs(w.workflowRunTimeout) ?? 0,
    workflowTaskTimeoutMs: protoMs(w.workflowTaskTimeout) ?? 0,
    workflowIdReusePolicy: Number(w.workflowIdReusePolicy ?? 0),
    retry: normalizeRetry(w.retryPolicy),
    memo: payloadMap(w.memo?.fields),
    searchAttributes: payloadMap(w.searchAttributes?.indexedFields),
    header: payloadMap(w.header?.fields),
    summary: payloadKey(w.userMetadata?.summary),
    details: payloadKey(w.userMetadata?.details),
    priority: normalizePriority(w.priority),
  };
}

/** Policies in meaning: server defaults filled in, the catch-up window clamped like the server does. */
export function normalizePolicies(p: temporal.api.schedule.v1.ISchedulePolicies | null | undefined): Record<string, unknown> {
  const cw = protoMs(p?.catchupWindow);
  return {
    overlap: OVERLAP_NAMES[Number(p?.overlapPolicy ?? 0)] ?? String(p?.overlapPolicy),
    catchupWindowMs: cw === undefined || cw === 0 ? DEFAULT_CATCHUP_MS : Math.max(cw, MIN_CATCHUP_MS),
    pauseOnFailure: !!p?.pauseOnFailure,
    keepOriginalWorkflowId: !!p?.keepOriginalWorkflowId,
  };
}

function compare(
  kind: ScheduleDiff['kind'],
  prefix: string,
  a: Record<string, unknown>,
  b: Record<string, unknown>,
  out: ScheduleDiff[],
): void {
  for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) out.push({ kind, path: `${prefix}.${key}`, a: a[key], b: b[key] });
  }
}

/**
 * Differences in meaning between two schedules (state — paused, notes — is not part of the
 * comparison: it is what cutover changes on purpose). Empty when they are equivalent.
 */
export function diffSchedules(a: DiffInput, b: DiffInput): ScheduleDiff[] {
  const ra = rawOf(a);
  const rb = rawOf(b);
  const out: ScheduleDiff[] = [];
  compare('spec', 'spec', normalizeSpec(ra.schedule?.spec), normalizeSpec(rb.schedule?.spec), out);
  compare('action', 'action', normalizeAction(ra.schedule?.action), normalizeAction(rb.schedule?.action), out);
  compare('policy', 'policies', normalizePolicies(ra.schedule?.policies), normalizePolicies(rb.schedule?.policies), out);
  compare('memo', 'memo', payloadMap(ra.memo?.fields), payloadMap(rb.memo?.fields), out);
  compare(
    'searchAttributes',
    'searchAttributes',
    payloadMap(ra.searchAttributes?.indexedFields, isSystemAttribute),
    payloadMap(rb.searchAttributes?.indexedFields, isSystemAttribute),
    out,
  );
  return out;
}
