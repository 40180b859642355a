/**
 * Schedules during a move: copy paused and byte-faithful, semantic diff, switch exactly once behind a
 * fenced owner record, gap backfill, reconcile, rollback (the same switch in reverse). Every function
 * takes its clients as parameters. (The multi-cluster client keeps a paused standby copy of the
 * schedules an application creates while it moves: `RoutedClient.schedule`.)
 */
export * from './types';
export * from './errors';
export { ScheduleFence } from './fence';
export type { ScheduleOwnerRecord, FenceCasResult } from './fence';
export { diffSchedules, normalizeSpec, normalizeAction, normalizePolicies } from './diff';
export type { DiffInput } from './diff';
export { parseCron, expandField, CronParseError } from './cron';
export { copySchedules, copyOne } from './copy';
export type { CopySchedulesInput } from './copy';
export { listSelected, matchesSelector, selectorForUnit } from './selector';
export type { TenantSelector } from './selector';
export { switchSchedule, rollbackSchedule, SWITCH_STEPS, DEFAULT_MIGRATED_CATCHUP_WINDOW_MS, gapFromNote, fenceNamespace } from './switch';
export type { SwitchScheduleInput, SwitchReport, SwitchStep } from './switch';
export { reconcileSchedules } from './reconcile';
export type { ReconcileSchedulesInput, ScheduleReconcileItem, ScheduleReconcileReport, ScheduleProblem } from './reconcile';
export { listScheduledRuns, duplicateFires, lostFires } from './runs';
export type { ScheduledRun } from './runs';
export { scheduledRunId, nominalFromRunId, gapTimes, backfillRanges, firstOwnTime } from './gap';
export { describeRaw, deleteRaw } from './raw';
