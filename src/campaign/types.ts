/**
 * The campaign's plan as data: gates, rings, and the ordered steps the campaign walks. Built once
 * from the validated plan outside the sandbox (`planCampaign`), carried as the campaign workflow's
 * input, printed by `cutover start --dry-run`. Pure types.
 */
import type { ApprovalRequest } from '../approvals/two-person';
import type { CompareSettings } from '../gates/compare';
import type { GatePolicy, TimedMeasurement } from '../gates/types';
import type { TenantFilter, UnitMigrationInput } from '../domain/migration';
import type { UnitView } from './driver';
import type { CampaignEntities } from './units';
import type { AuditLog, AuditRecord } from '../audit/chain';
import type { Truncated } from '../domain/bounds';
import type { OperatorKey, SignedEnvelope } from '../operators/signing';
import type { CampaignProgress } from './progress';

/** A gate, resolved from the plan, with its provider settings (durations in ms). */
export type GateSpec = {
  name: string;
  policy: GatePolicy;
  /** One line for humans: `sum(rate(…)) <= 0.5`. */
  summary: string;
} & (
  | { kind: 'prometheus'; prometheus: { url: string; query: string; tokenEnv?: string; max?: number; min?: number } }
  | { kind: 'temporal'; temporal: { maxFailed?: number; maxFailureRatio?: number } }
  | { kind: 'synthetic'; synthetic: { workflows: number; minSuccess: number; maxP99: number } }
  | { kind: 'reconcile'; reconcile: { maxDuplicates: number; maxStranded: number } }
  | { kind: 'compare'; compare: CompareSettings }
  | { kind: 'scheduleToStart'; scheduleToStart: { maxBacklogAge: number; maxBacklogCount?: number } }
);

/** What a step does. */
export type StepKind =
  /** Wait for a two-person approval before the batch moves. */
  | 'approval'
  /** Start (or resume) the batch's entity workflows; they run preflight, provision and shadow. */
  | 'prepare'
  /** Route `percent`% of the batch's new starts to the target, then bake with gates. */
  | 'canary'
  /** Route all new starts to the target, then bake with gates. */
  | 'cutover'
  /** Drill only: route back to the source (the rehearsal's rollback). */
  | 'rollback'
  /** Let the entities drain, reconcile and complete. */
  | 'complete';

/** One step of the campaign, in order. */
export interface CampaignStep {
  /** 1-based position in the campaign. */
  n: number;
  ring: string;
  ringIndex: number;
  /** 1-based batch number inside the ring, and how many batches the ring has. */
  batch: number;
  batches: number;
  kind: StepKind;
  units: string[];
  /** canary: share on the target; cutover: 100. */
  percent?: number;
  /** Bake after the step (ms); gates are measured every interval during it. */
  bakeMs: number;
  gates: string[];
  /** Least time the step can take (ms): its bake, or the gates' count × interval when longer. */
  minDurationMs: number;
}

/** A ring as the campaign sees it. */
export interface CampaignRing {
  name: string;
  units: string[];
  batchSize: number;
  batches: number;
  gates: string[];
  approval?: 'two-person';
  bakeMs: number;
}

/** The campaign's whole plan (the dry run's JSON, and the campaign workflow's input core). */
export interface CampaignPlan {
  name: string;
  workflowId: string;
  source: string;
  target: string;
  drill: boolean;
  onGateFailure: 'rollback' | 'hold';
  percentSteps: number[];
  unitCount: number;
  rings: CampaignRing[];
  gates: Record<string, GateSpec>;
  steps: CampaignStep[];
  /** Sum of the steps' minimum durations (ms): bakes and gate measurement windows only. */
  minTotalDurationMs: number;
}

// ---------------------------------------------------------------------------------------------
// The campaign workflow's input, state and status (plain JSON: no Map, Set or Date).

/** One unit as the campaign starts and measures it (rebuilt from `CampaignEntities` by `campaignUnit`). */
export interface CampaignUnit {
  unit: string;
  workflowId: string;
  workflowType: 'namespaceMigration' | 'tenantMigration';
  /** The entity workflow's input (`UnitMigrationInput`), passed through untouched. */
  input: UnitMigrationInput;
  scope: { sourceNamespace: string; targetNamespace: string; taskQueues: string[]; tenant?: TenantFilter };
}

/** Everything the campaign workflow needs (workflows never read config). */
export interface CampaignInput {
  plan: CampaignPlan;
  /** Every unit's entity input, factored by ring and namespace (src/campaign/units.ts). */
  entities: CampaignEntities;
  /** Task queue of the entity workflows (the control task queue). */
  entityTaskQueue: string;
  /** Who started the campaign: the requester of its approvals. */
  actor: string;
  /** How often units are polled while they move (ms). */
  pollMs: number;
  /** How long an approval request stays open (ms). */
  approvalTtlMs: number;
  /** Probe task queue on the target for synthetic gates (default: the probe constant). */
  probeTaskQueue?: string;
  /** Continue-as-new past this many history events (besides the server's suggestion). */
  maxHistoryEvents?: number;
  /** The plan's operators: listed, the start and every forward command must be signed (src/operators/policy.ts). */
  operators?: OperatorKey[];
  /** The start, signed by an operator (`start`, args `{ input: digest of plan and entities }`): that key is the approvals' requester. */
  start?: SignedEnvelope;
}

