/**
 * `cutoverProbe`: the synthetic probe cutover ships and runs on the TARGET cluster (task queue
 * PROBE_TASK_QUEUE in the unit's target namespace) during `shadow`. It exercises a workflow task,
 * a durable timer and the return path, and echoes its input so the caller can check the round trip.
 */
import { sleep } from '@temporalio/workflow';

/** Probe input: an echo string. */
export interface ProbeInput {
  echo: string;
}

/** Completes after one short durable timer, returning the echo. */
export async function cutoverProbe(input: ProbeInput): Promise<{ echo: string }> {
  await sleep('10 milliseconds');
  return { echo: input.echo };
}
