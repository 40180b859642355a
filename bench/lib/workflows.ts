/**
 * Workflows the benchmarks run beside cutover's own (a workflow module: every export is a workflow
 * type, so nothing else is exported).
 */
import { proxyActivities } from '@temporalio/workflow';

const acts = proxyActivities<{ benchNoop(): Promise<string> }>({ startToCloseTimeout: '30 seconds' });

/** What a schedule fire starts: completes at once, so each fire leaves one closed run to count. */
export async function benchTick(_input?: unknown): Promise<string> {
  return 'tick';
}

/** The server-bound workload of bench:campaign: a trivial workflow with one activity. */
export async function benchTrivial(): Promise<string> {
  return await acts.benchNoop();
}
