/**
 * The workflow-side handoff helper (`import { handoffable } from 'cutover/workflow'`), for long-running
 * application workflows that cutover should move to the other cluster rather than wait for (straggler
 * policy `handoff`). It runs inside the workflow sandbox: it imports only `@temporalio/workflow` and
 * cutover's shared names.
 *
 * ```ts
 * export async function account(state: AccountState): Promise<AccountState> {
 *   const handoff = handoffable(() => state);            // what the run on the other cluster starts with
 *   setHandler(deposit, (n: number) => void (state.balance += n));
 *   for (;;) {
 *     await condition(() => handoff.requested || state.closed, '1 day');
 *     if (handoff.requested) return handoff.handOver();  // a safe point: nothing half done
 *     ...
 *   }
 * }
 * ```
 *
 * How a handoff goes: cutover asks (a signal), the workflow reaches a safe point and returns
 * `handOver()`, which completes the run with the value `capture()` gives; cutover starts the same
 * workflow ID and type on the other cluster with that value as its only argument (like continue-as-new,
 * across clusters), copying memo and search attributes. cutover never decodes the value: it moves the
 * payload as written, so it works with any payload codec.
 */
import { allHandlersFinished, condition, defineQuery, defineSignal, setHandler, sleep, upsertMemo } from '@temporalio/workflow';
import { HANDED_OFF_MEMO, HANDOFF_QUERY, HANDOFF_SIGNAL, type HandoffQueryAnswer } from '../domain/handoff';

export { HANDED_OFF_MEMO, HANDOFF_QUERY, HANDOFF_SIGNAL, type HandoffQueryAnswer } from '../domain/handoff';

/** The handle {@link handoffable} returns. */
export interface Handoff<S> {
  /** True once cutover asked this run to move to the other cluster: return `handOver()` at the next safe point. */
  readonly requested: boolean;
  /**
   * Ends this run's part: waits for running signal and update handlers, then returns the state to hand
   * over. Return its result from the workflow function, at once: anything the workflow does after it
   * would be lost. Throws when cutover has not asked.
   */
  handOver(): Promise<S>;
}

const querySupport = defineQuery<HandoffQueryAnswer>(HANDOFF_QUERY);
const requestSignal = defineSignal<[unknown?]>(HANDOFF_SIGNAL);

/**
 * Makes the calling workflow handoffable. `capture` returns the argument the workflow's run on the
 * other cluster starts with (it must be what the workflow function takes as its first argument). Call
 * once, early in the workflow function (before its first await).
 */
export function handoffable<S>(capture: () => S): Handoff<S> {
  let requested = false;
  setHandler(querySupport, () => ({ version: 1, requested }));
  setHandler(requestSignal, () => {
    requested = true;
  });
  return {
    get requested() {
      return requested;
    },
    async handOver(): Promise<S> {
      if (!requested) throw new Error('handOver() is only for a run cutover asked to hand off (check handoff.requested first)');
      await condition(allHandlersFinished);
      // Why a 1 ms timer: the state is then taken in a workflow task of its own, which the SDK starts by
      // applying every signal delivered with it. A signal that reaches the server while this task runs
      // makes the server refuse the completion and replay with the signal first; either way, the value
      // returned holds every signal the run's history has before its completion, and none is lost.
      await sleep(1);
      upsertMemo({ [HANDED_OFF_MEMO]: true });
      return capture();
    },
  };
}
