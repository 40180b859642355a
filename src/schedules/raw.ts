/**
 * Raw schedule RPCs: describe → create keeps payloads, memo and headers byte
 * for byte, and gives the conflict token the switch needs for its conditional unpause.
 */
import { randomUUID } from 'node:crypto';
import { isGrpcServiceError } from '@temporalio/client';
import { msNumberToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { grpcCode, GrpcStatus } from '../clusters/grpc';
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

function isNotFound(err: unknown): boolean {
  return isGrpcServiceError(err) && err.code === GrpcStatus.NOT_FOUND;
}

/** True when the error is gRPC ALREADY_EXISTS. */
export function isAlreadyExists(err: unknown): boolean {
  return isGrpcServiceError(err) && err.code === GrpcStatus.ALREADY_EXISTS;
}

/** A server that ran out of time on a call (loaded) or could not take it: worth one more try for a read. */
function isTransient(err: unknown): boolean {
  const code = grpcCode(err);
  return code === GrpcStatus.DEADLINE_EXCEEDED || code === GrpcStatus.UNAVAILABLE;
}

/** How long a describe waits before its one retry. */
const DESCRIBE_RETRY_MS = 250;

/**
 * Raw describe; undefined when the schedule does not exist. A read that the server timed out or refused is
 * tried once more: a switch reads each side several times, and one loaded moment on a server would otherwise
 * abandon it halfway (its activity then runs the whole switch again).
 */
export async function describeRaw(ep: ScheduleEndpoint, scheduleId: string): Promise<RawDescribe | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await ep.client.workflowService.describeSchedule({ namespace: ep.namespace, scheduleId });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      if (attempt >= 2 || !isTransient(err)) throw err;
    }
    await new Promise((r) => setTimeout(r, DESCRIBE_RETRY_MS));
  }
}

/**
 * Creates a schedule from a raw description; the caller decides the state (cutover creates paused).
 * Returns the new schedule's conflict token.
 */
