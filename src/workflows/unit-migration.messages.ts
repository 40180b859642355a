/**
 * Operator messages of the entity workflows (namespaceMigration, tenantMigration): six signals
 * with `{ actor, reason?, commandId? }` and the `status` query. Export names equal the wire names;
 * nobody types these names as strings.
 *
 * From the Temporal UI or the plain CLI, an emergency needs no ID:
 *   temporal workflow signal --namespace cutover --workflow-id cutover/tenant/<ns>/<tenant> \
 *     --name rollback --input '{"actor":"<you>","reason":"<why>"}'
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ForwardPhase, UnitStatus } from '../domain/migration';
import type { SignedEnvelope } from '../operators/signing';

/**
 * Payload of `advance`, `resume` and `approve`. `commandId` makes a retried command a no-op. With operators in
 * the plan it carries `signature`, and the signed body is the command (the other fields are then ignored).
 */
export interface OperatorCommand {
  actor: string;
  reason?: string;
  commandId: string;
  signature?: SignedEnvelope;
  /** `approve` of stragglers: the digest of the runs approved (status.approval.runsDigest). */
  runsDigest?: string;
  /** `approve` of a rollback after completion: the request it approves (status.reversal.binding). */
  ring?: string;
  step?: number;
  epoch?: number;
  /** `advance` only: keep advancing through phase boundaries up to this phase, e.g. `shadow` or `completed`. */
  until?: ForwardPhase;
}

/**
 * Payload of `pause` and `rollback`, the safe directions. Without a `commandId` a repeat is deduped by what
 * it is: a second pause of a paused unit, or a second rollback of one rolling back, is a recorded no-op.
 */
export interface SafeOperatorCommand {
  actor: string;
  signature?: SignedEnvelope;
  /** Required for `rollback`. */
  reason?: string;
  commandId?: string;
}

/** Move on: leave a finished phase (manual mode), skip the current bake, retry a failed step, or re-run a held gate. */
export const advance = defineSignal<[OperatorCommand]>('advance');
/** Raise the paused flag: nothing changes until `resume`. */
export const pause = defineSignal<[SafeOperatorCommand]>('pause');
/** Lower the paused flag. */
export const resume = defineSignal<[OperatorCommand]>('resume');
/** Roll back to the source (reason required). */
export const rollback = defineSignal<[SafeOperatorCommand]>('rollback');
/**
 * Approve what the unit waits for: terminating stragglers, or a rollback of the completed unit (then the payload
 * names `ring`, `step` and `epoch` from status.reversal.binding; two distinct approvers, neither the requester).
 */
export const approve = defineSignal<[OperatorCommand]>('approve');

/**
 * Make a completed unit final (it stays reversible until then, or until its `finalizeAfter`): the route is
 * marked final, so the source's workers may stop and its paused schedule copies may be deleted; the run ends.
 * Refused in any other phase. Needs a `commandId` (and, with operators in the plan, an `operator` signature).
 */
export const finalize = defineSignal<[OperatorCommand]>('finalize');

/** The unit's status: phase, paused, route, history, gates, counts, rejected commands. */
export const status = defineQuery<UnitStatus>('status');
