/**
 * Whether a plan's campaign fits Temporal's payload limit (docs/design.md, "Bounds on signals and state").
 * The campaign's input travels in its start request, and again, with the campaign's state, in every
 * continue-as-new; its `status` query answers with the state and a view of every unit. Each of these is one
 * payload, and the server refuses a payload over `limit.blobSize.error` (2 MiB by default): a start would be
 * refused, a continue-as-new would fail its workflow task on every retry, a status query would fail. So
 * `cutover validate` (and `cutover start`) refuse a plan whose campaign could outgrow it, before anything
 * runs. The state's part that signals grow is bounded (src/domain/bounds.ts); the rest scales with the plan
 * and is estimated from it here, generously.
 */
import type { Plan } from '../config/types';
import type { PlanIssue } from '../config/types';
import { AUDIT_RECORDS_BOUND, CAMPAIGN_HISTORY_BOUND, REJECTED_BOUND, SIGNAL_STATE_MAX_BYTES, utf8Length } from '../domain/bounds';
import { buildCampaignInput } from './input';
import type { CampaignInput, GateSpec } from './types';
import { unitWorkflowIdOf } from './units';

/** Temporal's default payload limit (`limit.blobSize.error`): a start's input, a continue-as-new's input, a query's result. */
export const TEMPORAL_PAYLOAD_LIMIT_BYTES = 2 * 1024 * 1024;
/** Kept free below the limit: the payload's envelope and metadata, an encryption codec's few bytes, and what estimates miss. */
export const PAYLOAD_HEADROOM_BYTES = 64 * 1024;
/** What a campaign's payloads may weigh: the limit less the headroom. */
export const CAMPAIGN_PAYLOAD_MAX_BYTES = TEMPORAL_PAYLOAD_LIMIT_BYTES - PAYLOAD_HEADROOM_BYTES;

/** A unit's view as the campaign keeps it while the unit moves (phase, route, what it waits for, a failure's message). */
export const UNIT_VIEW_BYTES = 1024;
/**
 * One gate measurement as a bake keeps it (result, value, the provider's message, gate, time): ~110–200
 * bytes of JSON as providers word them. A long error message is rare by design (a gate fails after a few
 * consecutive errors), so 512 here refused a 10-minute bake measured every 300 ms, which runs well within
 * the limit.
 */
export const MEASUREMENT_BYTES = 256;
/** What a compare measurement adds per workflow type: its evidence (counts, rates, medians, both tests) and its line of the message. */
export const COMPARE_TYPE_BYTES = 1024;
/** What a schedule-to-start measurement adds: its evidence, about 150 bytes per queue and task type, for a unit's few queues. */
export const BACKLOG_EVIDENCE_BYTES = 2048;

/** One measurement of `gate` as a bake keeps it: the gates that carry evidence weigh more. */
export function measurementBytes(gate: GateSpec): number {
  if (gate.kind === 'compare') return MEASUREMENT_BYTES + COMPARE_TYPE_BYTES * gate.compare.workflowTypes.length;
  if (gate.kind === 'scheduleToStart') return MEASUREMENT_BYTES + BACKLOG_EVIDENCE_BYTES;
  return MEASUREMENT_BYTES;
}
/** One approval request as the state keeps it (binding, evidence, two approvals with their signatures). */
export const APPROVAL_BYTES = 4096;
/** The rest of the state and the status: phase, step, epochs, gates' last verdicts, signing, counters. */
export const FIXED_BYTES = 16 * 1024;

/** A campaign's payloads for a plan, in bytes of JSON, and what they may weigh. */
export interface CampaignPayloadSizes {
  /** The input (start request; every continue-as-new carries it again). */
  input: number;
  /** The state at most: what signals grow (bounded) and what the plan's largest step adds. */
  state: number;
  /** The `status` query's answer at most. */
  status: number;
  /** The largest step's unit count (its views weigh on the state). */
  largestStep: number;
  /** CAMPAIGN_PAYLOAD_MAX_BYTES. */
  max: number;
}

const json = (v: unknown) => utf8Length(JSON.stringify(v));