/** The campaign's phase. */
export type CampaignPhase = 'running' | 'baking' | 'awaiting-approval' | 'held' | 'rolling-back' | 'completed' | 'rolled-back';

/** A recorded operator command. */
export interface CampaignCommand {
  command: 'advance' | 'pause' | 'resume' | 'rollback' | 'approve';
  actor: string;
  reason?: string;
  /** Absent only on a pause or rollback sent without one (deduplicated by what it is). */
  commandId?: string;
}

/** One line of the campaign's story. */
export interface CampaignHistoryEntry {
  at: string;
  step?: number;
  event: string;
  actor?: string;
  reason?: string;
  evidence?: Record<string, unknown>;
}

/** The campaign's whole state, carried through continue-as-new. */
export interface CampaignState {
  phase: CampaignPhase;
  /** When the campaign began (ISO; kept through continue-as-new): units rolled back before it may start again. */
  startedAt?: string;
  /** Grows on every rollback and bake restart: approvals bind to it. */
  epoch: number;
  stepIndex: number;
  paused?: { actor: string; reason?: string; at: string };
  /** Why the campaign is held for a human (gate inconclusive, gate failed with hold, approval expired). */
  hold?: { reason: string; gate?: string; at: string };
  /** Set by an `advance`: skip the rest of the current bake. */
  advance?: CampaignCommand;
  rollback?: CampaignCommand & { at: string; units?: string[] };
  /** The current step's bake (ms since epoch), its measurements and the route epochs it started from. */
  bake?: { startedAt: number; until: number; measurements: TimedMeasurement[]; routeEpochs: Record<string, number> };
  /** When the current batch's move began (ISO; reconcile looks since then). */
  moveStartedAt?: string;
  approval?: ApprovalRequest;
  /** Used approvals (the audit trail). */
  approvals: ApprovalRequest[];
  units: Record<string, UnitView>;
  /** Last verdict of each gate (for status). */
  gates: { name: string; status: string; reason: string; value?: number; at: string }[];
  history: CampaignHistoryEntry[];
  /** Refused commands; `code` is machine-readable (e.g. `self-approval`, `expired`, `invalid-input`, `not-allowed`). */
  rejected: { command: string; commandId?: string; actor?: string; reason: string; code?: string; at: string }[];
  /** Command IDs seen (dedupe), oldest first, bounded (src/operators/command-ids.ts: long IDs by digest). */
  seenCommandIds: string[];
  /** The digest of the command each seen ID carried, at the same index ('' unknown): a reused ID with another command is refused. */
  seenCommandDigests?: string[];
  /** What the bounds on signals dropped or clipped so far (domain/bounds.ts); absent while nothing was. */
  truncated?: Truncated;
  /** Measurements taken (a unique suffix for probe IDs). */
  measurementSeq: number;
  runs: number;
  /** Longest history seen by any run (the benchmark reports it). */
  maxHistoryLength: number;
  /** The key that signed the start (it may not approve the campaign's steps). */
  requesterKey?: string;
  /** The hash-chained audit log (absent on campaigns begun before it existed). */
  audit?: AuditLog;
}

/** The campaign's `status` query. */
export interface CampaignStatus {
  id: string;
  kind: 'campaign';
  name: string;
  drill: boolean;
  phase: CampaignPhase;
  paused: boolean;
  pausedBy?: CampaignState['paused'];
  hold?: CampaignState['hold'];
  epoch: number;
  step?: CampaignStep & { bakeStartedAt?: string; bakeUntil?: string };
  stepsTotal: number;
  rings: { name: string; status: 'pending' | 'active' | 'done'; approval?: 'two-person'; units: CampaignState['units'][string][] }[];
  gates: CampaignState['gates'];
  measurements: TimedMeasurement[];
  approval?: ApprovalRequest;
  approvals: ApprovalRequest[];
  history: CampaignHistoryEntry[];
  rejected: CampaignState['rejected'];
  continuedAsNew: number;
  maxHistoryLength: number;
  /** What a signed command binds to, and whether signatures are required. */
  signing?: { firstRunId: string; runId: string; required: boolean; requester?: string };
  /** The audit log's head and latest records. */
  audit?: { seq: number; head: string; mirrored: number; records: AuditRecord[] };
  /**
   * Units done and remaining, per ring and overall, and ETAs from the campaign's measured step durations
   * (src/campaign/progress.ts), as of the query; absent from workers older than it.
   */
  progress?: CampaignProgress;
  /** What the bounds dropped or clipped (docs/design.md, "Bounds on signals and state"); absent while nothing was. */
  truncated?: Truncated;
}
