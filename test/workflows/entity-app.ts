// Test-only application workflows for the entity-workflow integration tests (a workload that keeps
// running while a unit moves). Every export is a workflow type.
import { condition, defineQuery, defineSignal, setHandler, sleep } from '@temporalio/workflow';
import { handoffable } from '../../src/handoff';

/** A short job: one durable timer of `ms`, then done. */
export async function entityAppJob(ms: number): Promise<string> {
  await sleep(ms);
  return 'done';
}

/** A long-lived counter's state: what `handoffCounter` carries from one cluster to the other. */
export interface CounterState {
  /** Sum of every `add`. */
  count: number;
  /** How many `add` signals were applied. */
  adds: number;
  /** How many runs this state has lived in (1 on its first cluster; +1 per handoff). */
  runs: number;
}

export const addSignal = defineSignal<[number]>('add');
export const counterQuery = defineQuery<CounterState>('counter');

export const goSignal = defineSignal('go');

/**
 * A long-lived counter that cutover may hand off (it uses the `cutover/workflow` helper). With `afterGo`,
 * once asked it hands over only after a `go` signal: a run whose safe point comes after the handoff pass
 * that asked it has given up waiting. The run it is handed to gets the state alone, and waits for nothing.
 */
export async function handoffCounter(state: CounterState, afterGo = false): Promise<CounterState> {
  state.runs += 1;
  let go = !afterGo;
  const handoff = handoffable(() => state);
  setHandler(addSignal, (n: number) => {
    state.count += n;
    state.adds += 1;
  });
  setHandler(goSignal, () => void (go = true));
  setHandler(counterQuery, () => state);
  await condition(() => handoff.requested && go);
  return await handoff.handOver();
}

/** A long-lived workflow without the helper: cutover must report it and leave it alone. */
export async function plainLongRunner(): Promise<void> {
  let adds = 0;
  setHandler(addSignal, () => void adds++);
  await condition(() => false);
}
