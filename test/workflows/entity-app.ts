// Test-only application workflows for the entity-workflow integration tests (a workload that keeps
// running while a unit moves). Every export is a workflow type.
import { sleep } from '@temporalio/workflow';

/** A short job: one durable timer of `ms`, then done. */
export async function entityAppJob(ms: number): Promise<string> {
  await sleep(ms);
  return 'done';
}
