/**
 * Dual-write of schedules during a move, for the multi-cluster client: a schedule
 * created or updated while a unit moves exists on both clusters — active on the routed side, paused
 * on the other — so the switch later finds a faithful copy to unpause.
 */
import type { ScheduleOptions, ScheduleUpdateOptions, ScheduleDescription } from '@temporalio/client';
import { copyOne } from './copy';
import { ScheduleInputError, ScheduleMissingError } from './errors';
import { deleteRaw, describeRaw } from './raw';
import type { CopyItem, ScheduleEndpoint } from './types';

export interface DualWriteInput {
  /** The routed side: the schedule is created there as the options say (usually active). */
  active: ScheduleEndpoint;
  /** The other side: receives a byte-faithful copy, always paused. */
  passive: ScheduleEndpoint;
  actor: string;
}

function checkNamespace(field: string, ep: ScheduleEndpoint): void {
  const ns = ep.client.options.namespace;
  if (ns !== ep.namespace)
    throw new ScheduleInputError(
      `${field}.namespace`,
      `is "${ep.namespace}" but the client's namespace is "${ns}": pass a client built for that namespace`,
    );
}

async function mirror(input: DualWriteInput, scheduleId: string): Promise<CopyItem> {
  const d = await describeRaw(input.active, scheduleId);
  if (!d) throw new ScheduleMissingError(scheduleId, input.active.namespace);
  return copyOne(d, input.passive, scheduleId, input.actor, input.active.namespace);
}

/**
 * Creates the schedule on the active side through the SDK (the application's data converter encodes
 * the arguments), then copies the created schedule raw to the passive side, paused. Returns the
 * passive side's copy outcome (`created`, or `unchanged` when it was already there).
 */
export async function createOnBoth(
  input: DualWriteInput & { options: ScheduleOptions },
): Promise<{ scheduleId: string; passive: CopyItem }> {
  checkNamespace('active', input.active);
  const handle = await input.active.client.schedule.create(input.options);
  return { scheduleId: handle.scheduleId, passive: await mirror(input, handle.scheduleId) };
}

/**
 * Applies an update on the active side, then brings the paused copy on the passive side in line
 * (an active copy there is never overwritten: reported as `conflict`).
 */
export async function updateOnBoth(
  input: DualWriteInput & { scheduleId: string; update: (previous: ScheduleDescription) => ScheduleUpdateOptions },
): Promise<{ scheduleId: string; passive: CopyItem }> {
  checkNamespace('active', input.active);
  await input.active.client.schedule.getHandle(input.scheduleId).update(input.update);
  return { scheduleId: input.scheduleId, passive: await mirror(input, input.scheduleId) };
}

/** Deletes the schedule on both sides (missing on either is fine). */
export async function deleteOnBoth(input: DualWriteInput & { scheduleId: string }): Promise<{ active: boolean; passive: boolean }> {
  const identity = `cutover:${input.actor}`;
  const [active, passive] = await Promise.all([
    deleteRaw(input.active, input.scheduleId, identity),
    deleteRaw(input.passive, input.scheduleId, identity),
  ]);
  return { active, passive };
}
