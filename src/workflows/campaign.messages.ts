/**
 * Operator messages of the `campaign` workflow (docs/design.md, "Signals"): `advance` (skip the rest of
 * the current bake), `pause`, `resume` (also releases a hold), `rollback` (the current ring's
 * units), `approve` (two-person approval, bound to ring, step and epoch) and the `status` query.
 * Export names equal the wire names.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { CampaignStatus } from '../campaign/types';
import type { SignedEnvelope } from '../operators/signing';

/** Payload of advance, pause, resume and rollback. `commandId` makes a retried command a no-op. */
export interface CampaignCommandPayload {
  actor: string;
  reason?: string;
  commandId: string;
  /** With operators in the plan: the signed command (its body is the command; other fields are ignored). */
  signature?: SignedEnvelope;
}

/** Payload of approve: what is approved, copied from `status.approval.binding`. */
export interface CampaignApprovePayload extends CampaignCommandPayload {
  ring: string;
  step: number;
  epoch: number;
  campaign?: string;
  /** Digest of the units the step covers (status.approval.binding.units). */
  units?: string;
}

/** Payload of pause and rollback: the safe directions need no `commandId` (a repeat is a recorded no-op). */
export type CampaignSafeCommandPayload = Omit<CampaignCommandPayload, 'commandId'> & { commandId?: string };

/** Skip the rest of the current bake (recorded with who and why). */
export const advance = defineSignal<[CampaignCommandPayload]>('advance');
/** Stop before the next action until `resume`. */
export const pause = defineSignal<[CampaignSafeCommandPayload]>('pause');
/** Lower the paused flag, or release a hold (inconclusive gate, gate failure on hold, expired approval). */
export const resume = defineSignal<[CampaignCommandPayload]>('resume');
/** Roll back the current ring's units (reason required). */
export const rollback = defineSignal<[CampaignSafeCommandPayload]>('rollback');
/** One approver's approval of the pending two-person request. */
export const approve = defineSignal<[CampaignApprovePayload]>('approve');

/** Every ring and unit, the current step, gates, approvals, history and rejected commands. */
export const status = defineQuery<CampaignStatus>('status');
