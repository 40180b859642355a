import type { WorkerOptions } from '@temporalio/worker';

/**
 * Options of every worker that runs cutover's own workflows (entity and campaign) on the control task
 * queue.
 *
 * No workflow cache: each workflow task replays the run from its history. Measured failure with the
 * cache on (SDK 1.24, test/integration/entity-chaos.test.ts failed 4 of 6 runs; 3 of 3 passed without it): after the worker holding a
 * run was SIGKILLed, a new worker — which, by all the evidence, had loaded the run to answer a `status` query — took the
 * next workflow task (after the dead worker's sticky task timed out) with a workflow clock 2.9 s behind
 * that task's start time (the time of the task before). A wait computed from that clock
 * ("routed clients may still hold the old route for 350 ms more") started a timer that a replay, with
 * the task's real time, does not start: every later task failed with a nondeterminism error and the
 * unit was stuck. cutover's planner decides on time (bakes, drain deadlines, the stale-client bound),
 * and operators query during worker restarts, so the run is rebuilt from history each time instead.
 * The cost is a replay per task; entity histories stay in the hundreds of events and the campaign
 * continues as new before its history grows large.
 */
export const CONTROL_WORKER_OPTIONS = { maxCachedWorkflows: 0 } as const satisfies Partial<WorkerOptions>;
