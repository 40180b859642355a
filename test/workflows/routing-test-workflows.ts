/**
 * Workflows for the routing library's integration tests and benchmark: a noop, and a small entity
 * with a signal, a query and an update so tests can prove messages reach runs on either cluster.
 */
import { condition, defineQuery, defineSignal, defineUpdate, setHandler } from '@temporalio/workflow';

export const bump = defineSignal<[number]>('bump');
export const finish = defineSignal('finish');
export const total = defineQuery<number>('total');
export const add = defineUpdate<number, [number]>('add');

/** Returns its input at once. */
export async function routedNoop(input?: string): Promise<string> {
  return input ?? 'ok';
}

/** Keeps a running total (signal `bump`, update `add`, query `total`) until `finish`. */
export async function routedCounter(start = 0): Promise<number> {
  let sum = start;
  let done = false;

  // Message handlers
  setHandler(bump, (n) => {
    sum += n;
  });
  setHandler(total, () => sum);
  setHandler(add, (n) => (sum += n));
  setHandler(finish, () => {
    done = true;
  });

  // Main loop
  await condition(() => done);
  return sum;
}
