/**
 * The handoff activity (straggler policy `handoff`): moves running workflows that use the helper from
 * `cutover/workflow` to the other cluster with their state, one run at a time, each in six steps:
 *
 *   checked   the run is open and answers the helper's query (a run without the helper is refused
 *             here, untouched: a query writes nothing to its history)
 *   marked    its handoff record reads `moving`: from now routed clients hold its signals and updates
 *             rather than fail them while no run is open
 *   requested the run is asked to stop at its next safe point (a signal, deduplicated by request ID)
 *   stopped   the run has completed with the helper's memo mark; its result is the new run's argument
 *   started   the same ID and type runs on the other side with that payload (start deduplicated by a
 *             request ID derived from the old run, and found again by its memo)
 *   done      the record reads `done` with the new run, and the ID's placement names the new side
 *
 * Every step is idempotent and each retry finds from the clusters and Redis where the last attempt got
 * to, so a worker killed at any point neither loses the run nor starts it twice. Payloads are moved as
 * written, never decoded: the application's codec keys stay the application's.
 */
import { isGrpcServiceError } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { Context, heartbeat } from '@temporalio/activity';
import { temporal } from '@temporalio/proto';
import { HANDED_OFF_FROM_MEMO, HANDED_OFF_MEMO, HANDOFF_QUERY, HANDOFF_SIGNAL } from '../domain/handoff';
import type { HandoffEntry, HandoffResult, Side } from '../domain/migration';
import type { HandoffRecord, PlacementRecord } from '../routing/store';
import { GrpcStatus } from '../clusters/grpc';
import type { ClusterDep } from './cluster';
import { openQuery, type UnitScope } from '../clusters/queries';

/** Runs one pass hands off at most (the next count finds the rest). */
export const LIST_LIMIT = 200;

/** The steps of one run's handoff, in order (see the header). */
export const HANDOFF_STEPS = ['checked', 'marked', 'requested', 'stopped', 'started', 'done'] as const;
export type HandoffStep = (typeof HANDOFF_STEPS)[number];

/** The part of the routing store the handoff writes: the ID's handoff record and placement. */
export interface HandoffRecords {
  getHandoff(namespace: string, workflowId: string): Promise<HandoffRecord | undefined>;
  setHandoff(namespace: string, workflowId: string, record: HandoffRecord, ttlMs: number): Promise<void>;
  clearHandoff(namespace: string, workflowId: string): Promise<void>;
  setPlacement(namespace: string, workflowId: string, placement: PlacementRecord, ttlMs: number): Promise<void>;
}

/** Dependencies of the handoff activity. */
export interface HandoffActivityDeps {
  source: ClusterDep;
  target: ClusterDep;
  records: HandoffRecords;
  now?: () => Date;
  /** Called after each step of each run; a test throws from it to crash the activity exactly there. */
  afterStep?: (step: HandoffStep, workflowId: string) => void;
}

/** Arguments of `handOffRuns`. */
export interface HandOffArgs {
  /** The unit's routing name and the namespace its placements are keyed by (the plan's source namespace). */
  unit: string;
  keyNamespace: string;
  from: Side;
  to: Side;
  fromNamespace: string;
  toNamespace: string;
  /** The runs to hand off; absent: every run of the unit open on `from` (up to {@link LIST_LIMIT} a pass). */
  runs?: { workflowId: string; runId: string }[];
  /**
   * With `runs` absent: runs an earlier pass asked that had not stopped yet. They are handed off with the
   * open ones even if they have closed since: a run that reached its safe point is no longer listed as open.
   */
  asked?: { workflowId: string; runId: string }[];
  /** The unit's runs (task queues, tenant): how open runs are listed when `runs` is absent. */
  scope: UnitScope;
  /** The route epoch the new placements are written under. */
  epoch: number;
  /** How long to wait for each asked run to reach its safe point before reporting it as still waiting. */
  stopWaitMs: number;
  /** How long handoff records and placements live in Redis (clients follow a handed-off run that long). */
  recordTtlMs: number;
}

const IDENTITY = 'cutover-handoff';
const CLOSE_EVENT = temporal.api.enums.v1.HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT;
const RUNNING = temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING;
const COMPLETED = temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED;

function isCode(err: unknown, code: number): boolean {
  return isGrpcServiceError(err) && err.code === code;
}

function beat(details?: unknown): void {
  try {
    heartbeat(details);
  } catch {
    // outside an activity (a test calls the function directly)
  }
}

type RunRef = { workflowId: string; runId: string };

