// Test-only application workflow for the compare and schedule-to-start gate tests: a job that takes a
// given time and then succeeds or fails, run alike (or not) on both clusters. Every export is a workflow type.
import { ApplicationFailure, sleep } from '@temporalio/workflow';

/** Waits `ms` on a durable timer, then completes, or fails when `fail` is set. */
export async function compareAppJob(ms: number, fail: boolean): Promise<string> {
  await sleep(ms);
  if (fail) throw ApplicationFailure.create({ type: 'CompareAppFailure', message: 'made to fail by the test', nonRetryable: true });
  return 'done';
}
