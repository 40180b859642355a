// Test-only application workflows for the payload-encryption integration test: an application with its
// own codec runs them on both clusters through RoutedClient and DualWorkers. Every export is a workflow type.
import { ApplicationFailure, proxyActivities, sleep } from '@temporalio/workflow';

/** The activity the workflows call: it returns its input reversed (an activity input and result to encrypt). */
export interface CodecAppActivities {
  reverse(text: string): Promise<string>;
}

const { reverse } = proxyActivities<CodecAppActivities>({ startToCloseTimeout: '10s' });

/**
 * A short job over a secret: a timer, the activity, then a result that quotes the secret. With `fail`, it
 * fails with the secret in the failure's message instead (the failure converter must hide it too).
 */
export async function codecAppJob(input: { secret: string; ms?: number; fail?: boolean }): Promise<string> {
  await sleep(input.ms ?? 50);
  const reversed = await reverse(input.secret);
  if (input.fail) throw ApplicationFailure.create({ type: 'CodecAppRefused', message: `refused ${input.secret}`, nonRetryable: true });
  return `done ${input.secret} ${reversed}`;
}