/** The sizes of a campaign input's payloads (see the module comment). */
export function campaignPayloadSizes(input: CampaignInput): CampaignPayloadSizes {
  const plan = input.plan;
  const units = plan.rings.flatMap((r) => r.units.map((unit) => ({ unit, workflowId: unitWorkflowIdOf(input.entities, unit) })));
  const largestStep = plan.steps.reduce((n, s) => Math.max(n, s.units.length), 0);
  const nameBytes = units.reduce((n, u) => Math.max(n, utf8Length(u.unit)), 0);
  // A step's bake measures each gate every interval, and past the bake until the gate's count is reached.
  const measurementShare = plan.steps.reduce(
    (most, s) =>
      Math.max(
        most,
        s.gates.reduce((n, g) => {
          const gate = plan.gates[g];
          if (!gate) return n;
          const p = gate.policy;
          return n + Math.max(p.count, Math.ceil(s.bakeMs / Math.max(1, p.interval)) + 1) * measurementBytes(gate);
        }, 0),
      ),
    0,
  );
  const approvals = plan.steps.filter((s) => s.kind === 'approval').length + 1;
  // Per unit of the moving step: its view, its route epoch at the bake's start, and its place in a rollback.
  const moving = largestStep * (UNIT_VIEW_BYTES + 2 * (nameBytes + 16));
  const planShare = moving + measurementShare + approvals * APPROVAL_BYTES + FIXED_BYTES;
  // The status shows every unit: a settled one as { unit, workflowId, phase }, the moving step's in full.
  const settled = units.reduce((n, u) => n + json({ unit: u.unit, workflowId: u.workflowId, phase: 'reconciling' }) + 1, 0);
  const status =
    CAMPAIGN_HISTORY_BOUND.bytes + REJECTED_BOUND.bytes + AUDIT_RECORDS_BOUND.bytes + settled + json(plan.steps[0] ?? {}) + planShare;
  return {
    input: json(input),
    state: SIGNAL_STATE_MAX_BYTES + planShare,
    status,
    largestStep,
    max: CAMPAIGN_PAYLOAD_MAX_BYTES,
  };
}

const mib = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(2)} MiB`;

/** Room a signed start adds to the input (the envelope: body and signature). */
const SIGNED_START_BYTES = 1024;

/**
 * The problem of a plan whose campaign does not fit the payload limit (path `rings`, the units that make it
 * large), or undefined when it fits. `input`: the campaign input already built for the plan (else built
 * here). No I/O.
 */
export function campaignSizeProblem(
  plan: Plan,
  input: CampaignInput = buildCampaignInput(plan, { actor: 'x'.repeat(64) }),
): PlanIssue | undefined {
  const s = campaignPayloadSizes(input);
  const inputBytes = s.input + (plan.operators && Object.keys(plan.operators).length > 0 ? SIGNED_START_BYTES : 0);
  const limit =
    `Temporal's ${mib(TEMPORAL_PAYLOAD_LIMIT_BYTES)} payload limit (limit.blobSize.error) ` +
    `less ${PAYLOAD_HEADROOM_BYTES / 1024} KiB of headroom`;
  const hint =
    'split the units into several plans, each its own campaign (e.g. one plan per ring or per group of namespaces)' +
    (s.largestStep > 100 ? ', or move fewer units per step (rings[].batchSize)' : '');
  if (inputBytes + s.state > s.max) {
    return {
      path: 'rings',
      message:
        `the campaign of this plan (${input.plan.unitCount} units) does not fit ${limit}: its input is ${mib(inputBytes)}, and ` +
        `each continue-as-new carries it with up to ${mib(s.state)} of state (the bounded lists signals grow, and ` +
        `the views of the ${s.largestStep} units of its largest step), ${mib(inputBytes + s.state)} in all; ` +
        `for this plan the input may be at most ${mib(Math.max(0, s.max - s.state))}`,
      hint,
    };
  }
  if (s.status > s.max) {
    return {
      path: 'rings',
      message:
        `the campaign of this plan (${input.plan.unitCount} units) does not fit ${limit}: its status query would answer ` +
        `with up to ${mib(s.status)} (a view of every unit and the bounded lists signals grow)`,
      hint,
    };
  }
  return undefined;
}
