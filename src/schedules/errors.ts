/**
 * Errors of the schedules module. Each sets `name`, which Temporal uses as the failure type when an
 * activity throws it, so retry policies can name them (`nonRetryableErrorTypes`).
 */
import type { ScheduleOwnerRecord } from './fence';

/** The caller's expected epoch is not the current one: the switch was decided on stale data. */
export class StaleScheduleEpochError extends Error {
  override readonly name = 'StaleScheduleEpochError';
  constructor(
    readonly scheduleId: string,
    readonly expectedEpoch: number,
    readonly current: ScheduleOwnerRecord | undefined,
  ) {
    super(
      `schedule ${scheduleId}: expectedEpoch ${expectedEpoch} is stale (current epoch ${current?.epoch ?? 0}, ` +
        `owner ${current?.owner ?? 'none'}); read the owner record again and decide anew`,
    );
  }
}

/** Another switch won the fence after this one: this one stopped without unpausing anything. */
export class ScheduleSwitchSupersededError extends Error {
  override readonly name = 'ScheduleSwitchSupersededError';
  constructor(
    readonly scheduleId: string,
    readonly wonEpoch: number,
    readonly current: ScheduleOwnerRecord | undefined,
  ) {
    super(
      `schedule ${scheduleId}: the switch won epoch ${wonEpoch} but the owner record moved to epoch ${current?.epoch ?? 0}; ` +
        'nothing was unpaused',
    );
  }
}

/** The schedule still has running actions after the wait allowed: the switch stopped before the fence. */
export class ScheduleActionsRunningError extends Error {
  override readonly name = 'ScheduleActionsRunningError';
  constructor(
    readonly scheduleId: string,
    readonly running: string[],
  ) {
    super(
      `schedule ${scheduleId}: ${running.length} action(s) still running (${running.slice(0, 3).join(', ')}); ` +
        'it stays paused on both sides — retry the switch later or raise runningActionTimeoutMs',
    );
  }
}

/** The conditional unpause lost to a concurrent change of the schedule (conflict token moved). */
export class ScheduleUnpauseConflictError extends Error {
  override readonly name = 'ScheduleUnpauseConflictError';
  constructor(readonly scheduleId: string) {
    super(
      `schedule ${scheduleId}: the conditional unpause was not applied (a concurrent change moved the conflict token); ` +
        'it stays paused — retry the switch',
    );
  }
}

/** A schedule the operation needs does not exist on a side. */
export class ScheduleMissingError extends Error {
  override readonly name = 'ScheduleMissingError';
  constructor(
    readonly scheduleId: string,
    readonly namespace: string,
  ) {
    super(`schedule ${scheduleId} does not exist in namespace ${namespace}; copy it there first (copySchedules)`);
  }
}

/** Bad input to a schedules function: names the field and the fix. */
export class ScheduleInputError extends Error {
  override readonly name = 'ScheduleInputError';
  constructor(
    readonly field: string,
    readonly hint: string,
  ) {
    super(`${field}: ${hint}`);
  }
}
