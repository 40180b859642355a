/**
 * Raw schedule RPCs (TEMPORAL_NOTES §3): describe → create keeps payloads, memo and headers byte
 * for byte, and gives the conflict token the switch needs for its conditional unpause.
 */
import { randomUUID } from 'node:crypto';
import { isGrpcServiceError } from '@temporalio/client';
import { msNumberToTs } from '@temporalio/common/lib/time';
import type { temporal } from '@temporalio/proto';
import type { ScheduleEndpoint } from './types';

export type RawDescribe = temporal.api.workflowservice.v1.IDescribeScheduleResponse;
export type RawSchedule = temporal.api.schedule.v1.ISchedule;
type Ts = { seconds?: number | { toString(): string } | string | null; nanos?: number | null } | null | undefined;

/** Milliseconds of a protobuf Timestamp or Duration (undefined when unset). */
export function protoMs(ts: Ts): number | undefined {
  if (!ts) return undefined;
  const s = ts.seconds == null ? 0 : Number(ts.seconds.toString());
  return s * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
}

/** A protobuf Timestamp or Duration from milliseconds. */
export function msProto(ms: number): ReturnType<typeof msNumberToTs> {
  return msNumberToTs(ms);
}

// gRPC status codes (grpc-js is only a transitive dependency, so the two numbers live here).
const GRPC_NOT_FOUND = 5;
const GRPC_ALREADY_EXISTS = 6;

function isNotFound(err: unknown): boolean {
  return isGrpcServiceError(err) && err.code === GRPC_NOT_FOUND;
}

/** True when the error is gRPC ALREADY_EXISTS. */
export function isAlreadyExists(err: unknown): boolean {
  return isGrpcServiceError(err) && err.code === GRPC_ALREADY_EXISTS;
}

/** Raw describe; undefined when the schedule does not exist. */
export async function describeRaw(ep: ScheduleEndpoint, scheduleId: string): Promise<RawDescribe | undefined> {
  try {
    return await ep.client.workflowService.describeSchedule({ namespace: ep.namespace, scheduleId });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Creates a schedule from a raw description; the caller decides the state (cutover creates paused). */
export async function createRaw(
  ep: ScheduleEndpoint,
  scheduleId: string,
  from: RawDescribe,
  state: temporal.api.schedule.v1.IScheduleState,
  identity: string,
): Promise<void> {
  const s = from.schedule ?? {};
  await ep.client.workflowService.createSchedule({
    namespace: ep.namespace,
    scheduleId,
    requestId: randomUUID(),
    identity,
    schedule: { spec: s.spec, action: s.action, policies: s.policies, state },
    memo: from.memo,
    searchAttributes: from.searchAttributes,
  });
}

/** Full update guarded by the conflict token: the server ignores it when the schedule changed since. */
export async function updateRaw(
  ep: ScheduleEndpoint,
  scheduleId: string,
  schedule: RawSchedule,
  conflictToken: Uint8Array | null | undefined,
  identity: string,
  searchAttributes?: temporal.api.common.v1.ISearchAttributes | null,
): Promise<void> {
  await ep.client.workflowService.updateSchedule({
    namespace: ep.namespace,
    scheduleId,
    schedule,
    conflictToken: conflictToken ?? undefined,
    identity,
    requestId: randomUUID(),
    searchAttributes: searchAttributes ?? undefined,
  });
}

/** Pauses with a note (idempotent: pausing a paused schedule only rewrites the note). */
export async function pauseRaw(ep: ScheduleEndpoint, scheduleId: string, note: string, identity: string): Promise<void> {
  await ep.client.workflowService.patchSchedule({
    namespace: ep.namespace,
    scheduleId,
    patch: { pause: note },
    identity,
    requestId: randomUUID(),
  });
}

/** Asks the schedule to take the actions it would have taken at the given nominal times. */
export async function backfillRaw(
  ep: ScheduleEndpoint,
  scheduleId: string,
  ranges: { startMs: number; endMs: number }[],
  overlapPolicy: temporal.api.enums.v1.ScheduleOverlapPolicy,
  identity: string,
): Promise<void> {
  if (ranges.length === 0) return;
  await ep.client.workflowService.patchSchedule({
    namespace: ep.namespace,
    scheduleId,
    patch: { backfillRequest: ranges.map((r) => ({ startTime: msProto(r.startMs), endTime: msProto(r.endMs), overlapPolicy })) },
    identity,
    requestId: randomUUID(),
  });
}

/** Nominal times the schedule's spec matches in (startMs, endMs]. */
export async function matchingTimes(ep: ScheduleEndpoint, scheduleId: string, startMs: number, endMs: number): Promise<number[]> {
  const res: temporal.api.workflowservice.v1.IListScheduleMatchingTimesResponse = await ep.client.workflowService.listScheduleMatchingTimes({
    namespace: ep.namespace,
    scheduleId,
    startTime: msProto(startMs),
    endTime: msProto(endMs),
  });
  return (res.startTime ?? []).map((t) => protoMs(t) as number);
}

/** Deletes a schedule; false when it was already gone. */
export async function deleteRaw(ep: ScheduleEndpoint, scheduleId: string, identity: string): Promise<boolean> {
  try {
    await ep.client.workflowService.deleteSchedule({ namespace: ep.namespace, scheduleId, identity });
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** The fields of a description the switch and reconcile read. */
export interface ScheduleState {
  exists: boolean;
  paused: boolean;
  notes: string;
  /** Nominal times (ms) of the recent actions the server remembers (up to 10). */
  recentNominal: number[];
  /** Workflow IDs of actions still running (not tracked by the server for ALLOW_ALL overlap). */
  running: string[];
  futureActionTimes: number[];
  conflictToken?: Uint8Array | null;
}

/** Reduces a raw description to the state the protocol reasons about. */
export function stateOf(d: RawDescribe | undefined): ScheduleState {
  if (!d) return { exists: false, paused: false, notes: '', recentNominal: [], running: [], futureActionTimes: [] };
  return {
    exists: true,
    paused: !!d.schedule?.state?.paused,
    notes: d.schedule?.state?.notes ?? '',
    recentNominal: (d.info?.recentActions ?? []).map((a) => protoMs(a.scheduleTime)).filter((t): t is number => t !== undefined),
    running: (d.info?.runningWorkflows ?? []).map((w) => w.workflowId ?? ''),
    futureActionTimes: (d.info?.futureActionTimes ?? []).map((t) => protoMs(t) as number),
    conflictToken: d.conflictToken,
  };
}

/** True when a workflow with this ID (any run) exists in the endpoint's namespace. Strongly consistent (no visibility). */
export async function runExists(ep: ScheduleEndpoint, workflowId: string): Promise<boolean> {
  try {
    await ep.client.workflowService.describeWorkflowExecution({ namespace: ep.namespace, execution: { workflowId } });
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