export async function createRaw(
  ep: ScheduleEndpoint,
  scheduleId: string,
  from: RawDescribe,
  state: temporal.api.schedule.v1.IScheduleState,
  identity: string,
): Promise<Uint8Array | undefined> {
  const s = from.schedule ?? {};
  const res = await ep.client.workflowService.createSchedule({
    namespace: ep.namespace,
    scheduleId,
    requestId: randomUUID(),
    identity,
    schedule: { spec: s.spec, action: s.action, policies: s.policies, state },
    memo: from.memo,
    searchAttributes: from.searchAttributes,
  });
  return res.conflictToken ?? undefined;
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
  const res: temporal.api.workflowservice.v1.IListScheduleMatchingTimesResponse = await ep.client.workflowService.listScheduleMatchingTimes(
    {
      namespace: ep.namespace,
      scheduleId,
      startTime: msProto(startMs),
      endTime: msProto(endMs),
    },
  );
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

/**
 * temporal-server (1.20 – 1.29 at least) runs each schedule as a workflow with this ID in the
 * schedule's namespace, and at the end of every workflow task that changes the schedule's list view
 * (paused, notes, recent actions, future action times) writes it into that workflow's memo under this
 * key, as proto bytes. DescribeSchedule itself reads it with a DescribeWorkflowExecution, then adds a query.
 */
const SCHEDULER_WORKFLOW_PREFIX = 'temporal-sys-scheduler:';
const SCHEDULE_INFO_MEMO = 'ScheduleInfo';
const RUNNING = temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING;

/** A schedule's state read from its scheduler workflow's memo, without a query. */
export interface SchedulePeek {
  /** `running` holds the recent actions the scheduler last saw running (candidates: check with `stillRunning`). */
  state: ScheduleState;
  /** Run IDs of those candidates, by workflow ID (a schedule's run is the first run of its chain). */
  runIds: Map<string, string>;
  /** No workflow task pending: every signal the server has accepted for the schedule (pause, update) is reflected. */
  settled: boolean;
}

/** Servers (by namespace) that do not expose the scheduler workflow's memo: they are not asked again. */
const noPeek = new WeakMap<object, Set<string>>();

/**
 * The schedule's state from its scheduler workflow's memo: one DescribeWorkflowExecution, which the
 * server answers from its mutable state. A DescribeSchedule also runs a query on the namespace's
 * scheduler worker, and those queries are what bounds a busy switch. Returns
 * undefined when the schedule does not exist, and null when this server does not expose the memo
 * (another implementation, or access refused): then use `describeRaw`.
 */
export async function peekRaw(ep: ScheduleEndpoint, scheduleId: string): Promise<SchedulePeek | undefined | null> {
  if (noPeek.get(ep.client)?.has(ep.namespace)) return null;
  let res: temporal.api.workflowservice.v1.IDescribeWorkflowExecutionResponse;
  try {
    res = await ep.client.workflowService.describeWorkflowExecution({
      namespace: ep.namespace,
      execution: { workflowId: SCHEDULER_WORKFLOW_PREFIX + scheduleId },
    });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    if (
      isGrpcServiceError(err) &&
      (err.code === GrpcStatus.PERMISSION_DENIED || err.code === GrpcStatus.INVALID_ARGUMENT || err.code === GrpcStatus.UNIMPLEMENTED)
    )
      return unpeekable(ep);
    throw err;
  }
  const info = res.workflowExecutionInfo;
  // DescribeSchedule treats a closed scheduler workflow as a schedule that does not exist.
  if (info?.status !== RUNNING) return undefined;
  const data = info.memo?.fields?.[SCHEDULE_INFO_MEMO]?.data;
  if (!data) return unpeekable(ep);
  let list: temporal.api.schedule.v1.ScheduleListInfo;
  try {
    list = temporal.api.schedule.v1.ScheduleListInfo.decode(data);
  } catch {
    return unpeekable(ep);
  }
  const runIds = new Map<string, string>();
  for (const a of list.recentActions) {
    const w = a.startWorkflowResult;
    if (a.startWorkflowStatus === RUNNING && w?.workflowId) runIds.set(w.workflowId, w.runId ?? '');
  }
  return {
    state: {
      exists: true,
      paused: list.paused,
      notes: list.notes,
      recentNominal: list.recentActions.map((a) => protoMs(a.scheduleTime)).filter((t): t is number => t !== undefined),
      running: [...runIds.keys()],
      futureActionTimes: list.futureActionTimes.map((t) => protoMs(t) as number),
    },
    runIds,
    settled: !res.pendingWorkflowTask,
  };
}

function unpeekable(ep: ScheduleEndpoint): null {
  const set = noPeek.get(ep.client) ?? new Set<string>();
  set.add(ep.namespace);
  noPeek.set(ep.client, set);
  return null;
}

/**
 * Which of a peek's running candidates still run: the check DescribeSchedule makes of its running
 * list (the run is open and still the first of the chain the schedule started).
 */
export async function stillRunning(ep: ScheduleEndpoint, runIds: Map<string, string>): Promise<string[]> {
  const open = await Promise.all(
    [...runIds].map(async ([workflowId, runId]) => {
      try {
        const d = await ep.client.workflowService.describeWorkflowExecution({ namespace: ep.namespace, execution: { workflowId } });
        const i = d.workflowExecutionInfo;
        return i?.status === RUNNING && (!runId || !i.firstRunId || i.firstRunId === runId) ? workflowId : undefined;
      } catch (err) {
        // Gone is not running; on any other error assume it still runs, as DescribeSchedule does.
        return isNotFound(err) ? undefined : workflowId;
      }
    }),
  );
  return open.filter((w): w is string => w !== undefined);
}

export interface ObserveOptions {
  /** How long to wait for a pending workflow task before asking with a query (default 5 s). */
  settleMs?: number;
  /**
   * Check that no action still runs (default true). When false, `running` is the scheduler's last
   * view, unchecked: for callers that read only existence, pause state, notes and action times.
   */
  checkRunning?: boolean;
  /** The caller has just signalled the schedule (pause, update): pace the reads by how long this server takes to process one. */
  afterSignal?: boolean;
}

/** How long `observeSchedule` waits for a schedule's pending workflow task before asking with a query. */
export const OBSERVE_SETTLE_MS = 5_000;

/**
 * The schedule's state as of every signal the server has accepted for it, which is what a describe
 * returns: from the scheduler's memo once no workflow task is pending (cheap), else — the memo
 * unavailable, the task not done within `settleMs`, or an action still running — from `describeRaw`.
 * Falling back for a running action keeps DescribeSchedule's exact meaning of "running" (the memo
 * also lists overlapping runs the server does not track).
 */
export async function observeSchedule(ep: ScheduleEndpoint, scheduleId: string, opts: ObserveOptions = {}): Promise<ScheduleState> {
  const { settleMs = OBSERVE_SETTLE_MS, checkRunning = true, afterSignal = false } = opts;
  const started = Date.now();
  const deadline = started + settleMs;
  // Each read costs the server an RPC, and on a busy server RPCs are what it runs out of: after a
  // signal, wait most of the time this server's scheduler has recently taken to process one, then
  // poll at a quarter of it.
  const typical = afterSignal ? settleTimes.get(ep.client) : undefined;
  let delay = typical === undefined ? 5 : clamp(typical / 4, 5, 100);
  if (typical !== undefined) await sleepMs(clamp(typical * 0.7, 0, 500));
  for (;;) {
    const p = await peekRaw(ep, scheduleId);
    if (p === undefined) return stateOf(undefined);
    if (p === null) break;
    if (p.settled) {
      if (afterSignal) {
        const took = Date.now() - started;
        settleTimes.set(ep.client, typical === undefined ? took : typical * 0.8 + took * 0.2);
      }
      if (!checkRunning) return p.state;
      if (p.runIds.size === 0 || (await stillRunning(ep, p.runIds)).length === 0) return { ...p.state, running: [] };
      break;
    }
    if (Date.now() >= deadline) break;
    await sleepMs(delay);
    if (typical === undefined) delay = Math.min(delay * 2, 40);
  }
  return stateOf(await describeRaw(ep, scheduleId));
}

/** Recent time (ms, moving average) from a signal to its schedule's settled read, per server connection. */
const settleTimes = new WeakMap<object, number>();

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/** Waits `ms` (nothing for 0 or less): the pause between polls of the schedules module. */
export async function sleepMs(ms: number): Promise<void> {
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
}