/**
 * The runs an earlier attempt of this activity asked (its last heartbeat carries them): a retry after a
 * crash hands them off too, even once they have closed and a listing no longer shows them.
 */
function askedByEarlierAttempt(): RunRef[] {
  let details: unknown;
  try {
    details = Context.current().info.heartbeatDetails;
  } catch {
    return []; // outside an activity
  }
  const asked = (details as { asked?: unknown } | undefined)?.asked;
  if (!Array.isArray(asked)) return [];
  return asked.filter(
    (r): r is RunRef => typeof r?.workflowId === 'string' && r.workflowId !== '' && typeof r?.runId === 'string' && r.runId !== '',
  );
}

/** `a` then those of `b` not in it, by run ID. */
function unionRuns(a: readonly RunRef[], b: readonly RunRef[]): RunRef[] {
  const seen = new Set(a.map((r) => r.runId));
  return [...a, ...b.filter((r) => !seen.has(r.runId) && seen.add(r.runId))];
}

/** The request ID of a handoff's start: one per old run, so the server answers a retried start with the same run. */
export function handoffRequestId(fromRunId: string): string {
  return `cutover-handoff-${fromRunId}`;
}

const jsonPayload = (value: unknown): Payload => ({
  metadata: { encoding: new TextEncoder().encode('json/plain') },
  data: new TextEncoder().encode(JSON.stringify(value)),
});

/**
 * The run's own search attributes, without those the server keeps for itself (`TemporalChangeVersion`
 * from patches, `BuildIds`, `TemporalScheduledById`, …): a start that sets a reserved one is refused.
 */
export function customAttributes(fields: Record<string, Payload> | null | undefined): Record<string, Payload> {
  const out: Record<string, Payload> = {};
  for (const [k, v] of Object.entries(fields ?? {})) if (!k.startsWith('Temporal') && k !== 'BuildIds') out[k] = v;
  return out;
}

