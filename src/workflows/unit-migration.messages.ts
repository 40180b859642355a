/**
 * Operator messages of the entity workflows (namespaceMigration, tenantMigration): five signals
 * with `{ actor, reason?, commandId }` and the `status` query (docs/design.md, "Signals"). Export names
 * equal the wire names; nobody types these names as strings.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ForwardPhase, UnitStatus } from '../domain/migration';

/** Payload of every operator command. `commandId` makes a retried command a no-op. */
export interface OperatorCommand {
  actor: string;
  reason?: string;
  commandId: string;
  /** `advance` only: keep advancing through phase boundaries up to this phase, e.g. `shadow` or `completed`. */
  until?: ForwardPhase;
}

/** Move on: leave a finished phase (manual mode), skip the current bake, retry a failed step, or re-run a held gate. */
export const advance = defineSignal<[OperatorCommand]>('advance');
/** Raise the paused flag: nothing changes until `resume`. */
export const pause = defineSignal<[OperatorCommand]>('pause');
/** Lower the paused flag. */
export const resume = defineSignal<[OperatorCommand]>('resume');
/** Roll back to the source (reason required). */
export const rollback = defineSignal<[OperatorCommand]>('rollback');
/** Approve what the unit waits for (e.g. terminating stragglers). */
export const approve = defineSignal<[OperatorCommand]>('approve');

/** The unit's status: phase, paused, route, history, gates, counts, rejected commands. */
export const status = defineQuery<UnitStatus>('status');
