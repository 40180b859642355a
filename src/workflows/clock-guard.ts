/**
 * Workflow interceptor module, bundled with cutover's workflows (`CONTROL_BUNDLE_OPTIONS`): it fails a
 * workflow task whose clock did not move although the task is new.
 *
 * Why: cutover's planner decides on time (bakes, drain deadlines, the stale-client bound). With the
 * SDK's workflow cache on (SDK 1.24), a worker that had loaded a run to answer a `status` query while
 * the run's own worker was SIGKILLed took the run's next task with the clock of the task before, 2.9 s
 * behind: it started a timer that a replay, at the task's real time, does not start, and the run was
 * stuck on a nondeterminism error (test/integration/entity-chaos.test.ts, 4 of 6 runs). Failing that
 * one task makes the SDK drop the run from its cache; the retried task replays the history with the
 * right times. A task's activations all carry the time the task started, so a later task (a longer
 * history) always carries a later time; only a task processed live is checked, replay is history.
 */
import { optionalTsToMs } from '@temporalio/common/lib/time';
import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';

/** The message a task fails with; tests look for it in histories. */
export const STALE_CLOCK_MESSAGE = 'stale workflow clock';

export const interceptors: WorkflowInterceptorsFactory = () => {
  // One set per run the worker holds: the newest task seen and its time.
  let length = 0;
  let at = Number.NEGATIVE_INFINITY;
  return {
    internals: [
      {
        activate(input, next) {
          const a = input.activation;
          // The SDK's own conversion: the one that sets the workflow's Date.now() from this activation.
          const ms = optionalTsToMs(a.timestamp);
          const len = a.historyLength ?? 0;
          // Queries carry no time and move nothing.
          if (ms !== undefined && len > length) {
            if (!a.isReplaying && ms <= at) {
              throw new Error(
                `${STALE_CLOCK_MESSAGE}: task at history length ${len} carries ${new Date(ms).toISOString()}, ` +
                  `not later than ${new Date(at).toISOString()} of length ${length}; ` +
                  'failing the task so it is replayed from history',
              );
            }
            length = len;
            at = ms;
          }
          return next(input);
        },
      },
    ],
  };
};
