/**
 * Helpers shared by the schedules integration tests and benchmark (not a workflow module): clients
 * for both sides of the test stack, raw schedule creation, and the "never active on both" check.
 */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { msNumberToTs } from '@temporalio/common/lib/time';
import type { temporal } from '@temporalio/proto';
import { describeRaw, deleteRaw, duplicateFires, listScheduledRuns, lostFires, type ScheduledRun } from '../../src/schedules';
import type { SidedEndpoint, SwitchStep } from '../../src/schedules';
import { matchingTimes } from '../../src/schedules/raw';
import { until } from '../harness/wait';

export interface Sides {
  source: SidedEndpoint;
  target: SidedEndpoint;
  close(): Promise<void>;
}

/** Connects to both clusters, one client per side for `namespace`. */
export async function connectSides(addresses: { source: string; target: string }, namespace: string): Promise<Sides> {
  const [cs, ct] = await Promise.all([
    Connection.connect({ address: addresses.source }),
    Connection.connect({ address: addresses.target }),
  ]);
  return {
    source: { client: new Client({ connection: cs, namespace }), namespace, side: 'source' },
    target: { client: new Client({ connection: ct, namespace }), namespace, side: 'target' },
    close: async () => {
      await Promise.all([cs.close(), ct.close()]);
    },
  };
}

const enc = (s: string) => new Uint8Array(Buffer.from(s));
/** A JSON payload as the default converter would write it. */
export const jsonPayload = (v: unknown): temporal.api.common.v1.IPayload => ({
  metadata: { encoding: enc('json/plain') },
  data: enc(JSON.stringify(v)),
});

export interface RawScheduleOptions {
  spec: temporal.api.schedule.v1.IScheduleSpec;
  taskQueue: string;
  workflowType?: string;
  paused?: boolean;
  overlap?: temporal.api.enums.v1.ScheduleOverlapPolicy;
  catchupWindowMs?: number;
  input?: temporal.api.common.v1.IPayload[];
  header?: Record<string, temporal.api.common.v1.IPayload>;
  memo?: Record<string, temporal.api.common.v1.IPayload>;
  searchAttributes?: Record<string, temporal.api.common.v1.IPayload>;
}

/** Creates a schedule through the raw API (so headers and arbitrary payload bytes can be set). */
export async function createRawSchedule(
  ep: SidedEndpoint,
  scheduleId: string,
  o: RawScheduleOptions,
): Promise<temporal.api.workflowservice.v1.ICreateScheduleRequest> {
  const req: temporal.api.workflowservice.v1.ICreateScheduleRequest = {
    namespace: ep.namespace,
    scheduleId,
    requestId: randomUUID(),
    identity: 'schedules-test',
    schedule: {
      spec: o.spec,
      action: {
        startWorkflow: {
          workflowId: `${scheduleId}-wf`,
          workflowType: { name: o.workflowType ?? 'scheduleTick' },
          taskQueue: { name: o.taskQueue },
          input: { payloads: o.input ?? [jsonPayload({ n: 1 })] },
          header: { fields: o.header ?? {} },
        },
      },
      policies: { overlapPolicy: o.overlap, catchupWindow: o.catchupWindowMs ? msNumberToTs(o.catchupWindowMs) : undefined },
      state: { paused: o.paused ?? false },
    },
    memo: { fields: o.memo ?? {} },
    searchAttributes: { indexedFields: o.searchAttributes ?? {} },
  };
  await ep.client.workflowService.createSchedule(req);
  return req;
}

/** Paused/active state of a schedule on both sides (undefined = missing). */
export async function pausedOnSides(
  sides: { source: SidedEndpoint; target: SidedEndpoint },
  scheduleId: string,
): Promise<{ source?: boolean; target?: boolean }> {
  const [a, b] = await Promise.all([describeRaw(sides.source, scheduleId), describeRaw(sides.target, scheduleId)]);
  return { source: a ? !!a.schedule?.state?.paused : undefined, target: b ? !!b.schedule?.state?.paused : undefined };
}

/** True when the schedule is unpaused on both clusters: the state guarantee 4 forbids. */
export async function activeOnBoth(sides: { source: SidedEndpoint; target: SidedEndpoint }, scheduleId: string): Promise<boolean> {
  const p = await pausedOnSides(sides, scheduleId);
  return p.source === false && p.target === false;
}

/** Deletes the schedules on both sides, ignoring ones already gone. */
export async function deleteOnSides(sides: { source: SidedEndpoint; target: SidedEndpoint }, ids: Iterable<string>): Promise<void> {
  await Promise.all(
    [...ids].flatMap((id) => [deleteRaw(sides.source, id, 'schedules-test'), deleteRaw(sides.target, id, 'schedules-test')]),
  );
}

/** Thrown from a switch's `onStep` to stop it right after a step, as a crash of the switcher there would. */
export class SimulatedCrash extends Error {
  override readonly name = 'SimulatedCrash';
  constructor(readonly step: SwitchStep) {
    super(`simulated crash after step ${step}`);
  }
}

/** An `onStep` observer that crashes the switch right after `step`. */
export const crashAfter =
  (step: SwitchStep) =>
  (done: SwitchStep): void => {
    if (done === step) throw new SimulatedCrash(step);
  };

/** A protobuf Duration/Timestamp of `ms` milliseconds. */
export const dur = (ms: number) => msNumberToTs(ms);

/**
 * An hourly spec that cannot fire while a test runs: it starts in 2100. A plain hourly interval fires
 * on the hour, and a CI run that crossed 10:00 saw every racing switch refuse, because the fire had
 * started a run on a task queue no worker polls (the switch rightly waits for running actions).
 */
export const QUIET_HOURLY: temporal.api.schedule.v1.IScheduleSpec = {
  interval: [{ interval: dur(3600_000) }],
  startTime: msNumberToTs(Date.UTC(2100, 0, 1)),
};

/** A schedule's runs on both clusters over (sinceMs, untilMs], the nominal times due, and those run twice or never. */
export async function firesOn(
  sides: { source: SidedEndpoint; target: SidedEndpoint },
  scheduleId: string,
  sinceMs: number,
  untilMs: number,
) {
  const inWindow = (x: ScheduledRun) => x.nominalMs > sinceMs && x.nominalMs <= untilMs;
  const [source, target] = await Promise.all([listScheduledRuns(sides.source, scheduleId), listScheduledRuns(sides.target, scheduleId)]);
  const expected = await matchingTimes(sides.target, scheduleId, sinceMs, untilMs);
  const s = source.filter(inWindow);
  const t = target.filter(inWindow);
  return { source: s, target: t, expected, duplicates: duplicateFires(s, t), lost: lostFires(expected, [...s, ...t]) };
}

/** Waits (bounded) until visibility shows every fire of the window (a run appears a moment after it starts), then counts. */
export async function settledFiresOn(
  sides: { source: SidedEndpoint; target: SidedEndpoint },
  scheduleId: string,
  sinceMs: number,
  untilMs: number,
): Promise<Awaited<ReturnType<typeof firesOn>>> {
  let last: Awaited<ReturnType<typeof firesOn>> | undefined;
  try {
    await until(
      'every fire of the window to be visible',
      async () => {
        last = await firesOn(sides, scheduleId, sinceMs, untilMs);
        return last.lost.length === 0 ? true : undefined;
      },
      15_000,
    );
  } catch {
    // asserted by the caller, with the numbers
  }
  return last ?? (await firesOn(sides, scheduleId, sinceMs, untilMs));
}
