/**
 * Names shared by the workflow-side handoff helper (`cutover/workflow`, run inside applications'
 * workflows) and cutover's handoff activity. They are part of the contract with applications' code:
 * renaming one strands every run built against the old name.
 */

/** Query a run answers when it uses the helper: how cutover tells a handoffable run without touching it. */
export const HANDOFF_QUERY = 'cutover.handoff';
/** Signal that asks a run to stop at its next safe point and return the state to continue from. */
export const HANDOFF_SIGNAL = 'cutover.handoff';
/**
 * Memo key the helper sets on the run it stops. Memo values are the application's payloads (perhaps
 * sealed with keys cutover does not hold), but keys are plain text: its presence on a completed run is
 * how cutover knows the result is the state to carry over, without decoding it.
 */
export const HANDED_OFF_MEMO = 'cutover.handedOff';
/** Memo key cutover sets on the run it starts with that state: the run it continues (plain JSON). */
export const HANDED_OFF_FROM_MEMO = 'cutover.handedOffFrom';

/** What a handoffable run answers to {@link HANDOFF_QUERY}. */
export interface HandoffQueryAnswer {
  /** Version of the helper's protocol. */
  version: 1;
  /** True once cutover asked the run to hand off. */
  requested: boolean;
}