/** Builds the handoff activity over the clusters' connections and the routing store. */
export function createHandoffActivities(deps: HandoffActivityDeps) {
  const now = deps.now ?? (() => new Date());
  const svc = (side: Side) => deps[side].connection.workflowService;
  const step = (s: HandoffStep, workflowId: string) => deps.afterStep?.(s, workflowId);

  async function describe(side: Side, namespace: string, workflowId: string, runId?: string) {
    try {
      return await svc(side).describeWorkflowExecution({ namespace, execution: { workflowId, runId } });
    } catch (err) {
      if (isCode(err, GrpcStatus.NOT_FOUND)) return undefined;
      throw err;
    }
  }

  /** True when the run answers the helper's query; the reason it is refused otherwise. */
  async function handoffable(a: HandOffArgs, workflowId: string, runId: string): Promise<true | string> {
    try {
      const res = await svc(a.from).queryWorkflow({
        namespace: a.fromNamespace,
        execution: { workflowId, runId },
        query: { queryType: HANDOFF_QUERY },
      });
      // The answer is the application's payload (maybe sealed): that it answered at all is what counts.
      if (res.queryRejected) return `query rejected (status ${res.queryRejected.status})`;
      return true;
    } catch (err) {
      const msg = String((err as Error)?.message ?? err);
      if (/unknown queryType|did not register a handler/i.test(msg))
        return 'does not use the handoff helper (cutover/workflow handoffable)';
      return `did not answer the handoff query: ${msg}`;
    }
  }

  /** Waits (long-polling its close event) until the run closes or `ms` pass; the close event, or undefined. */
  async function awaitClose(a: HandOffArgs, workflowId: string, runId: string, ms: number, asked: RunRef[]) {
    const deadline = Date.now() + ms;
    const cancelled = (() => {
      try {
        return Context.current().cancelled;
      } catch {
        return new Promise<never>(() => undefined);
      }
    })();
    while (Date.now() < deadline) {
      beat({ workflowId, waiting: 'safe point', asked });
      const left = deadline - Date.now();
      const poll = () =>
        svc(a.from).getWorkflowExecutionHistory({
          namespace: a.fromNamespace,
          execution: { workflowId, runId },
          waitNewEvent: true,
          historyEventFilterType: CLOSE_EVENT,
        });
      // The server ends a long poll with nothing after ~20 s; the deadline keeps the wait within `ms`.
      const res = await Promise.race([
        deps[a.from].connection.withDeadline(Date.now() + Math.max(1, Math.min(left, 10_000)), poll),
        cancelled,
      ]).catch((err: unknown) => {
        // A long poll that ended before the run closed: poll again (the deadline bounds the loop).
        if (isCode(err, GrpcStatus.DEADLINE_EXCEEDED)) return undefined;
        throw err;
      });
      const event = res?.history?.events?.[0];
      if (event) return event;
    }
    return undefined;
  }

  async function listOpen(a: HandOffArgs): Promise<{ workflowId: string; runId: string }[]> {
    const out: { workflowId: string; runId: string }[] = [];
    let nextPageToken: Uint8Array | undefined;
    do {
      const res = await svc(a.from).listWorkflowExecutions({
        namespace: a.fromNamespace,
        query: openQuery(a.scope),
        pageSize: 100,
        nextPageToken,
      });
      for (const e of res.executions ?? []) out.push({ workflowId: e.execution?.workflowId ?? '', runId: e.execution?.runId ?? '' });
      nextPageToken = res.nextPageToken?.length ? res.nextPageToken : undefined;
    } while (nextPageToken && out.length < LIST_LIMIT);
    return out.slice(0, LIST_LIMIT);
  }

  type Item = HandoffResult['items'][number];
  const at = () => now().getTime();
  const entry = (a: HandOffArgs, workflowId: string, fromRunId: string, toRunId: string): HandoffEntry => ({
    workflowId,
    from: a.from,
    to: a.to,
    fromRunId,
    toRunId,
    at: now().toISOString(),
  });

  /** The last step: the record reads `done` with the new run, and the ID's placement names the new side. */
  async function place(a: HandOffArgs, workflowId: string, fromRunId: string, toRunId: string): Promise<Item> {
    const record: HandoffRecord = { from: a.from, to: a.to, fromRunId, toRunId, state: 'done', at: at() };
    await deps.records.setHandoff(a.keyNamespace, workflowId, record, a.recordTtlMs);
    await deps.records.setPlacement(a.keyNamespace, workflowId, { side: a.to, epoch: a.epoch, at: at(), pending: false }, a.recordTtlMs);
    step('done', workflowId);
    return { outcome: 'handed-off', entry: entry(a, workflowId, fromRunId, toRunId) };
  }

  /**
   * The first half, from wherever an earlier attempt left it: checked, marked, requested. Returns the
   * item when the run's handoff is already decided (done before, refused, closed), else undefined: asked.
   */
  async function ask(a: HandOffArgs, workflowId: string, runId: string): Promise<Item | undefined> {
    const kns = a.keyNamespace;
    const existing = await deps.records.getHandoff(kns, workflowId);
    const ours = existing && existing.fromRunId === runId && existing.from === a.from ? existing : undefined;
    if (ours?.state === 'done' && ours.toRunId) return await place(a, workflowId, runId, ours.toRunId);
    const d = await describe(a.from, a.fromNamespace, workflowId, runId);
    if (!d) {
      if (ours) await deps.records.clearHandoff(kns, workflowId);
      return { outcome: 'closed', workflowId, runId, why: 'not found' };
    }
    // Closed already (stopped by an earlier attempt, or ended on its own): the second half reads which.
    if ((d.workflowExecutionInfo?.status ?? RUNNING) !== RUNNING) return undefined;
    if (!ours) {
      const can = await handoffable(a, workflowId, runId);
      if (can !== true) return { outcome: 'refused', workflowId, runId, why: can };
      step('checked', workflowId);
      await deps.records.setHandoff(
        kns,
        workflowId,
        { from: a.from, to: a.to, fromRunId: runId, state: 'moving', at: at() },
        a.recordTtlMs,
      );
    }
    step('marked', workflowId);
    try {
      await svc(a.from).signalWorkflowExecution({
        namespace: a.fromNamespace,
        workflowExecution: { workflowId, runId },
        signalName: HANDOFF_SIGNAL,
        identity: IDENTITY,
        // The same request ID on every attempt: the server records the signal once.
        requestId: `cutover-handoff-request-${runId}`,
      });
    } catch (err) {
      // Closed meanwhile (handed off, or finished on its own): the second half reads which.
      if (!isCode(err, GrpcStatus.NOT_FOUND)) throw err;
    }
    step('requested', workflowId);
    return undefined;
  }

  /** The second half: waits until `deadline` for the asked run to stop, then starts it on the other side. */
  async function finish(a: HandOffArgs, workflowId: string, runId: string, deadline: number, asked: RunRef[]): Promise<Item> {
    const close = await awaitClose(a, workflowId, runId, Math.max(1, deadline - Date.now()), asked);
    if (!close) return { outcome: 'waiting', workflowId, runId, why: `asked; no safe point reached within ${a.stopWaitMs} ms` };
    const completed = close.workflowExecutionCompletedEventAttributes;
    // The memo mark is written in the same workflow task as the completion: read after the close.
    const d = await describe(a.from, a.fromNamespace, workflowId, runId);
    const info = d?.workflowExecutionInfo;
    if (!completed || info?.status !== COMPLETED || !info.memo?.fields?.[HANDED_OFF_MEMO]) {
      // Ended on its own (or failed, was terminated, continued as new) before it handed off: nothing to carry,
      // and the record, if this run's, is withdrawn (one about another run of the ID is left as it is).
      const rec = await deps.records.getHandoff(a.keyNamespace, workflowId);
      if (rec?.fromRunId === runId && rec.state === 'moving') await deps.records.clearHandoff(a.keyNamespace, workflowId);
      return { outcome: 'closed', workflowId, runId, why: `closed without handing off (status ${info?.status ?? 'unknown'})` };
    }
    step('stopped', workflowId);
    const cfg = d?.executionConfig;
    const memo = { ...info.memo.fields };
    delete memo[HANDED_OFF_MEMO];
    memo[HANDED_OFF_FROM_MEMO] = jsonPayload({ side: a.from, runId });
    let toRunId: string;
    const onTo = (await describe(a.to, a.toNamespace, workflowId))?.workflowExecutionInfo;
    if (onTo?.status === RUNNING) {
      const from = onTo.memo?.fields?.[HANDED_OFF_FROM_MEMO];
      if (!(from?.data && new TextDecoder().decode(from.data).includes(runId))) {
        // Another run of the ID is open there: starting would duplicate it. Left for the operator.
        return { outcome: 'refused', workflowId, runId, why: `stopped, but another run of the ID is open on the ${a.to}: not started` };
      }
      toRunId = onTo.execution?.runId ?? '';
    } else {
      const res = await svc(a.to).startWorkflowExecution({
        namespace: a.toNamespace,
        workflowId,
        workflowType: { name: info.type?.name ?? '' },
        taskQueue: { name: cfg?.taskQueue?.name ?? info.taskQueue ?? '' },
        // The old run's result as written (the state `capture()` gave): the new run's only argument.
        input: { payloads: completed.result?.payloads ?? [] },
        workflowRunTimeout: cfg?.workflowRunTimeout,
        workflowExecutionTimeout: cfg?.workflowExecutionTimeout,
        workflowTaskTimeout: cfg?.defaultWorkflowTaskTimeout,
        memo: { fields: memo },
        searchAttributes: { indexedFields: customAttributes(info.searchAttributes?.indexedFields) },
        identity: IDENTITY,
        requestId: handoffRequestId(runId),
        workflowIdReusePolicy: temporal.api.enums.v1.WorkflowIdReusePolicy.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
      });
      toRunId = res.runId ?? '';
    }
    step('started', workflowId);
    return await place(a, workflowId, runId, toRunId);
  }

  return {
    /**
     * Hands each listed run to the other side (see the header). Runs are independent: one refused or
     * still waiting does not hold up the others. Safe to call again with the same runs at any point.
     */
    async handOffRuns(a: HandOffArgs): Promise<HandoffResult> {
      // Ask every run first, then wait for them together: a pass takes one `stopWaitMs`, not one per run.
      // Runs asked before (by an earlier pass, or an earlier attempt of this one) come first: closed since,
      // they are not listed as open, and their stopped state must still reach the other side.
      const earlier = unionRuns(a.asked ?? [], askedByEarlierAttempt());
      const runs = a.runs ?? unionRuns(earlier, await listOpen(a));
      const decided = new Map<string, Item>();
      // Every heartbeat carries the runs asked so far, for a retry (see askedByEarlierAttempt).
      let asked: RunRef[] = a.runs ? [] : earlier;
      for (const r of runs) {
        beat({ workflowId: r.workflowId, step: 'ask', asked });
        const item = await ask(a, r.workflowId, r.runId);
        if (item) decided.set(r.runId, item);
        else if (!a.runs) asked = unionRuns(asked, [r]);
      }
      beat({ step: 'asked', asked });
      const deadline = Date.now() + a.stopWaitMs;
      const items: Item[] = [];
      for (const r of runs) items.push(decided.get(r.runId) ?? (await finish(a, r.workflowId, r.runId, deadline, asked)));
      return { items, at: at() };
    },
  };
}
