/**
 * Copying a unit's schedules to the other cluster, paused and byte-faithful: raw describe → raw
 * create keeps encoded arguments, memo, headers and search attributes as they are (no codec or
 * converter round-trip). Idempotent: a copy that is already there and equal is left alone; a paused
 * one that differs is rewritten; an active one is never touched (reported as a conflict).
 */
import { diffSchedules } from './diff';
import { createRaw, describeRaw, isAlreadyExists, stateOf, updateRaw } from './raw';
import type { RawDescribe } from './raw';
import { listSelected } from './selector';
import type { CopyItem, CopyOutcome, CopyReport, ScheduleEndpoint, ScheduleSelector } from './types';

export interface CopySchedulesInput {
  from: ScheduleEndpoint;
  to: ScheduleEndpoint;
  selector: ScheduleSelector;
  actor: string;
  /** Schedules copied at once (default 8). */
  concurrency?: number;
}

const OUTCOMES: CopyOutcome[] = ['created', 'unchanged', 'updated', 'conflict', 'vanished', 'failed'];

/** Attempts at create-or-compare: another attempt only when the destination's copy vanishes in between. */
const COPY_ATTEMPTS = 3;

/**
 * Copies one schedule (already described on the origin) to the destination, paused. Creates first and
 * describes the destination only when it already has the schedule: a describe is a query to the
 * destination's scheduler workflow, the slowest schedule operation a server has (~35/s on a dev
 * server), and a first copy, the common case, does not need one.
 */
export async function copyOne(
  from: RawDescribe,
  to: ScheduleEndpoint,
  scheduleId: string,
  actor: string,
  origin: string,
): Promise<CopyItem> {
  const identity = `cutover:${actor}`;
  const note = `cutover: copied paused from ${origin} by ${actor}`;
  const state = {
    paused: true,
    notes: note,
    limitedActions: from.schedule?.state?.limitedActions,
    remainingActions: from.schedule?.state?.remainingActions,
  };
  for (let attempt = 1; ; attempt++) {
    try {
      const conflictToken = await createRaw(to, scheduleId, from, state, identity);
      const s = from.schedule ?? {};
      return {
        scheduleId,
        outcome: 'created',
        destination: { schedule: { spec: s.spec, action: s.action, policies: s.policies, state }, conflictToken },
      };
    } catch (err) {
      // Already there (an earlier copy, another copier, or the multi-cluster client's standby copy): compare below.
      if (!isAlreadyExists(err)) throw err;
    }
    const existing = await describeRaw(to, scheduleId);
    if (!existing) {
      // Deleted between the create and the describe: create again.
      if (attempt < COPY_ATTEMPTS) continue;
      throw new Error(
        `schedule ${scheduleId} on ${to.namespace} kept appearing and vanishing over ${COPY_ATTEMPTS} attempts; copy it again`,
      );
    }
    const diffs = diffSchedules(from, existing);
    if (diffs.length === 0) return { scheduleId, outcome: 'unchanged', destination: existing };
    if (!stateOf(existing).paused) return { scheduleId, outcome: 'conflict', diffs };
    // Paused copy that drifted (the origin was updated since): rewrite it, still paused, guarded by
    // its conflict token so a concurrent activation wins over this rewrite.
    const s = from.schedule ?? {};
    await updateRaw(
      to,
      scheduleId,
      { spec: s.spec, action: s.action, policies: s.policies, state: { ...state, notes: `${note} (updated)` } },
      existing.conflictToken,
      identity,
      from.searchAttributes ?? { indexedFields: {} },
    );
    return { scheduleId, outcome: 'updated', diffs };
  }
}

/** Copies the selected schedules from one cluster to the other, created paused. */
export async function copySchedules(input: CopySchedulesInput): Promise<CopyReport> {
  const { from, to, selector, actor } = input;
  const ids = await listSelected(from, selector);
  const items: CopyItem[] = new Array(ids.length);
  let next = 0;
  const origin = from.namespace;
  const worker = async () => {
    while (next < ids.length) {
      const i = next++;
      const scheduleId = ids[i];
      try {
        const d = await describeRaw(from, scheduleId);
        items[i] = d ? await copyOne(d, to, scheduleId, actor, origin) : { scheduleId, outcome: 'vanished' };
      } catch (err) {
        items[i] = { scheduleId, outcome: 'failed', error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(input.concurrency ?? 8, ids.length)) }, worker));
  const counts = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<CopyOutcome, number>;
  for (const it of items) counts[it.outcome]++;
  return { from: from.namespace, to: to.namespace, items, counts };
}
